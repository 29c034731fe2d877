//! `ready [ADDRESS] [{ monitor until-ready|continuously }]`: `GET /ready` -> 200 `OK` once every
//! plugin that reports readiness is ready, else 503 and their names, as CoreDNS's ready plugin.
//! Readiness is the union over every server block that has `ready`.

use crate::corefile::Directive;
use crate::plugin::build::Endpoint;
use crate::plugin::readiness::Monitor;
use crate::plugin::setup::{
    BlockSetup, HttpAddr, SetupError, args_exact, http_addr_args, unknown_property,
};

const PLUGIN: &str = "ready";
/// CoreDNS's default ready address.
pub const DEFAULT_ADDR: &str = ":8181";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyConfig {
    pub addr: HttpAddr,
    pub monitor: Monitor,
}

pub fn parse(directive: &Directive) -> Result<ReadyConfig, SetupError> {
    let addr = http_addr_args(PLUGIN, directive, DEFAULT_ADDR)?;
    let mut monitor = Monitor::default();
    for option in &directive.block {
        match option.name.as_str() {
            "monitor" => {
                let arg = &args_exact(PLUGIN, option, 1)?[0];
                monitor = match arg.value.as_str() {
                    "until-ready" => Monitor::UntilReady,
                    "continuously" => Monitor::Continuously,
                    other => {
                        return Err(SetupError::new(
                            PLUGIN,
                            &arg.location,
                            format!(
                                "monitor type {other:?} not supported (until-ready or continuously)"
                            ),
                        ));
                    }
                };
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    Ok(ReadyConfig { addr, monitor })
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d)?;
        let monitor = config.monitor;
        setup.serve_http(config.addr, Endpoint::Ready { monitor });
    }
    Ok(())
}
