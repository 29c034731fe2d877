//! The Multi-Cluster Services API type DNS reads: `ServiceImport` of
//! `multicluster.x-k8s.io/v1alpha1` (sigs.k8s.io/mcs-api), as far as DNS needs it. Fields
//! DNS does not read are left out; serde ignores them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// The label that ties an EndpointSlice to its ServiceImport.
pub const IMPORT_SERVICE_NAME_LABEL: &str = "multicluster.kubernetes.io/service-name";
/// The label naming the cluster an imported EndpointSlice's endpoints live in.
pub const SOURCE_CLUSTER_LABEL: &str = "multicluster.kubernetes.io/source-cluster";

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ServiceImport {
    #[serde(default, deserialize_with = "crate::trimmed::object_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServiceImportSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ServiceImportSpec {
    /// `ClusterSetIP` or `Headless`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ServicePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    pub port: i32,
}

impl k8s_openapi::Resource for ServiceImport {
    const API_VERSION: &'static str = "multicluster.x-k8s.io/v1alpha1";
    const GROUP: &'static str = "multicluster.x-k8s.io";
    const KIND: &'static str = "ServiceImport";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "serviceimports";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::ListableResource for ServiceImport {
    const LIST_KIND: &'static str = "ServiceImportList";
}

impl k8s_openapi::Metadata for ServiceImport {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
