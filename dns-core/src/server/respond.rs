//! One datagram or TCP message in, one response out: header checks, parse, the handler, EDNS0,
//! truncation. No sockets here, so the fuzz target drives exactly this path.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use crate::wire::encode::{HEADER_LEN, encode_prebuilt, encode_stream, encode_within, header_only};
use crate::wire::{Exchange, Handler, RequestInfo, Transport, reply_to};

/// UDP payload size we advertise and cap responses at (the DNS Flag Day 2020 value).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Without EDNS, a UDP response is at most 512 bytes (RFC 1035).
const CLASSIC_UDP_SIZE: usize = 512;

/// What happened to a message; the listeners count these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Answered,
    /// Too short for a header, or a response (QR=1): no reply, as miekg/dns does; or a
    /// plugin chose not to answer (`acl`'s `drop`).
    Dropped,
    /// Answered with a header-only error (FORMERR/NOTIMP) before the handler saw it.
    Rejected,
}

/// Runs the whole answer path for one message. `None` means send nothing.
pub async fn respond<H: Handler>(
    handler: &H,
    bytes: &[u8],
    info: &RequestInfo,
) -> (Option<Vec<u8>>, Disposition) {
    let (replies, disposition) = answer(handler, bytes, info).await;
    let reply = match replies {
        Replies::None => None,
        Replies::One(reply) => Some(reply),
        Replies::Stream(replies) => replies.into_iter().next(),
    };
    (reply, disposition)
}

/// [`respond`] for TCP, where a zone transfer's answer is a stream of messages (RFC 5936
/// §2.2); every other answer is one message. Empty means send nothing.
pub async fn respond_stream<H: Handler>(
    handler: &H,
    bytes: &[u8],
    info: &RequestInfo,
) -> (Vec<Vec<u8>>, Disposition) {
    let (replies, disposition) = answer(handler, bytes, info).await;
    let replies = match replies {
        Replies::None => Vec::new(),
        Replies::One(reply) => vec![reply],
        Replies::Stream(replies) => replies,
    };
    (replies, disposition)
}

/// What goes back for one message: kept apart so that one answer over UDP, the common case,
/// costs no list around it.
enum Replies {
    None,
    One(Vec<u8>),
    Stream(Vec<Vec<u8>>),
}

impl Replies {
    fn size(&self) -> usize {
        match self {
            Replies::None => 0,
            Replies::One(reply) => reply.len(),
            Replies::Stream(replies) => replies.iter().map(Vec::len).sum(),
        }
    }
}

async fn answer<H: Handler>(
    handler: &H,
    bytes: &[u8],
    info: &RequestInfo,
) -> (Replies, Disposition) {
    if bytes.len() < HEADER_LEN {
        return (Replies::None, Disposition::Dropped);
    }
    let started = std::time::Instant::now();
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let flags = bytes[2];
    if flags & 0x80 != 0 {
        return (Replies::None, Disposition::Dropped);
    }
    let opcode = OpCode::from_u8((flags >> 3) & 0x0f);
    let recursion_desired = flags & 0x01 != 0;
    let count = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let reject = |rcode| {
        let reply = header_only(id, opcode, recursion_desired, rcode);
        (Replies::One(reply), Disposition::Rejected)
    };
    // miekg/dns's default accept function: only QUERY and NOTIFY get past it; anything but one
    // question, or more records than a query carries, is FORMERR.
    if opcode != OpCode::Query {
        return reject(ResponseCode::NotImp);
    }
    if count(4) != 1 || count(6) > 1 || count(8) > 1 || count(10) > 2 {
        return reject(ResponseCode::FormErr);
    }
    let request = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => {
            return reject(ResponseCode::FormErr);
        }
    };
    let Some(query) = request.queries.first() else {
        return reject(ResponseCode::FormErr);
    };

    let limits = handler.limits(query);
    // `served` hears of every query that reached the routing stage (as CoreDNS's metrics
    // count them): `Some(None)` when the server answered it itself.
    let (mut response, prebuilt, served) =
        if let Some(edns) = request.edns.as_ref().filter(|e| e.version() > 0) {
            // RFC 6891 6.1.3: we speak EDNS version 0 only. The question stays: resolvers
            // match a reply to its question (RFC 5452 9.1), and CoreDNS echoes it too.
            let _ = edns;
            (reply_to(&request, ResponseCode::BADVERS), None, None)
        } else if query.query_class() != DNSClass::IN && limits.class != Some(query.query_class()) {
            // Cluster data is class IN only; other classes (CHAOS included) are refused.
            let refused = crate::wire::reply_to(&request, ResponseCode::Refused);
            (refused, None, Some(None))
        } else {
            let (answer, prebuilt, tag) = handler.handle_encoded(&request, info).await;
            if handler.silent(&tag) {
                return (Replies::None, Disposition::Dropped);
            }
            (answer, prebuilt, Some(Some(tag)))
        };
    response.metadata.message_type = MessageType::Response;
    response.metadata.id = id;

    let udp_limit = match &request.edns {
        Some(edns) => {
            let ours = limits
                .udp_size
                .clamp(CLASSIC_UDP_SIZE as u16, MAX_UDP_PAYLOAD);
            let size = edns.max_payload().clamp(CLASSIC_UDP_SIZE as u16, ours);
            let mut opt = Edns::new();
            opt.set_max_payload(ours);
            opt.set_dnssec_ok(edns.flags().dnssec_ok);
            if let Some(theirs) = response.edns.as_mut() {
                crate::wire::keep_client_options(theirs, &mut opt);
            }
            response.edns = Some(opt);
            usize::from(size)
        }
        None => {
            response.edns = None;
            CLASSIC_UDP_SIZE
        }
    };
    let limit = match info.transport {
        Transport::Udp => udp_limit,
        Transport::Tcp => usize::from(u16::MAX),
    };
    // A zone transfer carries records in its answer sections alone; anything else (a forwarded
    // answer with an authority section) goes as one message.
    let transfer = info.transport == Transport::Tcp
        && prebuilt.is_none()
        && matches!(query.query_type(), RecordType::AXFR | RecordType::IXFR)
        && response.authorities.is_empty()
        && response.additionals.is_empty();
    // Records encoded once (a cache hit) are copied when they fit whole; otherwise they are
    // encoded here like any others, truncating.
    let spliced = prebuilt.as_ref().and_then(|p| {
        let bytes = encode_prebuilt(&response, p, limit);
        if bytes.is_none() {
            p.fill(&mut response);
        }
        bytes
    });
    let encoded = if let Some(bytes) = spliced {
        Some(Replies::One(bytes))
    } else if transfer {
        encode_stream(&response, limit).map(Replies::Stream)
    } else {
        encode_within(&response, limit).map(Replies::One)
    };
    let (replies, rcode) = match encoded {
        Some(replies) => (replies, response.metadata.response_code),
        None => (
            Replies::One(header_only(
                id,
                opcode,
                recursion_desired,
                ResponseCode::ServFail,
            )),
            ResponseCode::ServFail,
        ),
    };
    if let Some(tag) = served {
        let exchange = Exchange {
            request: &request,
            info,
            rcode,
            response_size: replies.size(),
            started,
        };
        handler.served(tag, &exchange);
    }
    (replies, Disposition::Answered)
}
