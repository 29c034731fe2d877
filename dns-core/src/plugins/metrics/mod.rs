//! `prometheus [ADDRESS]`: CoreDNS's metrics plugin. Setup (this file), the metric families
//! with CoreDNS's names and labels (`vars`), and per-zone label handles resolved ahead of the
//! query path (`recorder`). `/metrics` serves the whole default registry, so other crates
//! register their metrics with `prometheus::register` (or `dns_core::plugins::metrics::
//! prometheus::register`, the same crate and registry) and they appear beside these.

mod recorder;
pub mod vars;

/// The prometheus crate dns-core exports from: register here to appear on `/metrics`.
pub use prometheus;

pub use recorder::ZoneMetrics;

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::corefile::Directive;
use crate::plugins::setup::{HttpAddr, SetupError, http_addr_args};

const PLUGIN: &str = "prometheus";
/// CoreDNS's default metrics address.
pub const DEFAULT_ADDR: &str = "localhost:9153";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
    pub addr: HttpAddr,
}

pub fn parse(directive: &Directive) -> Result<PrometheusConfig, SetupError> {
    let addr = http_addr_args(PLUGIN, directive, DEFAULT_ADDR)?;
    for option in &directive.block {
        match option.name.as_str() {
            // Go runtime metrics: there is no Go runtime; accepted so CoreDNS Corefiles load.
            "runtime_metrics" if option.args.is_empty() => {}
            "tls" => {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    "tls is not supported yet by Signpost",
                ));
            }
            other => {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    format!("unknown option {other:?}"),
                ));
            }
        }
    }
    Ok(PrometheusConfig { addr })
}

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

/// Rcode names as miekg/dns spells them (CoreDNS's `rcode.ToString`); 16 is `BADSIG`, the
/// name miekg/dns keeps for the code BADVERS shares.
const RCODE_NAMES: [&str; 24] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "",
    "",
    "",
    "",
    "",
    "BADSIG",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
];

/// The `rcode` label: miekg/dns's name, or the number for codes it has no name for.
pub fn rcode_label(rcode: ResponseCode) -> std::borrow::Cow<'static, str> {
    let code = u16::from(rcode);
    match RCODE_NAMES.get(usize::from(code)) {
        Some(name) if !name.is_empty() => std::borrow::Cow::Borrowed(name),
        _ => std::borrow::Cow::Owned(code.to_string()),
    }
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
