//! A parsed Corefile -> what serves it: one router per listening address, the HTTP endpoints
//! (health, ready, metrics) and the reload policy. Knows no plugin by name: each directive
//! goes to its registry row's setup, and the chain is sorted by registry position.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;

use super::chain::{Link, PluginChain, Router, ServerBlock, passes_records_through};
use super::metrics::{server_label, vars};
use super::readiness::{Monitor, Readiness, ReadyCheck};
use super::registry::{Registration, Role, check_plugins, find};
use super::setup::{BlockSetup, HttpAddr, Note, SetupError};
use super::upstream::Upstream;
use crate::cluster::SnapshotStore;
use crate::corefile::{Corefile, CorefileError, Directive, Location};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Corefile(#[from] CorefileError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{location}: zone {zone} on port {port} is already served by another server block")]
    DuplicateZone {
        location: Location,
        zone: String,
        port: u16,
    },
    #[error("{location}: plugin {plugin:?} appears twice in one server block")]
    DuplicatePlugin { location: Location, plugin: String },
}

/// What the plugins need from the process.
pub struct Dependencies {
    pub store: Arc<SnapshotStore>,
    /// This server's own addresses (e.g. the pod IP): `ns.dns.<zone>` answers with them.
    pub local_ips: Vec<IpAddr>,
    /// The address listeners bind (all interfaces by default, as CoreDNS does).
    pub listen_ip: IpAddr,
    /// The search domains of this host's resolv.conf (`autopath @kubernetes` appends them).
    pub host_search: Vec<Name>,
    /// Listeners may bind addresses that are not on the host (yet): nodelocal's kube-dns
    /// ClusterIP, which its guard takes off the link whenever the cache stops answering, so
    /// a cache (re)starting during a fail-over would otherwise fail to bind and crash-loop.
    pub bind_nonlocal: bool,
    /// `forward` upstreams given by host name are resolved (the binaries turn it on); off,
    /// such a Corefile is refused, so tests and fuzzing never ask the host's resolver.
    pub resolve_hosts: bool,
}

impl Dependencies {
    pub fn new(store: Arc<SnapshotStore>) -> Self {
        Self {
            store,
            local_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_search: Vec::new(),
            bind_nonlocal: false,
            resolve_hosts: false,
        }
    }
}

/// What a plugin serves over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/health`; the server keeps answering for `lameduck` after a stop signal.
    Health { lameduck: Duration },
    /// `/ready`, over the readiness of the plugins in blocks that have `ready`.
    Ready { monitor: Monitor },
    /// `/metrics`.
    Metrics,
}

/// One HTTP address and what it serves.
pub struct Site {
    pub addr: HttpAddr,
    /// The plugins served here, in Corefile order: `health` (`/health`), `ready` (`/ready`),
    /// `prometheus` (`/metrics`).
    pub plugins: Vec<&'static str>,
    /// Set when `ready` is served here.
    pub ready: Option<Arc<Readiness>>,
    /// Set when the address is served over HTTPS (`prometheus { tls ... }`).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Site {
    pub fn new(addr: HttpAddr) -> Self {
        Self {
            addr,
            plugins: Vec::new(),
            ready: None,
            tls: None,
        }
    }

    pub fn serves(&self, plugin: &str) -> bool {
        self.plugins.contains(&plugin)
    }
}

/// The HTTP side of a Corefile.
pub struct HttpPlan {
    pub sites: Vec<Site>,
    /// The longest `health { lameduck }`: how long to keep serving after a stop signal.
    pub lameduck: Duration,
}

/// `reload`: re-read the Corefile every `interval`; the jitter is at most half the interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadPolicy {
    pub interval: Duration,
    pub jitter: Duration,
}

impl ReloadPolicy {
    /// The period actually used: `interval + offset` with `offset` in `[-jitter/2, jitter/2)`,
    /// chosen once from `random` (any u64), so replicas started together spread their checks.
    pub fn period(&self, random: u64) -> Duration {
        let jitter = self.jitter.as_nanos().max(1);
        let offset = u128::from(random) % jitter;
        let total = self.interval.as_nanos() + offset;
        let period = total.saturating_sub(jitter / 2);
        Duration::from_nanos(u64::try_from(period).unwrap_or(u64::MAX))
    }
}

