//! `scripts/bench`: cluster-dns against CoreDNS 1.15 (the baseline, `$SIGNPOST_COREDNS`) and
//! against knotd serving the same names as a plain zone, side by side in one run on one cluster
//! state held by the test control plane. Each server is confined to CPU 0 (`taskset`; CoreDNS
//! with `GOMAXPROCS=1`), dnsperf to CPU 1. Reports, per state and query mix, saturation QPS,
//! server CPU per answered query at a fixed rate below saturation, latency percentiles at half
//! of CoreDNS's saturation, memory, time to ready, the programming latency of a change
//! driver (EndpointSlice and Service edits at a fixed rate, each timed until both servers
//! answer it) and the memory peak of a full re-list after an API server restart and an etcd
//! compaction (410 Gone); every figure also as a ratio to CoreDNS and to knotd. Asserts only
//! that the servers answer the bench's names alike before measuring. Ignored: `scripts/bench`
//! runs it.
//!
//! Knobs (scripts/bench sets them): `SIGNPOST_BENCH_STATES` (service counts, ascending:
//! `1000` quick, `1000,10000,100000` full), `SIGNPOST_BENCH_MIXES` (`clusterip` quick, `all`),
//! `SIGNPOST_BENCH_SECONDS` per dnsperf run, `SIGNPOST_BENCH_ROUNDS` (alternating rounds),
//! `SIGNPOST_BENCH_LATENCY_ROUNDS` (alternating latency rounds, default the rounds: quick mode
//! takes 3, since one latency run per server is the noisiest figure),
//! `SIGNPOST_BENCH_RATES` (changes per second of the driver), `SIGNPOST_BENCH_OUT` (a
//! directory for the table and the plots' data).
//!
//! The state: services `svc-N` spread over 10 namespaces, each with one hand-written
//! EndpointSlice of 3 endpoints. Every tenth service is headless, and so is every service past
//! the first 15k: the API server's ClusterIP allocator lists every allocated address twice per
//! allocation (for its gauges), so ClusterIP creates slow in proportion to those already made
//! (204/s at first, 20/s past 20k) and 54k of them would take over an hour; headless services
//! are created at 1,200/s at any count (docs/benchmarks.md, "The 100k state").
//! Endpoint addresses come from 198.19.0.0/16 and repeat after 64k endpoints (the API allows
//! it; the A answers stay right, a PTR of a repeated endpoint address would not be unique, and
//! the PTR mix asks ClusterIPs only).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use signpost_tests::baseline::{
    Dnsperf, Perf, Server, coredns_binary, cpu_time, median, memory_kib, quantile, ratio,
};
use signpost_tests::knot::Knot;
use signpost_tests::kube_fixtures::{
    CLUSTER_IP_SERVICES_MAX, cluster_ip_service_json, create_object, create_service_slice,
    delete_object, headless_service_json,
};
use signpost_tests::{ControlPlane, TempDir, dig, free_port, signal};

/// The core every server runs on, and dnsperf's.
const SERVER_CPU: usize = 0;
const CLIENT_CPU: &str = "1";
const NAMESPACES: usize = 10;
const ENDPOINTS_PER_SLICE: usize = 3;
const IN_FLIGHT: usize = 32;
/// The fixed rate for CPU per query, lowered to 80% of the slowest server's
/// saturation when that is below it.
const FIXED_RATE: f64 = 40_000.0;
/// Names per query file: enough that no server answers from a handful of hot lines.
const NAMES_PER_MIX: usize = 1000;
/// How often the prober asks a pending change's name again: the latency resolution.
const PROBE_EVERY: Duration = Duration::from_millis(3);
/// A change not answered within this counts as lost.
const PROBE_LIMIT: Duration = Duration::from_secs(15);

/// The Corefile both servers run: kubeadm's, less `loop` and `reload`, with the cache limited
/// to the external zone, so every cluster name is answered by the kubernetes plugin (what the
/// per-core figures are about, and what lets the prober see a change at once).
const COREFILE: &str = ".:{PORT} {
    {BIND}
    errors
    health 127.0.0.1:{HEALTH}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
        startup_timeout 600s
    }
    prometheus 127.0.0.1:{METRICS}
    forward . {UPSTREAM}
    cache 30 example.test
    loadbalance
}
";

/// One service of the state, as the API stored it.
#[derive(Clone)]
struct Svc {
    ns: String,
    name: String,
    cluster_ip: Option<String>,
    endpoints: Vec<String>,
}

impl Svc {
    fn fqdn(&self) -> String {
        format!("{}.{}.svc.cluster.local", self.name, self.ns)
    }
}

fn headless(i: usize) -> bool {
    i % 10 == 9 || i >= CLUSTER_IP_SERVICES_MAX
}

/// The `n`th endpoint address: 198.19.0.0 to 198.19.249.255, repeating (clear of the
/// addresses the change driver uses and of 198.19.255.254, the apiserver's).
fn endpoint_ip(n: usize) -> String {
    let n = n % (250 * 256);
    format!("198.19.{}.{}", n / 256, n % 256)
}

/// The address a slice edit writes: its generation, in 198.19.250.0-198.19.253.255.
fn change_ip(generation: u32) -> String {
    let g = generation % 1024;
    format!("198.19.{}.{}", 250 + g / 256, g % 256)
}

