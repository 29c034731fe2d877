//! `header { [query|response] set|clear FLAGS... }`: sets or clears the aa, ra and rd flags of
//! the block's queries (before the rest of the chain sees them) or responses, as CoreDNS's
//! header. A rule without a selector is a response rule (CoreDNS's older syntax); rules apply
//! in order, so the last one about a flag wins.

use hickory_proto::op::{Message, Metadata};

use crate::corefile::{Directive, Location};
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "header";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    Authoritative,
    RecursionAvailable,
    RecursionDesired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub flag: Flag,
    pub set: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub query: Vec<Rule>,
    pub response: Vec<Rule>,
}

fn err(location: &Location, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, location, message)
}

pub fn parse(d: &Directive) -> Result<Rules, SetupError> {
    if let Some(arg) = d.args.first() {
        return Err(err(
            &arg.location,
            "header takes no arguments, only a block",
        ));
    }
    let mut rules = Rules::default();
    for option in &d.block {
        let selector = option.name.to_ascii_lowercase();
        let (into, action, flags) = match selector.as_str() {
            "set" | "clear" => (&mut rules.response, &option.name, &option.args[..]),
            "query" | "response" => {
                let Some((action, flags)) = option.args.split_first() else {
                    return Err(err(&option.location, "no flag action provided"));
                };
                let into = if selector == "query" {
                    &mut rules.query
                } else {
                    &mut rules.response
                };
                (into, &action.value, flags)
            }
            _ => {
                return Err(err(
                    &option.location,
                    format!(
                        "invalid selector {:?}, should be query or response",
                        option.name
                    ),
                ));
            }
        };
        let set = match action.to_ascii_lowercase().as_str() {
            "set" => true,
            "clear" => false,
            _ => {
                return Err(err(
                    &option.location,
                    format!("unknown flag action {action:?}, should be set or clear"),
                ));
            }
        };
        if flags.is_empty() {
            return Err(err(
                &option.location,
                "at least one flag should be provided",
            ));
        }
        for f in flags {
            let flag = match f.value.to_ascii_lowercase().as_str() {
                "aa" => Flag::Authoritative,
                "ra" => Flag::RecursionAvailable,
                "rd" => Flag::RecursionDesired,
                _ => {
                    return Err(err(
                        &f.location,
                        format!("unknown or unsupported flag {:?}", f.value),
                    ));
                }
            };
            into.push(Rule { flag, set });
        }
    }
    if rules.query.is_empty() && rules.response.is_empty() {
        return Err(err(&d.location, "header needs at least one rule"));
    }
    Ok(rules)
}

/// Applies `rules` to a message's flags, in order.
pub fn apply(rules: &[Rule], metadata: &mut Metadata) {
    for rule in rules {
        let flag = match rule.flag {
            Flag::Authoritative => &mut metadata.authoritative,
            Flag::RecursionAvailable => &mut metadata.recursion_available,
            Flag::RecursionDesired => &mut metadata.recursion_desired,
        };
        *flag = rule.set;
    }
}

pub struct Header(Rules);

impl Plugin for Header {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let rules = &self.0;
        let served = if rules.query.is_empty() {
            next.run(request)
        } else {
            let mut changed = request.clone();
            apply(&rules.query, &mut changed.metadata);
            Serving::pending(async move { next.run(&changed).await })
        };
        if rules.response.is_empty() {
            return served;
        }
        served.then(|mut answered| {
            apply(&rules.response, &mut answered.response.metadata);
            answered
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.add(Header(parse(d)?));
    }
    Ok(())
}