/// What the plugins ask of the process as a whole, gathered over every block.
#[derive(Default)]
pub struct ProcessPlan {
    sites: BTreeMap<HttpAddr, Site>,
    lameduck: Duration,
    /// CoreDNS keeps one monitor mode for the process: the last block's.
    monitor: Monitor,
    ready_addrs: Vec<HttpAddr>,
    ready_checks: Vec<(&'static str, ReadyCheck)>,
    pub(crate) reload: Option<ReloadPolicy>,
    notes: Vec<Note>,
}

impl ProcessPlan {
    pub(crate) fn add_http(&mut self, addr: HttpAddr, plugin: &'static str, endpoint: Endpoint) {
        match endpoint {
            Endpoint::Health { lameduck } => self.lameduck = self.lameduck.max(lameduck),
            Endpoint::Ready { monitor } => {
                self.monitor = monitor;
                self.ready_addrs.push(addr.clone());
            }
            Endpoint::Metrics => {}
        }
        let site = self
            .sites
            .entry(addr.clone())
            .or_insert_with(|| Site::new(addr));
        if !site.serves(plugin) {
            site.plugins.push(plugin);
        }
    }

    pub(crate) fn add_https(
        &mut self,
        addr: HttpAddr,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) {
        self.sites
            .entry(addr.clone())
            .or_insert_with(|| Site::new(addr))
            .tls = Some(config);
    }

    fn http(self) -> HttpPlan {
        let mut readiness = Readiness::new(self.monitor);
        for (name, check) in self.ready_checks {
            // One entry per name (every kubernetes plugin reads the one store).
            readiness.add(name, check);
        }
        let readiness = Arc::new(readiness);
        let mut sites = self.sites;
        for addr in &self.ready_addrs {
            if let Some(site) = sites.get_mut(addr) {
                site.ready = Some(readiness.clone());
            }
        }
        HttpPlan {
            sites: sites.into_values().collect(),
            lameduck: self.lameduck,
        }
    }
}

/// A Corefile, built: nothing bound yet.
pub struct Built {
    /// One router per listening address.
    pub routers: Vec<Router>,
    pub http: HttpPlan,
    pub reload: Option<ReloadPolicy>,
    /// What the plugins accepted but do differently here (said at start).
    pub notes: Vec<Note>,
}

/// Builds a Corefile with the plugins of `registry`. A block listens on every interface at its
/// keys' ports, or only on the addresses its listen plugin (`bind`) names; blocks sharing an
/// address share its listener, as in CoreDNS. A block bound to several addresses serves one
/// chain (one cache) on all of them.
pub fn build(
    corefile: &Corefile,
    deps: &Dependencies,
    registry: &[Registration],
) -> Result<Built, BuildError> {
    check_plugins(corefile, registry)?;
    let mut process = ProcessPlan::default();
    let mut by_addr: BTreeMap<SocketAddr, Vec<ServerBlock>> = BTreeMap::new();
    let mut seen: BTreeMap<(SocketAddr, String), ()> = BTreeMap::new();
    let mut upstreams: Vec<(SocketAddr, Arc<Upstream>)> = Vec::new();
    for block in &corefile.blocks {
        let directives = by_plugin(block, registry)?;
        let listen_ips = listen_ips(&directives, deps)?;
        let mut ports: BTreeMap<u16, Vec<Name>> = BTreeMap::new();
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
            let server = server_label(SocketAddr::new(listen_ips[0], port));
            let (chain, upstream) =
                build_chain(block, &directives, &zones, &server, deps, &mut process)?;
            let chain = Arc::new(chain);
            if let Some(upstream) = upstream {
                upstreams.push((SocketAddr::new(listen_ips[0], port), upstream));
            }
            for ip in &listen_ips {
                let addr = SocketAddr::new(*ip, port);
                if chain.counted {
                    enable_metrics(addr, &zones, &chain);
                }
                by_addr.entry(addr).or_default().push(ServerBlock {
                    zones: zones.clone(),
                    chain: chain.clone(),
                });
            }
        }
    }
    // A block asking its server (upstream) asks the blocks of its first listening address.
    for (addr, upstream) in upstreams {
        let routes = by_addr
            .get(&addr)
            .into_iter()
            .flatten()
            .flat_map(|b| {
                b.zones
                    .iter()
                    .map(|z| (z.to_lowercase(), Arc::downgrade(&b.chain)))
            })
            .collect();
        upstream.fill(routes);
    }
    let reload = process.reload;
    let notes = std::mem::take(&mut process.notes);
    Ok(Built {
        notes,
        routers: by_addr
            .into_iter()
            .map(|(addr, blocks)| Router::new(addr, blocks))
            .collect(),
        http: process.http(),
        reload,
    })
}

/// A block's directives grouped by plugin, in the order each plugin first appears, with its
/// registry row and place; a second line of a plugin that does not repeat is an error.
type Grouped<'c, 'r> = Vec<(usize, &'r Registration, Vec<&'c Directive>)>;

