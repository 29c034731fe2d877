//! `nodelocal`: the node-local DNS cache. On start it fills node-cache's Corefile template,
//! puts the local IPs on the `nodelocaldns` link, serves the Corefile on them, and installs the
//! NOTRACK rules that take pod DNS past conntrack and kube-proxy; it re-asserts link and rules
//! while it answers, and on a clean stop removes them unless another nodelocal is taking over.
//! `nodelocal guard` is the sidecar that removes them when this process dies.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use tracing::{error, info, warn};

use dns_core::cluster::SnapshotStore;
use dns_core::corefile::parse_duration;
use dns_core::plugin::build::{Dependencies, Site};
use dns_core::plugin::setup::HttpAddr;
use dns_core::server::corefile::CorefileServer;
use dns_core::server::stop_signal;
use nodelocal::guard::{self, GuardArgs};
use nodelocal::link::{self, LinkConfig};
use nodelocal::rules::{self, RuleMode, RuleSpec, RulesError};
use nodelocal::template::kubedns::KubeDnsConfig;
use nodelocal::{changes, instances, metrics, template};

#[derive(Parser, Debug)]
#[command(
    name = "nodelocal",
    version,
    about = "Node-local DNS cache (a node-local-dns replacement)",
    args_conflicts_with_subcommands = true,
    // Go's flag package lets a later flag override an earlier one.
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// List the plugins built in, as CoreDNS's (and node-cache's) `-plugins` does, and exit.
    #[arg(long)]
    plugins: bool,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The sidecar: fails pod DNS over to cluster DNS when the cache stops answering.
    Guard(GuardArgs),
    /// Fill the template (--basecorefile, else --conf) as a start would, then parse, build and
    /// validate the Corefile without touching the node or binding anything: every server block
    /// and plugin as supported, accepted-and-ignored or refused, with the reason and
    /// file:line:col. Exit 0: it starts; 1: something is refused; 2: it cannot be read.
    Check(RunArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RulesArg {
    Nftables,
    Iptables,
    None,
}

/// node-cache's flags (Go-style `-flag` works too), plus `--rules`.
#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Comma-separated addresses to serve on: the link-local IP, then the kube-dns ClusterIP(s).
    #[arg(long)]
    localip: Option<String>,
    /// The Corefile served (written from --basecorefile when that exists).
    #[arg(long, default_value = "/etc/Corefile")]
    conf: PathBuf,
    /// The template Corefile (the node-local-dns ConfigMap), with node-cache's variables.
    #[arg(long, default_value = "/etc/coredns/Corefile.base")]
    basecorefile: PathBuf,
    /// The link that carries the local IPs.
    #[arg(long, alias = "interface", default_value = "nodelocaldns")]
    interfacename: String,
    /// Whether to create the link and its addresses.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    setupinterface: bool,
    /// Whether to install the NOTRACK rules (false is `--rules none`).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    setupiptables: bool,
    /// Which rule tool installs the NOTRACK rules.
    #[arg(long, value_enum, default_value = "nftables")]
    rules: RulesArg,
    /// How often the link and rules are re-asserted (they also are after any link or
    /// address change). A bare number is seconds, as node-cache takes it.
    #[arg(long, default_value = "60s", value_parser = parse_interval)]
    syncinterval: Duration,
    /// Where nodelocal's own metrics (and the rest of the default registry) are served;
    /// empty for nowhere.
    #[arg(long, default_value = "0.0.0.0:9353")]
    metrics_listen_address: String,
    /// The Service whose ClusterIP is the upstream for the cluster zones
    /// (`__PILLAR__CLUSTER__DNS__`, from its `<NAME>_SERVICE_HOST` env variable).
    #[arg(long, alias = "upstream-svc", default_value = "kube-dns")]
    upstreamsvc: String,
    /// The health plugin's port (its NOTRACK rules).
    #[arg(long, default_value_t = 8080)]
    health_port: u16,
    /// Leave the link and rules in place on exit.
    #[arg(long, alias = "skip-teardown", default_value_t = false, action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    skipteardown: bool,
    /// The DNS port the rules match.
    #[arg(long = "dns.port", default_value_t = 53)]
    dns_port: u16,
    /// The cluster domain (`__PILLAR__DNS__DOMAIN__`).
    #[arg(long, default_value = "cluster.local")]
    dns_domain: String,
    /// Write this process's pid here.
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// The directory where the kube-dns ConfigMap is mounted (its stubDomains and
    /// upstreamNameservers are merged into the Corefile); /etc/kube-dns when it exists.
    #[arg(long)]
    kubednscm: Option<PathBuf>,
    /// After writing a new Corefile, send SIGUSR1 to this process to serve it at once,
    /// instead of waiting for the reload plugin.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    reloadwithsignal: bool,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    parse_duration(text)
}

