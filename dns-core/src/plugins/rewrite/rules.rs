//! Rewrite rules: the question on the way in, the response on the way out. Pure.

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use regex::{Regex, RegexBuilder};

use super::edns0::Edns0Rule;
use crate::wire::{RequestInfo, Transport};
use std::net::{Ipv4Addr, SocketAddr};

/// Compiled regexes are capped so a Corefile cannot ask for unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn fqdn(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

/// How a name is matched (names are compared lowercase, with the trailing dot).
#[derive(Clone, Debug)]
pub enum Match {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Substring(String),
    Regex(Regex),
}

impl Match {
    pub fn new(how: &str, pattern: &str) -> Result<Self, String> {
        Ok(match how {
            "exact" => Match::Exact(fqdn(pattern)),
            "prefix" => Match::Prefix(pattern.to_ascii_lowercase()),
            "suffix" => Match::Suffix(fqdn(pattern)),
            "substring" => Match::Substring(pattern.to_ascii_lowercase()),
            "regex" => Match::Regex(compile(pattern)?),
            other => return Err(format!("invalid match type {other:?}")),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Match::Exact(p) => name == p,
            Match::Prefix(p) => name.starts_with(p.as_str()),
            Match::Suffix(p) => name.ends_with(p.as_str()),
            Match::Substring(p) => name.contains(p.as_str()),
            Match::Regex(re) => re.is_match(name),
        }
    }
}

/// `{N}` in `template` replaced by capture group N of `re` on `text`.
fn expand(re: &Regex, text: &str, template: &str) -> Option<String> {
    let caps = re.captures(text)?;
    let mut out = template.to_string();
    for i in (0..caps.len()).rev() {
        let group = caps.get(i).map_or("", |m| m.as_str());
        out = out.replace(&format!("{{{i}}}"), group);
    }
    Some(out)
}

/// How answers get the original name back.
#[derive(Clone, Debug)]
enum AnswerRule {
    /// The inverse of the request rewrite.
    Auto,
    /// `answer name FROM TO`: a regex and its replacement.
    Name(Regex, String),
}

#[derive(Clone, Debug)]
pub struct NameRule {
    matcher: Match,
    to: String,
    answer: Option<AnswerRule>,
    /// `answer value FROM TO`: names inside answer data (targets), regex and replacement.
    values: Vec<(Regex, String)>,
}

impl NameRule {
    pub fn new(matcher: Match, to: &str) -> Result<Self, String> {
        let to = match matcher {
            Match::Exact(_) | Match::Suffix(_) => fqdn(to),
            Match::Prefix(_) | Match::Substring(_) | Match::Regex(_) => to.to_ascii_lowercase(),
        };
        // An exact rewrite always gives answers the asked name back, as CoreDNS does.
        let answer = matches!(matcher, Match::Exact(_)).then_some(AnswerRule::Auto);
        Ok(Self {
            matcher,
            to,
            answer,
            values: Vec::new(),
        })
    }

    pub fn answer_auto(&mut self) -> Result<(), String> {
        if matches!(self.matcher, Match::Regex(_)) {
            return Err("answer auto needs a non-regex match; use answer name FROM TO".into());
        }
        self.answer = Some(AnswerRule::Auto);
        Ok(())
    }

    pub fn answer_name(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.answer = Some(AnswerRule::Name(compile(from)?, to.to_ascii_lowercase()));
        Ok(())
    }

    pub fn answer_value(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.values.push((compile(from)?, to.to_ascii_lowercase()));
        Ok(())
    }

    /// A name inside answer data turned back by the first `answer value` rule that matches.
    pub fn revert_value(&self, name: &str) -> Option<String> {
        self.values.iter().find_map(|(re, to)| expand(re, name, to))
    }

    /// The rewritten name, if the rule matches.
    pub fn rewrite(&self, name: &str) -> Option<String> {
        if !self.matcher.matches(name) {
            return None;
        }
        Some(match &self.matcher {
            Match::Exact(_) => self.to.clone(),
            Match::Prefix(p) => format!("{}{}", self.to, &name[p.len()..]),
            Match::Suffix(p) => format!("{}{}", &name[..name.len() - p.len()], self.to),
            Match::Substring(p) => name.replace(p.as_str(), &self.to),
            Match::Regex(re) => expand(re, name, &self.to)?,
        })
    }