/// The port a Service edit writes.
fn change_port(generation: u32) -> u16 {
    1000 + (generation % 30_000) as u16
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Adds services `from..to` (and their slices) to the API.
async fn populate(
    client: &kube::Client,
    namespaces: &[String],
    from: usize,
    to: usize,
) -> Vec<Svc> {
    let mut done = futures::stream::iter(from..to)
        .map(|i| {
            let client = client.clone();
            let ns = namespaces[i % NAMESPACES].clone();
            async move {
                let name = format!("svc-{i}");
                let object = if headless(i) {
                    headless_service_json(&name, &[])
                } else {
                    cluster_ip_service_json(&name)
                };
                let stored: Service = create_object(&client, &ns, object).await;
                let cluster_ip = stored
                    .spec
                    .and_then(|s| s.cluster_ip)
                    .filter(|ip| ip != "None");
                let endpoints: Vec<String> = (0..ENDPOINTS_PER_SLICE)
                    .map(|j| endpoint_ip(i * ENDPOINTS_PER_SLICE + j))
                    .collect();
                let ips: Vec<&str> = endpoints.iter().map(String::as_str).collect();
                create_service_slice(&client, &ns, &name, &format!("{name}-1"), &ips).await;
                (
                    i,
                    Svc {
                        ns,
                        name,
                        cluster_ip,
                        endpoints,
                    },
                )
            }
        })
        .buffer_unordered(IN_FLIGHT);
    let mut made = Vec::new();
    while let Some(item) = done.next().await {
        made.push(item);
    }
    made.sort_by_key(|(i, _)| *i);
    made.into_iter().map(|(_, s)| s).collect()
}

/// The state as plain zones for knotd: `cluster.local` (A, SRV) and `in-addr.arpa` (PTR of
/// ClusterIPs), the records the kubernetes plugin synthesises for the same names.
fn zones(state: &[Svc]) -> [(String, String); 2] {
    let soa = |origin: &str| {
        format!(
            "$ORIGIN {origin}.\n$TTL 30\n@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30\n\
             @ NS ns.dns.cluster.local.\n"
        )
    };
    let mut forward = soa("cluster.local");
    forward.push_str("ns.dns A 198.18.0.10\n");
    let mut reverse = soa("in-addr.arpa");
    for s in state {
        let owner = format!("{}.{}.svc", s.name, s.ns);
        match &s.cluster_ip {
            Some(ip) => {
                let _ = writeln!(forward, "{owner} A {ip}");
                let _ = writeln!(forward, "_http._tcp.{owner} SRV 0 100 80 {owner}");
                let rev: Vec<&str> = ip.split('.').rev().collect();
                let _ = writeln!(reverse, "{} PTR {owner}.cluster.local.", rev.join("."));
            }
            None => {
                for ip in &s.endpoints {
                    let _ = writeln!(forward, "{owner} A {ip}");
                }
            }
        }
    }
    [
        ("cluster.local".into(), forward),
        ("in-addr.arpa".into(), reverse),
    ]
}

/// A query mix: its name and dnsperf lines.
struct Mix {
    name: &'static str,
    lines: Vec<String>,
}

/// At most [`NAMES_PER_MIX`] services of `state` that `keep` takes, spread evenly across it.
fn spread(state: &[Svc], keep: impl Fn(&Svc) -> bool) -> Vec<&Svc> {
    let all: Vec<&Svc> = state.iter().filter(|s| keep(s)).collect();
    let step = (all.len() / NAMES_PER_MIX).max(1);
    all.into_iter().step_by(step).take(NAMES_PER_MIX).collect()
}

/// The query mixes over `state`, spread evenly across it.
fn mixes(state: &[Svc], wanted: &[String]) -> Vec<Mix> {
    let clusterip = spread(state, |s| s.cluster_ip.is_some());
    let headless_svcs = spread(state, |s| s.cluster_ip.is_none());
    let mut all = vec![
        Mix {
            name: "clusterip",
            lines: clusterip
                .iter()
                .map(|s| format!("{} A", s.fqdn()))
                .collect(),
        },
        Mix {
            name: "headless",
            lines: headless_svcs
                .iter()
                .map(|s| format!("{} A", s.fqdn()))
                .collect(),
        },
        Mix {
            name: "srv",
            lines: clusterip
                .iter()
                .map(|s| format!("_http._tcp.{} SRV", s.fqdn()))
                .collect(),
        },
        Mix {
            name: "ptr",
            lines: clusterip
                .iter()
                .filter_map(|s| s.cluster_ip.as_ref())
                .map(|ip| {
                    let rev: Vec<&str> = ip.split('.').rev().collect();
                    format!("{}.in-addr.arpa PTR", rev.join("."))
                })
                .collect(),
        },
        // What a pod in a service's namespace asks for an external name with ndots:5 before
        // the name itself: one NXDOMAIN per search domain.
        Mix {
            name: "nxdomain",
            lines: clusterip
                .iter()
                .flat_map(|s| {
                    [
                        format!("www.example.test.{}.svc.cluster.local A", s.ns),
                        "www.example.test.svc.cluster.local A".into(),
                        "www.example.test.cluster.local A".into(),
                    ]
                })
                .collect(),
        },
        // forward + cache to the knotd upstream; knotd (the baseline) answers it itself.
        Mix {
            name: "external",
            lines: vec!["www.example.test A".into()],
        },
    ];
    all.retain(|m| !m.lines.is_empty() && wanted.iter().any(|w| w == "all" || w == m.name));
    all
}

/// A server under measurement: cluster-dns, CoreDNS or knotd.
struct Target {
    name: &'static str,
    port: u16,
    pid: u32,
    /// spawn -> ready (every watched kind listed; knotd: zones loaded).
    ready: Duration,
}

/// One server's figures at one state.
#[derive(Default, Clone)]
struct Figures {
    /// Saturation QPS per mix, one per round.
    qps: BTreeMap<String, Vec<f64>>,
    /// Server CPU per answered query at the fixed rate, microseconds; and that rate achieved.
    cpu_us: f64,
    fixed_qps: f64,
    /// Latencies (ms) of every answer at half of CoreDNS's saturation.
    latencies: Vec<f64>,
    lost_at_half: String,
    rss_kib: u64,
    hwm_kib: u64,
    ready: Duration,
    /// A full re-list (410 Gone): VmRSS just before it, and the peak from then until the
    /// servers answer from the new list (None for knotd, which watches nothing).
    relist: Option<Relist>,
}

#[derive(Clone, Copy)]
struct Relist {
    before_kib: u64,
    peak_kib: u64,
}

fn dnsperf(target: &Target, queries: &Path, secs: u64, rate: Option<u64>, latencies: bool) -> Perf {
    Dnsperf {
        wrapper: &["taskset", "-c", CLIENT_CPU],
        rate,
        latencies,
        ..Dnsperf::new("127.0.0.1", target.port, queries, secs)
    }
    .run()
}

/// status and sorted answers of `name type` from `port`, to compare the servers.
fn answer_of(port: u16, line: &str) -> String {
    let mut args: Vec<&str> = line.split_whitespace().collect();
    args.extend(["+time=2", "+tries=1"]);
    let r = dig(port, &args);
    format!(
        "{} {}",
        r.status.as_deref().unwrap_or("no answer"),
        r.answers().join("; ")
    )
}

/// (round, server index) in the order the rounds take: each round starts one server later,
/// so drift in the machine's load hits every server.
fn alternating(rounds: usize, servers: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rounds).flat_map(move |round| (0..servers).map(move |k| (round, (k + round) % servers)))
}

