//! Responses onto the wire within a size: one pass over the records, each one kept if it fits
//! and rolled back if not, instead of re-encoding the message per record.

use hickory_proto::op::{Header, HeaderCounts, Message, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

/// The length of a DNS header.
pub const HEADER_LEN: usize = 12;

/// Encodes `response` in at most `limit` bytes. Answers are kept first, then authority, then
/// additional records, each record kept if it still fits; the OPT record's room is kept aside
/// first so EDNS survives any truncation. TC is set when an answer or authority record had to
/// go (losing only additional records is not a truncation, as in miekg/dns). A message whose
/// bare question and OPT do not fit goes without the OPT; `None` when even that fails.
pub fn encode_within(response: &Message, limit: usize) -> Option<Vec<u8>> {
    let limit = u16::try_from(limit).unwrap_or(u16::MAX);
    let (opt, opt_len) = opt_record(response);
    match u16::try_from(opt_len)
        .ok()
        .and_then(|reserve| limit.checked_sub(reserve))
        .and_then(|room| encode_records(response, opt.as_ref(), room, limit))
    {
        Some(bytes) => Some(bytes),
        None => encode_records(response, None, limit, limit),
    }
}

/// The response's OPT record (its rcode's high bits in it) and its length on the wire.
fn opt_record(response: &Message) -> (Option<Record>, usize) {
    let opt = response.edns.as_ref().map(|edns| {
        let mut edns = edns.clone();
        edns.set_rcode_high(response.metadata.response_code.high());
        Record::from(&edns)
    });
    let len = opt
        .as_ref()
        .and_then(|r| r.to_bytes().ok())
        .map_or(0, |b| b.len());
    (opt, len)
}

/// The records of `response` in `room` bytes, then `opt` within `limit`.
fn encode_records(
    response: &Message,
    opt: Option<&Record>,
    room: u16,
    limit: u16,
) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut buffer);
    encoder.set_max_size(room);
    let place = encoder.place::<Header>().ok()?;
    for query in &response.queries {
        query.emit(&mut encoder).ok()?;
    }
    let mut truncated = false;
    let mut counts = [0u16; 3];
    let sections = [
        &response.answers,
        &response.authorities,
        &response.additionals,
    ];
    for (section, records) in sections.into_iter().enumerate() {
        for record in records {
            let start = encoder.offset();
            if record.emit(&mut encoder).is_ok() {
                counts[section] = counts[section].saturating_add(1);
            } else {
                // Roll back the partial record and any compression pointers into it.
                encoder.set_offset(start);
                encoder.trim();
                truncated |= section < 2;
            }
        }
    }
    if let Some(opt) = opt {
        encoder.set_max_size(limit);
        opt.emit(&mut encoder).ok()?;
        counts[2] = counts[2].saturating_add(1);
    }
    let mut metadata = response.metadata;
    metadata.truncation |= truncated;
    let header = Header {
        metadata,
        counts: HeaderCounts {
            queries: u16::try_from(response.queries.len()).ok()?,
            answers: counts[0],
            authorities: counts[1],
            additionals: counts[2],
        },
    };
    place.replace(&mut encoder, header).ok()?;
    drop(encoder);
    Some(buffer)
}

/// Encodes a zone transfer's `response` as a stream of messages of at most `limit` bytes each
/// (RFC 5936 §2.2): each carries the header, the question, as many of the next answers as fit,
/// and the OPT record when the response has one. `None` when one record alone does not fit.
pub fn encode_stream(response: &Message, limit: usize) -> Option<Vec<Vec<u8>>> {
    let limit = u16::try_from(limit).unwrap_or(u16::MAX);
    let (opt, opt_len) = opt_record(response);
    let room = limit.checked_sub(u16::try_from(opt_len).ok()?)?;
    let mut messages = Vec::new();
    let mut next = 0;
    loop {
        let mut buffer = Vec::with_capacity(4096);
        let mut encoder = BinEncoder::new(&mut buffer);
        encoder.set_max_size(room);
        let place = encoder.place::<Header>().ok()?;
        for query in &response.queries {
            query.emit(&mut encoder).ok()?;
        }
        let first = next;
        while let Some(record) = response.answers.get(next) {
            let start = encoder.offset();
            if record.emit(&mut encoder).is_err() {
                encoder.set_offset(start);
                encoder.trim();
                break;
            }
            next += 1;
        }
        if next == first && next < response.answers.len() {
            return None;
        }
        let mut additionals = 0;
        if let Some(opt) = &opt {
            encoder.set_max_size(limit);
            opt.emit(&mut encoder).ok()?;
            additionals = 1;
        }
        let header = Header {
            metadata: response.metadata,
            counts: HeaderCounts {
                queries: u16::try_from(response.queries.len()).ok()?,
                answers: u16::try_from(next - first).ok()?,
                authorities: 0,
                additionals,
            },
        };
        place.replace(&mut encoder, header).ok()?;
        drop(encoder);
        messages.push(buffer);
        if next >= response.answers.len() {
            return Some(messages);
        }
    }
}

/// A response of only a header: for messages too broken to echo their question.
pub fn header_only(
    id: u16,
    opcode: OpCode,
    recursion_desired: bool,
    rcode: ResponseCode,
) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out[2] = 0x80 | (u8::from(opcode) << 3) | u8::from(recursion_desired);
    out[3] = rcode.low();
    out
}
