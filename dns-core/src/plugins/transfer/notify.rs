//! NOTIFY (RFC 1996) to a zone's secondaries when it changed: one UDP message per address,
//! tried three times, each waiting up to two seconds for an answer with the same ID (miekg/dns's
//! client, as CoreDNS sends it). Sent from a task, so a reload never waits for a secondary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::{Peer, Xfr, longest_match};

const TRIES: usize = 3;
const WAIT: Duration = Duration::from_secs(2);

/// The NOTIFY for `zone`: opcode NOTIFY, AA set, the zone's SOA as the question.
pub fn message(zone: &Name, id: u16) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(zone.clone(), RecordType::SOA));
    m
}

/// Tells the addresses of the `transfer` line serving `zone` that it changed. Nothing is sent
/// without a tokio runtime.
pub fn send(xfrs: &[Xfr], zone: &Name) {
    let Some(xfr) = longest_match(xfrs, zone) else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for peer in &xfr.to {
        let Peer::Addr(addr) = peer else { continue };
        let (addr, zone, source) = (*addr, zone.clone(), xfr.source);
        runtime.spawn(async move {
            if let Err(e) = notify(addr, &zone, source).await {
                crate::coredns_line!(
                    WARNING,
                    "plugin/transfer: notify for zone {:?} was not accepted by {:?}: {e}",
                    zone.to_string(),
                    addr.to_string()
                );
            }
        });
    }
}

/// One NOTIFY to `addr`, until it is answered NOERROR or the tries run out.
async fn notify(addr: SocketAddr, zone: &Name, source: Option<IpAddr>) -> Result<(), String> {
    let local = source.unwrap_or(match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(local, 0))
        .await
        .map_err(|e| e.to_string())?;
    let mut last = String::from("no answer");
    for _ in 0..TRIES {
        let id = crate::wire::query_id();
        let bytes = message(zone, id).to_vec().map_err(|e| e.to_string())?;
        if let Err(e) = socket.send_to(&bytes, addr).await {
            last = e.to_string();
            continue;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(WAIT, socket.recv_from(&mut buf)).await {
            Ok(Ok((len, from))) if from == addr => match Message::from_vec(&buf[..len]) {
                Ok(reply) if reply.metadata.id == id => {
                    if reply.metadata.response_code == ResponseCode::NoError {
                        return Ok(());
                    }
                    last = format!("rcode was {:?}", reply.metadata.response_code.to_string());
                }
                Ok(_) => last = "an answer with another ID".into(),
                Err(e) => last = e.to_string(),
            },
            Ok(Ok(_)) => last = "an answer from another address".into(),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no answer in 2 s".into(),
        }
    }
    Err(last)
}