/// Measures the targets on every mix: saturation in alternating rounds (the order turns each
/// round, so drift in the machine's load hits every server), then CPU per query at a fixed
/// rate and latency at half of CoreDNS's saturation (CoreDNS is `targets[1]`), each in
/// alternating rounds too.
fn measure(
    targets: &[Target],
    mixes: &[(String, PathBuf)],
    secs: u64,
    rounds: usize,
    latency_rounds: usize,
) -> Vec<Figures> {
    let mut figures: Vec<Figures> = targets
        .iter()
        .map(|t| Figures {
            ready: t.ready,
            ..Default::default()
        })
        .collect();
    for (round, i) in alternating(rounds, targets.len()) {
        for (mix, file) in mixes {
            let perf = dnsperf(&targets[i], file, secs, None, false);
            eprintln!(
                "round {round}: {} {mix}: {:.0} QPS, lost {}",
                targets[i].name, perf.qps, perf.lost
            );
            figures[i]
                .qps
                .entry(mix.clone())
                .or_default()
                .push(perf.qps);
        }
    }
    let (first, headline) = &mixes[0];
    let saturation: Vec<f64> = figures
        .iter()
        .map(|f| median(f.qps.get(first).map(Vec::as_slice).unwrap_or(&[])))
        .collect();
    let slowest = saturation.iter().copied().fold(f64::INFINITY, f64::min);
    let fixed = FIXED_RATE.min(0.8 * slowest).max(1000.0) as u64;
    let half = (saturation.get(1).copied().unwrap_or(slowest) / 2.0).max(1000.0) as u64;
    // The cost of a wake-up on this VM moves from minute to minute (one server measured once
    // read 7.5 µs in one state and 36 µs in the next): alternating rounds, the median.
    let mut cpu_us: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    for (round, i) in alternating(rounds, targets.len()) {
        let target = &targets[i];
        let before = cpu_time(target.pid);
        let perf = dnsperf(target, headline, secs, Some(fixed), false);
        let used = cpu_time(target.pid).saturating_sub(before);
        let us = used.as_secs_f64() * 1e6 / perf.completed.max(1) as f64;
        cpu_us[i].push(us);
        figures[i].fixed_qps = perf.qps;
        eprintln!(
            "round {round}: {} at {fixed} QPS: {us:.2} µs CPU per answer",
            target.name
        );
    }
    for (figure, samples) in figures.iter_mut().zip(&cpu_us) {
        figure.cpu_us = median(samples);
    }
    // Latency moves with the machine's minute as the CPU figure does (one run per server put a
    // p99 of 16 ms on knotd at 10k services and 0.4 ms in the run before): alternating rounds,
    // and of each server the round whose p99 is the median, whose whole distribution the table
    // and the plot then show.
    let mut latency_runs: Vec<Vec<(Vec<f64>, String)>> = vec![Vec::new(); targets.len()];
    for (round, i) in alternating(latency_rounds, targets.len()) {
        let perf = dnsperf(&targets[i], headline, secs, Some(half), true);
        let mut lat = perf.latencies_ms;
        lat.sort_by(f64::total_cmp);
        eprintln!(
            "round {round}: {} at {half} QPS: p99 {:.3} ms",
            targets[i].name,
            quantile(&lat, 0.99)
        );
        latency_runs[i].push((lat, perf.lost));
    }
    for (i, target) in targets.iter().enumerate() {
        let mut runs = std::mem::take(&mut latency_runs[i]);
        runs.sort_by(|a, b| quantile(&a.0, 0.99).total_cmp(&quantile(&b.0, 0.99)));
        let middle = runs.len() / 2;
        if let Some((lat, lost)) = runs.into_iter().nth(middle) {
            figures[i].latencies = lat;
            figures[i].lost_at_half = lost;
        }
        let (hwm, rss) = memory_kib(target.pid);
        figures[i].hwm_kib = hwm;
        figures[i].rss_kib = rss;
    }
    eprintln!("fixed rate {fixed} QPS, half of CoreDNS's saturation {half} QPS");
    figures
}

