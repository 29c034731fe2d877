//! Serving side of the `kubernetes` plugin: snapshot + question -> response, fallthrough.

use std::net::IpAddr;
use std::sync::{Arc, Weak};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{KubernetesConfig, memo};
use crate::cluster::records;
use crate::cluster::{Snapshot, SnapshotStore};
use crate::corefile::Directive;
use crate::plugin::readiness::ReadyCheck;
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::transfer::Transferer;
use crate::plugin::upstream::Upstream;
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::encoded::{EncodedSections, Prebuilt};
use crate::wire::reply_to;

/// The `kubernetes` plugin as it serves: its config and the store it reads snapshots from.
pub struct KubernetesPlugin {
    config: KubernetesConfig,
    store: Arc<SnapshotStore>,
    /// Addresses this server listens on; `ns.dns.<zone>` answers with the cluster IPs of the
    /// services these addresses are endpoints of, or with the addresses themselves.
    local_ips: Vec<IpAddr>,
    /// Resolves an ExternalName target outside the plugin's zones through this server.
    upstream: Option<Arc<Upstream>>,
    /// This plugin among every one the process built (the memo's owner).
    id: u64,
}

impl KubernetesPlugin {
    pub fn new(
        config: KubernetesConfig,
        store: Arc<SnapshotStore>,
        local_ips: Vec<IpAddr>,
    ) -> Self {
        Self {
            config,
            store,
            local_ips,
            upstream: None,
            id: memo::plugin_id(),
        }
    }

    /// Appends the records of an ExternalName target outside the zones, asked of `upstream`.
    pub fn with_upstream(mut self, upstream: Arc<Upstream>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    pub fn config(&self) -> &KubernetesConfig {
        &self.config
    }

    /// The response for `request`, or `None` to pass it to the next plugin (not our zone, or
    /// a name error that `fallthrough` covers).
    pub fn resolve(&self, request: &Message) -> Option<Message> {
        self.resolve_in(&self.store.read(), request)
    }

    /// [`KubernetesPlugin::resolve`] from `snapshot`.
    fn resolve_in(&self, snapshot: &Snapshot, request: &Message) -> Option<Message> {
        let query = request.queries.first()?;
        let ns_addrs = || ns_addrs(snapshot, &self.local_ips);
        let answer = records::answer(snapshot, &self.config.records, query, &ns_addrs)?;
        if answer.rcode == ResponseCode::NXDomain {
            if self.config.fallthrough.through(query.name()) {
                return None;
            }
            if !self.store.is_synced() {
                // Serving began on startup_timeout before the first full list: the name may
                // exist but not be here yet, and resolvers would cache a denial. CoreDNS
                // answers SERVFAIL in this case too.
                return Some(reply_to(request, ResponseCode::ServFail));
            }
        }
        Some(answer.into_response(request))
    }
}

impl Plugin for KubernetesPlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let remembering = next.may_send_encoded() && self.store.is_synced();
        if let (true, Some(query)) = (remembering, request.queries.first())
            && let Some(key) = memo::key(query)
        {
            return self.serve_remembered(request, query, key, next);
        }
        let Some(response) = self.resolve(request) else {
            return next.run(request);
        };
        self.serve_response(response, next)
    }
}

