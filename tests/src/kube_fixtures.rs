//! Kubernetes objects for the real-API tests, written as an operator would write them: Services
//! and Pods through the API, pod status through the status subresource (there is no kubelet),
//! EndpointSlices by hand where a test plays another controller.

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::ControlPlane;

/// The Node every test pod runs on (the EndpointSlice controller skips pods whose node is
/// missing).
pub const NODE: &str = "node-a";

/// A test's namespace on the shared control plane and a client for it.
pub struct TestNamespace {
    pub client: Client,
    pub name: String,
}

impl TestNamespace {
    pub async fn new(prefix: &str) -> Self {
        let cp = ControlPlane::shared();
        cp.node(NODE).await;
        Self {
            client: cp.client().await,
            name: cp.namespace(prefix).await,
        }
    }

    /// Creates a Service from its JSON (metadata.name and spec) and returns it as stored.
    pub async fn service(&self, object: Value) -> Service {
        let service: Service = serde_json::from_value(object).expect("a Service");
        Api::<Service>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &service)
            .await
            .unwrap_or_else(|e| panic!("create service in {}: {e}", self.name))
    }

    /// The first cluster IP of `service`, as stored.
    pub async fn cluster_ips(&self, service: &str) -> Vec<String> {
        let svc = Api::<Service>::namespaced(self.client.clone(), &self.name)
            .get(service)
            .await
            .unwrap_or_else(|e| panic!("get service {service}: {e}"));
        svc.spec.and_then(|s| s.cluster_ips).unwrap_or_default()
    }

    /// Merge-patches a Service.
    pub async fn patch_service(&self, name: &str, patch: Value) {
        Api::<Service>::namespaced(self.client.clone(), &self.name)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch service {name}: {e}"));
    }

    pub async fn delete_service(&self, name: &str) {
        Api::<Service>::namespaced(self.client.clone(), &self.name)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete service {name}: {e}"));
    }

    /// Creates a Pod on [`NODE`] and writes its status as a kubelet would: `ips` (the first is
    /// podIP), Running, and the Ready condition.
    pub async fn pod(&self, spec: PodSpec<'_>) {
        let metadata = json!({"name": spec.name, "labels": spec.labels});
        let mut pod_spec = json!({
            "nodeName": NODE,
            "automountServiceAccountToken": false,
            "containers": [{"name": "main", "image": "registry.invalid/test"}],
        });
        if let Some(h) = spec.hostname {
            pod_spec["hostname"] = json!(h);
        }
        if let Some(s) = spec.subdomain {
            pod_spec["subdomain"] = json!(s);
        }
        let pod: Pod =
            serde_json::from_value(json!({"metadata": metadata, "spec": pod_spec})).expect("a Pod");
        let pods = Api::<Pod>::namespaced(self.client.clone(), &self.name);
        pods.create(&PostParams::default(), &pod)
            .await
            .unwrap_or_else(|e| panic!("create pod {}: {e}", spec.name));
        let status = json!({"status": {
            "phase": "Running",
            "podIP": spec.ips[0],
            "podIPs": spec.ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
            "conditions": [{"type": "Ready", "status": if spec.ready { "True" } else { "False" }}],
        }});
        pods.patch_status(spec.name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_or_else(|e| panic!("write status of pod {}: {e}", spec.name));
    }

    /// Deletes a pod gracefully: it has a node, so without a kubelet to confirm it stays
    /// terminating (deletionTimestamp set) until [`Self::force_delete_pod`].
    pub async fn delete_pod(&self, name: &str) {
        Api::<Pod>::namespaced(self.client.clone(), &self.name)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete pod {name}: {e}"));
    }

    /// Deletes a pod at once (grace period 0), as the kubelet's final delete does.
    pub async fn force_delete_pod(&self, name: &str) {
        Api::<Pod>::namespaced(self.client.clone(), &self.name)
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap_or_else(|e| panic!("force-delete pod {name}: {e}"));
    }

    /// Creates an EndpointSlice from its JSON, as a controller other than Kubernetes' would.
    pub async fn slice(&self, object: Value) {
        let slice: EndpointSlice = serde_json::from_value(object).expect("an EndpointSlice");
        Api::<EndpointSlice>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &slice)
            .await
            .unwrap_or_else(|e| panic!("create slice in {}: {e}", self.name));
    }

    /// Replaces (merge-patches) an EndpointSlice.
    pub async fn patch_slice(&self, name: &str, patch: Value) {
        Api::<EndpointSlice>::namespaced(self.client.clone(), &self.name)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch slice {name}: {e}"));
    }

    pub async fn delete_slice(&self, name: &str) {
        Api::<EndpointSlice>::namespaced(self.client.clone(), &self.name)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete slice {name}: {e}"));
    }

    /// How many EndpointSlices the controller made for `service`.
    pub async fn slice_count(&self, service: &str) -> usize {
        let params = kube::api::ListParams::default()
            .labels(&format!("kubernetes.io/service-name={service}"));
        Api::<EndpointSlice>::namespaced(self.client.clone(), &self.name)
            .list(&params)
            .await
            .map(|l| l.items.len())
            .unwrap_or(0)
    }
}

/// What [`TestNamespace::pod`] creates.
pub struct PodSpec<'a> {
    pub name: &'a str,
    pub labels: Value,
    pub ips: &'a [&'a str],
    pub ready: bool,
    pub hostname: Option<&'a str>,
    pub subdomain: Option<&'a str>,
}

impl<'a> PodSpec<'a> {
    /// A ready pod with these labels and addresses.
    pub fn ready(name: &'a str, labels: Value, ips: &'a [&'a str]) -> Self {
        Self {
            name,
            labels,
            ips,
            ready: true,
            hostname: None,
            subdomain: None,
        }
    }
}
