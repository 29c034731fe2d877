//! The bottom layer: what a query and its answer are as they cross the socket boundary. The
//! request as the listeners hand it on ([`RequestInfo`], [`Transport`]), the [`Handler`]
//! contract between a listener and whatever answers, the response skeleton ([`reply_to`]), the
//! one rcode table ([`rcode`]) and the size-capped encoder ([`encode`]). Imports nothing else
//! of dns-core.

pub mod encode;
pub mod encoded;
pub mod name;
pub mod rcode;
pub mod writer;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::DNSClass;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

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
    /// What `handle` hands on to `served` about one exchange (for metrics: which server block
    /// and plugin answered).
    type Tag: Send;

    fn handle(
        &self,
        request: &Message,
        info: &RequestInfo,
    ) -> impl Future<Output = (Message, Self::Tag)> + Send;

    /// [`Handler::handle`] as the server calls it: the response may come with its records
    /// already encoded ([`encoded::Prebuilt`], a cache hit), the message then carrying only
    /// its header and question.
    fn handle_encoded(
        &self,
        request: &Message,
        info: &RequestInfo,
    ) -> impl Future<Output = (Message, Option<encoded::Prebuilt>, Self::Tag)> + Send {
        async move {
            let (response, tag) = self.handle(request, info).await;
            (response, None, tag)
        }
    }

    /// The response is encoded: `tag` is what `handle` returned, or `None` when the server
    /// answered a well-formed query itself (a class other than IN). Runs on the query path;
    /// keep it cheap.
    fn served(&self, tag: Option<Self::Tag>, exchange: &Exchange<'_>) {
        let _ = (tag, exchange);
    }

    /// The handler chose to send no response at all for the exchange `tag` describes (a
    /// plugin such as `acl` dropping the query): the server writes nothing.
    fn silent(&self, tag: &Self::Tag) -> bool {
        let _ = tag;
        false
    }

    /// What the server block that serves `query` says before and after its chain: whether a
    /// class other than IN reaches it (`chaos`), and the largest UDP response (`bufsize`).
    fn limits(&self, query: &Query) -> Limits {
        let _ = query;
        Limits::default()
    }
}

/// See [`Handler::limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Queries of this class reach the handler; any other but IN is REFUSED by the server.
    pub class: Option<DNSClass>,
    /// The largest UDP payload answered and advertised (the server's own cap when larger).
    pub udp_size: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            class: None,
            udp_size: u16::MAX,
        }
    }
}

/// One answered query as it went out, for [`Handler::served`].
pub struct Exchange<'a> {
    pub request: &'a Message,
    pub info: &'a RequestInfo,
    /// The rcode sent (SERVFAIL when the response could not be encoded).
    pub rcode: ResponseCode,
    /// Bytes of the response on the wire (without the TCP length prefix).
    pub response_size: usize,
    /// When the server started on this query.
    pub started: std::time::Instant,
}

/// A response skeleton for `request`: same ID, opcode, RD, CD and question; no records.
pub fn reply_to(request: &Message, rcode: ResponseCode) -> Message {
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.metadata.response_code = rcode;
    response.queries = request.queries.clone();
    response
}

/// RFC 8914's Extended DNS Error option code.
pub const EDE_CODE: u16 = 15;

/// An Extended DNS Error option (RFC 8914): `info_code` (15 Blocked, 17 Filtered, ...) and
/// its text.
pub fn extended_error(info_code: u16, text: &str) -> EdnsOption {
    let mut data = info_code.to_be_bytes().to_vec();
    data.extend_from_slice(text.as_bytes());
    EdnsOption::Unknown(EDE_CODE, data)
}

/// Adds `option` to `response`'s OPT record (made if missing): the server keeps the options
/// meant for the client (see [`keep_client_options`]) when it writes the OPT it answers with.
pub fn add_option(response: &mut Message, option: EdnsOption) {
    response
        .edns
        .get_or_insert_with(Edns::new)
        .options_mut()
        .insert(option);
}

/// Moves the options of a handler's OPT that speak to the client (the server's identity,
/// RFC 5001 NSID; why it was refused, RFC 8914 EDE) into the OPT the server answers with.
/// Everything else of a handler's OPT (an upstream's cookies, padding) stays behind, as the
/// server speaks for itself.
pub fn keep_client_options(from: &mut Edns, into: &mut Edns) {
    for (code, option) in std::mem::take(&mut from.options_mut().options) {
        if code == EdnsCode::NSID || code == EdnsCode::Unknown(EDE_CODE) {
            into.options_mut().options.push((code, option));
        }
    }
}

/// An ID for a query this server sends (forwarding, health checks, the loop probe): from the
/// operating system's random source, as miekg/dns takes it, because a guessable ID lets an
/// off-path attacker spoof the answer (RFC 5452). Everything else random (shuffles, jitter)
/// uses `fastrand`.
pub fn query_id() -> u16 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 2];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u16::from_be_bytes(bytes),
        // The OS source failing is near impossible; an ID is still better than no query.
        Err(_) => fastrand::u16(..),
    }
}