fn by_plugin<'c, 'r>(
    block: &'c crate::corefile::ServerBlock,
    registry: &'r [Registration],
) -> Result<Grouped<'c, 'r>, BuildError> {
    let mut grouped: Grouped<'c, 'r> = Vec::new();
    for d in &block.directives {
        // check_plugins let only registered names through.
        let Some((order, row)) = find(registry, &d.name) else {
            continue;
        };
        match grouped.iter_mut().find(|(o, _, _)| *o == order) {
            Some((_, row, lines)) => {
                if !row.repeats {
                    return Err(BuildError::DuplicatePlugin {
                        location: d.location.clone(),
                        plugin: d.name.clone(),
                    });
                }
                lines.push(d);
            }
            None => grouped.push((order, row, vec![d])),
        }
    }
    Ok(grouped)
}

/// The addresses the block's listen plugin names, or the process's listen address.
fn listen_ips(
    directives: &Grouped<'_, '_>,
    deps: &Dependencies,
) -> Result<Vec<IpAddr>, BuildError> {
    let mut ips = Vec::new();
    for (_, row, lines) in directives {
        if let Role::Listen(listen) = row.role {
            ips.extend(listen(lines)?);
        }
    }
    if ips.is_empty() {
        ips.push(deps.listen_ip);
    }
    Ok(ips)
}

fn build_chain(
    block: &crate::corefile::ServerBlock,
    directives: &Grouped<'_, '_>,
    zones: &[Name],
    server: &str,
    deps: &Dependencies,
    process: &mut ProcessPlan,
) -> Result<(PluginChain, Option<Arc<Upstream>>), BuildError> {
    let mut setup = block_setup(block, zones, server, deps, process);
    for (order, row, lines) in directives {
        if let Role::Setup(run) = row.role {
            setup.current = (row.name, *order);
            run(&mut setup, lines)?;
        }
    }
    let BlockSetup {
        mut chain,
        mut enabled,
        counted,
        on_startup,
        ready_checks,
        serves_ready,
        process,
        notes,
        limits,
        timeouts,
        upstream,
        metadata_providers,
        metadata,
        ..
    } = setup;
    if let Some(slot) = metadata {
        let _ = slot.set(metadata_providers);
    }
    process.notes.extend(notes);
    if serves_ready {
        process.ready_checks.extend(ready_checks);
    }
    // The registry's order (CoreDNS's plugin.cfg), whatever the Corefile's order.
    chain.sort_by_key(|(order, _)| *order);
    enabled.sort_by_key(|(order, _)| *order);
    enabled.dedup();
    let plugins: Vec<Link> = chain.into_iter().map(|(_, link)| link).collect();
    let chain = PluginChain {
        leaves_records_alone: plugins
            .iter()
            .take_while(|l| passes_records_through(l.name))
            .count(),
        plugins,
        counted,
        enabled: enabled.into_iter().map(|(_, name)| name).collect(),
        on_startup,
        limits,
        timeouts,
    };
    Ok((chain, upstream))
}

fn block_setup<'a>(
    block: &'a crate::corefile::ServerBlock,
    zones: &'a [Name],
    server: &'a str,
    deps: &'a Dependencies,
    process: &'a mut ProcessPlan,
) -> BlockSetup<'a> {
    BlockSetup {
        block,
        zones,
        server,
        deps,
        current: ("", 0),
        chain: Vec::new(),
        enabled: Vec::new(),
        counted: false,
        on_startup: Vec::new(),
        ready_checks: Vec::new(),
        serves_ready: false,
        process,
        notes: Vec::new(),
        limits: crate::wire::Limits::default(),
        timeouts: Default::default(),
        metadata_providers: Vec::new(),
        metadata: None,
        upstream: None,
        transfers: None,
    }
}

/// How one part of a Corefile fares here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Supported,
    /// Accepted, but does not do here what it does in CoreDNS: why, and what instead.
    Ignored(String),
    /// The Corefile does not start: why.
    Refused(String),
}

/// One line of a check: a server block or a plugin, where it is written, and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub location: Location,
    /// `server block .:53 example.org:53`, `plugin forward`, `option ...`.
    pub what: String,
    pub verdict: Verdict,
}

/// A Corefile checked part by part (`cluster-dns check`): every server block and plugin line,
/// supported, accepted but ignored, or refused, with the reason and its place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub lines: Vec<Checked>,
}