fn main() -> anyhow::Result<()> {
    dns_core::logging::init();
    if let Err(e) = dns_core::server::limits::raise_open_files_limit() {
        tracing::warn!(error = %e, "cannot raise the open-files limit; keeping the one inherited");
    }
    let cli = Cli::parse_from(dns_core::server::cli::go_style_args(std::env::args()));
    if cli.plugins {
        print!(
            "{}",
            dns_core::server::cli::plugin_list(dns_core::plugins::REGISTRY)
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::Guard(args)) => runtime.block_on(guard::run(args)),
        Some(Command::Check(args)) => std::process::exit(check(&args)),
        None => runtime.block_on(run(cli.run)),
    }
}

/// `nodelocal check`: the Corefile a start would serve, checked; `--localip` defaults to the
/// link-local address here, as the check binds nothing.
fn check(args: &RunArgs) -> i32 {
    use dns_core::server::cli;
    let local_ips = match local_ips(args.localip.as_deref().or(Some("169.254.20.10"))) {
        Ok(ips) => ips,
        Err(e) => {
            eprintln!("{e:#}");
            return cli::CHECK_UNREADABLE;
        }
    };
    let values = template_values(args, &local_ips);
    let (path, kube_dns) = if args.basecorefile.exists() {
        match read_kube_dns(args) {
            Ok(kube_dns) => (&args.basecorefile, kube_dns),
            Err(e) => {
                eprintln!("{e:#}");
                return cli::CHECK_REFUSED;
            }
        }
    } else {
        (&args.conf, KubeDnsConfig::default())
    };
    let corefile = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))
        .and_then(|text| {
            merge(&text, &values, &kube_dns, args.dns_port)
                .map_err(|e| format!("{}: {e}", path.display()))
        });
    let corefile = match corefile {
        Ok(text) => dns_core::corefile::parse(
            &text,
            path,
            &|k| std::env::var(k).ok(),
            &dns_core::corefile::FsReader,
        ),
        Err(e) => {
            eprintln!("{e}");
            return cli::CHECK_UNREADABLE;
        }
    };
    let store = Arc::new(SnapshotStore::new());
    let mut deps = Dependencies::new(store);
    deps.resolve_hosts = true;
    deps.local_ips = local_ips;
    cli::check_parsed(path, corefile, &deps, dns_core::plugins::REGISTRY)
}

fn local_ips(text: Option<&str>) -> anyhow::Result<Vec<IpAddr>> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        bail!("--localip is required (e.g. 169.254.20.10,<kube-dns ClusterIP>)");
    };
    let mut ips = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let ip: IpAddr = part
            .parse()
            .with_context(|| format!("invalid localip specified - {part:?}"))?;
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

/// The kube-dns ConfigMap directory: `--kubednscm`, else /etc/kube-dns when it exists, as
/// node-cache looks.
fn kube_dns_dir(args: &RunArgs) -> Option<PathBuf> {
    args.kubednscm
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| {
            let default = PathBuf::from(template::kubedns::DEFAULT_DIR);
            default.exists().then_some(default)
        })
}

/// The kube-dns ConfigMap's stubDomains and upstreamNameservers (empty without the directory;
/// a missing key is empty).
fn read_kube_dns(args: &RunArgs) -> anyhow::Result<KubeDnsConfig> {
    let Some(dir) = kube_dns_dir(args) else {
        return Ok(KubeDnsConfig::default());
    };
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    template::kubedns::parse(
        read(template::kubedns::STUB_DOMAINS_FILE).as_deref(),
        read(template::kubedns::UPSTREAM_NAMESERVERS_FILE).as_deref(),
    )
    .with_context(|| format!("the kube-dns ConfigMap in {}", dir.display()))
}

/// What node-cache writes: the template with the kube-dns ConfigMap's upstreams, filled in,
/// then a server block per stub domain.
fn merge(
    template_text: &str,
    values: &template::TemplateValues,
    kube_dns: &KubeDnsConfig,
    port: u16,
) -> Result<String, template::TemplateError> {
    let (text, upstream_servers) = kube_dns.upstreams(template_text, &values.upstream_servers);
    let values = template::TemplateValues {
        upstream_servers,
        ..values.clone()
    };
    let mut corefile = template::render(&text, &values)?;
    corefile.push_str(&kube_dns.stub_blocks(&values.local_list(), port));
    Ok(corefile)
}

