//! `template CLASS TYPE [ZONE...] { match REGEX...; answer RR; additional RR; authority RR;
//! rcode CODE; ederror CODE [REASON]; fallthrough [ZONE...] }`: answers from templates, as CoreDNS's template plugin.
//! A query in a template's zones, of its class and type (`ANY` matches any), whose name
//! (lowercase, with the final dot) one of its regexes matches gets the rendered records and
//! the rcode; a query of the zones, class and type that no regex matches gets NXDOMAIN unless
//! the template falls through, as in CoreDNS; `ederror` adds an Extended DNS Error (RFC 8914)
//! to the response's OPT record. The records are text (Go's text/template,
//! see [`text`]) parsed as zone-file lines.

pub mod text;

use std::sync::LazyLock;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use prometheus::IntCounterVec;
use regex::Regex;

use crate::corefile::{Arg, Directive};
use crate::plugin::fallthrough::{self, Fallthrough};
use crate::plugin::metrics::vars::counter_vec;
use crate::plugin::setup::{BlockSetup, SetupError, unknown_property, zones_or_block};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::{add_option, extended_error, reply_to};
pub use text::Text;

const PLUGIN: &str = "template";

/// Which part of the response a record template writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer,
    Additional,
    Authority,
}

impl Section {
    fn label(self) -> &'static str {
        match self {
            Section::Answer => "answer",
            Section::Additional => "additional",
            Section::Authority => "authority",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Template {
    /// `None`: ANY.
    pub class: Option<DNSClass>,
    /// `None`: ANY.
    pub qtype: Option<RecordType>,
    pub zones: Vec<Name>,
    pub regexes: Vec<Regex>,
    /// Record templates and their source text (the `template` label of failures).
    pub records: Vec<(Section, Text, String)>,
    pub rcode: ResponseCode,
    /// `ederror CODE [REASON]`: the RFC 8914 info code and its extra text.
    pub ederror: Option<(u16, String)>,
    pub fallthrough: Fallthrough,
}

fn err(location: &crate::corefile::Location, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, location, message)
}

fn class_arg(arg: &Arg) -> Result<Option<DNSClass>, SetupError> {
    match arg.value.to_ascii_uppercase().as_str() {
        "ANY" => Ok(None),
        "IN" => Ok(Some(DNSClass::IN)),
        "CH" | "CHAOS" => Ok(Some(DNSClass::CH)),
        "HS" => Ok(Some(DNSClass::HS)),
        "NONE" => Ok(Some(DNSClass::NONE)),
        _ => Err(err(
            &arg.location,
            format!("invalid query class {:?}", arg.value),
        )),
    }
}

fn type_arg(arg: &Arg) -> Result<Option<RecordType>, SetupError> {
    let upper = arg.value.to_ascii_uppercase();
    if upper == "ANY" {
        return Ok(None);
    }
    match upper.parse::<RecordType>() {
        Ok(t) if !matches!(t, RecordType::Unknown(_)) => Ok(Some(t)),
        _ => Err(err(
            &arg.location,
            format!("invalid query type {:?}", arg.value),
        )),
    }
}

pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<Template, SetupError> {
    let mut args = d.args.iter();
    let class = args.next().map(class_arg).transpose()?.flatten();
    let qtype = args.next().map(type_arg).transpose()?.flatten();
    let zones = zones_or_block(PLUGIN, args, block_zones)?;
    let mut t = Template {
        class,
        qtype,
        zones,
        regexes: Vec::new(),
        records: Vec::new(),
        rcode: ResponseCode::NoError,
        ederror: None,
        fallthrough: Fallthrough::none(),
    };
    for option in &d.block {
        let section = match option.name.as_str() {
            "match" => {
                if option.args.is_empty() {
                    return Err(err(&option.location, "match needs at least one regex"));
                }
                for arg in &option.args {
                    let regex = Regex::new(&arg.value).map_err(|e| {
                        err(
                            &arg.location,
                            format!("could not parse regex {:?}: {e}", arg.value),
                        )
                    })?;
                    t.regexes.push(regex);
                }
                continue;
            }
            "answer" => Section::Answer,
            "additional" => Section::Additional,
            "authority" => Section::Authority,
            "rcode" => {
                let [code] = option.args.as_slice() else {
                    return Err(err(&option.location, "rcode needs exactly one code"));
                };
                t.rcode = crate::wire::rcode::from_name(&code.value).ok_or_else(|| {
                    err(&code.location, format!("unknown rcode {:?}", code.value))
                })?;
                continue;
            }
            "ederror" => {
                let (code, reason) = match option.args.as_slice() {
                    [code] => (code, String::new()),
                    [code, reason] => (code, reason.value.clone()),
                    _ => {
                        return Err(err(
                            &option.location,
                            "ederror needs an extended error code and an optional reason",
                        ));
                    }
                };
                let code = code.value.parse::<u16>().map_err(|e| {
                    err(
                        &code.location,
                        format!(
                            "error parsing extended DNS error code {:?}: {e}",
                            code.value
                        ),
                    )
                })?;
                t.ederror = Some((code, reason));
                continue;
            }
            "fallthrough" => {
                t.fallthrough = fallthrough::parse_option(PLUGIN, option)?;
                continue;
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        };
        if option.args.is_empty() {
            return Err(err(
                &option.location,
                format!("{} needs a record template", option.name),
            ));
        }
        for arg in &option.args {
            let text = text::parse(&arg.value).map_err(|e| err(&arg.location, e))?;
            check_record(&text).map_err(|e| err(&arg.location, e))?;
            t.records.push((section, text, arg.value.clone()));
        }
    }
    if t.regexes.is_empty() {
        t.regexes
            .push(Regex::new(".*").map_err(|e| err(&d.location, e.to_string()))?);
    }
    Ok(t)
}

/// A record template without actions is a fixed record: a mistake in it shows at start
/// rather than as SERVFAIL on every query. One with actions is checked when rendered, as in
/// CoreDNS (its parts may depend on the match).
fn check_record(text: &Text) -> Result<(), String> {
    match text.0.as_slice() {
        [] => Err("empty record template".into()),
        [text::Piece::Text(fixed)] => parse_record(fixed).map(|_| ()),
        _ => Ok(()),
    }
}

/// One zone-file line (`NAME [TTL] [CLASS] TYPE RDATA`) as a record; TTL 3600 when it has none,
/// as miekg/dns's `NewRR` takes it.
pub fn parse_record(line: &str) -> Result<Record, String> {
    let source = format!("$TTL 3600\n{line}\n");
    let (_, sets) = hickory_proto::serialize::txt::Parser::new(source, None, Some(Name::root()))
        .parse()
        .map_err(|e| format!("{line:?} is not a resource record: {e}"))?;
    let mut records = sets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>());
    let record = records
        .next()
        .ok_or_else(|| format!("{line:?} is not a resource record"))?;
    if records.next().is_some() {
        return Err(format!("{line:?} is more than one resource record"));
    }
    Ok(record)
}

/// The outcome of one template for a question.
enum Outcome<'r> {
    /// Its zone, class and type and a regex match: the regex and its captures.
    Match(&'r Regex, regex::Captures<'r>, &'r Name),
    /// Not this template's question; the next one may take it.
    Pass,
    /// Its question, but no regex matched and it does not fall through: NXDOMAIN.
    Deny,
}

impl Template {
    fn outcome<'r>(
        &'r self,
        name: &Name,
        lower: &'r str,
        class: DNSClass,
        qtype: RecordType,
    ) -> Outcome<'r> {
        let Some(zone) = self
            .zones
            .iter()
            .filter(|z| z.zone_of(name))
            .max_by_key(|z| z.num_labels())
        else {
            return Outcome::Pass;
        };
        if self
            .class
            .is_some_and(|c| class != DNSClass::ANY && c != class)
        {
            return Outcome::Pass;
        }
        if self
            .qtype
            .is_some_and(|t| qtype != RecordType::ANY && t != qtype)
        {
            return Outcome::Pass;
        }
        for regex in &self.regexes {
            if let Some(captures) = regex.captures(lower) {
                return Outcome::Match(regex, captures, zone);
            }
        }
        if self.fallthrough.through(name) {
            Outcome::Pass
        } else {
            Outcome::Deny
        }
    }
}

