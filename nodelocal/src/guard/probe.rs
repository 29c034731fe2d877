//! One liveness probe: a DNS query over UDP; any well-formed response with our ID is alive
//! (SERVFAIL too: the cache process answers, whatever its upstreams do).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the probe query: {0}")]
    Encode(String),
}

static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// The query a probe sends.
pub fn query(id: u16, name: &Name) -> Result<Vec<u8>, ProbeError> {
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), RecordType::SOA));
    message
        .to_vec()
        .map_err(|e| ProbeError::Encode(e.to_string()))
}

/// Whether `bytes` is a response to query `id`.
pub fn is_answer(bytes: &[u8], id: u16) -> bool {
    Message::from_vec(bytes)
        .map(|m| m.metadata.id == id && m.metadata.message_type == MessageType::Response)
        .unwrap_or(false)
}

/// Asks `target` once; `Ok` when a response with our ID came back within `timeout`. A
/// refused port (ICMP unreachable) fails at once.
pub async fn probe(target: SocketAddr, name: &Name, timeout: Duration) -> Result<(), ProbeError> {
    let id = NEXT_ID
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(std::process::id() as u16);
    let bytes = query(id, name)?;
    let local: SocketAddr = match target.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let exchange = async {
        let socket = UdpSocket::bind(local).await?;
        socket.connect(target).await?;
        socket.send(&bytes).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buf).await?;
            if is_answer(&buf[..n], id) {
                return Ok(());
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ProbeError::Timeout(timeout))?
}
