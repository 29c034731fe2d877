//! `k8s_external`'s records: services' external addresses (`spec.externalIPs` and load
//! balancer ingress IPs) under an external zone, as CoreDNS's kubernetes plugin's `External`
//! and k8s_external's apex answer them. `<svc>.<ns>.<zone>` A/AAAA, `_<port>._<proto>.<svc>.
//! <ns>.<zone>` SRV; with `headless`, a headless service's endpoints as `<endpoint>.<svc>.<ns>.
//! <zone>`; the apex has SOA and NS (`ns1.<apex>.<zone>`, with this server's addresses). Pure.

use super::*;

/// The `k8s_external` options that shape answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalOptions {
    /// Lowercase FQDNs.
    pub zones: Vec<Name>,
    /// The label under the zone where its name servers live (`dns`).
    pub apex: String,
    pub ttl: u32,
    /// Headless services' endpoints are answered too.
    pub headless: bool,
}

impl Default for ExternalOptions {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            apex: "dns".to_string(),
            ttl: 5,
            headless: false,
        }
    }
}

/// One address a name resolves to, with its port and the name an SRV record points at.
struct Found {
    ip: IpAddr,
    port: u16,
    target: Name,
}

/// Answers one question in an external zone, or `None` when no zone of `ext` holds the name.
/// `k8s` are the block's kubernetes options (which namespaces are exposed, endpoint names);
/// `ns_addrs` the addresses of `ns1.<apex>.<zone>`. NXDOMAIN answers may fall through.
pub fn external_answer(
    snapshot: &Snapshot,
    k8s: &RecordOptions,
    ext: &ExternalOptions,
    query: &Query,
    ns_addrs: &dyn Fn() -> Vec<IpAddr>,
) -> Option<Answer> {
    let qname = query.name();
    let zone = zone_of(&ext.zones, qname)?;
    let qtype = query.query_type();
    let join = |labels: &[&str], base: &Name| -> Option<Name> {
        let bytes: Vec<&[u8]> = labels.iter().map(|l| l.as_bytes()).collect();
        Name::from_labels(bytes).ok()?.append_domain(base).ok()
    };
    let ns1 = join(&["ns1", &ext.apex], &zone).unwrap_or_else(|| zone.clone());
    let soa = || {
        let rname = join(&["hostmaster", &ext.apex], &zone).unwrap_or_else(|| zone.clone());
        let soa = SOA::new(
            ns1.clone(),
            rname,
            snapshot.serial(),
            7200,
            1800,
            86400,
            ext.ttl,
        );
        Record::from_rdata(zone.clone(), ext.ttl, RData::SOA(soa))
    };
    let negative = |rcode| Answer {
        rcode,
        answers: Vec::new(),
        authorities: vec![soa()],
        additionals: Vec::new(),
    };
    let record = |name: &Name, rdata| Record::from_rdata(name.clone(), ext.ttl, rdata);
    let lower = qname.to_lowercase();
    let below = label_count(&lower).saturating_sub(label_count(&zone));
    let labels: Vec<&str> = match lower
        .iter()
        .take(below)
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
    {
        Ok(labels) => labels,
        Err(_) => return Some(negative(ResponseCode::NXDomain)),
    };

    // The apex: SOA and NS; anything else there is NODATA.
    if labels.is_empty() {
        return Some(match qtype {
            RecordType::SOA => Answer {
                rcode: ResponseCode::NoError,
                answers: vec![soa()],
                ..Default::default()
            },
            RecordType::NS => Answer {
                rcode: ResponseCode::NoError,
                answers: vec![record(&zone, RData::NS(NS(ns1.clone())))],
                authorities: Vec::new(),
                additionals: ns_addrs()
                    .into_iter()
                    .map(|ip| record(&ns1, address_rdata(ip)))
                    .collect(),
            },
            _ => negative(ResponseCode::NoError),
        });
    }
    // `<apex>.<zone>` and `ns1.<apex>.<zone>`, where the name servers live.
    if labels.last() == Some(&ext.apex.as_str()) {
        return Some(match labels.as_slice() {
            [_] => negative(ResponseCode::NoError),
            ["ns1", _] => {
                let answers: Vec<Record> = ns_addrs()
                    .into_iter()
                    .filter(|ip| matches_family(ip, qtype))
                    .map(|ip| record(qname, address_rdata(ip)))
                    .collect();
                if answers.is_empty() {
                    negative(ResponseCode::NoError)
                } else {
                    Answer {
                        rcode: ResponseCode::NoError,
                        answers,
                        ..Default::default()
                    }
                }
            }
            _ => negative(ResponseCode::NXDomain),
        });
    }

    let ctx = Ctx::local_zone(snapshot, k8s, &zone, ns_addrs);
    let found = match lookup(&ctx, ext, &labels, &zone) {
        Ok(found) => found,
        Err(NameError) => return Some(negative(ResponseCode::NXDomain)),
    };
    let (answers, additionals) = match qtype {
        RecordType::A | RecordType::AAAA => {
            let mut seen = BTreeSet::new();
            let answers = found
                .iter()
                .filter(|f| matches_family(&f.ip, qtype) && seen.insert(f.ip))
                .map(|f| record(qname, address_rdata(f.ip)))
                .collect();
            (answers, Vec::new())
        }
        RecordType::SRV => {
            let weight = (100 / found.len().max(1)).max(1) as u16;
            let mut seen_srv = BTreeSet::new();
            let mut seen_addr = BTreeSet::new();
            let mut answers = Vec::new();
            let mut additionals = Vec::new();
            for f in &found {
                if seen_srv.insert((f.target.clone(), f.port)) {
                    let srv = SRV::new(0, weight, f.port, f.target.clone());
                    answers.push(record(qname, RData::SRV(srv)));
                }
                if seen_addr.insert((f.target.clone(), f.ip)) {
                    additionals.push(record(&f.target, address_rdata(f.ip)));
                }
            }
            (answers, additionals)
        }
        _ => (Vec::new(), Vec::new()),
    };
    Some(if answers.is_empty() {
        negative(ResponseCode::NoError)
    } else {
        Answer {
            rcode: ResponseCode::NoError,
            answers,
            authorities: Vec::new(),
            additionals,
        }
    })
}

