//! The metrics every plugin and the router share: CoreDNS's metric families with their names,
//! labels and buckets (`vars`), the label spellings, and per-zone label handles resolved ahead
//! of the query path (`recorder`). `/metrics` serves the whole default registry, so other
//! crates register their metrics with `prometheus::register` (or `dns_core::plugin::metrics::
//! prometheus::register`, the same crate and registry) and they appear beside these. The
//! `prometheus` plugin's setup (which address, which blocks are counted) is in
//! `plugins/prometheus`.

mod recorder;
pub mod sharded;
pub mod vars;

/// The prometheus crate dns-core exports from: register here to appear on `/metrics`.
pub use prometheus;

pub use recorder::ZoneMetrics;

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::RecordType;

/// The query types CoreDNS counts by name; every other type is counted as `other`.
pub const QTYPES: [RecordType; 19] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::DNSKEY,
    RecordType::DS,
    RecordType::MX,
    RecordType::NSEC3,
    RecordType::NSEC,
    RecordType::NS,
    RecordType::PTR,
    RecordType::RRSIG,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::TXT,
    RecordType::HTTPS,
    RecordType::SVCB,
    RecordType::IXFR,
    RecordType::AXFR,
    RecordType::ANY,
];
const QTYPE_NAMES: [&str; 20] = [
    "A", "AAAA", "CNAME", "DNSKEY", "DS", "MX", "NSEC3", "NSEC", "NS", "PTR", "RRSIG", "SOA",
    "SRV", "TXT", "HTTPS", "SVCB", "IXFR", "AXFR", "ANY", "other",
];

/// Index of a query type's `type` label in [`qtype_label`]'s table (the last is `other`).
pub fn qtype_index(qtype: RecordType) -> usize {
    QTYPES
        .iter()
        .position(|t| *t == qtype)
        .unwrap_or(QTYPES.len())
}

/// The `type` label: the type's name for the common types, else `other`.
pub fn qtype_label(qtype: RecordType) -> &'static str {
    QTYPE_NAMES[qtype_index(qtype)]
}

/// The `family` label of a client address: `1` for IPv4 (also IPv4-mapped IPv6), `2` for IPv6.
pub fn family_label(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "1",
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => "1",
        IpAddr::V6(_) => "2",
    }
}

/// The `server` label: `dns://:53` when listening on every interface, `dns://IP:PORT` when
/// bound to one address (CoreDNS's `bind`), IPv6 in brackets.
pub fn server_label(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("dns://:{}", addr.port())
    } else {
        format!("dns://{addr}")
    }
}
