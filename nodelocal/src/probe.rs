//! Is a DNS server answering at this address? One query over UDP; any well-formed response
//! with the query's ID counts (SERVFAIL too: the server is alive, its upstream is not).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

pub async fn answers(addr: SocketAddr, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, ask(addr))
        .await
        .unwrap_or(false)
}

async fn ask(addr: SocketAddr) -> bool {
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let Ok(socket) = UdpSocket::bind(local).await else {
        return false;
    };
    // Connected: a closed port comes back at once as ECONNREFUSED instead of a timeout.
    if socket.connect(addr).await.is_err() {
        return false;
    }
    let id = fastrand_id();
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    // `. NS`: from the cache after the first time, and never a name a cluster could own.
    query.add_query(Query::query(Name::root(), RecordType::NS));
    let Ok(bytes) = query.to_vec() else {
        return false;
    };
    if socket.send(&bytes).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = socket.recv(&mut buf).await else {
            return false;
        };
        if let Ok(reply) = Message::from_vec(&buf[..n])
            && reply.metadata.id == id
            && reply.metadata.message_type == MessageType::Response
        {
            return true;
        }
    }
}

fn fastrand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits & 0xffff) as u16
}