/// What `<labels>.<zone>` resolves to (CoreDNS's kubernetes `External`): `Ok(empty)` for a
/// namespace alone (NODATA), an error when nothing has the name.
fn lookup(
    ctx: &Ctx<'_>,
    ext: &ExternalOptions,
    labels: &[&str],
    zone: &Name,
) -> Lookup<Vec<Found>> {
    let Some((&namespace, rest)) = labels.split_last() else {
        return Ok(Vec::new());
    };
    if !ctx.namespace_exposed(namespace) {
        return Err(NameError);
    }
    let Some((&service, rest)) = rest.split_last() else {
        return Ok(Vec::new());
    };
    let (endpoint, port, protocol) = match *rest {
        [] => (None, None, None),
        [endpoint] if ext.headless => (Some(endpoint), None, None),
        [port, protocol] => (
            None,
            Some(strip_underscore(port)),
            Some(strip_underscore(protocol)),
        ),
        _ => return Err(NameError),
    };
    let entry = ctx.index.service(namespace, service).ok_or(NameError)?;
    let svc = &entry.service;
    let port_matches = |p: &Port| {
        port.is_none_or(|want| want.eq_ignore_ascii_case(&p.name))
            && protocol.is_none_or(|want| want.eq_ignore_ascii_case(p.protocol.as_label()))
    };
    let service_name = Name::from_labels([svc.name.as_bytes(), svc.namespace.as_bytes()])
        .ok()
        .and_then(|n| n.append_domain(zone).ok())
        .ok_or(NameError)?;
    let mut found = Vec::new();
    if ext.headless && svc.external_ips.is_empty() && svc.headless {
        for slice in entry
            .slices
            .iter()
            .filter(|s| s.address_type != AddressType::Fqdn)
        {
            for ep in &slice.endpoints {
                if !endpoint_published(ep, svc.publish_not_ready_addresses) {
                    continue;
                }
                for ip in &ep.addresses {
                    let name = ctx.endpoint_name(ep, ip);
                    if endpoint.is_some_and(|want| !want.eq_ignore_ascii_case(&name)) {
                        continue;
                    }
                    let Some(target) = Name::from_labels([name.as_bytes()])
                        .ok()
                        .and_then(|n| n.append_domain(&service_name).ok())
                    else {
                        continue;
                    };
                    for p in slice.ports.iter().filter(|p| port_matches(p)) {
                        found.push(Found {
                            ip: *ip,
                            port: p.port,
                            target: target.clone(),
                        });
                    }
                }
            }
        }
    }
    if endpoint.is_none() {
        for ip in &svc.external_ips {
            for p in svc.ports.iter().filter(|p| port_matches(p)) {
                found.push(Found {
                    ip: *ip,
                    port: p.port,
                    target: service_name.clone(),
                });
            }
        }
    }
    if found.is_empty() {
        Err(NameError)
    } else {
        Ok(found)
    }
}
