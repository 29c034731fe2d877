//! The cluster model: compact copies of the Kubernetes objects DNS needs, and nothing more.
//!
//! Conversion from the full API types (k8s-openapi) lives at the edge, in `cluster-dns`; this
//! module knows no Kubernetes client. Names are stored as the API gives them (always lowercase
//! DNS labels for valid objects); lookups compare case-insensitively.

use std::collections::BTreeMap;
use std::net::IpAddr;

use smallvec::SmallVec;

/// A name from the API (namespace, object, port, zone): held inline up to 24 bytes, which
/// most are, so it costs no allocation of its own. At 100k services the names' own
/// allocations were a third of the cluster state.
pub type Name = compact_str::CompactString;

/// Namespace and name of a namespaced object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: Name,
    pub name: Name,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<Name>, name: impl Into<Name>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// `spec.type` of a Service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ServiceType {
    #[default]
    ClusterIp,
    NodePort,
    LoadBalancer,
    ExternalName,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
}

/// Transport protocol of a port. Kubernetes defaults an unset protocol to TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The label used in SRV names (`_tcp`), without the underscore.
    pub fn as_label(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A port of a Service or of an EndpointSlice. `name` is empty for an unnamed port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    pub name: Name,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Service {
    pub namespace: Name,
    pub name: Name,
    pub service_type: ServiceType,
    /// `spec.clusterIPs` (or `spec.clusterIP` when the list is absent). Empty for a headless
    /// service (`clusterIP: None`) and for ExternalName services.
    pub cluster_ips: Addresses,
    /// `clusterIP: None`.
    pub headless: bool,
    pub ip_families: SmallVec<[IpFamily; 2]>,
    pub ports: Vec<Port>,
    /// `spec.externalName`, without a trailing dot, for ExternalName services.
    pub external_name: Option<String>,
    pub publish_not_ready_addresses: bool,
    /// `spec.externalIPs`, then the IPs of `status.loadBalancer.ingress`: what `k8s_external`
    /// answers.
    pub external_ips: Vec<IpAddr>,
}

impl Service {
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.namespace.clone(), self.name.clone())
    }
}

/// `addressType` of an EndpointSlice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AddressType {
    #[default]
    Ipv4,
    Ipv6,
    Fqdn,
}

/// `endpoints[].conditions`. `None` means the API left the condition unset; the
/// EndpointSlice API says consumers should treat an unset `ready` as ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EndpointConditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

/// An endpoint's addresses. The API allows up to 100 but every controller writes one, so one
/// is held inline: no allocation for the common endpoint.
pub type Addresses = SmallVec<[IpAddr; 1]>;

/// An endpoint, kept only as far as DNS reads it: `nodeName`, `hints` and the rest of
/// `targetRef` are dropped at conversion (300k endpoints are most of a large cluster's state).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub addresses: Addresses,
    pub conditions: EndpointConditions,
    pub hostname: Option<Box<str>>,
    /// `targetRef.name`: the pod's name `endpoint_pod_names` answers with.
    pub target_name: Option<Box<str>>,
    /// `zone`, as an index into its slice's `zones` (see [`EndpointSlice::zone_of`]): the
    /// endpoints of a slice share a few zones, and an index fits where the struct had padding,
    /// so a zone costs no endpoint a byte.
    pub zone: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EndpointSlice {
    pub namespace: Name,
    pub name: Name,
    /// The `kubernetes.io/service-name` label: which Service this slice belongs to; for a
    /// slice of a ServiceImport, the `multicluster.kubernetes.io/service-name` label.
    pub service_name: Name,
    /// The `multicluster.kubernetes.io/source-cluster` label of a ServiceImport's slice: the
    /// cluster ID its endpoints are named under. Empty for a cluster-local slice.
    pub cluster_id: Name,
    pub address_type: AddressType,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<Port>,
    /// The distinct `zone`s of its endpoints, which their `zone` indexes.
    pub zones: Vec<Name>,
}