/// Every `template` line of a block, tried in Corefile order.
pub struct Templates {
    pub templates: Vec<Template>,
    server: String,
}

impl Templates {
    /// The response, the error to log with it, or `None` to hand the query on.
    pub fn resolve(&self, request: &Message, remote: &str) -> Option<(Message, Option<String>)> {
        let query = request.queries.first()?;
        let name = query.name().to_lowercase();
        let lower = name.to_ascii();
        let class = query.query_class();
        let qtype = query.query_type();
        for t in &self.templates {
            let (regex, captures, zone) = match t.outcome(&name, &lower, class, qtype) {
                Outcome::Pass => continue,
                Outcome::Deny => return Some((reply_to(request, ResponseCode::NXDomain), None)),
                Outcome::Match(regex, captures, zone) => (regex, captures, zone),
            };
            let zone = zone.to_ascii();
            let class_name = class.to_string();
            let type_name = qtype.to_string();
            MATCHES
                .with_label_values(&[
                    self.server.as_str(),
                    zone.as_str(),
                    "",
                    class_name.as_str(),
                    type_name.as_str(),
                ])
                .inc();
            if t.rcode == ResponseCode::ServFail {
                return Some((reply_to(request, ResponseCode::ServFail), None));
            }
            let matches: Vec<Option<&str>> =
                captures.iter().map(|m| m.map(|m| m.as_str())).collect();
            let names: Vec<(&str, usize)> = regex
                .capture_names()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (n, i)))
                .collect();
            let data = text::Data {
                name: &lower,
                zone: &zone,
                class: &class_name,
                qtype: &type_name,
                remote,
                matches: &matches,
                names: &names,
            };
            let mut response = reply_to(request, t.rcode);
            // Authoritative, and no RA: CoreDNS's template sets AA alone.
            response.metadata.authoritative = true;
            for (section, text, source) in &t.records {
                let labels = [
                    self.server.as_str(),
                    zone.as_str(),
                    "",
                    class_name.as_str(),
                    type_name.as_str(),
                    section.label(),
                    source.as_str(),
                ];
                let rendered = match text.render(&data) {
                    Ok(r) => r,
                    Err(e) => {
                        TEMPLATE_FAILURES.with_label_values(&labels).inc();
                        return Some((reply_to(request, ResponseCode::ServFail), Some(e)));
                    }
                };
                let record = match parse_record(&rendered) {
                    Ok(r) => r,
                    Err(e) => {
                        RR_FAILURES.with_label_values(&labels).inc();
                        return Some((reply_to(request, ResponseCode::ServFail), Some(e)));
                    }
                };
                match section {
                    Section::Answer => response.answers.push(record),
                    Section::Additional => response.additionals.push(record),
                    Section::Authority => response.authorities.push(record),
                }
            }
            if let Some((code, reason)) = &t.ederror {
                add_option(&mut response, extended_error(*code, reason));
            }
            return Some((response, None));
        }
        None
    }
}

