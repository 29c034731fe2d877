//! `autopath [ZONE...] RESOLV-CONF`: answers a pod's whole search-path walk in one round trip.
//!
//! A pod asking `web.default.svc.cluster.local` first (its resolver appends the first search
//! domain) gets, in one answer, what the first search candidate that exists resolves to, with a
//! CNAME from the name it asked. The search path comes from `@kubernetes` (the client pod's
//! namespace, found by its address with `pods verified`, then the host's search domains) or from
//! a resolv.conf file.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record};
use std::sync::LazyLock;

use prometheus::{IntCounter, IntCounterVec, Opts};

use crate::cluster::SnapshotStore;
use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, zone_arg};
use crate::plugin::{Answered, Next, Plugin, Serving};
use crate::wire::name::label_count;

const PLUGIN: &str = "autopath";

/// Where the search path comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchSource {
    /// `@kubernetes`: the kubernetes plugin of the same server block.
    Kubernetes,
    /// A resolv.conf file's search domains (read at setup), then the bare name.
    Fixed(Vec<Name>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AutopathConfig {
    pub zones: Vec<Name>,
    pub source: SearchSource,
}

pub fn parse(directive: &Directive, block_zones: &[Name]) -> Result<AutopathConfig, SetupError> {
    let err = |loc, msg: String| SetupError::new(PLUGIN, loc, msg);
    let Some((resolv, zones)) = directive.args.split_last() else {
        return Err(err(
            &directive.location,
            "autopath needs RESOLV-CONF (a file or @kubernetes)".into(),
        ));
    };
    if !directive.block.is_empty() {
        return Err(err(&directive.location, "autopath takes no block".into()));
    }
    let zones = if zones.is_empty() {
        block_zones.to_vec()
    } else {
        zones
            .iter()
            .map(|z| zone_arg(PLUGIN, z))
            .collect::<Result<_, _>>()?
    };
    let source = match resolv.value.strip_prefix('@') {
        Some("kubernetes") => SearchSource::Kubernetes,
        Some(other) => {
            return Err(err(
                &resolv.location,
                format!("plugin {other:?} does not provide a search path (only @kubernetes)"),
            ));
        }
        None => {
            let text = std::fs::read_to_string(&resolv.value)
                .map_err(|e| err(&resolv.location, format!("{}: {e}", resolv.value)))?;
            SearchSource::Fixed(search_domains(&text))
        }
    };
    Ok(AutopathConfig { zones, source })
}

/// The `search` (or `domain`) domains of a resolv.conf text, as FQDNs; the last line wins, as
/// in the C resolver.
pub fn search_domains(resolv_conf: &str) -> Vec<Name> {
    let mut domains = Vec::new();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        if let Some("search" | "domain") = words.next() {
            domains = words
                .filter_map(|w| Name::from_ascii(w).ok())
                .map(|mut n| {
                    n.set_fqdn(true);
                    n.to_lowercase()
                })
                .collect();
        }
    }
    domains
}

/// The search path CoreDNS's kubernetes plugin gives a pod in `namespace` asking under `zone`:
/// `<ns>.svc.<zone>`, `svc.<zone>`, `<zone>`, the host's search domains, then the bare name
/// (the root).
pub fn kubernetes_search_path(namespace: &str, zone: &Name, host_search: &[Name]) -> Vec<Name> {
    let mut path = Vec::with_capacity(4 + host_search.len());
    let svc = Name::from_labels([&b"svc"[..]]).and_then(|svc| svc.append_domain(zone));
    let ns = Name::from_labels([namespace.as_bytes(), b"svc"]).and_then(|n| n.append_domain(zone));
    if let (Ok(ns), Ok(svc)) = (ns, svc) {
        path.push(ns);
        path.push(svc);
        path.push(zone.clone());
    }
    path.extend(host_search.iter().cloned());
    path.push(Name::root());
    path
}

/// The part of `qname` before `suffix` (keeping the client's case), when `qname` is strictly
/// under `suffix`: CoreDNS's TrimZone after firstInSearchPath.
pub fn base_name(qname: &Name, suffix: &Name) -> Option<Name> {
    let (labels, suffix_labels) = (label_count(qname), label_count(suffix));
    if !suffix.zone_of(qname) || labels <= suffix_labels {
        return None;
    }
    let keep = labels - suffix_labels;
    Name::from_labels(qname.iter().take(keep)).ok()
}

/// CoreDNS's cnamer: a CNAME from the name asked to the owner of the first answer record that
/// has another name, put first; the question is the one asked.
pub fn cname_to_original(response: &mut Message, original: &Name) {
    if let Some(target) = response.answers.iter().find(|r| r.name != *original) {
        let cname = Record::from_rdata(
            original.clone(),
            target.ttl,
            RData::CNAME(CNAME(target.name.clone())),
        );
        response.answers.insert(0, cname);
    }
    if let Some(q) = response.queries.first_mut() {
        q.set_name(original.clone());
    }
}

