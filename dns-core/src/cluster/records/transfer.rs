//! A cluster zone whole, for AXFR: the records CoreDNS's kubernetes plugin transfers. The
//! SOA; the apex NS and `ns.dns` addresses; per exposed service, ordered by name: its cluster
//! IPs and an SRV per port at the service name (and at `_port._proto` for named ports), or,
//! headless, an address at the service name and at the endpoint's name for each published
//! endpoint with an SRV per named port; an ExternalName's CNAME; the SOA again. Pure.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record};

use super::{Ctx, RecordOptions, address_rdata, endpoint_published};
use crate::cluster::model::{AddressType, ServiceType};
use crate::cluster::snapshot::Snapshot;

/// The records of `zone` (exactly one of `options.zones`) in transfer order, or `None` for a
/// zone the plugin does not serve or a multicluster zone (not transferred here).
pub fn zone_transfer(
    snapshot: &Snapshot,
    options: &RecordOptions,
    zone: &Name,
    ns_addrs: &dyn Fn() -> Vec<IpAddr>,
) -> Option<Vec<Record>> {
    let zone = options.zones.iter().find(|z| *z == zone)?.clone();
    if options.multicluster_zones.contains(&zone) {
        return None;
    }
    let ctx = Ctx::local_zone(snapshot, options, &zone, ns_addrs);
    let soa = ctx.soa();
    let mut out = vec![soa.clone()];
    let (ns, addrs) = ctx.ns_records(ctx.zone());
    out.extend(ns);
    out.extend(addrs);
    let mut services: Vec<_> = snapshot
        .services()
        .filter(|e| ctx.namespace_exposed(&e.service.namespace))
        .collect();
    services.sort_by(|a, b| {
        (&a.service.name, &a.service.namespace).cmp(&(&b.service.name, &b.service.namespace))
    });
    for entry in services {
        let svc = &entry.service;
        let Some(domain) = ctx.service_domain(&svc.namespace, &svc.name) else {
            continue;
        };
        if svc.service_type == ServiceType::ExternalName {
            let target = svc
                .external_name
                .as_deref()
                .filter(|n| n.parse::<IpAddr>().is_err())
                .and_then(|n| Name::from_ascii(n).ok());
            if let Some(mut target) = target {
                target.set_fqdn(true);
                out.push(ctx.record(&domain, RData::CNAME(CNAME(target))));
            }
            continue;
        }
        if !svc.cluster_ips.is_empty() {
            for ip in &svc.cluster_ips {
                out.push(ctx.record(&domain, address_rdata(*ip)));
            }
            for port in &svc.ports {
                let srv = || RData::SRV(SRV::new(0, 100, port.port, domain.clone()));
                out.push(ctx.record(&domain, srv()));
                if let Some(name) = port_name(&port.name, port.protocol.as_label(), &domain) {
                    out.push(ctx.record(&name, srv()));
                }
            }
            continue;
        }
        if options.noendpoints {
            continue;
        }
        // Headless: each slice's published endpoints, SRV weights shared within the slice.
        for slice in &entry.slices {
            if slice.address_type == AddressType::Fqdn {
                continue;
            }
            let published: Vec<_> = slice
                .endpoints
                .iter()
                .filter(|ep| endpoint_published(ep, svc.publish_not_ready_addresses))
                .flat_map(|ep| ep.addresses.iter().map(move |ip| (ep, *ip)))
                .collect();
            let weight = u16::try_from((100 / published.len().max(1)).max(1)).unwrap_or(1);
            for (ep, ip) in published {
                out.push(ctx.record(&domain, address_rdata(ip)));
                let label = ctx.endpoint_name(ep, &ip);
                let Some(host) = Name::from_labels([label.as_bytes()])
                    .ok()
                    .and_then(|n| n.append_domain(&domain).ok())
                else {
                    continue;
                };
                out.push(ctx.record(&host, address_rdata(ip)));
                for port in &slice.ports {
                    let Some(name) = port_name(&port.name, port.protocol.as_label(), &domain)
                    else {
                        continue;
                    };
                    let srv = SRV::new(0, weight, port.port, host.clone());
                    out.push(ctx.record(&name, RData::SRV(srv)));
                }
            }
        }
    }
    out.push(soa);
    Some(out)
}

/// `_port._proto.<service domain>`, or `None` for an unnamed port (no SRV name, as the spec
/// says).
fn port_name(port: &str, protocol: &str, domain: &Name) -> Option<Name> {
    if port.is_empty() {
        return None;
    }
    let port = format!("_{}", port.to_ascii_lowercase());
    let protocol = format!("_{protocol}");
    Name::from_labels([port.as_bytes(), protocol.as_bytes()])
        .ok()?
        .append_domain(domain)
        .ok()
}
