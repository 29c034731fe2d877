//! Record synthesis: (snapshot, question) -> answer. Pure; the rules are docs/records.md.

use std::collections::BTreeSet;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record};

/// How pod records are answered (`pods` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodMode {
    #[default]
    Disabled,
    Insecure,
    Verified,
}

/// The options of the `kubernetes` plugin that shape answers.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordOptions {
    /// Zones this block is authoritative for, lowercase FQDNs, in Corefile order; the first
    /// is the primary zone (PTR targets use it).
    pub zones: Vec<Name>,
    /// `ttl` (CoreDNS default 5, range 0..=3600).
    pub ttl: u32,
    pub pods: PodMode,
    /// `namespaces`: when non-empty, only these namespaces are exposed.
    pub namespaces: BTreeSet<String>,
    /// `endpoint_pod_names`.
    pub endpoint_pod_names: bool,
    /// `ignore empty_service`.
    pub ignore_empty_service: bool,
    /// `noendpoints`: no endpoint records (headless services and endpoint names go dark).
    pub noendpoints: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            ttl: 5,
            pods: PodMode::Disabled,
            namespaces: BTreeSet::new(),
            endpoint_pod_names: false,
            ignore_empty_service: false,
            noendpoints: false,
        }
    }
}

/// What the kubernetes plugin answers for one question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// NoError (with records, or NODATA when `answers` is empty), NXDomain (a name error: the
    /// handler may fall through), Refused (zone transfers).
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}
pub fn answer(
    _s: &super::Snapshot,
    _o: &RecordOptions,
    _q: &hickory_proto::op::Query,
    _n: &[std::net::IpAddr],
) -> Option<Answer> {
    None
}
