//! `health [ADDRESS] [{ lameduck DURATION }]`: an HTTP endpoint, `GET /health` -> 200 `OK`
//! while the process runs. Not part of the query chain; the listener is `server::http`.

use std::time::Duration;

use crate::corefile::Directive;
use crate::plugins::setup::{
    HttpAddr, SetupError, args_exact, duration_arg, http_addr_args, unknown_property,
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
