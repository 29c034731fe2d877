//! A parsed Corefile -> the routers that serve it, one per listening address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::cluster::SnapshotStore;
use crate::corefile::{Corefile, CorefileError, PLUGIN_ORDER, check_plugins};
use crate::plugins::chain::{Plugin, PluginChain, Router, ServerBlock};
use crate::plugins::metrics::{self, server_label, vars};
use crate::plugins::ready::{Readiness, ReadyCheck};
use crate::plugins::setup::{HttpAddr, SetupError};
use crate::plugins::{
    autopath, bind, cache, errors, forward, health, hosts, kubernetes, loadbalance, log,
    loop_detect, ready, reload, rewrite,
};
use crate::server::http::{HttpPlan, Site};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Corefile(#[from] CorefileError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{location}: zone {zone} on port {port} is already served by another server block")]
    DuplicateZone {
        location: crate::corefile::Location,
        zone: String,
        port: u16,
    },
    #[error("{location}: plugin {plugin:?} appears twice in one server block")]
    DuplicatePlugin {
        location: crate::corefile::Location,
        plugin: String,
    },
}

/// What the plugins need from the process.
pub struct Dependencies {
    pub store: Arc<SnapshotStore>,
    /// This server's own addresses (e.g. the pod IP): `ns.dns.<zone>` answers with them.
    pub local_ips: Vec<IpAddr>,
    /// The address listeners bind (all interfaces by default, as CoreDNS does).
    pub listen_ip: IpAddr,
    /// The search domains of this host's resolv.conf (`autopath @kubernetes` appends them).
    pub host_search: Vec<hickory_proto::rr::Name>,
}

impl Dependencies {
    pub fn new(store: Arc<SnapshotStore>) -> Self {
        Self {
            store,
            local_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_search: Vec::new(),
        }
    }
}

/// Builds one router per listening address: a block listens on every interface at its keys'
/// ports, or only on its `bind` addresses; blocks sharing an address share its listener, as
/// in CoreDNS. A block bound to several addresses serves one chain (one cache) on all of them.
pub fn build(corefile: &Corefile, deps: &Dependencies) -> Result<Vec<Router>, BuildError> {
    check_plugins(corefile)?;
    let mut by_addr: BTreeMap<SocketAddr, Vec<ServerBlock>> = BTreeMap::new();
    let mut seen: BTreeMap<(SocketAddr, String), ()> = BTreeMap::new();
    for block in &corefile.blocks {
        let listen_ips = listen_ips(block, deps)?;
        let mut ports: BTreeMap<u16, Vec<hickory_proto::rr::Name>> = BTreeMap::new();
        for key in &block.keys {
            for ip in &listen_ips {
                let addr = SocketAddr::new(*ip, key.port);
                if seen.insert((addr, key.zone.to_string()), ()).is_some() {
                    return Err(BuildError::DuplicateZone {
                        location: block.location.clone(),
                        zone: key.zone.to_string(),
                        port: key.port,
                    });
                }
            }
            ports.entry(key.port).or_default().push(key.zone.clone());
        }
        for (port, zones) in ports {
            let first = SocketAddr::new(listen_ips[0], port);
            let server = metrics::server_label(first);
            let chain = Arc::new(build_chain(block, &zones, &server, deps)?);
            for ip in &listen_ips {
                let addr = SocketAddr::new(*ip, port);
                if chain.prometheus.is_some() {
                    enable_metrics(addr, &zones, &chain);
                }
                by_addr.entry(addr).or_default().push(ServerBlock {
                    zones: zones.clone(),
                    chain: chain.clone(),
                });
            }
        }
    }
    Ok(by_addr
        .into_iter()
        .map(|(addr, blocks)| Router::new(addr, blocks))
        .collect())
}

/// The block's `bind` addresses, or the process's listen address when it has none.
fn listen_ips(
    block: &crate::corefile::ServerBlock,
    deps: &Dependencies,
) -> Result<Vec<IpAddr>, BuildError> {
    let binds: Vec<&crate::corefile::Directive> = block
        .directives
        .iter()
        .filter(|d| d.name == "bind")
        .collect();
    if binds.is_empty() {
        return Ok(vec![deps.listen_ip]);
    }
    Ok(bind::parse(&binds, &bind::interface_addrs)?.addrs)
}

