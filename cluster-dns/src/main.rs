//! `cluster-dns`: Kubernetes cluster DNS. Reads a Corefile, keeps the cluster state in memory
//! (watched from the Kubernetes API, or read from a snapshot file), and serves it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracing::{info, warn};

use cluster_dns::snapshot_file::SnapshotFileSource;
use cluster_dns::watch::{self, WatchCache, plan};
use dns_core::cluster::SnapshotStore;
use dns_core::plugin::build::Dependencies;
use dns_core::server::corefile::CorefileServer;
use dns_core::server::stop_signal;

#[derive(Parser, Debug)]
#[command(
    name = "cluster-dns",
    version,
    about = "Kubernetes cluster DNS (a CoreDNS replacement)",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// List the plugins built in, as CoreDNS's `-plugins` does, and exit.
    #[arg(long)]
    plugins: bool,
    /// The Corefile to serve.
    #[arg(long = "conf", default_value = "/etc/coredns/Corefile")]
    conf: PathBuf,
    /// Read the cluster state from this file (what `kubectl get services,endpointslices,pods,namespaces -A -o yaml`
    /// prints) instead of watching the API; reloaded when it changes.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// How often the snapshot file is checked for changes.
    #[arg(long, default_value = "1s", value_parser = dns_core::corefile::parse_duration)]
    snapshot_poll: Duration,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Parse, build and validate a Corefile without binding anything: every server block and
    /// plugin as supported, accepted-and-ignored or refused, with the reason and
    /// file:line:col. Exit 0: it starts; 1: something is refused; 2: it cannot be read.
    Check {
        #[arg(long = "conf", default_value = "/etc/coredns/Corefile")]
        conf: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    cluster_dns::one_malloc_arena();
    dns_core::logging::init();
    if let Err(e) = dns_core::server::limits::raise_open_files_limit() {
        tracing::warn!(error = %e, "cannot raise the open-files limit; keeping the one inherited");
    }
    let args = Args::parse_from(dns_core::server::cli::go_style_args(std::env::args()));
    if args.plugins {
        print!(
            "{}",
            dns_core::server::cli::plugin_list(dns_core::plugins::REGISTRY)
        );
        return Ok(());
    }
    if let Some(Command::Check { conf }) = &args.command {
        let mut deps = Dependencies::new(Arc::new(SnapshotStore::new()));
        deps.resolve_hosts = true;
        std::process::exit(dns_core::server::cli::check(
            conf,
            &deps,
            dns_core::plugins::REGISTRY,
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let shutdown =
        dns_core::server::ShutdownSignal::install().context("install SIGTERM/SIGINT handlers")?;
    let store = Arc::new(SnapshotStore::new());
    let mut deps = Dependencies::new(store.clone());
    deps.resolve_hosts = true;
    if let Some(ip) = std::env::var("POD_IP").ok().and_then(|v| v.parse().ok()) {
        deps.local_ips = vec![ip];
    }
    // autopath @kubernetes appends this host's search domains, as CoreDNS does.
    deps.host_search = std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| dns_core::plugins::autopath::search_domains(&text))
        .unwrap_or_default();
    let mut server = CorefileServer::load(&args.conf, deps, dns_core::plugins::REGISTRY)?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    // health, ready, prometheus: bound first (a taken port fails the start), so probes answer
    // while the first list arrives; stopped after the lameduck.
    let http = server.bind_http()?;
    let lameduck = http.lameduck();
    tasks.spawn(http.run(stop_signal(stop_rx.clone())));
    // Sources that run until aborted (the API watchers).
    let mut sources = tokio::task::JoinSet::new();
    match args.snapshot.clone() {
        Some(path) => {
            let mut source = SnapshotFileSource::new(path, store.clone());
            source.load_initial().map_err(|e| anyhow::anyhow!("{e}"))?;
            tasks.spawn(source.watch(args.snapshot_poll, stop_signal(stop_rx.clone())));
        }
        None => start_watch(server.corefile(), &store, &mut sources).await?,
    }
    tasks.spawn(server.listen(stop_rx.clone())?);

    shutdown.received().await;
    lameduck.run().await;
    info!("stopping: draining in-flight queries");
    let _ = stop_tx.send(true);
    sources.abort_all();
    while tasks.join_next().await.is_some() {}
    info!("stopped");
    Ok(())
}

/// Starts the watch cache the Corefile's `kubernetes` directives ask for, and waits (at most
/// `startup_timeout`, as CoreDNS does) for its first full list before serving.
async fn start_watch(
    corefile: &dns_core::corefile::Corefile,
    store: &Arc<SnapshotStore>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> anyhow::Result<()> {
    let configs =
        dns_core::plugins::kubernetes::configs(corefile).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(plan) = plan::plan(&configs)? else {
        // Nothing to watch: nothing to wait for.
        store.mark_synced();
        return Ok(());
    };
    let client = watch::connect(&plan.source, &plan.limits).await?;
    let timeout = plan.startup_timeout;
    WatchCache::new(client, plan, store.clone()).spawn(tasks);
    let synced = store.wait_synced();
    tokio::pin!(synced);
    let early = Duration::from_millis(500).min(timeout);
    if tokio::time::timeout(early, &mut synced).await.is_err() {
        info!("waiting for Kubernetes API before starting server");
        if tokio::time::timeout(timeout - early, synced).await.is_err() {
            warn!("starting server with unsynced Kubernetes API (startup_timeout {timeout:?})");
        }
    }
    Ok(())
}