    /// A response record's name turned back, if the rule says how and it applies.
    pub fn revert(&self, name: &str) -> Option<String> {
        match self.answer.as_ref()? {
            AnswerRule::Name(re, to) => expand(re, name, to),
            AnswerRule::Auto => match &self.matcher {
                Match::Exact(from) => (name == self.to).then(|| from.clone()),
                Match::Prefix(from) => name
                    .strip_prefix(self.to.as_str())
                    .map(|rest| format!("{from}{rest}")),
                Match::Suffix(from) => name
                    .strip_suffix(self.to.as_str())
                    .map(|head| format!("{head}{from}")),
                Match::Substring(from) => (!self.to.is_empty() && name.contains(self.to.as_str()))
                    .then(|| name.replace(self.to.as_str(), from)),
                Match::Regex(_) => None,
            },
        }
    }
}

/// `N`, `N-M`, `N-` or `-M` seconds: a response TTL is clamped into the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlRange {
    pub min: u32,
    pub max: u32,
}

impl TtlRange {
    pub fn parse(text: &str) -> Option<Self> {
        let num = |s: &str| s.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32);
        let range = match text.split_once('-') {
            None => {
                let n = num(text)?;
                Self { min: n, max: n }
            }
            Some(("", max)) => Self {
                min: 0,
                max: num(max)?,
            },
            Some((min, "")) => Self {
                min: num(min)?,
                max: i32::MAX as u32,
            },
            Some((min, max)) => Self {
                min: num(min)?,
                max: num(max)?,
            },
        };
        (range.min <= range.max).then_some(range)
    }

    pub fn apply(&self, ttl: u32) -> u32 {
        ttl.clamp(self.min, self.max)
    }
}

#[derive(Clone, Debug)]
pub enum RuleKind {
    Name(NameRule),
    Type(RecordType, RecordType),
    Class(DNSClass, DNSClass),
    Ttl(Match, TtlRange),
    /// `rcode [MATCH] NAME FROM TO`: a response's code FROM becomes TO for matching names.
    Rcode(Match, ResponseCode, ResponseCode),
    /// `edns0 ...`: an option on the request.
    Edns0(Edns0Rule),
    /// `cname [MATCH] FROM TO`: CNAME targets in the response (a rule on names of the answer).
    Cname(NameRule),
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// `stop` (the default): no rule after this one runs once it matched.
    pub stop: bool,
    pub kind: RuleKind,
}

/// A block's rules, in Corefile order.
#[derive(Clone, Debug, Default)]
pub struct Rules(pub Vec<Rule>);

/// A rewritten request and what its response needs.
pub struct Applied {
    pub request: Message,
    original: Query,
    /// Indexes of the rules that matched, in order.
    matched: Vec<usize>,
}

impl Rules {
    /// The rewritten request, or `None` when no rule matched (`edns0` variables see a UDP
    /// client 0.0.0.0:0 of a server 0.0.0.0:0).
    pub fn apply(&self, request: &Message) -> Option<Applied> {
        let nowhere = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        let info = RequestInfo {
            src: nowhere,
            local: nowhere,
            transport: Transport::Udp,
            request_size: 0,
        };
        self.apply_from(request, &info)
    }

    /// The rewritten request as `info`'s client sent it, or `None` when no rule matched.
    pub fn apply_from(&self, request: &Message, info: &RequestInfo) -> Option<Applied> {
        let original = request.queries.first()?.clone();
        let mut query = original.clone();
        let mut matched = Vec::new();
        let mut edns = request.clone();
        for (i, rule) in self.0.iter().enumerate() {
            let name = query.name().to_lowercase().to_ascii();
            let hit = match &rule.kind {
                RuleKind::Name(r) => match r
                    .rewrite(&name)
                    .and_then(|n| Name::from_ascii(fqdn(&n)).ok())
                {
                    Some(new) => {
                        query.set_name(new);
                        true
                    }
                    None => false,
                },
                RuleKind::Type(from, to) => {
                    let hit = query.query_type() == *from;
                    if hit {
                        query.set_query_type(*to);
                    }
                    hit
                }
                RuleKind::Class(from, to) => {
                    let hit = query.query_class() == *from;
                    if hit {
                        query.set_query_class(*to);
                    }
                    hit
                }
                RuleKind::Ttl(m, _) | RuleKind::Rcode(m, _, _) => m.matches(&name),
                RuleKind::Edns0(r) => r.apply(&mut edns, &query, info),
                // As in CoreDNS, a cname rule applies to every request (it looks at answers).
                RuleKind::Cname(_) => true,
            };
            if hit {
                matched.push(i);
                if rule.stop {
                    break;
                }
            }
        }
        if matched.is_empty() {
            return None;
        }
        let mut request = edns;
        request.queries = vec![query];
        Some(Applied {
            request,
            original,
            matched,
        })
    }

