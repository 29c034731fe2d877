//! `health [ADDRESS] [{ lameduck DURATION }]`: an HTTP endpoint, `GET /health` -> 200 `OK`
//! while the process runs. Not part of the query chain: an HTTP endpoint the server's
//! listener (`server::http`) serves.

use std::time::Duration;

use crate::corefile::Directive;
use crate::plugin::build::Endpoint;
use crate::plugin::setup::{
    BlockSetup, HttpAddr, SetupError, args_exact, duration_arg, http_addr_args, unknown_property,
};

const PLUGIN: &str = "health";
/// CoreDNS's default health address.
pub const DEFAULT_ADDR: &str = ":8080";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    pub addr: HttpAddr,
    /// On stop, keep serving (DNS and /health) this long before the listeners close.
    pub lameduck: Duration,
}

pub fn parse(directive: &Directive) -> Result<HealthConfig, SetupError> {
    let addr = http_addr_args(PLUGIN, directive, DEFAULT_ADDR)?;
    let mut lameduck = Duration::ZERO;
    for option in &directive.block {
        match option.name.as_str() {
            "lameduck" => {
                let arg = &args_exact(PLUGIN, option, 1)?[0];
                lameduck = duration_arg(PLUGIN, arg)?;
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    Ok(HealthConfig { addr, lameduck })
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d)?;
        let lameduck = config.lameduck;
        setup.serve_http(config.addr, Endpoint::Health { lameduck });
    }
    Ok(())
}
