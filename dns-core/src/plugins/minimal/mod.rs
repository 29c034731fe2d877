//! `minimal`: answers with the answer section only, as CoreDNS's minimal plugin: a NOERROR
//! response with records loses its authority and additional sections (RFC 6604's "minimal
//! responses", fewer bytes per answer). Denials (NXDOMAIN, NODATA) keep their SOA, errors and
//! delegations pass unchanged.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, bare};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "minimal";

pub struct Minimal;

/// `response` trimmed when it is a positive answer.
pub fn trim(response: &mut Message) {
    if response.metadata.response_code == ResponseCode::NoError && !response.answers.is_empty() {
        response.authorities.clear();
        response.additionals.clear();
    }
}

impl Plugin for Minimal {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let transfer = request
            .queries
            .first()
            .is_some_and(|q| matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR));
        if transfer {
            return next.run(request);
        }
        next.run(request).then(|mut answered| {
            trim(&mut answered.response);
            answered
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        bare(PLUGIN, d)?;
        setup.add(Minimal);
    }
    Ok(())
}
