//! One DNS message written straight into its buffer. hickory's encoder spends most of an
//! answer's cost on name compression (a heap copy of every label it may point to, and a linear
//! byte comparison per candidate); here every suffix a later name may point to is kept as a
//! hash and an offset, and a candidate is confirmed against the bytes already written. The
//! records cluster DNS answers with (A, AAAA, CNAME, NS, PTR, MX, SRV, SOA) are written here;
//! any other RDATA is written by hickory into the same buffer, at its real offset.
//!
//! Compression follows miekg/dns (CoreDNS): owner names and the names inside CNAME, NS, PTR,
//! MX and SOA are compressed; an SRV target is not (RFC 2782), but later names may point into
//! it. Matching is byte-exact, so every name keeps the case it was given.

use hickory_proto::op::{MessageType, Metadata, Query};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use smallvec::SmallVec;

use super::name::{MAX_LABELS, WireName};

/// The length of a DNS header.
pub const HEADER_LEN: usize = 12;

/// The largest offset a compression pointer holds (14 bits).
const POINTER_MAX: usize = 0x3FFF;

/// Where a message stood, to roll a record that did not fit back to.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    suffixes: usize,
}

/// RDATA that hickory would not encode, or a record longer than 65,535 bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Unencodable;

/// A message being written: the header's room first, then whatever is added.
pub struct MessageWriter {
    buf: Vec<u8>,
    /// Suffixes written out in full, which later names may point to: the suffix's hash and
    /// the offset of its first label. Inline: most answers write a few names.
    suffixes: SmallVec<[(u32, u16); 32]>,
}