/// The Corefile to serve: the template filled in (with the kube-dns ConfigMap merged) and
/// written to `--conf` when the template exists (as node-cache does), else `--conf` itself,
/// which must then have no variables. Whether `--conf` changed.
fn write_corefile(
    args: &RunArgs,
    values: &template::TemplateValues,
    kube_dns: &KubeDnsConfig,
) -> anyhow::Result<bool> {
    if args.basecorefile.exists() {
        let base = std::fs::read_to_string(&args.basecorefile)
            .with_context(|| format!("read {}", args.basecorefile.display()))?;
        let text = merge(&base, values, kube_dns, args.dns_port)
            .with_context(|| format!("{}", args.basecorefile.display()))?;
        let current = std::fs::read_to_string(&args.conf).unwrap_or_default();
        if current == text {
            return Ok(false);
        }
        // Written whole and renamed, so the reload plugin never reads half a file.
        let tmp = args.conf.with_extension("nodelocal-tmp");
        std::fs::write(&tmp, &text).with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &args.conf)
            .with_context(|| format!("write {}", args.conf.display()))?;
        info!(from = %args.basecorefile.display(), to = %args.conf.display(), stub_domains = kube_dns.stub_domains.len(), "Corefile written from the template");
        return Ok(true);
    }
    let text = std::fs::read_to_string(&args.conf).with_context(|| {
        format!(
            "read {} (and no {})",
            args.conf.display(),
            args.basecorefile.display()
        )
    })?;
    template::render(&text, values).with_context(|| {
        format!(
            "{} has template variables; give the template as --basecorefile",
            args.conf.display()
        )
    })?;
    Ok(false)
}

fn template_values(args: &RunArgs, local_ips: &[IpAddr]) -> template::TemplateValues {
    let env = template::service_host_env(&args.upstreamsvc);
    let cluster_dns = std::env::var(&env).ok().and_then(|v| v.trim().parse().ok());
    if cluster_dns.is_none() {
        warn!(service = %args.upstreamsvc, %env, "unable to look up the IP address of the upstream service");
    }
    template::TemplateValues {
        local_ips: local_ips.to_vec(),
        cluster_dns,
        cluster_dns_env: env,
        upstream_servers: "/etc/resolv.conf".into(),
        dns_domain: args.dns_domain.clone(),
    }
}

/// What nodelocal put on the node, and how to take it off again.
struct NodeSetup {
    link: Option<LinkConfig>,
    rule_mode: RuleMode,
    spec: RuleSpec,
}

impl NodeSetup {
    /// Link and addresses; counts node-cache's `interface_add` on failure.
    async fn ensure_link(&self) -> Result<(), link::LinkError> {
        let Some(config) = &self.link else {
            return Ok(());
        };
        match link::ensure(config).await {
            Ok(changes) => {
                if changes.created.is_some() || !changes.added_addrs.is_empty() {
                    info!(link = %config.name, ?changes, "link and addresses in place");
                }
                Ok(())
            }
            Err(e) => {
                metrics::setup_error("interface_add");
                Err(e)
            }
        }
    }

    /// The NOTRACK rules; counts `iptables` / `iptables_lock` on failure, as node-cache does.
    async fn ensure_rules(&self) -> Result<(), RulesError> {
        let (mode, spec) = (self.rule_mode, self.spec.clone());
        let result = tokio::task::spawn_blocking(move || rules::ensure(mode, &spec))
            .await
            .unwrap_or_else(|e| {
                Err(RulesError::Tool {
                    tool: "rules".into(),
                    detail: e.to_string(),
                })
            });
        match result {
            Ok(true) => {
                info!(mode = ?self.rule_mode, "NOTRACK rules (re)installed");
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                metrics::setup_error(match e {
                    RulesError::Locked { .. } => "iptables_lock",
                    _ => "iptables",
                });
                Err(e)
            }
        }
    }

    async fn remove_rules(&self) {
        let (mode, spec) = (self.rule_mode, self.spec.clone());
        match tokio::task::spawn_blocking(move || rules::remove(mode, &spec)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => error!(error = %e, "removing the NOTRACK rules"),
            Err(e) => error!(error = %e, "removing the NOTRACK rules"),
        }
    }

