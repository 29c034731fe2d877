//! `timeouts { read DURATION; write DURATION; idle DURATION }`: the TCP timeouts of the block's
//! listener, as CoreDNS's timeouts (each from 1s to 24h): how long the rest of a message may
//! take to arrive, how long a client may take to accept a response, and how long a connection
//! may sit idle between queries. They apply when the listener is bound; a reload that keeps
//! the listener keeps its timeouts.

use std::time::Duration;

use crate::corefile::Directive;
use crate::plugin::TcpTimeouts;
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg, unknown_property};

const PLUGIN: &str = "timeouts";
const MIN: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(24 * 3600);

pub fn parse(d: &Directive) -> Result<TcpTimeouts, SetupError> {
    if let Some(arg) = d.args.first() {
        return Err(SetupError::new(
            PLUGIN,
            &arg.location,
            "timeouts takes no arguments, only a block",
        ));
    }
    if d.block.is_empty() {
        return Err(SetupError::new(
            PLUGIN,
            &d.location,
            "timeouts needs a block with at least one of read, write, idle",
        ));
    }
    let mut timeouts = TcpTimeouts::default();
    for option in &d.block {
        let slot = match option.name.as_str() {
            "read" => &mut timeouts.read,
            "write" => &mut timeouts.write,
            "idle" => &mut timeouts.idle,
            _ => return Err(unknown_property(PLUGIN, option)),
        };
        let [value] = option.args.as_slice() else {
            return Err(SetupError::new(
                PLUGIN,
                &option.location,
                format!("{} needs exactly one duration", option.name),
            ));
        };
        let duration = duration_arg(PLUGIN, value)?;
        if !(MIN..=MAX).contains(&duration) {
            return Err(SetupError::new(
                PLUGIN,
                &value.location,
                format!(
                    "timeout {:?} needs to be between 1 second and 24 hours",
                    value.value
                ),
            ));
        }
        *slot = Some(duration);
    }
    Ok(timeouts)
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.tcp_timeouts(parse(d)?);
    }
    Ok(())
}
