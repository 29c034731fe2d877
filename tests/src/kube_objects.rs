//! Kubernetes objects the end-to-end tests create on the test control plane: objects from JSON,
//! Pods the real EndpointSlice controller publishes (there is no kubelet, so the test writes
//! their status), hand-written EndpointSlices for selectorless Services, and a kubeconfig for an
//! API server that is not there.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The `endpointslice.kubernetes.io/managed-by` value of slices the tests write by hand, so the
/// EndpointSlice mirroring controller and readers can tell them from the controller's.
pub const TEST_SLICE_MANAGER: &str = "signpost-test";

/// Creates the namespaced object `object` (JSON in the API's shape, `metadata.name` set) in
/// `namespace` and returns what the API server stored.
pub async fn create_object<K>(client: &Client, namespace: &str, object: Value) -> K
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let kind = K::kind(&());
    let typed: K = serde_json::from_value(object)
        .unwrap_or_else(|e| panic!("{kind} {namespace}/{name} from JSON: {e}"));
    Api::<K>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &typed)
        .await
        .unwrap_or_else(|e| panic!("create {kind} {namespace}/{name}: {e}"))
}

/// Deletes the namespaced object `name` of kind `K` from `namespace`.
pub async fn delete_object<K>(client: &Client, namespace: &str, name: &str)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete {} {namespace}/{name}: {e}", K::kind(&())));
}

/// A ClusterIP Service `name` with one TCP port 80 and no selector (so nothing writes its
/// slices but the test), as JSON for [`create_object`].
pub fn cluster_ip_service_json(name: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    })
}

/// A headless Service `name` (`clusterIP: None`) with one TCP port 80, selecting pods by
/// `selector` (none: its slices are written by hand), as JSON for [`create_object`].
pub fn headless_service_json(name: &str, selector: &[(&str, &str)]) -> Value {
    let mut spec = json!({
        "clusterIP": "None",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    });
    if !selector.is_empty() {
        spec["selector"] = string_map(selector);
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

fn string_map(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
            .collect(),
    )
}

/// An EndpointSlice `name` written by hand: `labels` as given plus the test's `managed-by`,
/// `address_type` (`IPv4`, `IPv6` or `FQDN`), one ready endpoint per address and TCP port 80.
/// Pass `kubernetes.io/service-name` in `labels` to tie it to a Service.
pub fn endpoint_slice_json(
    name: &str,
    labels: &[(&str, &str)],
    address_type: &str,
    addresses: &[&str],
) -> Value {
    let mut all_labels = serde_json::Map::new();
    all_labels.insert(
        "endpointslice.kubernetes.io/managed-by".into(),
        TEST_SLICE_MANAGER.into(),
    );
    for (k, v) in labels {
        all_labels.insert((*k).into(), (*v).into());
    }
    let endpoints: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"addresses": [a], "conditions": {"ready": true}}))
        .collect();
    json!({
        "metadata": {"name": name, "labels": all_labels},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    })
}

/// Creates a slice for the selectorless Service `service` with the IPv4 `addresses`.
pub async fn create_service_slice(
    client: &Client,
    namespace: &str,
    service: &str,
    name: &str,
    addresses: &[&str],
) -> EndpointSlice {
    let labels = [("kubernetes.io/service-name", service)];
    create_object(
        client,
        namespace,
        endpoint_slice_json(name, &labels, "IPv4", addresses),
    )
    .await
}

/// Creates Pod `name` with `labels` on `node` (which must exist: `ControlPlane::node`) and
/// writes its status as the kubelet would for a running, Ready pod with `ips` (IPv4 and/or
/// IPv6), so the EndpointSlice controller publishes it for a Service selecting it.
pub async fn create_ready_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
    node: &str,
    ips: &[&str],
) -> Pod {
    let labels = string_map(labels);
    let _: Pod = create_object(
        client,
        namespace,
        json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "nodeName": node,
                "automountServiceAccountToken": false,
                "containers": [{"name": "main", "image": "registry.invalid/main",
                                "ports": [{"name": "http", "containerPort": 80}]}],
            },
        }),
    )
    .await;
    let pod_ips: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    let status = json!({"status": {
        "phase": "Running",
        "podIP": ips.first(),
        "podIPs": pod_ips,
        "conditions": [{"type": "Ready", "status": "True"}],
    }});
    Api::<Pod>::namespaced(client.clone(), namespace)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("write the status of pod {namespace}/{name}: {e}"))
}

/// Writes a kubeconfig at `path` for an API server at `server` that nothing needs to answer
/// (TLS verification off, a dummy token): for starting with the API unreachable.
pub fn write_unreachable_kubeconfig(path: &Path, server: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: nobody\n  user:\n    token: not-a-token\ncontexts:\n- name: nowhere\n  context:\n    cluster: nowhere\n    user: nobody\ncurrent-context: nowhere\n"
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
