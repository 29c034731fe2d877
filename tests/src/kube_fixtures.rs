//! Kubernetes objects for the real-API tests, written as an operator would write them: objects
//! from JSON, Pods the real EndpointSlice controller publishes (there is no kubelet, so the test
//! writes their status through the status subresource), hand-written EndpointSlices where a
//! test plays another controller, and a kubeconfig for an API server that is not there.

use std::path::Path;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
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
        create_object(&self.client, &self.name, object).await
    }

    /// The cluster IPs of `service`, as stored.
    pub async fn cluster_ips(&self, service: &str) -> Vec<String> {
        let svc = Api::<Service>::namespaced(self.client.clone(), &self.name)
            .get(service)
            .await
            .unwrap_or_else(|e| panic!("get service {service}: {e}"));
        svc.spec.and_then(|s| s.cluster_ips).unwrap_or_default()
    }

    /// Merge-patches a Service.
    pub async fn patch_service(&self, name: &str, patch: Value) {
        self.patch::<Service>(name, patch).await;
    }

    pub async fn delete_service(&self, name: &str) {
        delete_object::<Service>(&self.client, &self.name, name).await;
    }

    /// Creates a Pod on [`NODE`] and writes its status (see [`create_pod`]).
    pub async fn pod(&self, spec: PodSpec<'_>) {
        create_pod(&self.client, &self.name, NODE, &spec).await;
    }

    /// Deletes a pod gracefully: it has a node, so without a kubelet to confirm it stays
    /// terminating (deletionTimestamp set) until [`Self::force_delete_pod`].
    pub async fn delete_pod(&self, name: &str) {
        delete_object::<Pod>(&self.client, &self.name, name).await;
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
        let _: EndpointSlice = create_object(&self.client, &self.name, object).await;
    }

    /// Merge-patches an EndpointSlice.
    pub async fn patch_slice(&self, name: &str, patch: Value) {
        self.patch::<EndpointSlice>(name, patch).await;
    }

    pub async fn delete_slice(&self, name: &str) {
        delete_object::<EndpointSlice>(&self.client, &self.name, name).await;
    }

    async fn patch<K>(&self, name: &str, patch: Value)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        Api::<K>::namespaced(self.client.clone(), &self.name)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {} {name}: {e}", K::kind(&())));
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

/// How many ClusterIP services the benches create before the rest are headless: kube-apiserver's
/// ClusterIP allocator lists every allocated address twice per allocation (for its gauges), so
/// ClusterIP creates slow in proportion to those already made (204/s at first, 20/s past 20k;
/// 54k would take over an hour), while headless services are created at 1,200/s at any count
/// (docs/benchmarks.md, "The 100k state").
pub const CLUSTER_IP_SERVICES_MAX: usize = 15_000;

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
) {
    create_pod(
        client,
        namespace,
        node,
        &PodSpec::ready(name, string_map(labels), ips),
    )
    .await;
}

/// Creates the Pod `spec` describes on `node` and writes its status as a kubelet would: `ips`
/// (the first is podIP), Running, and the Ready condition.
pub async fn create_pod(client: &Client, namespace: &str, node: &str, spec: &PodSpec<'_>) {
    let mut pod_spec = json!({
        "nodeName": node,
        "automountServiceAccountToken": false,
        "containers": [{"name": "main", "image": "registry.invalid/main",
                        "ports": [{"name": "http", "containerPort": 80}]}],
    });
    if let Some(h) = spec.hostname {
        pod_spec["hostname"] = json!(h);
    }
    if let Some(s) = spec.subdomain {
        pod_spec["subdomain"] = json!(s);
    }
    let object = json!({"metadata": {"name": spec.name, "labels": spec.labels}, "spec": pod_spec});
    let _: Pod = create_object(client, namespace, object).await;
    let status = json!({"status": {
        "phase": "Running",
        "podIP": spec.ips.first(),
        "podIPs": spec.ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "conditions": [{"type": "Ready", "status": if spec.ready { "True" } else { "False" }}],
    }});
    Api::<Pod>::namespaced(client.clone(), namespace)
        .patch_status(spec.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("write the status of pod {namespace}/{}: {e}", spec.name));
}

/// Writes a kubeconfig at `path` for an API server at `server` that nothing needs to answer
/// (TLS verification off, a dummy token): for starting with the API unreachable.
pub fn write_unreachable_kubeconfig(path: &Path, server: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: nobody\n  user:\n    token: not-a-token\ncontexts:\n- name: nowhere\n  context:\n    cluster: nowhere\n    user: nobody\ncurrent-context: nowhere\n"
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
