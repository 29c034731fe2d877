//! `nodelocal guard`: the sidecar that removes the NOTRACK rules and the ClusterIP address when
//! the cache stops answering, so kube-proxy's DNAT carries pod DNS to cluster-dns instead.
//!
//! It probes the cache's link-local IP; after `--failure-threshold` consecutive failures it
//! removes the rules (`rules::remove`) and every local IP but the link-local ones
//! (`link::remove_addrs`), once. It never adds anything back: nodelocal re-asserts its rules
//! and addresses itself when it runs again, so the guard never fights a healthy cache. When the
//! guard dies nothing changes. A cache that has not answered within `--start-grace` of the
//! guard's start is failed over too: when both died together, what the cache left behind
//! would otherwise black-hole pod DNS until it answered again.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hickory_proto::rr::Name;
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tracing::{error, info, warn};

use crate::link;
use crate::rules::{self, RuleMode, RuleSpec};

pub mod machine;
pub mod probe;

use machine::{Action, Event, Machine};

/// The guard's command line (`nodelocal guard ...`).
#[derive(clap::Args, Debug, Clone)]
pub struct GuardArgs {
    /// nodelocal's local IPs, as given to nodelocal. The link-local ones (169.254.0.0/16,
    /// fe80::/10; else the first) are probed and kept; the others (ClusterIPs) are removed on
    /// fail-over.
    #[arg(long, value_delimiter = ',', required = true)]
    pub localip: Vec<IpAddr>,
    /// The link that carries the local IPs.
    #[arg(long, default_value = "nodelocaldns")]
    pub interfacename: String,
    /// The rule mode nodelocal runs with.
    #[arg(long, value_enum, default_value = "nftables")]
    pub rules: RuleMode,
    /// The DNS port nodelocal serves and its rules match (nodelocal's `--dns.port`).
    #[arg(long, alias = "dns.port", default_value_t = 53)]
    pub dns_port: u16,
    /// The health port nodelocal's rules match (node-cache's `-health-port`).
    #[arg(long, default_value_t = 8080)]
    pub health_port: u16,
    /// Time between probes.
    #[arg(long, default_value = "250ms", value_parser = dns_core::corefile::parse_duration)]
    pub probe_interval: Duration,
    /// How long a probe waits for an answer.
    #[arg(long, default_value = "200ms", value_parser = dns_core::corefile::parse_duration)]
    pub probe_timeout: Duration,
    /// Consecutive failed probes that make a fail-over (4 × 250 ms: within about 1.2 s).
    #[arg(long, default_value_t = 4)]
    pub failure_threshold: u32,
    /// How long a cache that has not answered since the guard started gets before the guard
    /// fails over anyway: when the cache and the guard died together, the rules and ClusterIP
    /// the cache left would black-hole pod DNS until it answered again.
    #[arg(long, default_value = "5s", value_parser = dns_core::corefile::parse_duration)]
    pub start_grace: Duration,
    /// The name the probe asks for (type SOA). Any answer counts, SERVFAIL too.
    #[arg(long, default_value = "cluster.local.")]
    pub probe_name: String,
    /// Where `/metrics` and `/health` are served; empty: nowhere.
    #[arg(long, default_value = "0.0.0.0:9254")]
    pub metrics_listen_address: String,
}

/// The guard's metrics, in the default registry.
struct Metrics {
    probes: IntCounterVec,
    failovers: IntCounter,
    failed_over: IntGauge,
    last_failover: IntGauge,
}

impl Metrics {
    fn new() -> Result<Self, prometheus::Error> {
        let metrics = Self {
            probes: IntCounterVec::new(
                prometheus::Opts::new(
                    "signpost_nodelocal_guard_probes_total",
                    "Probes of the node-local cache, by local IP and result (ok, fail).",
                ),
                &["ip", "result"],
            )?,
            failovers: IntCounter::new(
                "signpost_nodelocal_guard_failovers_total",
                "Fail-overs: the rules and ClusterIP addresses were removed.",
            )?,
            failed_over: IntGauge::new(
                "signpost_nodelocal_guard_failed_over",
                "1 while failed over (the cache has not answered since), else 0.",
            )?,
            last_failover: IntGauge::new(
                "signpost_nodelocal_guard_last_failover_timestamp_seconds",
                "Unix time of the last fail-over; 0 if none.",
            )?,
        };
        prometheus::register(Box::new(metrics.probes.clone()))?;
        prometheus::register(Box::new(metrics.failovers.clone()))?;
        prometheus::register(Box::new(metrics.failed_over.clone()))?;
        prometheus::register(Box::new(metrics.last_failover.clone()))?;
        Ok(metrics)
    }
}

/// Registered once per process (a second guard in one process, as in tests, shares them).
static METRICS: LazyLock<Result<Metrics, String>> =
    LazyLock::new(|| Metrics::new().map_err(|e| e.to_string()));

/// The addresses the guard keeps (and probes): the link-local ones, else the first.
pub fn kept_ips(local_ips: &[IpAddr]) -> Vec<IpAddr> {
    let link_local: Vec<IpAddr> = local_ips
        .iter()
        .copied()
        .filter(|ip| match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_unicast_link_local(),
        })
        .collect();
    if link_local.is_empty() {
        local_ips.iter().copied().take(1).collect()
    } else {
        link_local
    }
}

/// Runs the guard until SIGTERM/SIGINT.
pub async fn run(args: GuardArgs) -> anyhow::Result<()> {
    let shutdown =
        dns_core::server::ShutdownSignal::install().context("install SIGTERM/SIGINT handlers")?;
    let stop = async move {
        shutdown.received().await;
        info!("SIGTERM or SIGINT: stopping");
    };
    run_until(args, stop).await
}