fn build_chain(
    block: &crate::corefile::ServerBlock,
    zones: &[hickory_proto::rr::Name],
    server: &str,
    deps: &Dependencies,
) -> Result<PluginChain, BuildError> {
    let mut chain = PluginChain {
        plugins: Vec::new(),
        log: None,
        errors: None,
        prometheus: None,
    };
    let mut names = std::collections::BTreeSet::new();
    let mut autopath_config = None;
    for d in &block.directives {
        // log, rewrite and bind may repeat (several rules, several lines); the rest appear once
        // per block.
        if d.name != "log"
            && d.name != "rewrite"
            && d.name != "bind"
            && !names.insert(d.name.clone())
        {
            return Err(BuildError::DuplicatePlugin {
                location: d.location.clone(),
                plugin: d.name.clone(),
            });
        }
        match d.name.as_str() {
            "kubernetes" => {
                let config = kubernetes::parse(d, zones)?;
                let plugin = kubernetes::KubernetesPlugin::new(
                    config,
                    deps.store.clone(),
                    deps.local_ips.clone(),
                );
                chain.plugins.push(Plugin::Kubernetes(Box::new(plugin)));
            }
            "hosts" => {
                let plugin = hosts::HostsPlugin::new(hosts::parse(d, zones)?);
                plugin.watch();
                chain.plugins.push(Plugin::Hosts(plugin));
            }
            // Each `rewrite` line adds a rule to the block's one rewrite plugin.
            "rewrite" => {
                let rule = rewrite::parse(d)?;
                match chain.plugins.iter_mut().find_map(|p| match p {
                    Plugin::Rewrite(rules) => Some(rules),
                    _ => None,
                }) {
                    Some(rules) => rules.0.push(rule),
                    None => chain
                        .plugins
                        .push(Plugin::Rewrite(rewrite::Rules(vec![rule]))),
                }
            }
            "cache" => {
                let config = cache::parse(d, zones)?;
                chain
                    .plugins
                    .push(Plugin::Cache(cache::CachePlugin::new(config, server)));
            }
            "loadbalance" => {
                let plugin = loadbalance::parse(d)?;
                plugin.watch();
                chain.plugins.push(Plugin::LoadBalance(plugin));
            }
            "forward" => {
                let config = forward::parse(d)?;
                chain
                    .plugins
                    .push(Plugin::Forward(forward::ForwardPlugin::new(config)));
            }
            "loop" => {
                loop_detect::parse(d)?;
                let zone = zones
                    .first()
                    .cloned()
                    .unwrap_or_else(hickory_proto::rr::Name::root);
                chain
                    .plugins
                    .push(Plugin::Loop(Arc::new(loop_detect::LoopPlugin::new(zone))));
            }
            "log" => {
                let parsed = log::parse(d)?;
                match &mut chain.log {
                    Some(existing) => existing.rules.extend(parsed.rules),
                    None => chain.log = Some(parsed),
                }
            }
            "autopath" => autopath_config = Some((autopath::parse(d, zones)?, d.location.clone())),
            "errors" => {
                let config = errors::parse(d)?;
                chain.errors = Some(Arc::new(errors::ErrorsPlugin::new(&config, &d.location)?));
            }
            "prometheus" => chain.prometheus = Some(metrics::parse(d)?),
            // Listeners, not chain plugins: checked here, served from `observability`.
            "health" => {
                health::parse(d)?;
            }
            "ready" => {
                ready::parse(d)?;
            }
            // Listeners, not chain plugins: read by `listen_ips`.
            "bind" => {}
            // The process's, not the chain's: run by the binary (reload::config).
            "reload" => {
                reload::parse(d)?;
            }
            // check_plugins let only supported plugins through.
            _ => {}
        }
    }
    if let Some((config, location)) = autopath_config {
        let plugin = autopath_plugin(config, &location, &chain, server, deps)?;
        chain.plugins.push(Plugin::Autopath(plugin));
    }
    // CoreDNS's plugin.cfg order, whatever the Corefile's order.
    chain
        .plugins
        .sort_by_key(|p| PLUGIN_ORDER.iter().position(|n| *n == p.name()));
    Ok(chain)
}

