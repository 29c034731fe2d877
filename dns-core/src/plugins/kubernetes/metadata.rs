//! What the kubernetes plugin publishes about a query (`metadata`), as CoreDNS's: the client's
//! pod (`kubernetes/client-namespace`, `kubernetes/client-pod-name`, with `pods verified`), and
//! for a name in its zones the parts of the name (`kubernetes/kind`, `namespace`, `service`,
//! `endpoint`, `port-name`, `protocol`, and `zone` with the `zonal` option), or
//! `kubernetes/parse-error` for a name that is not a service or pod name.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::cluster::Snapshot;
use crate::cluster::records::Zonal;
use crate::plugin::metadata::Values;

/// The parts of a name under a cluster zone, as CoreDNS's parseRequest splits it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameParts {
    pub port: String,
    pub protocol: String,
    pub endpoint: String,
    /// The zone of a zonal name (`<zone>.pin|prefer._zone...`); empty for any other name.
    pub zone: String,
    pub service: String,
    pub namespace: String,
    pub kind: String,
}

/// `labels` are the name's labels before the zone, leftmost first; `zonal`: the option is on.
pub fn parse_parts(labels: &[String], zonal: bool) -> Result<NameParts, &'static str> {
    let mut parts = NameParts::default();
    let mut rest = labels;
    let base_only = matches!(labels, []) || matches!(labels, [one] if one == "svc" || one == "pod");
    if base_only {
        return Ok(parts);
    }
    let strip = |s: &str| s.strip_prefix('_').unwrap_or(s).to_string();
    let mut take = || {
        let (last, before) = rest.split_last()?;
        rest = before;
        Some(last.clone())
    };
    let Some(kind) = take() else {
        return Ok(parts);
    };
    if kind != "svc" && kind != "pod" {
        return Err("invalid query name");
    }
    parts.kind = kind;
    let Some(namespace) = take() else {
        return Ok(parts);
    };
    parts.namespace = namespace;
    let Some(service) = take() else {
        return Ok(parts);
    };
    parts.service = service;
    match rest {
        [] => {}
        [endpoint] => parts.endpoint = endpoint.clone(),
        [port, protocol] => {
            parts.port = strip(port);
            parts.protocol = strip(protocol);
        }
        // Longer: a zonal name, or too long to be a name (CoreDNS 1.15 has no
        // endpoint-and-port form).
        _ => {
            let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
            match Zonal::parse(&rest).filter(|_| zonal) {
                Some(z) => parts.zone = z.zone().to_string(),
                None => return Err("invalid query name"),
            }
        }
    }
    Ok(parts)
}

/// Adds the kubernetes plugin's values for a query of `qname` from `client`.
pub fn provide(
    snapshot: &Snapshot,
    zones: &[Name],
    pods_verified: bool,
    zonal: bool,
    qname: &Name,
    client: IpAddr,
    values: &mut Values,
) {
    let mut put = |label: &str, value: String| values.push((format!("kubernetes/{label}"), value));
    if pods_verified && let Some(pod) = snapshot.pods_by_ip(&client.to_canonical()).first() {
        put("client-namespace", pod.namespace.to_string());
        put("client-pod-name", pod.name.to_string());
    }
    let qname = qname.to_lowercase();
    let Some(zone) = zones
        .iter()
        .filter(|z| z.zone_of(&qname))
        .max_by_key(|z| z.num_labels())
    else {
        return;
    };
    let before = usize::from(qname.num_labels().saturating_sub(zone.num_labels()));
    let labels: Vec<String> = qname
        .iter()
        .take(before)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    match parse_parts(&labels, zonal) {
        Ok(parts) => {
            put("port-name", parts.port);
            put("protocol", parts.protocol);
            put("endpoint", parts.endpoint);
            if zonal {
                put("zone", parts.zone);
            }
            put("service", parts.service);
            put("namespace", parts.namespace);
            put("kind", parts.kind);
        }
        Err(e) => put("parse-error", e.to_string()),
    }
}
