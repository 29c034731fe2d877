//! A response's records encoded once and sent many times: what a cache hit, and an answer the
//! kubernetes plugin remembers, go out as. The records are written after the question, where
//! every response of ours carries them, so their compression pointers hold the offsets of a
//! message laid out that way; each response writes the client's own header and question (the
//! same length: the same name in any case) and copies the records behind it, with every TTL
//! patched to the one served where one is given.

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::Record;

use super::writer::{HEADER_LEN, MessageWriter};

/// The answer, authority and additional records of a response, and their encoding.
#[derive(Debug)]
pub struct EncodedSections {
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The records as written after a question of `question_len` bytes; empty when one of them
    /// could not be encoded (the records are then encoded per response).
    bytes: Box<[u8]>,
    question_len: usize,
    /// Where each record's TTL is in `bytes`.
    ttl_at: Box<[u16]>,
    counts: [u16; 3],
    encoded: bool,
}

impl EncodedSections {
    /// The sections of a response to `question` (without one, they are not encoded).
    pub fn new(
        question: Option<&Query>,
        answers: Vec<Record>,
        authorities: Vec<Record>,
        additionals: Vec<Record>,
    ) -> Self {
        let mut writer = MessageWriter::with_capacity(512);
        let mut encodable = true;
        match question {
            Some(question) => writer.question(question),
            None => encodable = false,
        }
        let question_len = writer.len() - HEADER_LEN;
        let start = writer.len();
        let mut ttl_at = Vec::new();
        let mut counts = [0u16; 3];
        for (section, records) in [&answers, &authorities, &additionals]
            .into_iter()
            .enumerate()
        {
            for record in records {
                let at = writer
                    .record(record)
                    .ok()
                    .and_then(|at| u16::try_from(at - start).ok());
                match (at, counts[section].checked_add(1)) {
                    (Some(at), Some(count)) => {
                        ttl_at.push(at);
                        counts[section] = count;
                    }
                    _ => encodable = false,
                }
            }
        }
        let encoded = encodable && writer.len() <= usize::from(u16::MAX);
        let bytes = if encoded {
            writer.into_bytes()[start..].into()
        } else {
            ttl_at.clear();
            Box::default()
        };
        Self {
            answers,
            authorities,
            additionals,
            bytes,
            question_len,
            ttl_at: ttl_at.into(),
            counts,
            encoded,
        }
    }

    /// Whether the records have an encoding to copy.
    pub fn is_encoded(&self) -> bool {
        self.encoded
    }

    /// Fills `response`'s sections with copies of the records, every TTL `ttl` (`None`: each
    /// its own): the message a plugin or a size limit needs when the encoding cannot be
    /// copied.
    pub fn fill(&self, response: &mut Message, ttl: Option<u32>) {
        let copy = |records: &[Record]| -> Vec<Record> {
            records
                .iter()
                .cloned()
                .map(|mut r| {
                    if let Some(ttl) = ttl {
                        r.ttl = ttl;
                    }
                    r
                })
                .collect()
        };
        response.answers = copy(&self.answers);
        response.authorities = copy(&self.authorities);
        response.additionals = copy(&self.additionals);
    }

    /// Writes the records behind `writer`'s question, every TTL `ttl` (`None`: as encoded);
    /// `None`, writing nothing, when the question is not the length they were encoded after.
    pub(crate) fn write(&self, writer: &mut MessageWriter, ttl: Option<u32>) -> Option<[u16; 3]> {
        if !self.is_encoded() || writer.len() != HEADER_LEN + self.question_len {
            return None;
        }
        match ttl {
            Some(ttl) => writer.splice(&self.bytes, &self.ttl_at, ttl),
            None => writer.raw(&self.bytes),
        }
        Some(self.counts)
    }

    /// Bytes of the encoded records.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A response whose records are already encoded: the sections, and the TTL every record goes
/// out with (`None`: each keeps its own). The message that travels with it through the chain
/// carries only the header and question.
#[derive(Clone, Debug)]
pub struct Prebuilt {
    pub sections: std::sync::Arc<EncodedSections>,
    pub ttl: Option<u32>,
}

impl Prebuilt {
    /// Puts copies of the records into `response`, the header and question they came with.
    pub fn fill(&self, response: &mut Message) {
        self.sections.fill(response, self.ttl);
    }
}