static SUCCESSES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    let vec = IntCounterVec::new(
        Opts::new(
            "coredns_autopath_success_total",
            "Counter of requests that did autopath.",
        ),
        &["server"],
    )
    .ok()?;
    prometheus::register(Box::new(vec.clone())).ok()?;
    Some(vec)
});

/// The success counter of the server `server` (CoreDNS's `dns://:53` form).
pub fn success_counter(server: &str) -> Option<IntCounter> {
    SUCCESSES
        .as_ref()
        .and_then(|v| v.get_metric_with_label_values(&[server]).ok())
}

/// What `@kubernetes` needs from the kubernetes plugin of the block.
#[derive(Clone)]
pub struct KubernetesSearch {
    pub store: Arc<SnapshotStore>,
    pub zones: Vec<Name>,
    /// `pods verified`: only then are pods known by address.
    pub pods_verified: bool,
    /// The server host's resolv.conf search domains.
    pub host_search: Vec<Name>,
}

impl KubernetesSearch {
    fn path(&self, qname: &Name, client: IpAddr) -> Vec<Name> {
        if !self.pods_verified {
            return Vec::new();
        }
        let Some(zone) = self.zones.iter().find(|z| z.zone_of(qname)) else {
            return Vec::new();
        };
        let snapshot = self.store.load();
        let Some(pod) = snapshot.pods_by_ip(&client).first() else {
            return Vec::new();
        };
        kubernetes_search_path(&pod.namespace, zone, &self.host_search)
    }
}

pub enum Search {
    Kubernetes(KubernetesSearch),
    Fixed(Vec<Name>),
}

pub struct AutopathPlugin {
    pub zones: Vec<Name>,
    pub search: Search,
    /// `coredns_autopath_success_total{server}` for this block's server.
    pub successes: Option<IntCounter>,
}

impl Plugin for AutopathPlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let ours = request
            .queries
            .first()
            .is_some_and(|q| self.zones.iter().any(|z| z.zone_of(q.name())));
        if !ours {
            return next.run(request);
        }
        Serving::pending(self.walk(request, next))
    }
}

impl AutopathPlugin {
    /// Asks the rest of the chain each candidate of the search path in turn.
    async fn walk(&self, request: &Message, next: Next<'_>) -> Answered {
        let Some(qname) = request.queries.first().map(|q| q.name().clone()) else {
            return next.run(request).await;
        };
        if !self.zones.iter().any(|z| z.zone_of(&qname)) {
            return next.run(request).await;
        }
        let path = match &self.search {
            Search::Kubernetes(k) => k.path(&qname, next.info.src.ip()),
            Search::Fixed(domains) => {
                let mut p = domains.clone();
                p.push(Name::root());
                p
            }
        };
        let Some(base) = path.first().and_then(|first| base_name(&qname, first)) else {
            return next.run(request).await;
        };
        let mut first: Option<Answered> = None;
        for suffix in &path {
            let Ok(candidate) = base.clone().append_domain(suffix) else {
                continue;
            };
            let mut asked = request.clone();
            if let Some(q) = asked.queries.first_mut() {
                q.set_name(candidate);
            }
            let mut answered = next.run(&asked).await;
            let rcode = answered.response.metadata.response_code;
            if first.is_none() {
                first = Some(Answered {
                    response: answered.response.clone(),
                    plugin: answered.plugin,
                    error: answered.error.clone(),
                    silent: answered.silent,
                    encoded: answered.encoded.clone(),
                });
            }
            // Errors the client never saw written, and name errors, try the next candidate.
            if matches!(
                rcode,
                ResponseCode::ServFail
                    | ResponseCode::Refused
                    | ResponseCode::FormErr
                    | ResponseCode::NotImp
                    | ResponseCode::NXDomain
            ) {
                continue;
            }
            cname_to_original(&mut answered.response, &qname);
            if let Some(c) = &self.successes {
                c.inc();
            }
            return answered;
        }
        match first {
            Some(mut answered) => {
                if let Some(q) = answered.response.queries.first_mut() {
                    q.set_name(qname);
                }
                answered
            }
            None => next.run(request).await,
        }
    }
}

/// `autopath @kubernetes` takes its search path from the block's kubernetes plugin: its zones
/// and whether pods are known by address.
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d, setup.zones)?;
        let search = match config.source {
            SearchSource::Fixed(domains) => Search::Fixed(domains),
            SearchSource::Kubernetes => {
                let records =
                    crate::plugins::kubernetes::block_records(setup, d, "@kubernetes needs")?;
                Search::Kubernetes(KubernetesSearch {
                    store: setup.deps.store.clone(),
                    zones: records.zones,
                    pods_verified: records.pods == crate::cluster::records::PodMode::Verified,
                    host_search: setup.deps.host_search.clone(),
                })
            }
        };
        setup.add(AutopathPlugin {
            zones: config.zones,
            search,
            successes: success_counter(setup.server),
        });
    }
    Ok(())
}