impl Check {
    /// Whether the Corefile would start: nothing refused.
    pub fn starts(&self) -> bool {
        !self
            .lines
            .iter()
            .any(|l| matches!(l.verdict, Verdict::Refused(_)))
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.lines {
            let (word, why) = match &line.verdict {
                Verdict::Supported => ("supported", None),
                Verdict::Ignored(why) => ("accepted, ignored", Some(why)),
                Verdict::Refused(why) => ("REFUSED", Some(why)),
            };
            write!(f, "{}: {}: {word}", line.location, line.what)?;
            match why {
                Some(why) => writeln!(f, ": {why}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Checks `corefile` against `registry` without binding anything: each plugin of each block
/// is set up on its own by its registry row's setup (the same function `build` runs), so one
/// refused plugin does not hide the next; then the whole Corefile is built, for what only the
/// whole shows (a zone served twice).
pub fn check(corefile: &Corefile, deps: &Dependencies, registry: &[Registration]) -> Check {
    let mut out = Check::default();
    let mut refused_any = false;
    for block in &corefile.blocks {
        let keys: Vec<String> = block.keys.iter().map(|k| k.to_string()).collect();
        out.lines.push(Checked {
            location: block.location.clone(),
            what: format!("server block {}", keys.join(" ")),
            verdict: Verdict::Supported,
        });
        let zones: Vec<Name> = block.keys.iter().map(|k| k.zone.clone()).collect();
        let server = block
            .keys
            .first()
            .map(|k| server_label(SocketAddr::new(deps.listen_ip, k.port)))
            .unwrap_or_default();
        let mut seen: Vec<&str> = Vec::new();
        for d in &block.directives {
            let what = format!("plugin {}", d.name);
            let row = find(registry, &d.name);
            let verdict = match row {
                None if d.name == "multicluster" => Verdict::Refused(
                    CorefileError::MulticlusterDirective(d.location.clone()).to_string(),
                ),
                None => Verdict::Refused("unknown plugin".into()),
                Some((_, row)) if !row.supported() => {
                    Verdict::Refused("not supported yet by Signpost".into())
                }
                Some((_, row)) if seen.contains(&row.name) && !row.repeats => {
                    Verdict::Refused("appears twice in one server block".into())
                }
                Some((_, row)) if seen.contains(&row.name) => {
                    // Its lines were set up together with the first one.
                    continue;
                }
                Some((order, row)) => {
                    seen.push(row.name);
                    let lines: Vec<&Directive> = block
                        .directives
                        .iter()
                        .filter(|o| o.name == d.name)
                        .collect();
                    match check_plugin(order, row, &lines, block, &zones, &server, deps) {
                        Ok(notes) => {
                            out.lines.push(Checked {
                                location: d.location.clone(),
                                what,
                                verdict: Verdict::Supported,
                            });
                            out.lines.extend(notes.into_iter().map(|n| Checked {
                                location: n.location,
                                what: format!("{} option", n.plugin),
                                verdict: Verdict::Ignored(n.message),
                            }));
                            continue;
                        }
                        Err(e) => {
                            refused_any = true;
                            out.lines.push(Checked {
                                location: e.location,
                                what,
                                verdict: Verdict::Refused(e.message),
                            });
                            continue;
                        }
                    }
                }
            };
            refused_any |= matches!(verdict, Verdict::Refused(_));
            out.lines.push(Checked {
                location: d.location.clone(),
                what,
                verdict,
            });
        }
    }
    if !refused_any && let Err(e) = build(corefile, deps, registry) {
        let Some(first) = corefile.blocks.first() else {
            return out;
        };
        out.lines.push(Checked {
            location: first.location.clone(),
            what: "Corefile".into(),
            verdict: Verdict::Refused(e.to_string()),
        });
    }
    out
}

/// One plugin's lines of one block, set up alone: its notes, or why it is refused.
fn check_plugin(
    order: usize,
    row: &Registration,
    lines: &[&Directive],
    block: &crate::corefile::ServerBlock,
    zones: &[Name],
    server: &str,
    deps: &Dependencies,
) -> Result<Vec<Note>, SetupError> {
    match row.role {
        Role::Listen(listen) => listen(lines).map(|_| Vec::new()),
        Role::Setup(run) => {
            let mut process = ProcessPlan::default();
            let mut setup = block_setup(block, zones, server, deps, &mut process);
            setup.current = (row.name, order);
            run(&mut setup, lines)?;
            Ok(setup.notes)
        }
        Role::Unsupported => Ok(Vec::new()),
    }
}

/// `coredns_plugin_enabled` for a block with `prometheus`, per zone, as CoreDNS sets it at start.
fn enable_metrics(addr: SocketAddr, zones: &[Name], chain: &PluginChain) {
    vars::init();
    let server = server_label(addr);
    for zone in zones {
        let zone = zone.to_string();
        for name in &chain.enabled {
            vars::PLUGIN_ENABLED
                .with_label_values(&[server.as_str(), zone.as_str(), "", name])
                .set(1);
        }
    }
}
