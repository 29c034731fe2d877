//! `acl [ZONES...] { ACTION [type QTYPE...] [net SOURCE...] [file FILE...] }`: access control by
//! query type and source address, as CoreDNS's acl. Each `acl` line is a rule for its zones;
//! its policies are tried in order and the first that matches the query's type and the
//! client's address decides: `allow` lets the query on (and ends every rule), `block` answers
//! REFUSED, `filter` answers NOERROR with no records (both with an RFC 8914 Extended DNS Error
//! when the client speaks EDNS), `drop` sends nothing. A query no policy matches goes on.

use std::net::IpAddr;
use std::sync::LazyLock;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use prometheus::IntCounterVec;

use crate::corefile::{Arg, Directive, Location};
use crate::plugin::metrics::sharded;
use crate::plugin::metrics::vars::{counter_vec, sharded_counter_vec};
use crate::plugin::setup::{BlockSetup, SetupError, zones_or_block};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::{add_option, extended_error, reply_to};

const PLUGIN: &str = "acl";
/// RFC 8914 info codes.
const EDE_BLOCKED: u16 = 15;
const EDE_FILTERED: u16 = 17;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Block,
    Filter,
    Drop,
}

impl Action {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "allow" => Some(Self::Allow),
            "block" => Some(Self::Block),
            "filter" => Some(Self::Filter),
            "drop" => Some(Self::Drop),
            _ => None,
        }
    }
}

/// One line of a rule's block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub action: Action,
    /// Empty: every type.
    pub types: Vec<RecordType>,
    pub nets: Vec<IpNet>,
}

impl Policy {
    fn matches(&self, qtype: RecordType, client: IpAddr) -> bool {
        (self.types.is_empty() || self.types.contains(&qtype))
            && self.nets.iter().any(|n| n.contains(&client))
    }
}

/// One `acl` line: its zones and policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub zones: Vec<Name>,
    pub policies: Vec<Policy>,
}

fn err(location: &Location, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, location, message)
}

fn every_address() -> Vec<IpNet> {
    vec![
        IpNet::V4(ipnet::Ipv4Net::default()),
        IpNet::V6(ipnet::Ipv6Net::default()),
    ]
}

/// A source: `*`, an address (one host) or a CIDR network.
fn parse_net(text: &str, location: &Location) -> Result<Vec<IpNet>, SetupError> {
    if text == "*" {
        return Ok(every_address());
    }
    let net = match text.parse::<IpAddr>() {
        Ok(ip) => Ok(IpNet::from(ip)),
        Err(_) => text.parse::<IpNet>(),
    };
    net.map(|n| vec![n.trunc()])
        .map_err(|_| err(location, format!("illegal CIDR notation {text:?}")))
}

/// Networks listed in a file, one a line, `#` comments.
fn parse_file(arg: &Arg) -> Result<Vec<IpNet>, SetupError> {
    let text = std::fs::read_to_string(&arg.value).map_err(|e| {
        err(
            &arg.location,
            format!("unable to load networks from {:?}: {e}", arg.value),
        )
    })?;
    let mut nets = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            nets.extend(parse_net(line, &arg.location)?);
        }
    }
    Ok(nets)
}

fn parse_policy(option: &Directive) -> Result<Policy, SetupError> {
    let action = Action::parse(&option.name).ok_or_else(|| {
        err(
            &option.location,
            format!(
                "unexpected token {:?}; expect 'allow', 'block', 'filter' or 'drop'",
                option.name
            ),
        )
    })?;
    if let Some(inner) = option.block.first() {
        return Err(crate::plugin::setup::unknown_property(PLUGIN, inner));
    }
    let mut types = Vec::new();
    let mut any_type = false;
    let mut nets = Vec::new();
    let mut has_source = false;
    let mut args = option.args.iter().peekable();
    while let Some(section) = args.next() {
        let mut tokens = Vec::new();
        while let Some(token) = args.next_if(|a| !is_section(&a.value)) {
            tokens.push(token);
        }
        if tokens.is_empty() {
            return Err(err(
                &section.location,
                format!("no token specified in {:?} section", section.value),
            ));
        }
        match section.value.to_ascii_lowercase().as_str() {
            "type" => {
                for token in tokens {
                    if token.value == "*" {
                        any_type = true;
                        continue;
                    }
                    match token.value.to_ascii_uppercase().parse::<RecordType>() {
                        Ok(t) if !matches!(t, RecordType::Unknown(_)) => types.push(t),
                        _ => {
                            return Err(err(
                                &token.location,
                                format!("unexpected token {:?}; expect legal QTYPE", token.value),
                            ));
                        }
                    }
                }
            }
            "net" => {
                has_source = true;
                for token in tokens {
                    nets.extend(parse_net(&token.value, &token.location)?);
                }
            }
            "file" => {
                has_source = true;
                for token in tokens {
                    nets.extend(parse_file(token)?);
                }
            }
            _ => {
                return Err(err(
                    &section.location,
                    format!(
                        "unexpected token {:?}; expect 'type | net | file'",
                        section.value
                    ),
                ));
            }
        }
    }
    if any_type {
        types.clear();
    }
    if !has_source {
        nets = every_address();
    }
    Ok(Policy {
        action,
        types,
        nets,
    })
}