    /// The response as the client must see it: its question, names turned back, TTLs set.
    pub fn revert(&self, applied: &Applied, response: &mut Message) {
        response.queries = vec![applied.original.clone()];
        let rules: Vec<&Rule> = applied
            .matched
            .iter()
            .rev()
            .filter_map(|i| self.0.get(*i))
            .collect();
        for rule in &rules {
            if let RuleKind::Rcode(_, from, to) = &rule.kind
                && response.metadata.response_code == *from
            {
                response.metadata.response_code = *to;
            }
        }
        let sections = [
            &mut response.answers,
            &mut response.authorities,
            &mut response.additionals,
        ];
        for (s, section) in sections.into_iter().enumerate() {
            for record in section.iter_mut() {
                for rule in &rules {
                    match &rule.kind {
                        RuleKind::Name(r) => revert_name(r, record),
                        RuleKind::Ttl(_, range) if s == 0 => record.ttl = range.apply(record.ttl),
                        _ => {}
                    }
                }
            }
        }
    }
}

impl Rules {
    /// Rewrites the targets of the answer's CNAME records by the matched `cname` rules; the
    /// last new target, which the caller looks up for the records that follow it.
    pub fn rewrite_cnames(&self, applied: &Applied, response: &mut Message) -> Option<Name> {
        let mut new_target = None;
        for rule in applied.matched.iter().filter_map(|i| self.0.get(*i)) {
            let RuleKind::Cname(r) = &rule.kind else {
                continue;
            };
            for record in response.answers.iter_mut() {
                let RData::CNAME(cname) = &mut record.data else {
                    continue;
                };
                let target = cname.0.to_lowercase().to_ascii();
                if let Some(to) = r
                    .rewrite(&target)
                    .filter(|to| fqdn(to) != target)
                    .and_then(|to| Name::from_ascii(fqdn(&to)).ok())
                {
                    cname.0 = to.clone();
                    new_target = Some(to);
                }
            }
        }
        new_target
    }

    /// The question `lookup` asks for the records of the new CNAME `target`.
    pub fn cname_lookup(applied: &Applied, target: &Name) -> Message {
        let mut lookup = applied.request.clone();
        let mut query = applied.original.clone();
        query.set_name(target.clone());
        lookup.queries = vec![query];
        lookup
    }
}

/// After a CNAME target was rewritten to `target`: the answer keeps its CNAME records and gets
/// `found`'s records owned by `target` instead of the old target's (as CoreDNS, only when the
/// lookup found any).
pub fn splice_cname_answers(response: &mut Message, target: &Name, found: &Message) {
    if found.answers.is_empty() {
        return;
    }
    response
        .answers
        .retain(|r| r.record_type() == RecordType::CNAME);
    response
        .answers
        .extend(found.answers.iter().filter(|r| r.name == *target).cloned());
}

fn revert_name(rule: &NameRule, record: &mut Record) {
    let name = record.name.to_lowercase().to_ascii();
    if let Some(back) = rule
        .revert(&name)
        .and_then(|n| Name::from_ascii(fqdn(&n)).ok())
    {
        record.name = back;
    }
    if rule.values.is_empty() {
        return;
    }
    // The data names CoreDNS's `answer value` looks at.
    let target = match &mut record.data {
        RData::CNAME(c) => &mut c.0,
        RData::NS(n) => &mut n.0,
        RData::PTR(p) => &mut p.0,
        RData::SRV(srv) => &mut srv.target,
        RData::MX(mx) => &mut mx.exchange,
        RData::SOA(soa) => &mut soa.mname,
        _ => return,
    };
    if let Some(back) = rule
        .revert_value(&target.to_lowercase().to_ascii())
        .and_then(|n| Name::from_ascii(fqdn(&n)).ok())
    {
        *target = back;
    }
}
