//! `rewrite [continue|stop] FIELD ...`: rewrites the question before the rest of the chain and
//! the response after it, so the client sees the name it asked. Setup here, the rules in
//! [`rules`].

pub mod edns0;
pub mod rules;

use hickory_proto::rr::{DNSClass, RecordType};

use crate::corefile::{Arg, Directive};
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};
use edns0::{Action, Edns0Option, Edns0Rule, parse_code};
use hickory_proto::op::Message;
pub use rules::{Applied, Match, NameRule, Rule, RuleKind, Rules, TtlRange, splice_cname_answers};

const PLUGIN: &str = "rewrite";

fn err(arg: &Arg, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, &arg.location, message)
}

impl Plugin for Rules {
    /// The rewritten question goes down the chain; the answer comes back as asked, and a
    /// rewritten CNAME target is looked up again.
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let Some(applied) = self.apply_from(request, next.info) else {
            return next.run(request);
        };
        Serving::pending(async move {
            let mut answered = next.run(&applied.request).await;
            self.revert(&applied, &mut answered.response);
            if let Some(target) = self.rewrite_cnames(&applied, &mut answered.response) {
                let lookup = Rules::cname_lookup(&applied, &target);
                let found = next.run(&lookup).await;
                splice_cname_answers(&mut answered.response, &target, &found.response);
            }
            answered
        })
    }
}

/// Every `rewrite` line of a block is one plugin, its rules in Corefile order.
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    let rules = lines.iter().map(|d| parse(d)).collect::<Result<_, _>>()?;
    setup.add(Rules(rules));
    Ok(())
}

/// One `rewrite` directive: one rule (a block may hold several directives).
pub fn parse(d: &Directive) -> Result<Rule, SetupError> {
    // As in CoreDNS, the lines of a block continue the directive's arguments:
    // `rewrite stop { name regex A B; answer name C D }` is `rewrite stop name regex A B answer
    // name C D`.
    let mut all: Vec<Arg> = d.args.clone();
    for line in &d.block {
        if let Some(inner) = line.block.first() {
            return Err(SetupError::new(
                PLUGIN,
                &inner.location,
                "a rewrite block cannot hold another block",
            ));
        }
        all.push(Arg {
            value: line.name.clone(),
            location: line.location.clone(),
        });
        all.extend(line.args.iter().cloned());
    }
    let mut args: &[Arg] = &all;
    let mut stop = true;
    if let Some(first) = args.first() {
        match first.value.as_str() {
            "continue" => (stop, args) = (false, &args[1..]),
            "stop" => args = &args[1..],
            _ => {}
        }
    }
    let Some((field, rest)) = args.split_first() else {
        return Err(SetupError::new(
            PLUGIN,
            &d.location,
            "rewrite needs a field",
        ));
    };
    let kind = match field.value.as_str() {
        "name" => RuleKind::Name(parse_name(field, rest)?),
        "type" => {
            let [from, to] = rest else {
                return Err(err(field, "type needs FROM and TO record types"));
            };
            RuleKind::Type(record_type(from)?, record_type(to)?)
        }
        "class" => {
            let [from, to] = rest else {
                return Err(err(field, "class needs FROM and TO classes"));
            };
            RuleKind::Class(class(from)?, class(to)?)
        }
        "ttl" => {
            let (matcher, ttl) = match rest {
                [name, ttl] => (
                    Match::new("exact", &name.value).map_err(|e| err(name, e))?,
                    ttl,
                ),
                [how, name, ttl] => (
                    Match::new(&how.value, &name.value).map_err(|e| err(how, e))?,
                    ttl,
                ),
                _ => return Err(err(field, "ttl needs [TYPE] NAME TTL")),
            };
            let range = TtlRange::parse(&ttl.value)
                .ok_or_else(|| err(ttl, format!("invalid TTL {:?}", ttl.value)))?;
            RuleKind::Ttl(matcher, range)
        }
        "rcode" => {
            let (matcher, from, to) = match rest {
                [name, from, to] => (
                    Match::new("exact", &name.value).map_err(|e| err(name, e))?,
                    from,
                    to,
                ),
                [how, name, from, to] => (
                    Match::new(&how.value, &name.value).map_err(|e| err(how, e))?,
                    from,
                    to,
                ),
                _ => return Err(err(field, "rcode needs [TYPE] NAME FROM TO")),
            };
            RuleKind::Rcode(matcher, rcode(from)?, rcode(to)?)
        }
        "edns0" => RuleKind::Edns0(parse_edns0(field, rest)?),
        "cname" => {
            const HOWS: [&str; 5] = ["exact", "prefix", "suffix", "substring", "regex"];
            let (how, from, to) = match rest {
                [from, to] => ("exact", from, to),
                [how, from, to] if HOWS.contains(&how.value.as_str()) => {
                    (how.value.as_str(), from, to)
                }
                [how, _, _] => return Err(err(how, format!("invalid match type {:?}", how.value))),
                _ => return Err(err(field, "cname needs [TYPE] FROM TO")),
            };
            let matcher = Match::new(how, &from.value).map_err(|e| err(from, e))?;
            RuleKind::Cname(NameRule::new(matcher, &to.value).map_err(|e| err(to, e))?)
        }
        other => return Err(err(field, format!("invalid field {other:?}"))),
    };
    Ok(Rule { stop, kind })
}

