//! What the cache stores and for how long: pure functions of a response, the configuration and
//! the time, which the caller passes in (`now`). Mirrors CoreDNS's cache: RFC 2308 negative
//! caching, TTLs capped and floored per cache, every record of a served entry carrying the
//! entry's remaining time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use smallvec::SmallVec;

use crate::wire::encoded::{EncodedSections, Prebuilt};
use crate::wire::name::WireName;
use crate::wire::reply_to;

/// CoreDNS's defaults: positive answers at most an hour, denials half that, nothing under 5 s.
pub const MAX_TTL: u32 = 3600;
pub const MAX_DENIAL_TTL: u32 = 1800;
pub const MIN_TTL: u32 = 5;
/// CoreDNS's requested capacity; its 256 shards make 9984 of it.
pub const DEFAULT_CAPACITY: u64 = 10_000;
/// CoreDNS's SERVFAIL caching default.
pub const DEFAULT_SERVFAIL: Duration = Duration::from_secs(5);
/// CoreDNS's shards per cache (`plugin/pkg/cache`); [`super::store`] has as many.
pub const SHARDS: u64 = 256;

/// The entries a cache of `requested` capacity holds: CoreDNS splits it into 256 equal shards of
/// at least 4, so 10000 holds 9984 and anything under 1024 holds 1024.
pub fn effective_capacity(requested: u64) -> u64 {
    (requested / SHARDS).max(4) * SHARDS
}

/// How a response is cached (CoreDNS's `response.Typify`, with NODATA behind a CNAME chain
/// reclassified as its cache does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// NOERROR with an answer (or data elsewhere): the success cache.
    Success,
    /// NOERROR with only NS records in authority: the success cache, minimum TTL.
    Delegation,
    /// NXDOMAIN with an SOA: the denial cache.
    NameError,
    /// NOERROR, no answer for the type, an SOA: the denial cache.
    NoData,
    /// SERVFAIL or NOTIMP: the denial cache, for the `servfail` duration.
    ServerError,
}

impl Kind {
    /// Denials and server errors share the denial cache, as in CoreDNS.
    pub fn is_denial(self) -> bool {
        !matches!(self, Kind::Success | Kind::Delegation)
    }
}

/// What a cache entry is stored under: the question with its name lowercased, and the DO and
/// CD bits (an answer with DNSSEC records is not one without). The name is kept as its
/// lowercased labels, each behind its length byte, so a lookup hashes and compares plain bytes
/// (a hit costs two lookups: the denial cache, then the success cache); most names fit inline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub name: SmallVec<[u8; 64]>,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

/// The key of a request's first question, `None` without one.
pub fn key(request: &Message) -> Option<Key> {
    let q = request.queries.first()?;
    Some(Key {
        name: SmallVec::from_slice(WireName::lowered(q.name()).as_bytes()),
        qtype: q.query_type(),
        qclass: q.query_class(),
        dnssec_ok: dnssec_ok(request),
        checking_disabled: request.metadata.checking_disabled,
    })
}

/// The request's DNSSEC OK bit.
pub fn dnssec_ok(request: &Message) -> bool {
    request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
}

/// How `response` is cached, or `None` when it never is: truncated, zone transfers, updates and
/// notifies, REFUSED and other errors, NXDOMAIN without an SOA to bound it, and a NOERROR whose
/// answer does not answer the question (a CNAME chain that stops short) without an SOA.
pub fn classify(response: &Message) -> Option<Kind> {
    if response.metadata.truncation {
        return None;
    }
    if matches!(response.metadata.op_code, OpCode::Update | OpCode::Notify) {
        return None;
    }
    let q = response.queries.first()?;
    if matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR) {
        return None;
    }
    let rcode = response.metadata.response_code;
    let soa = has_soa(response);
    if !response.answers.is_empty() {
        return match rcode {
            ResponseCode::NoError if answers_question(response) => Some(Kind::Success),
            // A CNAME chain that does not reach the type: NODATA, cacheable only with an SOA.
            ResponseCode::NoError if soa => Some(Kind::NoData),
            _ => None,
        };
    }
    match rcode {
        ResponseCode::NoError if soa => Some(Kind::NoData),
        ResponseCode::NXDomain if soa => Some(Kind::NameError),
        ResponseCode::ServFail | ResponseCode::NotImp => Some(Kind::ServerError),
        ResponseCode::NoError
            if response
                .authorities
                .iter()
                .any(|r| r.record_type() == RecordType::NS) =>
        {
            Some(Kind::Delegation)
        }
        // Data only in the additional section (whoami) is still an answer.
        ResponseCode::NoError => Some(Kind::Success),
        _ => None,
    }
}