/// Runs the guard until `stop` resolves.
pub async fn run_until(args: GuardArgs, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    anyhow::ensure!(!args.localip.is_empty(), "--localip: at least one address");
    anyhow::ensure!(
        !args.probe_interval.is_zero() && !args.probe_timeout.is_zero(),
        "--probe-interval and --probe-timeout must be more than 0"
    );
    let name = Name::from_ascii(&args.probe_name)
        .with_context(|| format!("--probe-name {:?}", args.probe_name))?;
    let kept = kept_ips(&args.localip);
    let probed = kept[0];
    let cluster_ips: Vec<IpAddr> = args
        .localip
        .iter()
        .copied()
        .filter(|ip| !kept.contains(ip))
        .collect();
    let spec = RuleSpec {
        local_ips: args.localip.clone(),
        dns_port: args.dns_port,
        health_port: args.health_port,
    };
    let metrics = METRICS
        .as_ref()
        .map_err(|e| anyhow::anyhow!("registering the guard's metrics: {e}"))?;

    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = if args.metrics_listen_address.is_empty() {
        None
    } else {
        use dns_core::plugin::build::{HttpPlan, Site};
        use dns_core::server::http::HttpServers;
        let addr = dns_core::plugin::setup::HttpAddr::parse(&args.metrics_listen_address)
            .map_err(|e| anyhow::anyhow!("--metrics-listen-address: {e}"))?;
        let mut site = Site::new(addr);
        site.plugins = vec!["health", "prometheus"];
        let servers = HttpServers::bind(HttpPlan {
            sites: vec![site],
            lameduck: Duration::ZERO,
        })?;
        Some(tokio::spawn(servers.run(async {
            let _ = http_stopped.await;
        })))
    };

    info!(
        probe = %probed,
        port = args.dns_port,
        interval = ?args.probe_interval,
        threshold = args.failure_threshold,
        ?cluster_ips,
        rules = ?args.rules,
        "guard watching the node-local cache"
    );
    let target = SocketAddr::new(probed, args.dns_port);
    let ip_label = probed.to_string();
    let mut machine = Machine::new(
        args.failure_threshold,
        probes_within(args.start_grace, args.probe_interval),
    );
    let mut ticker = tokio::time::interval(args.probe_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let event = match probe::probe(target, &name, args.probe_timeout).await {
            Ok(()) => {
                metrics.probes.with_label_values(&[&ip_label, "ok"]).inc();
                Event::ProbeOk
            }
            Err(e) => {
                metrics.probes.with_label_values(&[&ip_label, "fail"]).inc();
                // Only while armed: a starting or failed-over cache would log four lines a second.
                if matches!(machine.phase, machine::Phase::Armed { .. }) {
                    warn!(probe = %target, error = %e, "the cache did not answer");
                }
                Event::ProbeFailed
            }
        };
        match machine.step(event) {
            Action::Nothing => {}
            Action::FirstAnswer => info!(probe = %target, "the cache answers; guard armed"),
            Action::Rearmed => {
                metrics.failed_over.set(0);
                info!(probe = %target, "the cache answers again; guard re-armed");
            }
            action @ (Action::FailOver | Action::StartFailOver) => {
                let why = if action == Action::FailOver {
                    "the cache stopped answering"
                } else {
                    "the cache has not answered since the guard started"
                };
                if let Err(e) =
                    fail_over(args.rules, &spec, &args.interfacename, &cluster_ips, why).await
                {
                    error!(error = %e, "fail-over incomplete; retrying at the next failed probe");
                    machine.step(Event::FailOverFailed);
                    continue;
                }
                metrics.failovers.inc();
                metrics.failed_over.set(1);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                metrics
                    .last_failover
                    .set(i64::try_from(now).unwrap_or(i64::MAX));
            }
        }
    }
    let _ = http_stop.send(());
    if let Some(task) = http {
        let _ = task.await;
    }
    Ok(())
}

/// How many probes `interval` apart fit in `grace` (at least one).
pub fn probes_within(grace: Duration, interval: Duration) -> u32 {
    let interval = interval.as_millis().max(1);
    u32::try_from(grace.as_millis().div_ceil(interval))
        .unwrap_or(u32::MAX)
        .max(1)
}

#[derive(Debug, thiserror::Error)]
enum FailOverError {
    #[error("removing the rules: {0}")]
    Rules(#[from] rules::RulesError),
    #[error("removing the ClusterIP addresses: {0}")]
    Link(#[from] link::LinkError),
    #[error("the rule task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Removes the rules and the ClusterIPs; both are tried even when one fails.
async fn fail_over(
    mode: RuleMode,
    spec: &RuleSpec,
    interface: &str,
    cluster_ips: &[IpAddr],
    why: &str,
) -> Result<(), FailOverError> {
    let rule_spec = spec.clone();
    let rules_result = tokio::task::spawn_blocking(move || rules::remove(mode, &rule_spec)).await;
    let addrs_result = link::remove_addrs(interface, cluster_ips).await;
    let rules_removed = rules_result??;
    let addrs_removed = addrs_result?;
    warn!(
        rules = ?mode,
        rules_removed,
        addresses_removed = ?addrs_removed,
        "FAIL-OVER: {why}; removed its NOTRACK rules and ClusterIP addresses, so pod DNS goes \
         to cluster-dns through kube-proxy"
    );
    Ok(())
}

#[cfg(test)]
mod tests;
