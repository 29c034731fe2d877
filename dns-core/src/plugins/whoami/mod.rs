//! `whoami`: answers every question with the asker's address and port, as CoreDNS's whoami:
//! an empty answer section, and in the additional section an A or AAAA record of the client's
//! address and an SRV record `_udp.<qname>` (or `_tcp`) with its port, TTL 0.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record};

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::{RequestInfo, reply_to};

const PLUGIN: &str = "whoami";

pub struct WhoAmI;

/// The response to `request` from `info`'s client.
pub fn answer(request: &Message, info: &RequestInfo) -> Message {
    let mut response = reply_to(request, ResponseCode::NoError);
    response.metadata.authoritative = true;
    let Some(query) = request.queries.first() else {
        return response;
    };
    let qname = query.name().clone();
    let class = query.query_class();
    let ip = info.src.ip().to_canonical();
    let address = match ip {
        std::net::IpAddr::V4(v4) => RData::A(A(v4)),
        std::net::IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    let mut address = Record::from_rdata(qname.clone(), 0, address);
    address.dns_class = class;
    let label = format!("_{}", info.transport.as_str());
    let srv_name = Name::from_ascii(&label)
        .ok()
        .and_then(|l| l.append_domain(&qname).ok())
        .unwrap_or(qname);
    let mut srv = Record::from_rdata(
        srv_name,
        0,
        RData::SRV(SRV::new(0, 0, info.src.port(), Name::root())),
    );
    srv.dns_class = class;
    response.additionals = vec![address, srv];
    response
}

impl Plugin for WhoAmI {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let response = answer(request, next.info);
        Serving::ready(next.answered_here(response))
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        crate::plugin::setup::bare(PLUGIN, d)?;
        setup.add(WhoAmI);
    }
    Ok(())
}