fn has_soa(m: &Message) -> bool {
    m.authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA)
}

/// Whether a NOERROR answer section answers its question: a record of the asked type at the end
/// of the CNAME chain that starts at the question name (any record at the name for ANY, the
/// alias itself for CNAME). A malformed chain (two targets, a loop) does not.
pub fn answers_question(m: &Message) -> bool {
    let Some(q) = m.queries.first() else {
        return false;
    };
    let class_ok = |r: &Record| q.query_class() == DNSClass::ANY || r.dns_class == q.query_class();
    let at = |r: &Record, name: &Name| class_ok(r) && r.name == *name;
    match q.query_type() {
        RecordType::ANY => m.answers.iter().any(|r| at(r, q.name())),
        RecordType::CNAME => matches!(cname_target(m, q.name(), &at), Ok(Some(_))),
        qtype => {
            let mut name = q.name().clone();
            // Each step consumes a distinct CNAME, so a chain longer than the section loops.
            for _ in 0..=m.answers.len() {
                match cname_target(m, &name, &at) {
                    Ok(Some(target)) => name = target,
                    Ok(None) => {
                        return m
                            .answers
                            .iter()
                            .any(|r| r.record_type() == qtype && at(r, &name));
                    }
                    Err(()) => return false,
                }
            }
            false
        }
    }
}

/// The one canonical name `owner` aliases to (`None`: not an alias); two different targets are
/// an error (RFC 2181 10.1).
fn cname_target(
    m: &Message,
    owner: &Name,
    at: &dyn Fn(&Record, &Name) -> bool,
) -> Result<Option<Name>, ()> {
    let mut target: Option<&Name> = None;
    for r in &m.answers {
        if let RData::CNAME(c) = &r.data
            && at(r, owner)
        {
            match target {
                Some(t) if *t != c.0 => return Err(()),
                _ => target = Some(&c.0),
            }
        }
    }
    Ok(target.cloned())
}

/// The TTL bounds of one cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub max: u32,
    pub min: u32,
}

/// The seconds an entry of `kind` lives: the smallest TTL in the message (for a denial the
/// SOA's, bounded by its MINIMUM field, RFC 2308 5), floored at `min` and capped at `max`;
/// server errors for `servfail`. A message without records gets 5 s, as does a delegation.
pub fn lifetime(response: &Message, kind: Kind, bounds: Bounds, servfail: Duration) -> u32 {
    if kind == Kind::ServerError {
        return u32::try_from(servfail.as_secs()).unwrap_or(u32::MAX);
    }
    let message_ttl = if kind == Kind::Delegation
        || response.answers.is_empty()
            && response.authorities.is_empty()
            && response.additionals.is_empty()
    {
        MIN_TTL
    } else {
        response
            .answers
            .iter()
            .chain(&response.authorities)
            .chain(&response.additionals)
            .map(|r| match &r.data {
                RData::SOA(soa) if kind.is_denial() => r.ttl.min(soa.minimum),
                _ => r.ttl,
            })
            .fold(bounds.max, u32::min)
    };
    message_ttl.max(bounds.min).min(bounds.max)
}

/// Sets every record's TTL (CoreDNS serves an entry with one TTL, the entry's remaining time).
pub fn set_ttls(m: &mut Message, ttl: u32) {
    for r in m
        .answers
        .iter_mut()
        .chain(&mut m.authorities)
        .chain(&mut m.additionals)
    {
        r.ttl = ttl;
    }
}

/// Whether `response` answers `request`'s question (name in any case, type, class); a
/// mismatch is dropped, not cached.
pub fn matches(request: &Message, response: &Message) -> bool {
    match (request.queries.first(), response.queries.first()) {
        (Some(a), Some(b)) => {
            response.metadata.message_type == MessageType::Response
                && a.query_type() == b.query_type()
                && a.query_class() == b.query_class()
                && a.name() == b.name()
        }
        _ => false,
    }
}

/// A cached response: its sections (with their encoding, which a hit copies) and flags, how
/// long it lives and since when.
#[derive(Debug)]
pub struct Entry {
    pub rcode: ResponseCode,
    pub authentic_data: bool,
    pub recursion_available: bool,
    pub sections: Arc<EncodedSections>,
    /// Seconds the entry was given.
    pub ttl: u32,
    pub stored: Instant,
}

