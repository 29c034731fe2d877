//! `local [{ localhost_prefix on|off }]`: answers the names RFC 6761 and RFC 6303 keep local,
//! as CoreDNS's local, so they never leave for an upstream: the zones `localhost.`,
//! `0.in-addr.arpa.`, `127.in-addr.arpa.` and `255.in-addr.arpa.` (mostly empty: `localhost.`
//! has 127.0.0.1 and ::1, `1.0.0.127.in-addr.arpa.` a PTR to `localhost.`, other names
//! NXDOMAIN), and any name under `.localhost.` or, unless `localhost_prefix off`, starting with
//! `localhost.` (127.0.0.1 and ::1, counted in `coredns_local_localhost_requests_total`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, PTR, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use prometheus::{IntCounter, Opts};

use crate::corefile::Directive;
use crate::plugin::metrics::vars::{register, unreachable_metric};
use crate::plugin::setup::{BlockSetup, SetupError, unknown_property};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;

const PLUGIN: &str = "local";
/// A week, as CoreDNS's local answers.
const TTL: u32 = 604_800;
const ZONES: [&str; 4] = [
    "localhost.",
    "0.in-addr.arpa.",
    "127.in-addr.arpa.",
    "255.in-addr.arpa.",
];
const LOOPBACK_PTR: &str = "1.0.0.127.in-addr.arpa.";

/// Whether names starting with `localhost.` are answered (`localhost_prefix`, on by default).
pub fn parse(d: &Directive) -> Result<bool, SetupError> {
    if let Some(arg) = d.args.first() {
        return Err(SetupError::new(
            PLUGIN,
            &arg.location,
            "local takes no arguments",
        ));
    }
    let mut prefix = true;
    for option in &d.block {
        if option.name != "localhost_prefix" {
            return Err(unknown_property(PLUGIN, option));
        }
        prefix = match option.args.as_slice() {
            [v] if v.value == "on" => true,
            [v] if v.value == "off" => false,
            [v] => {
                return Err(SetupError::new(
                    PLUGIN,
                    &v.location,
                    format!("localhost_prefix expects 'on' or 'off', got {:?}", v.value),
                ));
            }
            _ => {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    "localhost_prefix needs exactly one of on, off",
                ));
            }
        };
    }
    Ok(prefix)
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap_or_else(|_| Name::root())
}

fn soa(owner: &Name) -> Record {
    let data = SOA::new(name("localhost."), name("root.localhost."), 1, 0, 0, 0, TTL);
    Record::from_rdata(owner.clone(), TTL, RData::SOA(data))
}

fn loopback(owner: &Name, qtype: RecordType) -> Option<Record> {
    let data = match qtype {
        RecordType::A => RData::A(A(Ipv4Addr::LOCALHOST)),
        RecordType::AAAA => RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
        _ => return None,
    };
    Some(Record::from_rdata(owner.clone(), TTL, data))
}

/// The local answer to `request`, or `None` when the name is not local.
pub fn answer(request: &Message, localhost_prefix: bool) -> Option<Message> {
    let query = request.queries.first()?;
    let qname = query.name();
    let lower = qname.to_lowercase().to_ascii();
    let qtype = query.query_type();
    let mut response = reply_to(request, ResponseCode::NoError);
    let under_localhost = lower.len() > "localhost.".len()
        && (lower.ends_with(".localhost.")
            || (localhost_prefix && lower.starts_with("localhost.")));
    if under_localhost {
        LOCALHOST.inc();
        match loopback(qname, qtype) {
            Some(record) => response.answers.push(record),
            None => response.authorities.push(soa(qname)),
        }
        return Some(response);
    }
    let zone_labels = ZONES
        .iter()
        .copied()
        .map(name)
        .filter(|z| z.zone_of(&qname.to_lowercase()))
        .map(|z| z.num_labels())
        .max()?;
    let zone = qname.trim_to(usize::from(zone_labels));
    if ZONES.contains(&lower.as_str()) {
        match qtype {
            RecordType::A | RecordType::AAAA if lower == "localhost." => {
                response.answers.extend(loopback(qname, qtype));
            }
            RecordType::SOA => response.answers.push(soa(qname)),
            RecordType::NS => response.answers.push(Record::from_rdata(
                qname.clone(),
                TTL,
                RData::NS(NS(name("localhost."))),
            )),
            _ => response.authorities.push(soa(qname)),
        }
    } else if lower == LOOPBACK_PTR {
        match qtype {
            RecordType::PTR => response.answers.push(Record::from_rdata(
                qname.clone(),
                TTL,
                RData::PTR(PTR(name("localhost."))),
            )),
            _ => response.authorities.push(soa(&zone)),
        }
    } else {
        response.metadata.response_code = ResponseCode::NXDomain;
        response.authorities.push(soa(&zone));
    }
    Some(response)
}

pub struct Local {
    localhost_prefix: bool,
}

impl Plugin for Local {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.answer_or_run(request, answer(request, self.localhost_prefix))
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let localhost_prefix = parse(d)?;
        LazyLock::force(&LOCALHOST);
        setup.add(Local { localhost_prefix });
    }
    Ok(())
}

/// `coredns_local_localhost_requests_total` (no labels, as in CoreDNS).
static LOCALHOST: LazyLock<IntCounter> = LazyLock::new(|| {
    let name = "localhost_requests_total";
    let opts = Opts::new(name, "Counter of localhost.<domain> requests.")
        .namespace("coredns")
        .subsystem(PLUGIN);
    register(IntCounter::with_opts(opts).unwrap_or_else(|e| unreachable_metric(name, e)))
});
