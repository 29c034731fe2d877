//! One zone as the `file` plugin serves it, and its answers: authoritative data, NXDOMAIN and
//! NODATA with the SOA, CNAMEs followed inside the zone, referrals with glue below a zone cut,
//! wildcards as RFC 4592 has them (an empty non-terminal closer than the wildcard blocks it).
//! Pure: the question's answer is a value; a CNAME leaving the zone is handed back to the
//! caller to ask the server ([`Found::chase`]). The rules are CoreDNS's file plugin's.

use std::collections::BTreeMap;
use std::ops::Bound;

use hickory_proto::rr::{Name, RData, Record, RecordType};

/// What a lookup found (CoreDNS's `file.Result`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    NoData,
    NameError,
    /// A referral: the name is at or below a zone cut.
    Delegation,
    ServerFailure,
}

/// The sections of an answer, and how it came about.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub outcome: Outcome,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// A CNAME led to this name, which the zone does not hold: the server is asked for it
    /// and [`Zone::chased`] completes the answer.
    pub chase: Option<Name>,
}

impl Found {
    fn new(outcome: Outcome, answers: Vec<Record>, authority: Vec<Record>) -> Self {
        Self {
            outcome,
            answers,
            authority,
            additional: Vec::new(),
            chase: None,
        }
    }
}

/// How many CNAMEs inside the zone are followed for one question (CoreDNS's).
const MAX_CHASE: usize = 8;

/// A zone's data: the apex SOA and NS apart, every other name with its records in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    origin: Name,
    soa: Record,
    apex_ns: Vec<Record>,
    /// Lowercase owner names in canonical order (RFC 4034 §6.1), so the names below one
    /// follow it.
    nodes: BTreeMap<Name, Vec<Record>>,
    len: usize,
}

/// Why records do not make a zone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("no SOA record for origin {0}")]
    NoSoa(String),
}

impl Zone {
    /// The zone at `origin` from a zone file's records. Names are lowercased (an SRV's owner and
    /// target keep their case), as CoreDNS stores them; records outside `origin` are not served.
    pub fn new(origin: &Name, records: Vec<Record>) -> Result<Self, ZoneError> {
        let origin = origin.to_lowercase();
        let mut soa = None;
        let mut apex_ns = Vec::new();
        let mut nodes: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
        let mut len = 0;
        for mut record in records {
            normalise(&mut record);
            let key = record.name.to_lowercase();
            match record.record_type() {
                // The last SOA wins, wherever it is, as in CoreDNS.
                RecordType::SOA => {
                    soa = Some(record);
                    continue;
                }
                RecordType::NS if key == origin => apex_ns.push(record),
                _ if !origin.zone_of(&key) => continue,
                _ => nodes.entry(key).or_default().push(record),
            }
            len += 1;
        }
        let soa = soa.ok_or_else(|| ZoneError::NoSoa(origin.to_string()))?;
        Ok(Self {
            origin,
            soa,
            apex_ns,
            nodes,
            len: len + 1,
        })
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    pub fn serial(&self) -> u32 {
        match self.soa.data {
            RData::SOA(ref soa) => soa.serial,
            _ => 0,
        }
    }

    /// Records served (the SOA included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole zone for a transfer (RFC 5936): the SOA, the apex NS, every other record by
    /// name in canonical order, the SOA again.
    pub fn transfer(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len + 1);
        out.push(self.soa.clone());
        out.extend(self.apex_ns.iter().cloned());
        out.extend(self.nodes.values().flatten().cloned());
        out.push(self.soa.clone());
        out
    }

