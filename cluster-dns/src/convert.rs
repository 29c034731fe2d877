//! Full Kubernetes API objects (k8s-openapi) -> the compact dns-core model. The only place
//! that knows API types; pure, so every rule is a table test.

use std::net::IpAddr;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

use dns_core::cluster::{
    AddressType, Addresses, Endpoint, EndpointConditions, EndpointSlice, ImportType, IpFamily,
    Name, Namespace, Pod, Port, Protocol, Service, ServiceImport, ServiceType,
};

use crate::mcs::{self, IMPORT_SERVICE_NAME_LABEL, SOURCE_CLUSTER_LABEL};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Why an object cannot be used. The object is skipped; the rest of the state is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("metadata.{0} is missing")]
    MissingMetadata(&'static str),
    #[error("unknown service type {0:?}")]
    UnknownServiceType(String),
    #[error("unknown protocol {0:?}")]
    UnknownProtocol(String),
    #[error("invalid port {0}")]
    InvalidPort(i32),
    #[error("invalid cluster IP {0:?}")]
    InvalidClusterIp(String),
    #[error("label {SERVICE_NAME_LABEL} is missing")]
    MissingServiceName,
    #[error("unknown address type {0:?}")]
    UnknownAddressType(String),
    #[error("ExternalName service without spec.externalName")]
    MissingExternalName,
    #[error("unknown ServiceImport type {0:?} (ClusterSetIP or Headless)")]
    UnknownImportType(String),
    #[error("label {IMPORT_SERVICE_NAME_LABEL} is missing")]
    MissingImportServiceName,
    #[error(
        "label {SOURCE_CLUSTER_LABEL} is missing or not a DNS label: its endpoints could not be named"
    )]
    MissingSourceCluster,
    /// A slice of a ServiceImport only: not a cluster-local slice, and no fault.
    #[error("a slice of a ServiceImport ({IMPORT_SERVICE_NAME_LABEL}), not of a Service")]
    ImportSliceOnly,
}

fn meta(
    m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<(Name, Name), ConvertError> {
    let name = m
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(ConvertError::MissingMetadata("name"))?;
    let namespace = m
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(ConvertError::MissingMetadata("namespace"))?;
    Ok((namespace.into(), name.into()))
}

fn protocol(p: Option<&str>) -> Result<Protocol, ConvertError> {
    match p {
        None | Some("TCP") => Ok(Protocol::Tcp),
        Some("UDP") => Ok(Protocol::Udp),
        Some("SCTP") => Ok(Protocol::Sctp),
        Some(other) => Err(ConvertError::UnknownProtocol(other.to_string())),
    }
}

fn port(name: Option<&str>, number: i32, proto: Option<&str>) -> Result<Port, ConvertError> {
    Ok(Port {
        name: name.unwrap_or_default().into(),
        port: port_number(number)?,
        protocol: protocol(proto)?,
    })
}

fn port_number(p: i32) -> Result<u16, ConvertError> {
    u16::try_from(p)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(ConvertError::InvalidPort(p))
}

pub fn service(svc: &core::Service) -> Result<Service, ConvertError> {
    let (namespace, name) = meta(&svc.metadata)?;
    let spec = svc.spec.clone().unwrap_or_default();
    let external_ips = external_ips(&spec, svc.status.as_ref());
    let service_type = match spec.type_.as_deref() {
        None | Some("ClusterIP") => ServiceType::ClusterIp,
        Some("NodePort") => ServiceType::NodePort,
        Some("LoadBalancer") => ServiceType::LoadBalancer,
        Some("ExternalName") => ServiceType::ExternalName,
        Some(other) => return Err(ConvertError::UnknownServiceType(other.to_string())),
    };
    let ips: Vec<String> = match (&spec.cluster_ips, &spec.cluster_ip) {
        (Some(list), _) if !list.is_empty() => list.clone(),
        (_, Some(ip)) => vec![ip.clone()],
        _ => Vec::new(),
    };
    let headless = ips.iter().any(|ip| ip == "None");
    let mut cluster_ips = Addresses::new();
    if service_type != ServiceType::ExternalName && !headless {
        for ip in ips.iter().filter(|ip| !ip.is_empty()) {
            cluster_ips.push(
                ip.parse::<IpAddr>()
                    .map_err(|_| ConvertError::InvalidClusterIp(ip.clone()))?,
            );
        }
    }
    let ports = spec
        .ports
        .unwrap_or_default()
        .iter()
        .map(|p| port(p.name.as_deref(), p.port, p.protocol.as_deref()))
        .collect::<Result<Vec<_>, ConvertError>>()?;
    let external_name = match service_type {
        ServiceType::ExternalName => Some(
            spec.external_name
                .filter(|n| !n.is_empty())
                .map(|n| n.trim_end_matches('.').to_string())
                .ok_or(ConvertError::MissingExternalName)?,
        ),
        _ => None,
    };
    let ip_families = spec
        .ip_families
        .unwrap_or_default()
        .iter()
        .filter_map(|f| match f.as_str() {
            "IPv4" => Some(IpFamily::V4),
            "IPv6" => Some(IpFamily::V6),
            _ => None,
        })
        .collect();
    Ok(Service {
        namespace,
        name,
        service_type,
        cluster_ips,
        headless: headless && service_type != ServiceType::ExternalName,
        ip_families,
        ports,
        external_name,
        publish_not_ready_addresses: spec.publish_not_ready_addresses.unwrap_or(false),
        external_ips,
    })
}

/// `spec.externalIPs` and the load balancer's ingress IPs, as CoreDNS's object.Service keeps
/// them; an address that does not parse (or an ingress given by hostname only) is left out.
fn external_ips(spec: &core::ServiceSpec, status: Option<&core::ServiceStatus>) -> Vec<IpAddr> {
    let ingress = status
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref());
    let mut ips: Vec<IpAddr> = Vec::new();
    for text in spec
        .external_ips
        .iter()
        .flatten()
        .map(String::as_str)
        .chain(ingress)
    {
        if let Ok(ip) = text.parse::<IpAddr>()
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
    }
    ips
}

