//! `nsid [DATA]`: answers a query that carries an RFC 5001 NSID option with the server's
//! identity in the response's NSID option, as CoreDNS's nsid: DATA (the arguments joined by
//! spaces), or the host name. Queries without the option are untouched.

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "nsid";

/// The identity sent, from the directive's arguments or `hostname`.
pub fn parse(d: &Directive, hostname: impl FnOnce() -> String) -> Result<NSIDPayload, SetupError> {
    if let Some(option) = d.block.first() {
        return Err(crate::plugin::setup::unknown_property(PLUGIN, option));
    }
    let data = if d.args.is_empty() {
        hostname()
    } else {
        d.args
            .iter()
            .map(|a| a.value.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    NSIDPayload::new(data.into_bytes())
        .map_err(|e| SetupError::new(PLUGIN, &d.location, format!("invalid NSID data: {e}")))
}

pub struct Nsid(NSIDPayload);

impl Plugin for Nsid {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let asked = request
            .edns
            .as_ref()
            .is_some_and(|e| e.option(EdnsCode::NSID).is_some());
        if !asked {
            return next.run(request);
        }
        next.run(request).then(|mut answered| {
            let edns = answered.response.edns.get_or_insert_with(Default::default);
            edns.options_mut().remove(EdnsCode::NSID);
            edns.options_mut().insert(EdnsOption::NSID(self.0.clone()));
            answered
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.add(Nsid(parse(d, super::chaos::hostname)?));
    }
    Ok(())
}