/// The address the re-list marker's slice holds: in no other range the bench writes.
const MARKER_IP: &str = "198.19.254.1";

/// What a full re-list costs in memory, for each watching server among `targets` (knotd
/// excluded): the servers are frozen (SIGSTOP) while the API server restarts, a headless
/// service with a slice is added and etcd compacts its history; woken, their watches come back
/// to 410 Gone and every kind is listed again. VmHWM is reset (clear_refs 5) just before, so
/// the peak read once both servers answer the marker with its address (both kinds re-listed)
/// is the re-list's own. This is the apiserver restart that makes large clusters' CoreDNS
/// replicas double their memory.
async fn relist_peaks(
    cp: &ControlPlane,
    client: &kube::Client,
    ns: &str,
    targets: &[Target],
) -> Vec<Relist> {
    let before: Vec<u64> = targets
        .iter()
        .map(|t| {
            let (_, rss) = memory_kib(t.pid);
            // Without the reset, VmHWM would be the whole run's peak (the initial sync's).
            if let Err(e) = std::fs::write(format!("/proc/{}/clear_refs", t.pid), "5") {
                eprintln!(
                    "re-list: cannot reset {}'s VmHWM, its peak is the run's: {e}",
                    t.name
                );
            }
            rss
        })
        .collect();
    for t in targets {
        signal(t.pid, libc::SIGSTOP);
    }
    cp.kill_apiserver();
    cp.start_apiserver();
    let marker = "relist-marker";
    let _: Service = create_object(client, ns, headless_service_json(marker, &[])).await;
    create_service_slice(client, ns, marker, &format!("{marker}-1"), &[MARKER_IP]).await;
    cp.compact_etcd();
    for t in targets {
        signal(t.pid, libc::SIGCONT);
    }
    let name = format!("{marker}.{ns}.svc.cluster.local");
    let want = vec![format!("A {MARKER_IP}")];
    let began = Instant::now();
    let mut peaks = Vec::new();
    for (t, before_kib) in targets.iter().zip(before) {
        while dig(t.port, &[&name, "A", "+time=1", "+tries=1"]).answers() != want {
            assert!(
                began.elapsed() < Duration::from_secs(600),
                "{} did not answer {name} after the re-list",
                t.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (peak_kib, _) = memory_kib(t.pid);
        eprintln!(
            "re-list: {} answered the marker {:.1?} after SIGCONT; VmRSS before {before_kib} KiB, peak {peak_kib} KiB",
            t.name,
            began.elapsed()
        );
        peaks.push(Relist {
            before_kib,
            peak_kib,
        });
    }
    delete_object::<EndpointSlice>(client, ns, &format!("{marker}-1")).await;
    delete_object::<Service>(client, ns, marker).await;
    peaks
}

/// One edit the change driver made.
struct Change {
    /// The question that shows it, and what in the answer does.
    name: String,
    rtype: RecordType,
    shows: Shows,
    acked: Instant,
}

#[derive(Clone, Copy)]
enum Shows {
    /// A headless service's slice now holds only this address (a generation).
    Address(u32),
    /// A service's port is now this generation's.
    Port(u32),
}

/// Whether `response` shows `shows` or a later generation of the same object (a later edit
/// of it may land before the prober sees this one).
fn shows_change(response: &Message, shows: Shows) -> bool {
    response.answers.iter().any(|r| match (&r.data, shows) {
        (RData::A(a), Shows::Address(g)) => {
            let o = a.0.octets();
            if o[0] != 198 || o[1] != 19 || !(250..254).contains(&o[2]) {
                return false;
            }
            let seen = u32::from(o[2] - 250) * 256 + u32::from(o[3]);
            (seen + 1024 - g % 1024) % 1024 < 512
        }
        (RData::SRV(srv), Shows::Port(g)) => {
            let seen = u32::from(srv.port).saturating_sub(1000);
            seen >= g % 30_000
        }
        _ => false,
    })
}

/// Asks `server` for `change`'s name every [`PROBE_EVERY`] until the answer shows it: the
/// time from the API's acknowledgement to that answer, or `None` past [`PROBE_LIMIT`].
async fn probe(server: SocketAddr, change: Arc<Change>) -> Option<Duration> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let mut id: u16 = id_seed(&change.name);
    let name = Name::from_ascii(&change.name).ok()?;
    let mut buf = vec![0u8; 4096];
    loop {
        id = id.wrapping_add(1);
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.queries.push(Query::query(name.clone(), change.rtype));
        let bytes = m.to_vec().ok()?;
        let _ = socket.send_to(&bytes, server).await;
        // The reply to this query, skipping late replies to earlier ones: read one datagram
        // per query and a single slow reply would leave every later read one reply behind.
        let deadline = tokio::time::Instant::now() + PROBE_EVERY * 30;
        let mut reply = None;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            if let Ok(response) = Message::from_vec(&buf[..n])
                && response.metadata.id == id
            {
                reply = Some(response);
                break;
            }
        }
        if reply.is_some_and(|r| shows_change(&r, change.shows)) {
            return Some(change.acked.elapsed());
        }
        if change.acked.elapsed() > PROBE_LIMIT {
            return None;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// A query ID that differs between probes of different names.
fn id_seed(name: &str) -> u16 {
    name.bytes()
        .fold(0u16, |h, b| h.wrapping_mul(31).wrapping_add(u16::from(b)))
}

/// What the change driver saw at one rate.
struct Programming {
    rate: u64,
    /// Changes the API acknowledged, and over how long.
    written: usize,
    write_span: Duration,
    /// Per server: latencies (ms, sorted) and the names of changes never answered.
    per_server: Vec<(Vec<f64>, Vec<String>)>,
    /// cluster-dns's publishes that copied its whole cache (a reader held the spare) during
    /// the run, from its metrics.
    copies: Option<f64>,
    /// The services edited, to put back afterwards.
    edited: Vec<Svc>,
}

/// Edits the state at `rate` changes per second for `secs` (alternately a headless service's
/// EndpointSlice, to one new address, and a ClusterIP service's port), and times each edit
/// from the API's acknowledgement to the answer showing it, on every server at once.
async fn drive_changes(
    client: &kube::Client,
    state: &[Svc],
    servers: &[SocketAddr],
    rate: u64,
    secs: u64,
) -> Programming {
    let headless_svcs: Vec<&Svc> = state.iter().filter(|s| s.cluster_ip.is_none()).collect();
    let clusterip: Vec<&Svc> = state.iter().filter(|s| s.cluster_ip.is_some()).collect();
    let total = (rate * secs) as usize;
    let mut generations: BTreeMap<String, u32> = BTreeMap::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut writes = tokio::task::JoinSet::new();
    let mut edited = Vec::new();
    let began = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let pool = if n % 2 == 0 && !headless_svcs.is_empty() {
            &headless_svcs
        } else {
            &clusterip
        };
        let svc = pool[(n / 2) % pool.len()];
        let generation = generations.entry(svc.fqdn()).or_insert(0);
        if *generation == 0 {
            edited.push(svc.clone());
        }
        *generation += 1;
        let generation = *generation;
        let client = client.clone();
        let svc = svc.clone();
        let servers = servers.to_vec();
        writes.spawn(async move {
            let (name, rtype, shows) = if svc.cluster_ip.is_none() {
                let patch = json!({"endpoints": [
                    {"addresses": [change_ip(generation)], "conditions": {"ready": true}}
                ]});
                Api::<EndpointSlice>::namespaced(client, &svc.ns)
                    .patch(
                        &format!("{}-1", svc.name),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .ok()?;
                (svc.fqdn(), RecordType::A, Shows::Address(generation))
            } else {
                let patch = json!({"spec": {"ports": [
                    {"name": "http", "port": change_port(generation), "protocol": "TCP"}
                ]}});
                Api::<Service>::namespaced(client, &svc.ns)
                    .patch(&svc.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .ok()?;
                (
                    format!("_http._tcp.{}", svc.fqdn()),
                    RecordType::SRV,
                    Shows::Port(generation),
                )
            };
            let change = Arc::new(Change {
                name: format!("{name}."),
                rtype,
                shows,
                acked: Instant::now(),
            });
            let acked_after = began.elapsed();
            let probes = servers
                .iter()
                .map(|s| probe(*s, change.clone()))
                .collect::<Vec<_>>();
            let seen = futures::future::join_all(probes).await;
            Some((acked_after, change.name.clone(), seen))
        });
    }
    let mut written = 0;
    let mut last_ack = Duration::ZERO;
    let mut per_server: Vec<(Vec<f64>, Vec<String>)> =
        vec![(Vec::new(), Vec::new()); servers.len()];
    while let Some(done) = writes.join_next().await {
        let Ok(Some((acked_after, name, seen))) = done else {
            continue;
        };
        written += 1;
        last_ack = last_ack.max(acked_after);
        for (i, latency) in seen.into_iter().enumerate() {
            match latency {
                Some(d) => per_server[i].0.push(d.as_secs_f64() * 1000.0),
                None => per_server[i].1.push(name.clone()),
            }
        }
    }
    for (lat, _) in &mut per_server {
        lat.sort_by(f64::total_cmp);
    }
    Programming {
        rate,
        written,
        write_span: last_ack,
        per_server,
        copies: None,
        edited,
    }
}

/// Everything measured at one state.
struct StateRun {
    services: usize,
    endpoints: usize,
    mixes: Vec<String>,
    figures: Vec<Figures>,
    programming: Vec<Programming>,
}

const NAMES: [&str; 3] = ["cluster-dns", "CoreDNS", "knotd"];

/// The ratio table of one state, as markdown.
fn table(run: &StateRun, secs: u64, rounds: usize, latency_rounds: usize) -> String {
    let mut out = String::new();
    let [ours, coredns, knot] = [&run.figures[0], &run.figures[1], &run.figures[2]];
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let latency = if latency_rounds == rounds {
        String::new()
    } else {
        format!(", {latency_rounds} for latency")
    };
    let _ = writeln!(
        out,
        "\n### {} services, {} endpoints ({rounds} alternating round{} of {secs} s{latency}; medians)\n",
        run.services,
        run.endpoints,
        plural(rounds)
    );
    let _ = writeln!(
        out,
        "| figure | cluster-dns | CoreDNS | knotd | ours / CoreDNS | ours / knotd |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for mix in &run.mixes {
        let q = |f: &Figures| median(f.qps.get(mix.as_str()).map(Vec::as_slice).unwrap_or(&[]));
        let (a, b, c) = (q(ours), q(coredns), q(knot));
        let _ = writeln!(
            out,
            "| QPS per core, {mix} | {a:.0} | {b:.0} | {c:.0} | {} | {} |",
            ratio(a, b),
            ratio(a, c)
        );
    }
    let _ = writeln!(
        out,
        "| CPU per answer at {:.0} QPS ({}) | {:.2} µs | {:.2} µs | {:.2} µs | {} | {} |",
        ours.fixed_qps,
        run.mixes[0],
        ours.cpu_us,
        coredns.cpu_us,
        knot.cpu_us,
        ratio(ours.cpu_us, coredns.cpu_us),
        ratio(ours.cpu_us, knot.cpu_us)
    );
    for (label, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
        let l = |f: &Figures| quantile(&f.latencies, q);
        let _ = writeln!(
            out,
            "| {label} latency at half of CoreDNS's saturation | {:.3} ms | {:.3} ms | {:.3} ms | {} | {} |",
            l(ours),
            l(coredns),
            l(knot),
            ratio(l(ours), l(coredns)),
            ratio(l(ours), l(knot))
        );
    }
    let mib = |k: u64| k as f64 / 1024.0;
    for (label, of) in [
        (
            "VmRSS after the load",
            (|f: &Figures| f.rss_kib) as fn(&Figures) -> u64,
        ),
        ("VmHWM", |f: &Figures| f.hwm_kib),
    ] {
        let [a, b, c] = [of(ours), of(coredns), of(knot)];
        let _ = writeln!(
            out,
            "| {label} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {} | {} |",
            mib(a),
            mib(b),
            mib(c),
            ratio(a as f64, b as f64),
            ratio(a as f64, c as f64)
        );
    }
    if let (Some(a), Some(b)) = (ours.relist, coredns.relist) {
        let _ = writeln!(
            out,
            "| VmRSS peak during a full re-list (410 Gone) | {:.1} MiB | {:.1} MiB | - | {} | - |",
            mib(a.peak_kib),
            mib(b.peak_kib),
            ratio(a.peak_kib as f64, b.peak_kib as f64)
        );
        let over = |r: Relist| r.peak_kib as f64 / r.before_kib.max(1) as f64;
        let _ = writeln!(
            out,
            "| same, over VmRSS just before it | {:.2}x | {:.2}x | - | {} | - |",
            over(a),
            over(b),
            ratio(over(a), over(b))
        );
    }
    let s = |d: Duration| d.as_secs_f64() * 1000.0;
    let _ = writeln!(
        out,
        "| spawn -> ready (knotd: zone loaded) | {:.0} ms | {:.0} ms | {:.0} ms | {} | {} |",
        s(ours.ready),
        s(coredns.ready),
        s(knot.ready),
        ratio(s(ours.ready), s(coredns.ready)),
        ratio(s(ours.ready), s(knot.ready))
    );
    for p in &run.programming {
        let achieved = p.written as f64 / p.write_span.as_secs_f64().max(1e-3);
        for (label, q) in [("median", 0.5), ("p99", 0.99)] {
            let l = |i: usize| quantile(&p.per_server[i].0, q);
            let _ = writeln!(
                out,
                "| programming latency at {} changes/s ({achieved:.0}/s achieved), {label} | {:.1} ms | {:.1} ms | - | {} | - |",
                p.rate,
                l(0),
                l(1),
                ratio(l(0), l(1))
            );
        }
        let _ = writeln!(
            out,
            "| same: changes never answered (of {}) | {} | {} | - | - | - |",
            p.written,
            p.per_server[0].1.len(),
            p.per_server[1].1.len()
        );
    }
    // What explains a slow or lost change: the names, and whether publishing had to copy.
    for p in &run.programming {
        for (server, (_, never)) in NAMES.iter().zip(&p.per_server) {
            if !never.is_empty() {
                let shown: Vec<&str> = never.iter().take(10).map(String::as_str).collect();
                let _ = writeln!(
                    out,
                    "\n{server} never answered at {}/s: {}{}",
                    p.rate,
                    shown.join(", "),
                    if never.len() > shown.len() {
                        ", ..."
                    } else {
                        ""
                    }
                );
            }
        }
        if let Some(copies) = p.copies {
            let _ = writeln!(
                out,
                "\ncluster-dns at {}/s: {copies} publishes copied the whole cache",
                p.rate
            );
        }
    }
    out
}

/// The plots' data: one file per plot, gnuplot's whitespace columns (scripts/bench draws them).
fn write_data(dir: &Path, runs: &[StateRun]) {
    std::fs::create_dir_all(dir).expect("create the bench output directory");
    let mut qps = String::from("# services mix cluster-dns CoreDNS knotd\n");
    let mut rss = String::from(
        "# objects(services+slices+endpoints) cluster-dns CoreDNS knotd (VmRSS KiB)\n",
    );
    for run in runs {
        for mix in &run.mixes {
            let q: Vec<String> = run
                .figures
                .iter()
                .map(|f| {
                    format!(
                        "{:.0}",
                        median(f.qps.get(mix.as_str()).map(Vec::as_slice).unwrap_or(&[]))
                    )
                })
                .collect();
            let _ = writeln!(qps, "{} {mix} {}", run.services, q.join(" "));
        }
        let r: Vec<String> = run.figures.iter().map(|f| f.rss_kib.to_string()).collect();
        let _ = writeln!(rss, "{} {}", run.services * 2 + run.endpoints, r.join(" "));
    }
    std::fs::write(dir.join("qps.dat"), qps).expect("write qps.dat");
    std::fs::write(dir.join("rss.dat"), rss).expect("write rss.dat");
    // CDFs of the largest state: latency at half of CoreDNS's saturation, programming latency.
    let Some(last) = runs.last() else { return };
    let cdf = |v: &[f64]| -> String {
        let n = v.len().max(1) as f64;
        let step = (v.len() / 2000).max(1);
        let mut out = String::new();
        for (i, x) in v.iter().enumerate() {
            if i % step == 0 || i + 1 == v.len() {
                let _ = writeln!(out, "{x:.4} {:.5}", (i + 1) as f64 / n);
            }
        }
        out
    };
    for (i, f) in last.figures.iter().enumerate() {
        std::fs::write(
            dir.join(format!("latency-{}.dat", NAMES[i])),
            cdf(&f.latencies),
        )
        .expect("write latency data");
    }
    for p in &last.programming {
        for (i, (lat, _)) in p.per_server.iter().enumerate() {
            std::fs::write(
                dir.join(format!("programming-{}-{}.dat", p.rate, NAMES[i])),
                cdf(lat),
            )
            .expect("write programming data");
        }
    }
}

/// knotd serving the state's zones on CPU 0, and when it answered the last service.
fn start_knot(state: &[Svc]) -> (Knot, Duration) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let zones = zones(state);
    let refs: Vec<(&str, &str)> = zones
        .iter()
        .map(|(d, t)| (d.as_str(), t.as_str()))
        .collect();
    let started = Instant::now();
    let knot = Knot::start_serving(&["taskset", "-c", &SERVER_CPU.to_string()], addr, &refs);
    let last = state.last().expect("a state").fqdn();
    let deadline = Instant::now() + Duration::from_secs(120);
    while dig(addr.port(), &[&last, "A", "+time=1", "+tries=1"])
        .answer
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "knotd did not load the zone: {}",
            knot.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (knot, started.elapsed())
}

/// Waits (at most `SETTLE_AT_MOST`) until the control plane uses less than `SETTLE_CPU` of a
/// core over a `SETTLE_WINDOW`: after a large populate kube-apiserver and
/// kube-controller-manager keep busy for minutes (about 60% of a core each at 100k), and
/// that load would land on the measured servers' core.
async fn settle(cp: &ControlPlane) {
    let began = Instant::now();
    let used = || -> Duration { cp.pids().into_iter().map(cpu_time).sum() };
    loop {
        let before = used();
        tokio::time::sleep(SETTLE_WINDOW).await;
        let share = used().saturating_sub(before).as_secs_f64() / SETTLE_WINDOW.as_secs_f64();
        if share < SETTLE_CPU || began.elapsed() > SETTLE_AT_MOST {
            eprintln!(
                "control plane at {:.0}% of a core after {:.0?} settling",
                share * 100.0,
                began.elapsed()
            );
            return;
        }
    }
}

const SETTLE_CPU: f64 = 0.15;
const SETTLE_WINDOW: Duration = Duration::from_secs(5);
const SETTLE_AT_MOST: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: scripts/bench runs it"]
async fn bench() {
    coredns_binary(); // fail before populating when it is missing
    let states: Vec<usize> = env_list("SIGNPOST_BENCH_STATES", "1000")
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let wanted = env_list("SIGNPOST_BENCH_MIXES", "clusterip");
    let secs: u64 = env_or("SIGNPOST_BENCH_SECONDS", 5);
    let rounds: usize = env_or("SIGNPOST_BENCH_ROUNDS", 1);
    let latency_rounds: usize = env_or("SIGNPOST_BENCH_LATENCY_ROUNDS", rounds);
    let rates: Vec<u64> = env_list("SIGNPOST_BENCH_RATES", "100")
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let out = std::env::var_os("SIGNPOST_BENCH_OUT").map(PathBuf::from);

    let cp = ControlPlane::for_bench();
    let client = cp.client().await;
    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(cp.namespace("bench").await);
    }
    // The forward plugin's upstream for the external mix, on the client's core.
    let upstream = Knot::start_via(
        &["taskset", "-c", CLIENT_CPU],
        format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address"),
    );
    let corefile = COREFILE.replace("{UPSTREAM}", &upstream.addr.to_string());
    let files = TempDir::new("bench");

    let mut state: Vec<Svc> = Vec::new();
    let mut runs = Vec::new();
    let mut report = String::new();
    for &services in &states {
        let began = Instant::now();
        let added = populate(&client, &namespaces, state.len(), services).await;
        state.extend(added);
        eprintln!(
            "state: {} services ({} headless) in the API; populating took {:.1?}",
            state.len(),
            state.iter().filter(|s| s.cluster_ip.is_none()).count(),
            began.elapsed()
        );

        settle(cp).await;

        let spawned = Instant::now();
        let mut ours = Server::cluster_dns_on(Some(SERVER_CPU), &corefile, cp.kubeconfig());
        ours.wait_ready(Duration::from_secs(600));
        ours.wait_serving(Duration::from_secs(10));
        let ours_ready = spawned.elapsed();
        let spawned = Instant::now();
        let mut coredns = Server::coredns_on(Some(SERVER_CPU), &corefile, cp.kubeconfig());
        coredns.wait_ready(Duration::from_secs(600));
        coredns.wait_serving(Duration::from_secs(10));
        let coredns_ready = spawned.elapsed();
        let (knot, knot_ready) = start_knot(&state);
        let targets = [
            Target {
                name: NAMES[0],
                port: ours.port,
                pid: ours.pid(),
                ready: ours_ready,
            },
            Target {
                name: NAMES[1],
                port: coredns.port,
                pid: coredns.pid(),
                ready: coredns_ready,
            },
            Target {
                name: NAMES[2],
                port: knot.addr.port(),
                pid: knot.pid(),
                ready: knot_ready,
            },
        ];

        let mixes = mixes(&state, &wanted);
        let mut files_of = Vec::new();
        let mut differ = Vec::new();
        for mix in &mixes {
            let path = files.path().join(format!("{}-{services}.txt", mix.name));
            std::fs::write(&path, mix.lines.join("\n") + "\n").expect("write a query file");
            files_of.push((mix.name.to_string(), path));
            // The servers must agree before their speeds mean anything: a few lines of each.
            for line in mix.lines.iter().step_by((mix.lines.len() / 5).max(1)) {
                let a = answer_of(ours.port, line);
                for t in &targets[1..] {
                    let b = answer_of(t.port, line);
                    // knotd is no cluster DNS: it may order or flag differently, and it answers
                    // example.test itself; compare status and records only.
                    if a != b {
                        differ.push(format!("{line}: cluster-dns `{a}`, {} `{b}`", t.name));
                    }
                }
            }
        }
        for d in &differ {
            eprintln!("answers differ: {d}");
        }

        let mut figures = measure(&targets, &files_of, secs, rounds, latency_rounds);
        let mut programming = Vec::new();
        for &rate in &rates {
            let servers = [
                SocketAddr::from(([127, 0, 0, 1], ours.port)),
                SocketAddr::from(([127, 0, 0, 1], coredns.port)),
            ];
            let copies = || ours.metric("signpost_kubernetes_snapshot_copies_total");
            let copies_before = copies();
            let began = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let mut p = drive_changes(&client, &state, &servers, rate, secs).await;
            p.copies = copies()
                .zip(copies_before)
                .map(|(after, before)| after - before);
            eprintln!(
                "programming at {rate}/s: {} changes written in {:.1?}, from unix time {:.3}",
                p.written,
                p.write_span,
                began.as_secs_f64()
            );
            // A change never answered: late, or lost? Ask once more, now.
            for name in p.per_server[0].1.iter().take(3) {
                let rtype = if name.starts_with('_') { "SRV" } else { "A" };
                eprintln!(
                    "cluster-dns now answers {name} {rtype}: {}",
                    answer_of(ours.port, &format!("{name} {rtype}"))
                );
            }
            programming.push(p);
        }
        for (f, r) in figures
            .iter_mut()
            .zip(relist_peaks(cp, &client, &namespaces[0], &targets[..2]).await)
        {
            f.relist = Some(r);
        }
        let run = StateRun {
            services,
            endpoints: services * ENDPOINTS_PER_SLICE,
            mixes: mixes.iter().map(|m| m.name.to_string()).collect(),
            figures,
            programming,
        };
        let text = table(&run, secs, rounds, latency_rounds);
        println!("{text}");
        report.push_str(&text);
        if !differ.is_empty() {
            let _ = writeln!(report, "\nanswers that differ (status and sorted answers):");
            for d in &differ {
                let _ = writeln!(report, "- {d}");
            }
        }
        runs.push(run);
        // Written after every state, so that a run cut short keeps what it measured.
        if let Some(dir) = &out {
            write_data(dir, &runs);
            std::fs::write(dir.join("table.md"), &report).expect("write table.md");
            // The servers' own logs (watch errors, re-lists), to explain a figure.
            for (name, server) in [("cluster-dns", &ours), ("coredns", &coredns)] {
                let path = dir.join(format!("{name}-{services}.log"));
                std::fs::write(path, server.log()).expect("write a server's log");
            }
        }
        drop(ours);
        drop(coredns);
        drop(knot);
        // The edits above changed ports and endpoints; later states and the zone for knotd
        // must describe what the API holds, so put them back.
        for p in &runs.last().expect("this state's run").programming {
            restore(&client, &p.edited).await;
        }
    }
}

/// Puts back the ports and slices of `edited`.
async fn restore(client: &kube::Client, edited: &[Svc]) {
    let mut done = futures::stream::iter(edited.iter().cloned())
        .map(|svc| {
            let client = client.clone();
            async move {
                if svc.cluster_ip.is_some() {
                    let patch = json!({"spec": {"ports": [
                        {"name": "http", "port": 80, "protocol": "TCP"}
                    ]}});
                    let _ = Api::<Service>::namespaced(client, &svc.ns)
                        .patch(&svc.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                } else {
                    let endpoints: Vec<_> = svc
                        .endpoints
                        .iter()
                        .map(|a| json!({"addresses": [a], "conditions": {"ready": true}}))
                        .collect();
                    let patch = json!({ "endpoints": endpoints });
                    let _ = Api::<EndpointSlice>::namespaced(client, &svc.ns)
                        .patch(
                            &format!("{}-1", svc.name),
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await;
                }
            }
        })
        .buffer_unordered(IN_FLIGHT);
    while done.next().await.is_some() {}
}