/// `autopath @kubernetes` takes its search path from the block's kubernetes plugin.
fn autopath_plugin(
    config: autopath::AutopathConfig,
    location: &crate::corefile::Location,
    chain: &PluginChain,
    server: &str,
    deps: &Dependencies,
) -> Result<autopath::AutopathPlugin, BuildError> {
    let search = match config.source {
        autopath::SearchSource::Fixed(domains) => autopath::Search::Fixed(domains),
        autopath::SearchSource::Kubernetes => {
            let kubernetes = chain.plugins.iter().find_map(|p| match p {
                Plugin::Kubernetes(k) => Some(k),
                _ => None,
            });
            let Some(kubernetes) = kubernetes else {
                return Err(SetupError::new(
                    "autopath",
                    location,
                    "@kubernetes needs a kubernetes plugin in the same server block",
                )
                .into());
            };
            let records = &kubernetes.config().records;
            autopath::Search::Kubernetes(autopath::KubernetesSearch {
                store: deps.store.clone(),
                zones: records.zones.clone(),
                pods_verified: records.pods == crate::cluster::records::PodMode::Verified,
                host_search: deps.host_search.clone(),
            })
        }
    };
    Ok(autopath::AutopathPlugin {
        zones: config.zones,
        search,
        successes: autopath::success_counter(server),
    })
}

/// `coredns_plugin_enabled` for a block with `prometheus`, per zone, as CoreDNS sets it at start.
fn enable_metrics(addr: SocketAddr, zones: &[hickory_proto::rr::Name], chain: &PluginChain) {
    vars::init();
    let server = server_label(addr);
    for zone in zones {
        let zone = zone.to_string();
        for name in chain.handler_names() {
            vars::PLUGIN_ENABLED
                .with_label_values(&[server.as_str(), zone.as_str(), "", name])
                .set(1);
        }
    }
}

/// The HTTP side of a Corefile: one [`Site`] per address that `health`, `ready` or
/// `prometheus` name (blocks naming the same address share it, as CoreDNS's do), the
/// readiness of the plugins in blocks with `ready`, and the longest `lameduck`.
pub fn observability(corefile: &Corefile, deps: &Dependencies) -> Result<HttpPlan, BuildError> {
    check_plugins(corefile)?;
    let mut sites: BTreeMap<HttpAddr, Site> = BTreeMap::new();
    let mut lameduck = std::time::Duration::ZERO;
    let mut monitor = ready::Monitor::default();
    let mut ready_names: Vec<&'static str> = Vec::new();
    let mut ready_addrs: Vec<HttpAddr> = Vec::new();
    for block in &corefile.blocks {
        let has_ready = block.directives.iter().any(|d| d.name == "ready");
        for d in &block.directives {
            let (addr, plugin) = match d.name.as_str() {
                "health" => {
                    let config = health::parse(d)?;
                    lameduck = lameduck.max(config.lameduck);
                    (config.addr, "health")
                }
                "ready" => {
                    let config = ready::parse(d)?;
                    // CoreDNS keeps one monitor mode for the process: the last block's.
                    monitor = config.monitor;
                    ready_addrs.push(config.addr.clone());
                    (config.addr, "ready")
                }
                "prometheus" => (metrics::parse(d)?.addr, "prometheus"),
                "kubernetes" if has_ready => {
                    ready_names.push("kubernetes");
                    continue;
                }
                _ => continue,
            };
            let site = sites.entry(addr.clone()).or_insert_with(|| Site::new(addr));
            if !site.plugins.contains(&plugin) {
                site.plugins.push(plugin);
            }
        }
    }
    let mut readiness = Readiness::new(monitor);
    for name in ready_names {
        // Every kubernetes plugin reads the one store, so one entry answers for all.
        readiness.add(name, ReadyCheck::Synced(deps.store.clone()));
    }
    let readiness = Arc::new(readiness);
    for addr in ready_addrs {
        if let Some(site) = sites.get_mut(&addr) {
            site.ready = Some(readiness.clone());
        }
    }
    Ok(HttpPlan {
        sites: sites.into_values().collect(),
        lameduck,
    })
}
