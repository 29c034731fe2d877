//! Responses onto the wire within a size: one pass over the records, each one kept if it fits
//! and rolled back if not, instead of re-encoding the message per record.

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncodable;

use super::encoded::Prebuilt;
pub use super::writer::HEADER_LEN;
use super::writer::MessageWriter;

/// Encodes `response` in at most `limit` bytes. Answers are kept first, then authority, then
/// additional records, each record kept if it still fits; the OPT record's room is kept aside
/// first so EDNS survives any truncation. TC is set when an answer or authority record had to
/// go (losing only additional records is not a truncation, as in miekg/dns). A message whose
/// bare question and OPT do not fit goes without the OPT; `None` when even that fails.
pub fn encode_within(response: &Message, limit: usize) -> Option<Vec<u8>> {
    let limit = limit.min(usize::from(u16::MAX));
    let opt = opt_record(response);
    match limit
        .checked_sub(opt.len())
        .and_then(|room| encode_records(response, &opt, room, limit))
    {
        Some(bytes) => Some(bytes),
        None => encode_records(response, &[], limit, limit),
    }
}

/// Encodes `response`, a header and question, with `prebuilt`'s records behind the question
/// and the OPT record, in at most `limit` bytes. `None` when that does not fit, or the question
/// is not the length the records were encoded after: the caller then encodes the records
/// themselves, truncating as [`encode_within`] does.
pub fn encode_prebuilt(response: &Message, prebuilt: &Prebuilt, limit: usize) -> Option<Vec<u8>> {
    let limit = limit.min(usize::from(u16::MAX));
    let opt = opt_record(response);
    let mut writer =
        MessageWriter::with_capacity(HEADER_LEN + 2 * prebuilt.sections.len().max(128) + opt.len());
    let [query] = response.queries.as_slice() else {
        return None;
    };
    writer.question_before_encoded(query);
    let [answers, authorities, additionals] = prebuilt.sections.write(&mut writer, prebuilt.ttl)?;
    if writer.len() + opt.len() > limit {
        return None;
    }
    writer.raw(&opt);
    let additionals = additionals.checked_add(u16::from(!opt.is_empty()))?;
    Some(writer.finish(&response.metadata, [1, answers, authorities, additionals]))
}

/// The response's OPT record (its rcode's high bits in it) on the wire; empty without EDNS.
fn opt_record(response: &Message) -> Vec<u8> {
    response
        .edns
        .as_ref()
        .and_then(|edns| {
            let mut edns = edns.clone();
            edns.set_rcode_high(response.metadata.response_code.high());
            Record::from(&edns).to_bytes().ok()
        })
        .unwrap_or_default()
}

/// The records of `response` in `room` bytes, then `opt` within `limit`.
fn encode_records(response: &Message, opt: &[u8], room: usize, limit: usize) -> Option<Vec<u8>> {
    let mut writer = MessageWriter::with_capacity(512);
    for query in &response.queries {
        writer.question(query);
    }
    if writer.len() > room {
        return None;
    }
    let mut truncated = false;
    let mut counts = [0u16; 4];
    counts[0] = u16::try_from(response.queries.len()).ok()?;
    let sections = [
        &response.answers,
        &response.authorities,
        &response.additionals,
    ];
    for (section, records) in sections.into_iter().enumerate() {
        for record in records {
            let mark = writer.mark();
            if writer.record(record).is_ok() && writer.len() <= room {
                counts[section + 1] = counts[section + 1].saturating_add(1);
            } else {
                writer.rollback(mark);
                truncated |= section < 2;
            }
        }
    }
    if !opt.is_empty() {
        if writer.len() + opt.len() > limit {
            return None;
        }
        writer.raw(opt);
        counts[3] = counts[3].saturating_add(1);
    }
    let mut metadata = response.metadata;
    metadata.truncation |= truncated;
    Some(writer.finish(&metadata, counts))
}

/// Encodes a zone transfer's `response` as a stream of messages of at most `limit` bytes each
/// (RFC 5936 §2.2): each carries the header, the question, as many of the next answers as fit,
/// and the OPT record when the response has one. `None` when one record alone does not fit.
pub fn encode_stream(response: &Message, limit: usize) -> Option<Vec<Vec<u8>>> {
    let limit = limit.min(usize::from(u16::MAX));
    let opt = opt_record(response);
    let room = limit.checked_sub(opt.len())?;
    let queries = u16::try_from(response.queries.len()).ok()?;
    let mut messages = Vec::new();
    let mut next = 0;
    loop {
        let mut writer = MessageWriter::with_capacity(4096);
        for query in &response.queries {
            writer.question(query);
        }
        if writer.len() > room {
            return None;
        }
        let first = next;
        while let Some(record) = response.answers.get(next) {
            let mark = writer.mark();
            if writer.record(record).is_err() || writer.len() > room {
                writer.rollback(mark);
                break;
            }
            next += 1;
        }
        if next == first && next < response.answers.len() {
            return None;
        }
        let answers = u16::try_from(next - first).ok()?;
        let additionals = u16::from(!opt.is_empty());
        writer.raw(&opt);
        messages.push(writer.finish(&response.metadata, [queries, answers, 0, additionals]));
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