/// A slice, and the addresses dropped from it (each with why) — one bad address does not
/// cost the other endpoints.
pub fn endpoint_slice(
    slice: &discovery::EndpointSlice,
) -> Result<(EndpointSlice, Vec<String>), ConvertError> {
    let service_name = label(slice, SERVICE_NAME_LABEL).ok_or_else(|| {
        if label(slice, IMPORT_SERVICE_NAME_LABEL).is_some() {
            ConvertError::ImportSliceOnly
        } else {
            ConvertError::MissingServiceName
        }
    })?;
    slice_of(slice, service_name, Name::default())
}

/// A slice of a ServiceImport's endpoints (`multicluster.kubernetes.io/service-name`), with
/// the cluster they live in (`multicluster.kubernetes.io/source-cluster`), which names them.
pub fn import_slice(
    slice: &discovery::EndpointSlice,
) -> Result<(EndpointSlice, Vec<String>), ConvertError> {
    let service_name =
        label(slice, IMPORT_SERVICE_NAME_LABEL).ok_or(ConvertError::MissingImportServiceName)?;
    let cluster_id = label(slice, SOURCE_CLUSTER_LABEL)
        .filter(|c| is_dns_label(c))
        .ok_or(ConvertError::MissingSourceCluster)?;
    slice_of(slice, service_name, cluster_id)
}

fn label(slice: &discovery::EndpointSlice, key: &str) -> Option<Name> {
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .filter(|s| !s.is_empty())
        .map(|s| Name::from(s.as_str()))
}

/// An RFC 1123 label: what a cluster ID must be to stand in a name.
fn is_dns_label(s: &str) -> bool {
    s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn slice_of(
    slice: &discovery::EndpointSlice,
    service_name: Name,
    cluster_id: Name,
) -> Result<(EndpointSlice, Vec<String>), ConvertError> {
    let (namespace, name) = meta(&slice.metadata)?;
    let address_type = match slice.address_type.as_str() {
        "IPv4" => AddressType::Ipv4,
        "IPv6" => AddressType::Ipv6,
        "FQDN" => AddressType::Fqdn,
        other => return Err(ConvertError::UnknownAddressType(other.to_string())),
    };
    let mut warnings = Vec::new();
    let mut converted = EndpointSlice {
        namespace,
        name,
        service_name,
        address_type,
        cluster_id,
        ..Default::default()
    };
    for ep in &slice.endpoints {
        let mut addresses = Addresses::new();
        for a in &ep.addresses {
            match a.parse::<IpAddr>() {
                Ok(ip @ IpAddr::V4(_)) if address_type == AddressType::Ipv4 => addresses.push(ip),
                Ok(ip @ IpAddr::V6(_)) if address_type == AddressType::Ipv6 => addresses.push(ip),
                _ if address_type == AddressType::Fqdn => {}
                _ => warnings.push(format!(
                    "address {a:?} is not an {} address; skipped",
                    slice.address_type
                )),
            }
        }
        let conditions = ep.conditions.as_ref().map(|c| EndpointConditions {
            ready: c.ready,
            serving: c.serving,
            terminating: c.terminating,
        });
        let zone = ep
            .zone
            .as_deref()
            .filter(|z| !z.is_empty())
            .and_then(|z| converted.zone_index(z));
        converted.endpoints.push(Endpoint {
            addresses,
            conditions: conditions.unwrap_or_default(),
            hostname: ep
                .hostname
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(Box::from),
            target_name: ep
                .target_ref
                .as_ref()
                .and_then(|t| t.name.as_deref())
                .filter(|n| !n.is_empty())
                .map(Box::from),
            zone,
        });
    }
    let ports = slice
        .ports
        .clone()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.port.map(|n| (p, n)))
        .map(|(p, n)| port(p.name.as_deref(), n, p.protocol.as_deref()))
        .collect::<Result<Vec<_>, ConvertError>>()?;
    converted.ports = ports;
    Ok((converted, warnings))
}