impl Plugin for Templates {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let remote = next.info.src.ip().to_canonical().to_string();
        match self.resolve(request, &remote) {
            Some((response, None)) => Serving::ready(next.answered_here(response)),
            Some((response, Some(error))) => {
                Serving::ready(next.failed_here(response, format!("{PLUGIN}: {error}")))
            }
            None => next.run(request),
        }
    }
}

/// Every `template` line of a block is one plugin, its templates in Corefile order.
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    let templates = lines
        .iter()
        .map(|d| parse(d, setup.zones))
        .collect::<Result<_, _>>()?;
    setup.add(Templates {
        templates,
        server: setup.server.to_string(),
    });
    Ok(())
}

/// `coredns_template_matches_total{server, zone, view, class, type}`.
pub static MATCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        PLUGIN,
        "matches_total",
        "Counter of template regex matches.",
        &["server", "zone", "view", "class", "type"],
    )
});

/// `coredns_template_template_failures_total{server, zone, view, class, type, section, template}`.
pub static TEMPLATE_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        PLUGIN,
        "template_failures_total",
        "Counter of go template failures.",
        &[
            "server", "zone", "view", "class", "type", "section", "template",
        ],
    )
});

/// `coredns_template_rr_failures_total{server, zone, view, class, type, section, template}`.
pub static RR_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        PLUGIN,
        "rr_failures_total",
        "Counter of mis-templated RRs.",
        &[
            "server", "zone", "view", "class", "type", "section", "template",
        ],
    )
});