impl KubernetesPlugin {
    /// An answer this thread worked out from the current snapshot already, copied; or worked
    /// out now and remembered, when it needs nothing beyond the snapshot (no upstream lookup).
    fn serve_remembered<'a>(
        &'a self,
        request: &'a Message,
        query: &Query,
        key: memo::Key,
        next: Next<'a>,
    ) -> Serving<'a> {
        let snapshot = self.store.read();
        let generation = snapshot.generation();
        if let Some(known) = memo::recall(self.id, generation, &key) {
            let records = Prebuilt {
                sections: known.sections.clone(),
                ttl: None,
            };
            let header = records::response_header(request, known.rcode);
            return Serving::ready(next.answered_encoded(header, records));
        }
        let Some(mut response) = self.resolve_in(&snapshot, request) else {
            return next.run(request);
        };
        if self.upstream.is_some()
            && external_target(&response, &self.config.records.zones).is_some()
        {
            return self.serve_response(response, next);
        }
        let sections = Arc::new(EncodedSections::new(
            Some(query),
            std::mem::take(&mut response.answers),
            std::mem::take(&mut response.authorities),
            std::mem::take(&mut response.additionals),
        ));
        let known = memo::Remembered {
            rcode: response.metadata.response_code,
            sections: sections.clone(),
        };
        memo::remember(self.id, generation, key, Arc::new(known));
        let records = Prebuilt {
            sections,
            ttl: None,
        };
        Serving::ready(next.answered_encoded(response, records))
    }

    /// `response`, with an ExternalName target outside the zones looked up first.
    fn serve_response<'a>(&'a self, response: Message, next: Next<'a>) -> Serving<'a> {
        let (Some(upstream), Some((target, rtype))) = (
            &self.upstream,
            external_target(&response, &self.config.records.zones),
        ) else {
            return Serving::ready(next.answered_here(response));
        };
        Serving::pending(async move {
            let mut response = response;
            // As CoreDNS: the target's answers when the lookup gives any, else the CNAME alone.
            if let Some(found) = upstream.lookup(&target, rtype, next.info).await {
                response.answers.extend(found.answers);
            }
            next.answered_here(response)
        })
    }
}

/// The cluster zone whole for the block's `transfer` (CoreDNS's kubernetes Transfer).
impl Transferer for KubernetesPlugin {
    fn transfer(&self, zone: &Name) -> Option<Vec<Record>> {
        let snapshot = self.store.load();
        let ns_addrs = || ns_addrs(&snapshot, &self.local_ips);
        records::zone_transfer(
            &snapshot,
            &self.config.records,
            &zone.to_lowercase(),
            &ns_addrs,
        )
    }
}

/// The name and type to look up when `response` answers an A or AAAA question with a CNAME
/// chain that leaves `zones` (CoreDNS's backend lookup asks its upstream only then).
fn external_target(response: &Message, zones: &[Name]) -> Option<(Name, RecordType)> {
    let rtype = response.queries.first()?.query_type();
    if !matches!(rtype, RecordType::A | RecordType::AAAA)
        || response.metadata.response_code != ResponseCode::NoError
        || response.answers.iter().any(|r| r.record_type() == rtype)
    {
        return None;
    }
    let RData::CNAME(target) = &response.answers.last()?.data else {
        return None;
    };
    let target = target.0.clone();
    (!zones.iter().any(|z| z.zone_of(&target))).then_some((target, rtype))
}

/// The plugin reads the process's one store; it is ready once that store has synced.
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = super::parse(d, setup.zones)?;
        let store = setup.deps.store.clone();
        let zones = config.records.zones.clone();
        let pods_verified = config.records.pods == crate::cluster::records::PodMode::Verified;
        let zonal = config.records.zonal;
        let published = store.clone();
        setup.provide_metadata(std::sync::Arc::new(
            move |request: &hickory_proto::op::Message,
                  info: &crate::wire::RequestInfo,
                  values: &mut crate::plugin::metadata::Values| {
                if let Some(query) = request.queries.first() {
                    super::metadata::provide(
                        &published.load(),
                        &zones,
                        pods_verified,
                        zonal,
                        query.name(),
                        info.src.ip(),
                        values,
                    );
                }
            },
        ));
        let upstream = setup.upstream();
        let plugin = Arc::new(
            KubernetesPlugin::new(config, store.clone(), setup.deps.local_ips.clone())
                .with_upstream(upstream),
        );
        if setup.block.directives.iter().any(|d| d.name == "transfer") {
            let source: Weak<KubernetesPlugin> = Arc::downgrade(&plugin);
            setup.transfers().offer(source);
        }
        setup.add(plugin);
        setup.ready_check(ReadyCheck::Synced(store));
    }
    Ok(())
}

/// CoreDNS's nsAddrs: the cluster IPs of the services whose endpoints are this server's
/// addresses (normally kube-dns), else the addresses themselves.
pub fn ns_addrs(snapshot: &Snapshot, local_ips: &[IpAddr]) -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = local_ips
        .iter()
        .flat_map(|ip| snapshot.services_by_endpoint_ip(ip))
        .flat_map(|entry| entry.service.cluster_ips.iter().copied())
        .collect();
    if addrs.is_empty() {
        addrs = local_ips.to_vec();
    }
    addrs.sort();
    addrs.dedup();
    addrs
}
