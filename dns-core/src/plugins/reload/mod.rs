//! `reload [INTERVAL] [JITTER]`: the process re-reads its Corefile every interval (± half the
//! jitter, drawn once per configuration as CoreDNS does) and serves the new one when its
//! content changed. Setup here; the loop that rebuilds and swaps the routers, and its metrics,
//! are the server's (`server/reload.rs`).

use std::time::Duration;

use crate::corefile::Directive;
use crate::plugin::build::ReloadPolicy;
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg};

const PLUGIN: &str = "reload";

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(15);
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
pub const MIN_JITTER: Duration = Duration::from_secs(1);

pub fn parse(d: &Directive) -> Result<ReloadPolicy, SetupError> {
    if let Some(extra) = d.args.get(2) {
        return Err(SetupError::new(
            PLUGIN,
            &extra.location,
            "reload takes at most an interval and a jitter",
        ));
    }
    if let Some(option) = d.block.first() {
        return Err(SetupError::new(
            PLUGIN,
            &option.location,
            "reload takes no block",
        ));
    }
    let interval = match d.args.first() {
        Some(a) => {
            let interval = duration_arg(PLUGIN, a)?;
            if interval < MIN_INTERVAL {
                return Err(SetupError::new(
                    PLUGIN,
                    &a.location,
                    "interval value must be greater or equal to 2s",
                ));
            }
            interval
        }
        None => DEFAULT_INTERVAL,
    };
    let jitter = match d.args.get(1) {
        Some(a) => {
            let jitter = duration_arg(PLUGIN, a)?;
            if jitter < MIN_JITTER {
                return Err(SetupError::new(
                    PLUGIN,
                    &a.location,
                    "jitter value must be greater or equal to 1s",
                ));
            }
            jitter
        }
        None => DEFAULT_JITTER,
    };
    Ok(ReloadPolicy {
        interval,
        jitter: jitter.min(interval / 2),
    })
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.reload(parse(d)?);
    }
    Ok(())
}