impl Entry {
    pub fn new(response: &Message, ttl: u32, now: Instant) -> Self {
        Self {
            rcode: response.metadata.response_code,
            authentic_data: response.metadata.authentic_data,
            recursion_available: response.metadata.recursion_available,
            sections: Arc::new(EncodedSections::new(
                response.queries.first(),
                response.answers.clone(),
                response.authorities.clone(),
                response.additionals.clone(),
            )),
            ttl,
            stored: now,
        }
    }

    /// Whole seconds left at `now`; zero or less once expired (negative: how long ago).
    pub fn remaining(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.stored).as_secs();
        i64::from(self.ttl) - i64::try_from(elapsed).unwrap_or(i64::MAX)
    }

    /// A positive answer: NOERROR with records (the success cache stores only those that
    /// answer the question, or delegations, which have none).
    pub fn positive(&self) -> bool {
        self.rcode == ResponseCode::NoError && !self.sections.answers.is_empty()
    }

    /// Whether the entry may answer at `now`: unexpired, or expired less than `stale` ago
    /// (`serve_stale`; zero when off).
    pub fn servable(&self, now: Instant, stale: Duration) -> bool {
        let left = self.remaining(now);
        left > 0 || (!stale.is_zero() && left.unsigned_abs() < stale.as_secs())
    }

    /// The response to `request` from this entry with every TTL `ttl`: the client's ID and
    /// question, AA set (as CoreDNS does, for stub resolvers that drop non-authoritative
    /// answers), AD only for a client that asked for DNSSEC or set AD itself (RFC 6840 5.7).
    pub fn reply(&self, request: &Message, ttl: u32) -> Message {
        let mut m = self.header(request);
        self.sections.fill(&mut m, Some(ttl));
        m
    }

    /// [`Entry::reply`] as its header and question, and its records already encoded; `None`
    /// when they have no encoding.
    pub fn reply_encoded(&self, request: &Message, ttl: u32) -> Option<(Message, Prebuilt)> {
        self.sections.is_encoded().then(|| {
            let records = Prebuilt {
                sections: self.sections.clone(),
                ttl: Some(ttl),
            };
            (self.header(request), records)
        })
    }

    fn header(&self, request: &Message) -> Message {
        let mut m = reply_to(request, self.rcode);
        m.metadata.authoritative = true;
        m.metadata.authentic_data = self.authentic_data && wants_ad(request);
        m.metadata.recursion_available = self.recursion_available;
        m
    }
}

/// A client that set DO or AD may see AD in the answer.
pub fn wants_ad(request: &Message) -> bool {
    dnssec_ok(request) || request.metadata.authentic_data
}

/// The TTL a hit is served with: what is left (the original with `keepttl`), zero once stale.
pub fn served_ttl(entry: &Entry, now: Instant, keepttl: bool) -> u32 {
    if keepttl {
        return entry.ttl;
    }
    u32::try_from(entry.remaining(now).max(0)).unwrap_or(0)
}

/// How often an entry was asked for: hits with no gap of `window` or more between them
/// (CoreDNS's `freq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freq {
    pub last: Option<Instant>,
    pub hits: u32,
}

impl Freq {
    /// Counts a hit at `now`; a gap of more than `window` starts over at one.
    pub fn update(&mut self, window: Duration, now: Instant) -> u32 {
        let within = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) <= window);
        self.hits = if within {
            self.hits.saturating_add(1)
        } else {
            1
        };
        self.last = Some(now);
        self.hits
    }
}

/// `prefetch AMOUNT DURATION PERCENTAGE%`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefetch {
    pub amount: u32,
    pub window: Duration,
    pub percentage: u8,
}

/// Whether an entry asked for `hits` times, given `ttl` seconds and with `remaining` left,
/// is refreshed now: popular enough and within the last `percentage` of its life (at least
/// its last second).
pub fn should_prefetch(p: &Prefetch, hits: u32, ttl: u32, remaining: i64) -> bool {
    if p.amount == 0 || hits < p.amount {
        return false;
    }
    let threshold = (u64::from(p.percentage) * u64::from(ttl)).div_ceil(100);
    remaining <= i64::try_from(threshold).unwrap_or(i64::MAX)
}

/// What a refresh of a stale entry may replace it with (RFC 8767 4): a matching, complete
/// NOERROR or NXDOMAIN answer; anything else keeps the stale entry.
pub fn refreshes_stale(request: &Message, response: &Message) -> bool {
    !response.metadata.truncation
        && matches(request, response)
        && match response.metadata.response_code {
            ResponseCode::NoError => true,
            ResponseCode::NXDomain => response.answers.is_empty(),
            _ => false,
        }
}