    /// The answer to `qname` (lowercase, inside the zone) and `qtype`.
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Found {
        if *qname == self.origin {
            match qtype {
                RecordType::SOA => {
                    return Found::new(
                        Outcome::Success,
                        vec![self.soa.clone()],
                        self.apex_ns.clone(),
                    );
                }
                RecordType::NS => {
                    let mut found = Found::new(Outcome::Success, self.apex_ns.clone(), Vec::new());
                    found.additional = self.glue(&self.apex_ns);
                    return found;
                }
                _ => {}
            }
        }
        let origin_labels = labels(&self.origin);
        let qname_labels = labels(qname);
        // The deepest wildcard met on the way down: its name, and its records unless it is an
        // empty non-terminal.
        let mut wildcard: Option<(Name, Option<&Vec<Record>>)> = None;
        let mut exact = None;
        for labels in origin_labels..=qname_labels {
            let part = qname.trim_to(labels);
            let Some(records) = self.nodes.get(&part) else {
                if labels > origin_labels
                    && let Ok(wild) = part.base_name().prepend_label("*")
                {
                    if let Some(records) = self.nodes.get(&wild) {
                        wildcard = Some((wild, Some(records)));
                    } else if self.has_descendant(&wild) {
                        wildcard = Some((wild, None));
                    }
                }
                continue;
            };
            if let Some(referral) = self.delegation(&part, records, qname, qtype) {
                return referral;
            }
            if labels == qname_labels {
                exact = Some(records);
            }
        }
        if let Some(records) = exact {
            return self.at_name(qname, records, qtype, false);
        }
        // A name with names below it exists, empty: NOERROR without records, and no wildcard
        // answers for it (RFC 4592 §2.2.2).
        if self.has_descendant(qname) {
            return Found::new(Outcome::Success, Vec::new(), vec![self.soa.clone()]);
        }
        if let Some((wild, records)) = wildcard
            && !self.closer_empty_non_terminal(qname, &wild)
        {
            return match records {
                None => Found::new(Outcome::NoData, Vec::new(), vec![self.soa.clone()]),
                Some(records) => self.at_name(qname, records, qtype, true),
            };
        }
        Found::new(Outcome::NameError, Vec::new(), vec![self.soa.clone()])
    }

    /// The answer from the records at `qname` (a wildcard's: `synthesised`, owners rewritten).
    fn at_name(
        &self,
        qname: &Name,
        records: &[Record],
        qtype: RecordType,
        synthesised: bool,
    ) -> Found {
        let of_type = |t: RecordType| -> Vec<Record> {
            records
                .iter()
                .filter(|r| r.record_type() == t)
                .map(|r| {
                    let mut r = r.clone();
                    if synthesised {
                        r.name = qname.clone();
                    }
                    r
                })
                .collect()
        };
        let cnames = of_type(RecordType::CNAME);
        if !cnames.is_empty() && qtype != RecordType::CNAME {
            return self.chase_cname(cnames, qtype);
        }
        let answers = of_type(qtype);
        if answers.is_empty() {
            return Found::new(Outcome::NoData, Vec::new(), vec![self.soa.clone()]);
        }
        let mut found = Found::new(Outcome::Success, answers, self.apex_ns.clone());
        found.additional = self.additional(&found.answers);
        found
    }

    /// Follows `answers` (CNAMEs at the question's name) through the zone.
    fn chase_cname(&self, mut answers: Vec<Record>, qtype: RecordType) -> Found {
        let mut chased = 0;
        while let Some(target) = answers.last().and_then(cname_target) {
            let target = target.to_lowercase();
            let records = self.nodes.get(&target);
            if let Some(referral) = self.cut_above(&target, records, qtype) {
                let mut referral = referral;
                referral.answers = answers;
                return referral;
            }
            let records = match records {
                Some(records)
                    if qtype != RecordType::NS
                        && !(qtype == RecordType::SOA && target == self.origin) =>
                {
                    records
                }
                _ => {
                    let mut found = Found::new(Outcome::Success, answers, Vec::new());
                    found.chase = Some(target);
                    return found;
                }
            };
            let cnames = of_type(records, RecordType::CNAME);
            if cnames.is_empty() {
                answers.extend(of_type(records, qtype));
                break;
            }
            answers.extend(cnames);
            chased += 1;
            if chased > MAX_CHASE {
                break;
            }
        }
        let mut found = Found::new(Outcome::Success, answers, self.apex_ns.clone());
        found.additional = self.additional(&found.answers);
        found
    }

    /// Completes a [`Found`] whose CNAME target the server was asked for: `reply` is the
    /// server's rcode-derived outcome and answers, or `None` when nothing answered.
    pub fn chased(&self, mut found: Found, reply: Option<(Outcome, Vec<Record>)>) -> Found {
        found.chase = None;
        let outcome = match reply {
            Some((outcome, answers)) => {
                found.answers.extend(answers);
                outcome
            }
            None => Outcome::Success,
        };
        found.outcome = outcome;
        found.authority = match outcome {
            Outcome::NameError | Outcome::NoData => vec![self.soa.clone()],
            _ => self.apex_ns.clone(),
        };
        found.additional = self.additional(&found.answers);
        found
    }

    /// A referral when `part` (on the way to `qname`) is a zone cut; a DS question at the cut
    /// itself belongs to this zone.
    fn delegation(
        &self,
        part: &Name,
        records: &[Record],
        qname: &Name,
        qtype: RecordType,
    ) -> Option<Found> {
        if *part == self.origin || (qtype == RecordType::DS && part == qname) {
            return None;
        }
        let ns = of_type(records, RecordType::NS);
        if ns.is_empty() {
            return None;
        }
        let mut found = Found::new(Outcome::Delegation, Vec::new(), ns);
        found.additional = self.glue(&found.authority);
        Some(found)
    }

