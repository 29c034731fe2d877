//! `loadbalance [round_robin]`: CoreDNS's round-robin load balancer. Shuffles the A, AAAA and
//! MX records of NOERROR responses (every section), keeping CNAMEs first for stub resolvers
//! that expect the alias before its addresses.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Record, RecordType};

use crate::corefile::Directive;
use crate::plugins::setup::{SetupError, unknown_property};

const PLUGIN: &str = "loadbalance";

/// The only policy served: a uniform shuffle (CoreDNS's `round_robin`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadBalance;

pub fn parse(directive: &Directive) -> Result<LoadBalance, SetupError> {
    match directive.args.as_slice() {
        [] => {}
        [policy] if policy.value == "round_robin" => {}
        [policy, extra, ..] if policy.value == "round_robin" => {
            return Err(SetupError::new(
                PLUGIN,
                &extra.location,
                format!("unknown property for round_robin: {:?}", extra.value),
            ));
        }
        [policy, ..] if policy.value == "weighted" => {
            return Err(SetupError::new(
                PLUGIN,
                &policy.location,
                "the weighted policy is not supported yet by Signpost; use round_robin",
            ));
        }
        [policy, ..] => {
            return Err(SetupError::new(
                PLUGIN,
                &policy.location,
                format!("unknown policy: {}", policy.value),
            ));
        }
    }
    if let Some(option) = directive.block.first() {
        if option.name == "prefer" {
            return Err(SetupError::new(
                PLUGIN,
                &option.location,
                "prefer is not supported yet by Signpost",
            ));
        }
        return Err(unknown_property(PLUGIN, option));
    }
    Ok(LoadBalance)
}

impl LoadBalance {
    /// Shuffles `response` in place: only NOERROR, never zone transfers.
    pub fn shuffle(&self, response: &mut Message) {
        if response.metadata.response_code != ResponseCode::NoError {
            return;
        }
        if response
            .queries
            .first()
            .is_some_and(|q| matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR))
        {
            return;
        }
        round_robin(&mut response.answers, fastrand::shuffle);
        round_robin(&mut response.authorities, fastrand::shuffle);
        round_robin(&mut response.additionals, fastrand::shuffle);
    }
}

/// CoreDNS's order for a shuffled section: CNAMEs, the other records, then the shuffled
/// addresses, then the shuffled MX records. A section of addresses of one type (the usual
/// case) is shuffled as it is. `shuffle` is the permutation (random when serving).
pub fn round_robin(records: &mut Vec<Record>, shuffle: impl Fn(&mut [Record])) {
    if records.len() <= 1 {
        return;
    }
    let first = records[0].record_type();
    if matches!(first, RecordType::A | RecordType::AAAA)
        && records.iter().all(|r| r.record_type() == first)
    {
        shuffle(records);
        return;
    }
    let mut cname = Vec::new();
    let mut address = Vec::new();
    let mut mx = Vec::new();
    let mut rest = Vec::new();
    for r in records.drain(..) {
        match r.record_type() {
            RecordType::CNAME => cname.push(r),
            RecordType::A | RecordType::AAAA => address.push(r),
            RecordType::MX => mx.push(r),
            _ => rest.push(r),
        }
    }
    shuffle(&mut address);
    shuffle(&mut mx);
    records.extend(cname);
    records.extend(rest);
    records.extend(address);
    records.extend(mx);
}