    async fn remove_link(&self) {
        if let Some(config) = &self.link
            && let Err(e) = link::remove(&config.name).await
        {
            error!(error = %e, link = %config.name, "removing the link");
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let shutdown =
        dns_core::server::ShutdownSignal::install().context("install SIGTERM/SIGINT handlers")?;
    metrics::init();
    let local_ips = local_ips(args.localip.as_deref())?;
    // Everything that can be checked is checked before the node is touched.
    let values = template_values(&args, &local_ips);
    // A broken kube-dns ConfigMap does not stop the start: node-cache serves its template
    // without it, and says so.
    let kube_dns = read_kube_dns(&args).unwrap_or_else(|e| {
        error!(
            error = format!("{e:#}"),
            "invalid kube-dns ConfigMap: serving without it"
        );
        metrics::setup_error("configmap");
        KubeDnsConfig::default()
    });
    if let Err(e) = write_corefile(&args, &values, &kube_dns) {
        metrics::setup_error("configmap");
        return Err(e);
    }
    let store = Arc::new(SnapshotStore::new());
    store.mark_synced();
    let mut deps = Dependencies::new(store);
    deps.resolve_hosts = true;
    deps.local_ips = local_ips.clone();
    deps.bind_nonlocal = true;
    let mut server = CorefileServer::load(&args.conf, deps, dns_core::plugins::REGISTRY)?;
    add_metrics_site(&mut server.http_plan().sites, &args.metrics_listen_address)?;
    let rule_mode = match (args.setupiptables, args.rules) {
        (false, _) | (_, RulesArg::None) => RuleMode::None,
        (true, RulesArg::Nftables) => RuleMode::Nftables,
        (true, RulesArg::Iptables) => RuleMode::Iptables,
    };
    let setup = Arc::new(NodeSetup {
        link: args.setupinterface.then(|| LinkConfig {
            name: args.interfacename.clone(),
            addrs: local_ips.clone(),
        }),
        rule_mode,
        spec: RuleSpec {
            local_ips: local_ips.clone(),
            dns_port: args.dns_port,
            health_port: args.health_port,
        },
    });
    rules::check_tool(rule_mode).map_err(|e| {
        metrics::setup_error("iptables");
        anyhow::anyhow!("{e}")
    })?;
    let registration = instances::register(&args.interfacename)
        .context("register this nodelocal (abstract unix socket)")?;
    let others_at_start = registration.others_alive().unwrap_or(false);

    // Watched from before the link is touched: a guard failing over while this process
    // starts (it removes the ClusterIP and the rules an earlier nodelocal left) is then
    // undone at the first re-assertion, not a sync interval later.
    let changed = changes::watch();
    // Link first: the listeners bind its addresses. Rules last: they send pod DNS here, so
    // they go in only once something answers.
    // Nothing half-installed on a failed start: what this start added goes again (unless
    // another nodelocal is serving with it).
    let undo_link = |setup: Arc<NodeSetup>| async move {
        if !others_at_start {
            setup.remove_link().await;
        }
    };
    if let Err(e) = setup.ensure_link().await {
        undo_link(setup.clone()).await;
        return Err(e.into());
    }
    let http = match server.bind_http() {
        Ok(http) => http,
        Err(e) => {
            undo_link(setup.clone()).await;
            return Err(e.into());
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (dns_stop_tx, dns_stop_rx) = tokio::sync::watch::channel(false);
    let dns = match server.listen(dns_stop_rx) {
        Ok(dns) => dns,
        Err(e) => {
            undo_link(setup.clone()).await;
            return Err(e.into());
        }
    };
    if let Err(e) = setup.ensure_rules().await {
        setup.remove_rules().await;
        undo_link(setup.clone()).await;
        return Err(anyhow::anyhow!("{e}"));
    }
    if let Some(pidfile) = &args.pidfile {
        std::fs::write(pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("write {}", pidfile.display()))?;
    }
    info!(ips = ?local_ips, rules = ?rule_mode, "nodelocal serving");

    let lameduck = http.lameduck();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(http.run(stop_signal(stop_rx.clone())));
    tasks.spawn(dns);
    let probe_addr = SocketAddr::new(local_ips[0], args.dns_port);
    let skip_teardown = args.skipteardown;
    let mut background = tokio::task::JoinSet::new();
    // The guard's probe: the cluster domain's SOA, from the cache after the first time.
    let probe_name = hickory_proto::rr::Name::from_ascii(format!("{}.", args.dns_domain))
        .unwrap_or_else(|_| hickory_proto::rr::Name::root());
    background.spawn(reassert(
        setup.clone(),
        changed,
        probe_addr,
        probe_name,
        args.syncinterval,
        stop_rx.clone(),
    ));
    if args.basecorefile.exists() {
        background.spawn(template_sync(args, values, stop_rx.clone()));
    }

    shutdown.received().await;
    lameduck.run().await;
    let _ = stop_tx.send(true);
    background.abort_all();
    let others = registration.others_alive().unwrap_or(false);
    let teardown = !skip_teardown;
    if others {
        info!("another nodelocal is serving on this node: leaving the link and rules to it");
    } else if teardown {
        info!("tearing down: NOTRACK rules first, so pod DNS goes to cluster DNS");
        setup.remove_rules().await;
    }
    info!("stopping: draining in-flight queries");
    let _ = dns_stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if teardown && !others {
        setup.remove_link().await;
    }
    drop(registration);
    info!("stopped");
    Ok(())
}

fn add_metrics_site(sites: &mut Vec<Site>, text: &str) -> anyhow::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let addr = HttpAddr::parse(text)
        .map_err(|e| anyhow::anyhow!("--metrics-listen-address {text:?}: {e}"))?;
    match sites.iter_mut().find(|s| s.addr == addr) {
        Some(site) if site.plugins.contains(&"prometheus") => {}
        Some(site) => site.plugins.push("prometheus"),
        None => {
            let mut site = Site::new(addr);
            site.plugins.push("prometheus");
            sites.push(site);
        }
    }
    Ok(())
}

/// Re-asserts the link and the rules every `interval` and after any link or address change
/// on the node, but only while this process answers its own DNS: a cache that cannot answer
/// must not take pod DNS back from cluster DNS after the guard failed it over.
async fn reassert(
    setup: Arc<NodeSetup>,
    changed: Arc<tokio::sync::Notify>,
    probe: SocketAddr,
    probe_name: hickory_proto::rr::Name,
    interval: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = stop_signal(stop);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = changed.notified() => {
                // Let a burst of changes settle.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ = &mut stopped => return,
        }
        if let Err(e) = guard::probe::probe(probe, &probe_name, Duration::from_secs(1)).await {
            warn!(%probe, error = %e, "not answering my own queries: leaving link and rules as they are");
            continue;
        }
        if let Err(e) = setup.ensure_link().await {
            error!(error = %e, "re-asserting the link");
            metrics::setup_error("interface_check");
        }
        if let Err(e) = setup.ensure_rules().await {
            error!(error = %e, "re-asserting the NOTRACK rules");
        }
    }
}

/// Re-renders the template into `--conf` when the template or the kube-dns ConfigMap changes
/// (a ConfigMap was edited), every 10 s as node-cache does; the reload plugin (or, with
/// `--reloadwithsignal`, SIGUSR1 at once) then serves the new Corefile.
async fn template_sync(
    args: RunArgs,
    values: template::TemplateValues,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = stop_signal(stop);
    tokio::pin!(stopped);
    let mut last = sources(&args);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = &mut stopped => return,
        }
        let now = sources(&args);
        if now == last {
            continue;
        }
        last = now;
        let written =
            read_kube_dns(&args).and_then(|kube_dns| write_corefile(&args, &values, &kube_dns));
        match written {
            Ok(true) if args.reloadwithsignal => reload_now(),
            Ok(_) => {}
            Err(e) => {
                error!(
                    error = format!("{e:#}"),
                    "a ConfigMap changed but the Corefile cannot be made from it; serving the last Corefile"
                );
                metrics::setup_error("configmap");
            }
        }
    }
}

/// Everything the Corefile is made from, to notice a change.
fn sources(args: &RunArgs) -> Vec<String> {
    let mut files = vec![read_or_empty(&args.basecorefile)];
    if let Some(dir) = kube_dns_dir(args) {
        files.push(read_or_empty(
            &dir.join(template::kubedns::STUB_DOMAINS_FILE),
        ));
        files.push(read_or_empty(
            &dir.join(template::kubedns::UPSTREAM_NAMESERVERS_FILE),
        ));
    }
    files
}

/// SIGUSR1 to this process: the server rebuilds from the Corefile at once.
fn reload_now() {
    // SAFETY: kill(2) with our own pid and a signal number has no memory effects; the
    // server's SIGUSR1 handler is installed by the time the sync task runs (it starts after
    // the listeners), so the signal is caught, not fatal.
    let sent = unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    if sent != 0 {
        warn!(error = %std::io::Error::last_os_error(), "could not signal myself to reload");
    } else {
        info!("Corefile changed: reloading now (SIGUSR1)");
    }
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