impl MessageWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(HEADER_LEN));
        buf.resize(HEADER_LEN, 0);
        MessageWriter {
            buf,
            suffixes: SmallVec::new(),
        }
    }

    /// The message's length so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_LEN
    }

    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            suffixes: self.suffixes.len(),
        }
    }

    /// Forgets everything added since `mark`, pointer targets included.
    pub fn rollback(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.suffixes.truncate(mark.suffixes);
    }

    /// The question of a message whose records come encoded (a cache hit's): their pointers
    /// into it are in their bytes already, and nothing after it looks for a suffix, so the
    /// suffixes' hashes are not worked out (614 of a cache hit's 6,824 instructions).
    pub fn question_before_encoded(&mut self, query: &Query) {
        self.buf
            .extend_from_slice(WireName::new(&query.name).as_bytes());
        self.buf.push(0);
        self.question_type_and_class(query);
    }

    pub fn question(&mut self, query: &Query) {
        self.name(&query.name, true);
        self.question_type_and_class(query);
    }

    fn question_type_and_class(&mut self, query: &Query) {
        self.u16(u16::from(query.query_type));
        self.u16(u16::from(query.query_class));
    }

    /// Appends `record` and says where its TTL is; on an error the caller rolls back to its
    /// mark.
    pub fn record(&mut self, record: &Record) -> Result<usize, Unencodable> {
        self.name(&record.name, true);
        self.u16(u16::from(record.record_type()));
        self.u16(u16::from(record.dns_class));
        let ttl_at = self.buf.len();
        self.buf.extend_from_slice(&record.ttl.to_be_bytes());
        let length_at = self.buf.len();
        self.u16(0);
        match &record.data {
            RData::A(a) => self.buf.extend_from_slice(&a.0.octets()),
            RData::AAAA(aaaa) => self.buf.extend_from_slice(&aaaa.0.octets()),
            RData::CNAME(name) => self.name(&name.0, true),
            RData::NS(name) => self.name(&name.0, true),
            RData::PTR(name) => self.name(&name.0, true),
            RData::MX(mx) => {
                self.u16(mx.preference);
                self.name(&mx.exchange, true);
            }
            RData::SRV(srv) => {
                self.u16(srv.priority);
                self.u16(srv.weight);
                self.u16(srv.port);
                self.name(&srv.target, false);
            }
            RData::SOA(soa) => {
                self.name(&soa.mname, true);
                self.name(&soa.rname, true);
                for value in [
                    soa.serial,
                    soa.refresh as u32,
                    soa.retry as u32,
                    soa.expire as u32,
                    soa.minimum,
                ] {
                    self.buf.extend_from_slice(&value.to_be_bytes());
                }
            }
            // A prerequisite of an update carries no RDATA.
            RData::Update0(_) => {}
            other => {
                let at = u32::try_from(self.buf.len()).map_err(|_| Unencodable)?;
                let mut encoder = BinEncoder::with_offset(&mut self.buf, at);
                other.emit(&mut encoder).map_err(|_| Unencodable)?;
            }
        }
        let length = self.buf.len() - length_at - 2;
        let length = u16::try_from(length).map_err(|_| Unencodable)?;
        self.buf[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
        Ok(ttl_at)
    }

    /// Appends bytes already encoded that hold no name to point to (the OPT record).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends records encoded earlier at this same offset ([`super::encoded`]), each TTL
    /// (at `ttl_at` within `records`) set to `ttl`. Later names do not point into them.
    pub fn splice(&mut self, records: &[u8], ttl_at: &[u16], ttl: u32) {
        let start = self.buf.len();
        self.buf.extend_from_slice(records);
        let ttl = ttl.to_be_bytes();
        for &at in ttl_at {
            let at = start + usize::from(at);
            if let Some(field) = self.buf.get_mut(at..at + 4) {
                field.copy_from_slice(&ttl);
            }
        }
    }

    /// The message so far, its header's room still zero.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes the header (`metadata` with the section counts) and hands the message over.
    pub fn finish(mut self, metadata: &Metadata, counts: [u16; 4]) -> Vec<u8> {
        let mut header = [0u8; HEADER_LEN];
        header[0..2].copy_from_slice(&metadata.id.to_be_bytes());
        header[2] = u8::from(metadata.message_type == MessageType::Response) << 7
            | (u8::from(metadata.op_code) & 0x0F) << 3
            | u8::from(metadata.authoritative) << 2
            | u8::from(metadata.truncation) << 1
            | u8::from(metadata.recursion_desired);
        header[3] = u8::from(metadata.recursion_available) << 7
            | u8::from(metadata.authentic_data) << 5
            | u8::from(metadata.checking_disabled) << 4
            | (metadata.response_code.low() & 0x0F);
        for (i, count) in counts.iter().enumerate() {
            header[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
        }
        self.buf[..HEADER_LEN].copy_from_slice(&header);
        self.buf
    }

    fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Writes `name`: its labels until a suffix already written (a pointer to it, when
    /// `compress`), then the root.
    fn name(&mut self, name: &Name, compress: bool) {
        let name = WireName::new(name);
        let wire = name.as_bytes();
        let count = name.label_count();
        // hashes[i]: the suffix from label i to the root.
        let mut hashes = [0u32; MAX_LABELS];
        let mut hash = FNV_OFFSET;
        let mut end = wire.len();
        for i in (0..count).rev() {
            let start = name.label_start(i);
            hash = suffix_hash(hash, &wire[start + 1..end]);
            hashes[i] = hash;
            end = start;
        }
        let mut pointer = None;
        let mut written = count;
        if compress {
            for i in 0..count {
                if let Some(at) = self.find(hashes[i], &wire[name.label_start(i)..]) {
                    pointer = Some(at);
                    written = i;
                    break;
                }
            }
        }
        let base = self.buf.len();
        for (i, &hash) in hashes.iter().enumerate().take(written) {
            let at = base + name.label_start(i);
            if at <= POINTER_MAX {
                self.suffixes.push((hash, at as u16));
            }
        }
        let head = name.label_start(written);
        self.buf.extend_from_slice(&wire[..head]);
        match pointer {
            Some(at) => self.u16(0xC000 | at),
            None => self.buf.push(0),
        }
    }

    /// The offset of a suffix written before that is `wire` (labels in wire form, without
    /// the root), byte for byte.
    fn find(&self, hash: u32, wire: &[u8]) -> Option<u16> {
        self.suffixes
            .iter()
            .find(|&&(h, at)| h == hash && self.spells(usize::from(at), wire))
            .map(|&(_, at)| at)
    }

    /// Whether the name written at `at` (pointers followed) is `wire` then the root.
    fn spells(&self, at: usize, wire: &[u8]) -> bool {
        // Written out in full: one comparison. A length byte (at most 63) never equals a
        // pointer's first byte, so equal bytes are the same labels.
        let end = at + wire.len();
        if self.buf.get(at..end) == Some(wire) && self.buf.get(end) == Some(&0) {
            return true;
        }
        let mut at = at;
        let mut wire = wire;
        let mut hops = 0;
        loop {
            let Some(&len) = self.buf.get(at) else {
                return false;
            };
            if len & 0xC0 == 0xC0 {
                let Some(&low) = self.buf.get(at + 1) else {
                    return false;
                };
                hops += 1;
                if hops > MAX_LABELS {
                    return false;
                }
                at = usize::from(len & 0x3F) << 8 | usize::from(low);
                continue;
            }
            if wire.is_empty() {
                return len == 0;
            }
            let label = usize::from(len) + 1;
            match (self.buf.get(at..at + label), wire.get(..label)) {
                (Some(written), Some(wanted)) if written == wanted => {
                    at += label;
                    wire = &wire[label..];
                }
                _ => return false,
            }
        }
    }
}

const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

/// The hash of a label followed by the suffix whose hash is `suffix`.
fn suffix_hash(suffix: u32, label: &[u8]) -> u32 {
    let mut hash = (suffix ^ label.len() as u32).wrapping_mul(FNV_PRIME);
    for &byte in label {
        hash = (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME);
    }
    hash
}
