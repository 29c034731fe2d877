//! Listeners: UDP and TCP sockets, one UDP socket per worker with SO_REUSEPORT, EDNS0 and
//! truncation, graceful stop. The only I/O room of dns-core; everything it serves comes from a
//! [`Handler`].

use std::future::Future;
use std::net::SocketAddr;

use hickory_proto::op::Message;

/// How a request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Where a request came from and how.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo {
    pub src: SocketAddr,
    pub local: SocketAddr,
    pub transport: Transport,
    /// Size of the request on the wire, for logs and metrics.
    pub request_size: usize,
}

/// Answers well-formed queries. The server calls it only for a message that is a query
/// (QR=0), has opcode QUERY and exactly one question; everything else the server answers
/// itself (FORMERR, NOTIMP) or drops. The handler returns the whole response (ID, flags,
/// question, sections); the server adds the EDNS OPT record and truncates for UDP.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: &Message, info: &RequestInfo)
    -> impl Future<Output = Message> + Send;
}
