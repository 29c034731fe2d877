//! `any`: answers questions of type ANY with one HINFO record, as RFC 8482 suggests and
//! CoreDNS's any plugin does (`"ANY obsoleted" "See RFC 8482"`, TTL 8482), instead of every
//! record of the name. Other questions go on down the chain.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, bare};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;

const PLUGIN: &str = "any";
/// RFC 8482 4.2: a TTL the operator recognises.
const TTL: u32 = 8482;

pub struct Any;

/// The RFC 8482 answer to an ANY question, or `None` for any other question.
pub fn answer(request: &Message) -> Option<Message> {
    let query = request.queries.first()?;
    if query.query_type() != RecordType::ANY {
        return None;
    }
    let mut response = reply_to(request, ResponseCode::NoError);
    let hinfo = HINFO::new("ANY obsoleted".to_string(), "See RFC 8482".to_string());
    response.answers = vec![Record::from_rdata(
        query.name().clone(),
        TTL,
        RData::HINFO(hinfo),
    )];
    Some(response)
}

impl Plugin for Any {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.answer_or_run(request, answer(request))
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        bare(PLUGIN, d)?;
        setup.add(Any);
    }
    Ok(())
}
