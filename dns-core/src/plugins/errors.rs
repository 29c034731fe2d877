//! `errors [{ consolidate DURATION REGEXP [LEVEL] }]`: logs queries that ended in SERVFAIL
//! because a plugin failed.

use std::time::Duration;

use crate::corefile::Directive;
use crate::plugins::setup::{SetupError, duration_arg};

const PLUGIN: &str = "errors";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consolidate {
    pub period: Duration,
    pub pattern: String,
    pub level: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorsConfig {
    pub consolidate: Vec<Consolidate>,
    pub stacktrace: bool,
}

pub fn parse(directive: &Directive) -> Result<ErrorsConfig, SetupError> {
    let err = |loc, msg: &str| SetupError::new(PLUGIN, loc, msg);
    if !directive.args.is_empty() {
        return Err(err(&directive.location, "errors takes no arguments"));
    }
    let mut config = ErrorsConfig::default();
    for option in &directive.block {
        match option.name.as_str() {
            "stacktrace" => config.stacktrace = true,
            "consolidate" => {
                let (period, pattern, level) = match option.args.as_slice() {
                    [p, r] => (p, r, "error".to_string()),
                    [p, r, l] => (p, r, l.value.clone()),
                    _ => {
                        return Err(err(
                            &option.location,
                            "consolidate needs DURATION REGEXP [LEVEL]",
                        ));
                    }
                };
                if !matches!(level.as_str(), "warning" | "error" | "info" | "debug") {
                    return Err(err(
                        &option.location,
                        "consolidate level must be warning, error, info or debug",
                    ));
                }
                config.consolidate.push(Consolidate {
                    period: duration_arg(PLUGIN, period)?,
                    pattern: pattern.value.clone(),
                    level,
                });
            }
            other => {
                return Err(err(
                    &option.location,
                    &format!("unknown property {other:?}"),
                ));
            }
        }
    }
    Ok(config)
}