pub fn pod(pod: &core::Pod) -> Result<(Pod, Vec<String>), ConvertError> {
    let (namespace, name) = meta(&pod.metadata)?;
    let status = pod.status.clone().unwrap_or_default();
    let texts: Vec<String> = match (status.pod_ips, status.pod_ip) {
        (Some(list), _) if !list.is_empty() => list.into_iter().map(|p| p.ip).collect(),
        (_, Some(ip)) if !ip.is_empty() => vec![ip],
        _ => Vec::new(),
    };
    let mut warnings = Vec::new();
    let mut ips = Vec::new();
    for t in texts {
        match t.parse() {
            Ok(ip) => ips.push(ip),
            Err(_) => warnings.push(format!("pod IP {t:?} is not an address; skipped")),
        }
    }
    let spec = pod.spec.clone().unwrap_or_default();
    Ok((
        Pod {
            namespace,
            name,
            ips,
            hostname: spec.hostname.filter(|h| !h.is_empty()),
            subdomain: spec.subdomain.filter(|s| !s.is_empty()),
        },
        warnings,
    ))
}

pub fn namespace(ns: &core::Namespace) -> Result<Namespace, ConvertError> {
    let name = ns
        .metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(ConvertError::MissingMetadata("name"))?
        .into();
    Ok(Namespace {
        name,
        labels: ns.metadata.labels.clone().unwrap_or_default(),
    })
}

/// A ServiceImport, and what was dropped or is missing from it (each with why): a ClusterSetIP
/// import without IPs yet is kept (its name answers NODATA), and of two ports with the same
/// name and protocol the first is kept.
pub fn service_import(
    import: &mcs::ServiceImport,
) -> Result<(ServiceImport, Vec<String>), ConvertError> {
    let (namespace, name) = meta(&import.metadata)?;
    let spec = &import.spec;
    let import_type = match spec.type_.as_deref() {
        Some("ClusterSetIP") => ImportType::ClusterSetIp,
        Some("Headless") => ImportType::Headless,
        other => {
            return Err(ConvertError::UnknownImportType(
                other.unwrap_or_default().to_string(),
            ));
        }
    };
    let mut warnings = Vec::new();
    let mut ips = Vec::new();
    if import_type == ImportType::ClusterSetIp {
        for ip in spec.ips.iter().filter(|ip| !ip.is_empty()) {
            ips.push(
                ip.parse::<IpAddr>()
                    .map_err(|_| ConvertError::InvalidClusterIp(ip.clone()))?,
            );
        }
        if ips.is_empty() {
            warnings.push("ClusterSetIP import has no IPs (yet): its name answers NODATA".into());
        }
    } else if !spec.ips.is_empty() {
        warnings.push("Headless import lists IPs; they are ignored".into());
    }
    let mut ports: Vec<Port> = Vec::new();
    for p in &spec.ports {
        let p = port(p.name.as_deref(), p.port, p.protocol.as_deref())?;
        match ports
            .iter()
            .find(|q| q.name == p.name && q.protocol == p.protocol)
        {
            Some(first) => warnings.push(format!(
                "ports conflict: {:?}/{} is {} and {}; keeping {}",
                p.name,
                p.protocol.as_label(),
                first.port,
                p.port,
                first.port
            )),
            None => ports.push(p),
        }
    }
    Ok((
        ServiceImport {
            namespace,
            name,
            import_type,
            ips,
            ports,
        },
        warnings,
    ))
}
