//! `dns64 [PREFIX]` or `dns64 { prefix PREFIX; translate_all; allow_ipv4 }`: RFC 6147 AAAA
//! synthesis, as CoreDNS's dns64. An AAAA question (class IN) from an IPv6 client (any client
//! with `allow_ipv4`) whose answer has no AAAA record (always, with `translate_all`) and is not
//! NXDOMAIN is asked again as A through this server (CoreDNS's upstream: the block that serves
//! the name, its whole chain), and each A record becomes an AAAA inside PREFIX (RFC 6052;
//! 64:ff9b::/96 by default), its TTL at most the denial's SOA TTL (600 without one).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::AAAA;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use ipnet::Ipv6Net;

use crate::corefile::{Arg, Directive};
use crate::plugin::metrics::sharded;
use crate::plugin::metrics::vars::sharded_counter_vec;
use crate::plugin::setup::{BlockSetup, SetupError, args_exact, unknown_property};
use crate::plugin::upstream::Upstream;
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;

const PLUGIN: &str = "dns64";
/// RFC 6147 5.1.7: the TTL cap when the negative answer had no SOA.
const DEFAULT_SOA_TTL: u32 = 600;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub prefix: Ipv6Net,
    pub translate_all: bool,
    pub allow_ipv4: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: Ipv6Net::new(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
                .unwrap_or_default(),
            translate_all: false,
            allow_ipv4: false,
        }
    }
}

/// RFC 6052 2.2: the prefix lengths an IPv4 address can be embedded after.
fn parse_prefix(arg: &Arg) -> Result<Ipv6Net, SetupError> {
    let net: Ipv6Net = arg.value.parse().map_err(|_| {
        SetupError::new(
            PLUGIN,
            &arg.location,
            format!("invalid IPv6 prefix {:?}", arg.value),
        )
    })?;
    let len = net.prefix_len();
    if !len.is_multiple_of(8) || !(32..=96).contains(&len) {
        return Err(SetupError::new(
            PLUGIN,
            &arg.location,
            format!(
                "invalid prefix length {len} in {:?}: one of 32, 40, 48, 56, 64 or 96",
                arg.value
            ),
        ));
    }
    Ok(net.trunc())
}

pub fn parse(d: &Directive) -> Result<Config, SetupError> {
    let mut config = Config::default();
    match d.args.as_slice() {
        [] => {}
        [prefix] => {
            config.prefix = parse_prefix(prefix)?;
            if let Some(option) = d.block.first() {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    "a prefix argument and a block cannot both be given",
                ));
            }
        }
        [_, extra, ..] => {
            return Err(SetupError::new(
                PLUGIN,
                &extra.location,
                "dns64 takes at most one prefix",
            ));
        }
    }
    for option in &d.block {
        match option.name.as_str() {
            "prefix" => {
                let [prefix] = option.args.as_slice() else {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "prefix needs exactly one IPv6 prefix",
                    ));
                };
                config.prefix = parse_prefix(prefix)?;
            }
            "translate_all" | "allow_ipv4" => {
                args_exact(PLUGIN, option, 0)?;
                if option.name == "translate_all" {
                    config.translate_all = true;
                } else {
                    config.allow_ipv4 = true;
                }
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    Ok(config)
}

/// RFC 6052 2.2: `v4` inside `prefix`, skipping bits 64 to 71 (the "u" octet).
pub fn embed(prefix: &Ipv6Net, v4: Ipv4Addr) -> Ipv6Addr {
    let mut out = prefix.network().octets();
    let mut at = usize::from(prefix.prefix_len() / 8);
    for byte in v4.octets() {
        if at == 8 {
            at += 1;
        }
        if let Some(slot) = out.get_mut(at) {
            *slot = byte;
        }
        at += 1;
    }
    Ipv6Addr::from(out)
}

/// Whether `response` (to an AAAA question) should be synthesised (RFC 6147 5.1.1, 5.1.2).
pub fn should_translate(config: &Config, response: &Message) -> bool {
    if response.metadata.response_code == ResponseCode::NXDomain {
        return false;
    }
    config.translate_all
        || !response
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::AAAA)
}

/// The synthesised response: `a_response`'s records with each A made an AAAA, its authority
/// and additional sections as they are (RFC 6147 5.3).
pub fn synthesize(
    config: &Config,
    request: &Message,
    original: &Message,
    a_response: Message,
) -> Message {
    let soa_ttl = original
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.ttl)
        .next_back()
        .unwrap_or(DEFAULT_SOA_TTL);
    let mut response = reply_to(request, ResponseCode::NoError);
    response.metadata.truncation = a_response.metadata.truncation;
    response.authorities = a_response.authorities;
    response.additionals = a_response.additionals;
    response.answers = a_response
        .answers
        .into_iter()
        .map(|record| match &record.data {
            RData::A(a) => {
                let mut aaaa = Record::from_rdata(
                    record.name.clone(),
                    record.ttl.min(soa_ttl),
                    RData::AAAA(AAAA(embed(&config.prefix, a.0))),
                );
                aaaa.dns_class = record.dns_class;
                aaaa
            }
            _ => record,
        })
        .collect();
    response
}

pub struct Dns64 {
    config: Config,
    upstream: Arc<Upstream>,
    translated: sharded::Counter,
}

impl Plugin for Dns64 {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let intercept =
            request.queries.first().is_some_and(|q| {
                q.query_type() == RecordType::AAAA && q.query_class() == DNSClass::IN
            }) && (self.config.allow_ipv4 || !next.info.src.ip().to_canonical().is_ipv4());
        if !intercept {
            return next.run(request);
        }
        Serving::pending(async move {
            let answered = next.run(request).await;
            if answered.silent || !should_translate(&self.config, &answered.response) {
                return answered;
            }
            let Some(query) = request.queries.first() else {
                return answered;
            };
            match self
                .upstream
                .lookup(query.name(), RecordType::A, next.info)
                .await
            {
                Some(a_response) => {
                    self.translated.inc();
                    let response =
                        synthesize(&self.config, request, &answered.response, a_response);
                    next.answered_here(response)
                }
                None => next.failed_here(
                    reply_to(request, ResponseCode::ServFail),
                    format!("dns64: no answer to the A question for {}", query.name()),
                ),
            }
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d)?;
        let upstream = setup.upstream();
        let translated = TRANSLATED.with_label_values(&[setup.server]);
        setup.add(Dns64 {
            config,
            upstream,
            translated,
        });
    }
    Ok(())
}

/// `coredns_dns64_requests_translated_total{server}`.
static TRANSLATED: LazyLock<sharded::CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        PLUGIN,
        "requests_translated_total",
        "Counter of DNS requests translated by dns64.",
        &["server"],
    )
});