    /// The first zone cut between the apex and `name` (`name` itself included).
    fn cut_above(
        &self,
        name: &Name,
        exact: Option<&Vec<Record>>,
        qtype: RecordType,
    ) -> Option<Found> {
        if !self.origin.zone_of(name) {
            return None;
        }
        let origin_labels = labels(&self.origin);
        let name_labels = labels(name);
        for labels in origin_labels + 1..name_labels {
            let part = name.trim_to(labels);
            if let Some(records) = self.nodes.get(&part)
                && let Some(found) = self.delegation(&part, records, name, qtype)
            {
                return Some(found);
            }
        }
        exact.and_then(|records| self.delegation(name, records, name, qtype))
    }

    /// A and AAAA records of NS targets inside the NS owner's name (CoreDNS's glue).
    fn glue(&self, ns: &[Record]) -> Vec<Record> {
        let mut glue = Vec::new();
        for record in ns {
            let RData::NS(ref target) = record.data else {
                continue;
            };
            let target = target.0.to_lowercase();
            if record.name.zone_of(&target) {
                glue.extend(self.addresses(&target));
            }
        }
        glue
    }

    /// Addresses of in-zone MX, SRV, SVCB and HTTPS targets, each target once.
    fn additional(&self, answers: &[Record]) -> Vec<Record> {
        let mut seen: Vec<Name> = Vec::new();
        let mut extra = Vec::new();
        for record in answers {
            let target = match &record.data {
                RData::MX(mx) => &mx.exchange,
                RData::SRV(srv) => &srv.target,
                RData::SVCB(svcb) => &svcb.target_name,
                RData::HTTPS(https) => &https.0.target_name,
                _ => continue,
            };
            let target = target.to_lowercase();
            if !self.origin.zone_of(&target) || seen.contains(&target) {
                continue;
            }
            extra.extend(self.addresses(&target));
            seen.push(target);
        }
        extra
    }

    /// The A records of `name`, then its AAAA records.
    fn addresses(&self, name: &Name) -> Vec<Record> {
        let Some(records) = self.nodes.get(name) else {
            return Vec::new();
        };
        let mut out = of_type(records, RecordType::A);
        out.extend(of_type(records, RecordType::AAAA));
        out
    }

    /// Some name strictly below `name` is in the zone.
    fn has_descendant(&self, name: &Name) -> bool {
        self.nodes
            .range((Bound::Excluded(name), Bound::Unbounded))
            .next()
            .is_some_and(|(below, _)| name.zone_of(below))
    }

    /// An empty non-terminal between the wildcard's parent and `qname` is a closer encloser,
    /// so the wildcard does not apply (RFC 4592 §2.2.1).
    fn closer_empty_non_terminal(&self, qname: &Name, wildcard: &Name) -> bool {
        let parent = wildcard.base_name();
        let parent_labels = labels(&parent);
        let qname_labels = labels(qname);
        (parent_labels + 1..qname_labels).any(|labels| self.has_descendant(&qname.trim_to(labels)))
    }
}

/// Labels of `name`, a leading `*` counted (hickory-proto's `num_labels` skips it).
fn labels(name: &Name) -> usize {
    name.iter().count()
}

fn of_type(records: &[Record], rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .cloned()
        .collect()
}

fn cname_target(record: &Record) -> Option<&Name> {
    match &record.data {
        RData::CNAME(target) => Some(&target.0),
        _ => None,
    }
}

/// Lowercases what CoreDNS lowercases when it stores a record.
fn normalise(record: &mut Record) {
    if record.record_type() != RecordType::SRV {
        record.name = record.name.to_lowercase();
    }
    match &mut record.data {
        RData::NS(target) => target.0 = target.0.to_lowercase(),
        RData::CNAME(target) => target.0 = target.0.to_lowercase(),
        RData::MX(mx) => mx.exchange = mx.exchange.to_lowercase(),
        RData::SVCB(svcb) => svcb.target_name = svcb.target_name.to_lowercase(),
        RData::HTTPS(https) => https.0.target_name = https.0.target_name.to_lowercase(),
        RData::SOA(soa) => {
            soa.mname = soa.mname.to_lowercase();
            soa.rname = soa.rname.to_lowercase();
        }
        _ => {}
    }
}
