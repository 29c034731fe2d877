//! The project's deploy/ manifests as the API server sees them: read from a kustomization and
//! applied (or dry-run) server-side.

use std::path::Path;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::workspace_root;

/// The manifests `DIR/kustomization.yaml` lists (DIR relative to the workspace), in its
/// order, as JSON.
pub fn manifests(dir: &str) -> Vec<Value> {
    let dir = workspace_root().join(dir);
    let kustomization = read_yaml(&dir.join("kustomization.yaml"));
    let resources = kustomization["resources"].as_array().expect("resources");
    resources
        .iter()
        .map(|r| read_yaml(&dir.join(r.as_str().expect("a path"))))
        .collect()
}

pub fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn gvk(object: &Value) -> GroupVersionKind {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

/// Server-side apply (or its dry run) of one manifest; namespaced objects default to
/// kube-system.
pub async fn apply(client: &kube::Client, mut object: Value, dry_run: bool) {
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk(&object))
        .await
        .expect("the API knows the kind");
    let name = object["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let api: Api<DynamicObject> = match caps.scope {
        kube::discovery::Scope::Namespaced => {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("kube-system")
                .to_string();
            object["metadata"]["namespace"] = Value::from(ns.clone());
            Api::namespaced_with(client.clone(), &ns, &resource)
        }
        kube::discovery::Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let mut params = PatchParams::apply("signpost-deploy-test").force();
    params.dry_run = dry_run;
    api.patch(&name, &params, &Patch::Apply(&object))
        .await
        .unwrap_or_else(|e| panic!("apply {} {name} (dry run {dry_run}): {e}", resource.kind));
}
