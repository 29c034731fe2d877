//! `cancel [TIMEOUT]`: a deadline for each query's trip down the rest of the chain (5001ms by
//! default), as CoreDNS's cancel gives each request a context that is cancelled then: what is
//! still waiting (an upstream, a lookup) is dropped and the query answered SERVFAIL. Answers
//! from memory are never delayed.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;

const PLUGIN: &str = "cancel";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5001);

pub fn parse(d: &Directive) -> Result<Duration, SetupError> {
    if let Some(option) = d.block.first() {
        return Err(crate::plugin::setup::unknown_property(PLUGIN, option));
    }
    match d.args.as_slice() {
        [] => Ok(DEFAULT_TIMEOUT),
        [timeout] => {
            let duration = duration_arg(PLUGIN, timeout)?;
            if duration.is_zero() {
                return Err(SetupError::new(
                    PLUGIN,
                    &timeout.location,
                    format!("invalid non-positive duration {:?}", timeout.value),
                ));
            }
            Ok(duration)
        }
        [_, extra, ..] => Err(SetupError::new(
            PLUGIN,
            &extra.location,
            "cancel takes at most one duration",
        )),
    }
}

pub struct Cancel(Duration);

impl Plugin for Cancel {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        match next.run(request) {
            ready @ Serving::Ready(_) => ready,
            waiting => Serving::pending(async move {
                match tokio::time::timeout(self.0, waiting).await {
                    Ok(answered) => answered,
                    Err(_) => next.failed_here(
                        reply_to(request, ResponseCode::ServFail),
                        format!("cancel: no answer within {:?}", self.0),
                    ),
                }
            }),
        }
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.add(Cancel(parse(d)?));
    }
    Ok(())
}