fn record_type(arg: &Arg) -> Result<RecordType, SetupError> {
    arg.value
        .to_ascii_uppercase()
        .parse::<RecordType>()
        .ok()
        .filter(|t| !matches!(t, RecordType::Unknown(_)))
        .ok_or_else(|| err(arg, format!("invalid type {:?}", arg.value)))
}

/// `edns0 local|nsid|subnet set|append|replace ...`.
fn parse_edns0(field: &Arg, rest: &[Arg]) -> Result<Edns0Rule, SetupError> {
    let [kind, action, args @ ..] = rest else {
        return Err(err(
            field,
            "edns0 needs local, nsid or subnet and set, append or replace",
        ));
    };
    let action = Action::parse(&action.value)
        .ok_or_else(|| err(action, format!("invalid action {:?}", action.value)))?;
    let option = match (kind.value.to_ascii_lowercase().as_str(), args) {
        ("local", [code, data]) => {
            let code = parse_code(&code.value)
                .ok_or_else(|| err(code, format!("invalid EDNS0 code {:?}", code.value)))?;
            match edns0::Variable::parse(&data.value) {
                Some(variable) => Edns0Option::LocalVariable(code, variable),
                None => Edns0Option::Local(
                    code,
                    edns0::parse_local_data(&data.value).map_err(|e| err(data, e))?,
                ),
            }
        }
        ("local", _) => return Err(err(kind, "edns0 local needs CODE and DATA")),
        ("nsid", []) => Edns0Option::Nsid,
        ("nsid", [extra, ..]) => return Err(err(extra, "edns0 nsid takes no arguments")),
        ("subnet", [v4, v6]) => {
            let bits = |a: &Arg, max: u8| {
                a.value
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| err(a, format!("invalid bitmask {:?} (0-{max})", a.value)))
            };
            Edns0Option::Subnet(bits(v4, 32)?, bits(v6, 128)?)
        }
        ("subnet", _) => {
            return Err(err(
                kind,
                "edns0 subnet needs IPV4_BITMASK and IPV6_BITMASK",
            ));
        }
        (other, _) => return Err(err(kind, format!("invalid edns0 option {other:?}"))),
    };
    Ok(Edns0Rule { action, option })
}

fn rcode(arg: &Arg) -> Result<hickory_proto::op::ResponseCode, SetupError> {
    crate::wire::rcode::parse(&arg.value)
        .ok_or_else(|| err(arg, format!("invalid rcode {:?}", arg.value)))
}

fn class(arg: &Arg) -> Result<DNSClass, SetupError> {
    match arg.value.to_ascii_uppercase().as_str() {
        "IN" => Ok(DNSClass::IN),
        "CH" => Ok(DNSClass::CH),
        "HS" => Ok(DNSClass::HS),
        _ => Err(err(arg, format!("invalid class {:?}", arg.value))),
    }
}

/// `name [exact|prefix|suffix|substring|regex] FROM TO [answer auto | answer name FROM TO |
/// answer value FROM TO]...`.
fn parse_name(field: &Arg, rest: &[Arg]) -> Result<NameRule, SetupError> {
    const HOWS: [&str; 5] = ["exact", "prefix", "suffix", "substring", "regex"];
    let (how, rest) = match rest.first() {
        Some(a) if HOWS.contains(&a.value.as_str()) => (a.value.as_str(), &rest[1..]),
        _ => ("exact", rest),
    };
    let (from, to, answer) = match rest {
        [from, to, answer @ ..] => (from, to, answer),
        _ => return Err(err(field, "name needs FROM and TO")),
    };
    let matcher = Match::new(how, &from.value).map_err(|e| err(from, e))?;
    let mut rule = NameRule::new(matcher, &to.value).map_err(|e| err(to, e))?;
    let mut answer = answer;
    while let Some((a, rest)) = answer.split_first() {
        if a.value != "answer" {
            return Err(err(a, format!("unexpected {:?}", a.value)));
        }
        answer = match rest {
            [auto, rest @ ..] if auto.value == "auto" => {
                rule.answer_auto().map_err(|e| err(auto, e))?;
                rest
            }
            [name, from, to, rest @ ..] if name.value == "name" => {
                rule.answer_name(&from.value, &to.value)
                    .map_err(|e| err(from, e))?;
                rest
            }
            [value, from, to, rest @ ..] if value.value == "value" => {
                rule.answer_value(&from.value, &to.value)
                    .map_err(|e| err(from, e))?;
                rest
            }
            _ => return Err(err(a, "answer takes auto, name FROM TO or value FROM TO")),
        };
    }
    Ok(rule)
}