fn is_section(token: &str) -> bool {
    matches!(token.to_ascii_lowercase().as_str(), "type" | "net" | "file")
}

pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<Rule, SetupError> {
    let zones = zones_or_block(PLUGIN, &d.args, block_zones)?;
    let policies = d.block.iter().map(parse_policy).collect::<Result<_, _>>()?;
    Ok(Rule { zones, policies })
}

/// What the rules decide for one query: the action and the rule's zone it was decided in.
pub fn decide<'r>(
    rules: &'r [Rule],
    qname: &Name,
    qtype: RecordType,
    client: IpAddr,
) -> Option<(Action, &'r Name)> {
    let client = client.to_canonical();
    for rule in rules {
        let Some(zone) = rule
            .zones
            .iter()
            .filter(|z| z.zone_of(qname))
            .max_by_key(|z| z.num_labels())
        else {
            continue;
        };
        match rule.policies.iter().find(|p| p.matches(qtype, client)) {
            Some(p) if p.action == Action::Allow => return None,
            Some(p) => return Some((p.action, zone)),
            None => {}
        }
    }
    None
}

pub struct Acl {
    rules: Vec<Rule>,
    server: String,
    /// Counted on every query the block lets through, so sharded per thread.
    allowed: sharded::Counter,
}

impl Acl {
    fn count(&self, family: &IntCounterVec, zone: &Name) {
        let zone = zone.to_string();
        family
            .with_label_values(&[self.server.as_str(), zone.as_str(), ""])
            .inc();
    }
}

impl Plugin for Acl {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let Some(query) = request.queries.first() else {
            return next.run(request);
        };
        let qname = query.name().to_lowercase();
        match decide(&self.rules, &qname, query.query_type(), next.info.src.ip()) {
            None => {
                self.allowed.inc();
                next.run(request)
            }
            Some((Action::Drop, zone)) => {
                self.count(&DROPPED, zone);
                Serving::ready(next.dropped_here(request))
            }
            Some((action, zone)) => {
                let (rcode, info_code, family) = if action == Action::Filter {
                    (ResponseCode::NoError, EDE_FILTERED, &*FILTERED)
                } else {
                    (ResponseCode::Refused, EDE_BLOCKED, &*BLOCKED)
                };
                self.count(family, zone);
                let mut response = reply_to(request, rcode);
                if request.edns.is_some() {
                    add_option(&mut response, extended_error(info_code, ""));
                }
                Serving::ready(next.answered_here(response))
            }
        }
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    let rules = lines
        .iter()
        .map(|d| parse(d, setup.zones))
        .collect::<Result<_, _>>()?;
    let server = setup.server.to_string();
    let allowed = ALLOWED.with_label_values(&[server.as_str(), ""]);
    setup.add(Acl {
        rules,
        server,
        allowed,
    });
    Ok(())
}

/// `coredns_acl_blocked_requests_total{server, zone, view}`.
static BLOCKED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        PLUGIN,
        "blocked_requests_total",
        "Counter of DNS requests being blocked.",
        &["server", "zone", "view"],
    )
});
/// `coredns_acl_filtered_requests_total{server, zone, view}`.
static FILTERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        PLUGIN,
        "filtered_requests_total",
        "Counter of DNS requests being filtered.",
        &["server", "zone", "view"],
    )
});
/// `coredns_acl_allowed_requests_total{server, view}`.
static ALLOWED: LazyLock<sharded::CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        PLUGIN,
        "allowed_requests_total",
        "Counter of DNS requests being allowed.",
        &["server", "view"],
    )
});
/// `coredns_acl_dropped_requests_total{server, zone, view}`.
static DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        PLUGIN,
        "dropped_requests_total",
        "Counter of DNS requests being dropped.",
        &["server", "zone", "view"],
    )
});