impl EndpointSlice {
    /// The index `zone` has in `zones`, added if new; `None` past `u16::MAX` distinct zones
    /// (the API allows 1000 endpoints a slice, so never for a slice the API accepted).
    pub fn zone_index(&mut self, zone: &str) -> Option<u16> {
        let at = match self.zones.iter().position(|z| z.as_str() == zone) {
            Some(at) => at,
            None => {
                // Exact: a slice keeps its few zones for its lifetime, so no growth slack.
                self.zones.reserve_exact(1);
                self.zones.push(zone.into());
                self.zones.len() - 1
            }
        };
        u16::try_from(at).ok()
    }

    /// The `zone` of one of its endpoints.
    pub fn zone_of(&self, endpoint: &Endpoint) -> Option<&str> {
        endpoint
            .zone
            .and_then(|i| self.zones.get(usize::from(i)))
            .map(|z| &**z)
    }

    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.namespace.clone(), self.name.clone())
    }
    pub fn service_key(&self) -> ObjectKey {
        ObjectKey::new(self.namespace.clone(), self.service_name.clone())
    }
}

/// `spec.type` of a ServiceImport (multicluster.x-k8s.io/v1alpha1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ImportType {
    #[default]
    ClusterSetIp,
    Headless,
}

/// A ServiceImport: a service exported by one or more clusters of the clusterset, answered
/// under the multicluster zone (`clusterset.local`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServiceImport {
    pub namespace: Name,
    pub name: Name,
    pub import_type: ImportType,
    /// `spec.ips`: the clusterset IPs of a ClusterSetIP import (empty until assigned).
    pub ips: Vec<IpAddr>,
    pub ports: Vec<Port>,
}

impl ServiceImport {
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.namespace.clone(), self.name.clone())
    }

    /// The import in the shape record synthesis reads: a ClusterSetIP import answers like a
    /// ClusterIP service with its clusterset IPs, a Headless one like a headless service.
    pub fn as_service(&self) -> Service {
        Service {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            service_type: ServiceType::ClusterIp,
            cluster_ips: self.ips.iter().copied().collect(),
            headless: self.import_type == ImportType::Headless,
            ip_families: self.ips.iter().map(IpFamily::of).collect(),
            ports: self.ports.clone(),
            external_name: None,
            publish_not_ready_addresses: false,
            external_ips: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pod {
    pub namespace: Name,
    pub name: Name,
    /// `status.podIPs` (or `status.podIP`).
    pub ips: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
}

impl Pod {
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.namespace.clone(), self.name.clone())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Namespace {
    pub name: Name,
    pub labels: BTreeMap<String, String>,
}

/// The kinds of object the model holds, as a source lists and watches them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Service,
    EndpointSlice,
    Pod,
    Namespace,
    /// ServiceImports (multicluster.x-k8s.io/v1alpha1), for `multicluster` zones.
    ServiceImport,
    /// EndpointSlices labelled `multicluster.kubernetes.io/service-name`: an import's
    /// endpoints in each cluster.
    ImportSlice,
}

impl Kind {
    /// The metric label and log name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::Pod => "pods",
            Kind::Namespace => "namespaces",
            Kind::ServiceImport => "serviceimports",
            Kind::ImportSlice => "multiclusterendpointslices",
        }
    }
}

/// One change to the cluster state, as a watch event or a snapshot-file reload produces it.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    UpsertService(Service),
    DeleteService(ObjectKey),
    UpsertEndpointSlice(EndpointSlice),
    DeleteEndpointSlice(ObjectKey),
    UpsertPod(Pod),
    DeletePod(ObjectKey),
    UpsertNamespace(Namespace),
    DeleteNamespace(Name),
    UpsertServiceImport(ServiceImport),
    DeleteServiceImport(ObjectKey),
    /// A slice labelled `multicluster.kubernetes.io/service-name`: endpoints of an import.
    UpsertImportSlice(EndpointSlice),
    DeleteImportSlice(ObjectKey),
}
