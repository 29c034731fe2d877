//! Multi-Cluster Services in the test control plane: the MCS CRDs (ServiceImport and
//! ServiceExport of multicluster.x-k8s.io, from the Go module sigs.k8s.io/mcs-api that
//! `scripts/mcs-crds/fetch` downloads; `$SIGNPOST_MCS_CRDS` names its directory), installed
//! once per test binary, and ServiceImports written as an MCS controller writes them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::kube_fixtures::TestNamespace;

const CRD_FILES: [&str; 2] = [
    "multicluster.x-k8s.io_serviceimports.yaml",
    "multicluster.x-k8s.io_serviceexports.yaml",
];

fn crd_dir() -> PathBuf {
    const HOW: &str = "run scripts/mcs-crds/fetch and export SIGNPOST_MCS_CRDS=<the directory it \
                       prints last> (scripts/test does both)";
    let dir = std::env::var_os("SIGNPOST_MCS_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("SIGNPOST_MCS_CRDS is not set: {HOW}"));
    for f in CRD_FILES {
        assert!(
            dir.join(f).is_file(),
            "{} is missing: {HOW}",
            dir.join(f).display()
        );
    }
    dir
}

/// Installs the MCS CRDs into the shared control plane (once per test binary) and waits until
/// the API serves them.
pub async fn install_crds(client: &kube::Client) {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let dir = crd_dir();
            let api = Api::<CustomResourceDefinition>::all(client.clone());
            let mut names = Vec::new();
            for f in CRD_FILES {
                let path = dir.join(f);
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                let crd: CustomResourceDefinition = serde_yaml::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                names.push(crd.metadata.name.clone().unwrap_or_default());
                match api.create(&PostParams::default(), &crd).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => panic!("install CRD {}: {e}", path.display()),
                }
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            for name in names {
                loop {
                    let established = api.get_opt(&name).await.ok().flatten().is_some_and(|c| {
                        c.status
                            .and_then(|s| s.conditions)
                            .unwrap_or_default()
                            .iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                    if established {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "CRD {name} not Established after 60s"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
        .await;
}

fn service_imports() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "multicluster.x-k8s.io",
        "v1alpha1",
        "ServiceImport",
    ))
}

impl TestNamespace {
    fn imports(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.name, &service_imports())
    }

    /// Creates a ServiceImport from its JSON (`metadata.name` and `spec`); `Err` carries the
    /// API's refusal (the CRD validates `spec.type`).
    pub async fn try_service_import(&self, mut object: Value) -> Result<(), kube::Error> {
        object["apiVersion"] = "multicluster.x-k8s.io/v1alpha1".into();
        object["kind"] = "ServiceImport".into();
        let typed: DynamicObject = serde_json::from_value(object)
            .unwrap_or_else(|e| panic!("ServiceImport from JSON: {e}"));
        self.imports()
            .create(&PostParams::default(), &typed)
            .await
            .map(|_| ())
    }

    /// Creates a ServiceImport, as an MCS controller would.
    pub async fn service_import(&self, object: Value) {
        let name = object["metadata"]["name"].to_string();
        self.try_service_import(object)
            .await
            .unwrap_or_else(|e| panic!("create ServiceImport {}/{name}: {e}", self.name));
    }

    /// Merge-patches a ServiceImport.
    pub async fn patch_service_import(&self, name: &str, patch: Value) {
        self.imports()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch ServiceImport {}/{name}: {e}", self.name));
    }

    pub async fn delete_service_import(&self, name: &str) {
        self.imports()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete ServiceImport {}/{name}: {e}", self.name));
    }
}

/// An EndpointSlice of the import `service` with the endpoints of cluster `cluster`, as an
/// MCS controller writes it: `endpoints` are (address, hostname, ready).
pub fn import_slice_json(
    name: &str,
    service: &str,
    cluster: &str,
    address_type: &str,
    endpoints: &[(&str, Option<&str>, bool)],
    ports: Value,
) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(addr, host, ready)| {
            let mut ep = serde_json::json!({"addresses": [addr], "conditions": {"ready": ready}});
            if let Some(h) = host {
                ep["hostname"] = (*h).into();
            }
            ep
        })
        .collect();
    serde_json::json!({
        "metadata": {"name": name, "labels": {
            "multicluster.kubernetes.io/service-name": service,
            "multicluster.kubernetes.io/source-cluster": cluster,
            "endpointslice.kubernetes.io/managed-by": crate::kube_fixtures::TEST_SLICE_MANAGER,
        }},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports,
    })
}
