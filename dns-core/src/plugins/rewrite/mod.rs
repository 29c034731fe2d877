//! `rewrite [continue|stop] FIELD ...`: rewrites the question before the rest of the chain and
//! the response after it, so the client sees the name it asked. Setup here, the rules in
//! [`rules`].

pub mod rules;

use hickory_proto::rr::{DNSClass, RecordType};

use crate::corefile::{Arg, Directive};
use crate::plugins::setup::SetupError;
pub use rules::{Applied, Match, NameRule, Rule, RuleKind, Rules, TtlRange};

const PLUGIN: &str = "rewrite";

fn err(arg: &Arg, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, &arg.location, message)
}

/// One `rewrite` directive: one rule (a block may hold several directives).
pub fn parse(d: &Directive) -> Result<Rule, SetupError> {
    if let Some(option) = d.block.first() {
        return Err(SetupError::new(
            PLUGIN,
            &option.location,
            "rewrite blocks (the edns0 and response options) are not supported",
        ));
    }
    let mut args: &[Arg] = &d.args;
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
        "edns0" | "cname" | "rcode" => {
            return Err(err(
                field,
                format!("the {} field is not supported by Signpost yet", field.value),
            ));
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

fn class(arg: &Arg) -> Result<DNSClass, SetupError> {
    match arg.value.to_ascii_uppercase().as_str() {
        "IN" => Ok(DNSClass::IN),
        "CH" => Ok(DNSClass::CH),
        "HS" => Ok(DNSClass::HS),
        _ => Err(err(arg, format!("invalid class {:?}", arg.value))),
    }
}

/// `name [exact|prefix|suffix|substring|regex] FROM TO [answer auto | answer name FROM TO]`.
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
    match answer {
        [] => {}
        [a, auto] if a.value == "answer" && auto.value == "auto" => {
            rule.answer_auto().map_err(|e| err(auto, e))?;
        }
        [a, name, from, to] if a.value == "answer" && name.value == "name" => {
            rule.answer_name(&from.value, &to.value)
                .map_err(|e| err(from, e))?;
        }
        [a, ..] if a.value == "answer" => {
            return Err(err(
                a,
                "answer takes auto or name FROM TO (answer value is not supported by Signpost yet)",
            ));
        }
        [a, ..] => return Err(err(a, format!("unexpected {:?}", a.value))),
    }
    Ok(rule)
}
