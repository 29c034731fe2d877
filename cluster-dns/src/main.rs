//! `cluster-dns`: Kubernetes cluster DNS. Reads a Corefile, keeps the cluster state in memory
//! (watched from the Kubernetes API, or read from a snapshot file), and serves it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use tracing::{info, warn};

use cluster_dns::snapshot_file::SnapshotFileSource;
use cluster_dns::watch::{self, WatchCache, plan};
use dns_core::cluster::SnapshotStore;
use dns_core::plugins::build::{Dependencies, build, observability};
use dns_core::server::http::HttpServers;
use dns_core::server::listeners::{self, Listeners};
use dns_core::server::stop_signal;

#[derive(Parser, Debug)]
#[command(
    name = "cluster-dns",
    version,
    about = "Kubernetes cluster DNS (a CoreDNS replacement)"
)]
struct Args {
    /// The Corefile to serve.
    #[arg(long = "conf", default_value = "/etc/coredns/Corefile")]
    conf: PathBuf,
    /// Read the cluster state from this file (what `kubectl get services,endpointslices,pods,namespaces -A -o yaml`
    /// prints) instead of watching the API; reloaded when it changes.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// How often the snapshot file is checked for changes.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    snapshot_poll: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration {s:?} (use ms, s or m)")),
    }
}

fn main() -> anyhow::Result<()> {
    dns_core::server::init_logging();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let store = Arc::new(SnapshotStore::new());
    let corefile = dns_core::corefile::load(&args.conf).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut deps = Dependencies::new(store.clone());
    if let Some(ip) = std::env::var("POD_IP").ok().and_then(|v| v.parse().ok()) {
        deps.local_ips = vec![ip];
    }
    // autopath @kubernetes appends this host's search domains, as CoreDNS does.
    deps.host_search = std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| dns_core::plugins::autopath::search_domains(&text))
        .unwrap_or_default();
    let routers = build(&corefile, &deps).map_err(|e| anyhow::anyhow!("{e}"))?;
    if routers.is_empty() {
        bail!("{}: no server blocks", args.conf.display());
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    // health, ready, prometheus: bound first (a taken port fails the start), so probes answer
    // while the first list arrives; stopped after the lameduck.
    let http =
        HttpServers::bind(observability(&corefile, &deps).map_err(|e| anyhow::anyhow!("{e}"))?)?;
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
        None => start_watch(&corefile, &store, &mut sources).await?,
    }

    let mut listeners = Listeners::new(stop_rx.clone());
    listeners.apply(routers)?;
    match dns_core::plugins::reload::config(&corefile)? {
        Some(config) => {
            let stop = stop_rx.clone();
            tasks.spawn(listeners::run(args.conf, config, deps, listeners, stop));
        }
        None => {
            tasks.spawn(listeners.wait());
        }
    }

    dns_core::server::shutdown_signal()
        .await
        .context("install SIGTERM/SIGINT handlers")?;
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
    let client = watch::connect(&plan.source).await?;
    let timeout = plan.startup_timeout;
    WatchCache::new(client, plan, store.clone()).spawn(tasks);
    let started = tokio::time::Instant::now();
    let mut said_waiting = false;
    while !store.is_synced() {
        let waited = started.elapsed();
        if waited >= timeout {
            warn!("starting server with unsynced Kubernetes API (startup_timeout {timeout:?})");
            break;
        }
        if !said_waiting && waited >= Duration::from_millis(500) {
            info!("waiting for Kubernetes API before starting server");
            said_waiting = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
