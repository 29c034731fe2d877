//! `bench/watch-sync`: the watch cache's initial sync and memory for 10k services with 30k
//! endpoints on the test control plane, and how soon a change answers after the API took it;
//! cluster-dns first, then CoreDNS (the baseline, `$SIGNPOST_COREDNS`, built by
//! scripts/baseline/coredns-build) against the same populated API in the same run, with the
//! same Corefile and the same measurements, one at a time. Reports both and the ratios, asserts
//! nothing beyond the answers being right. Ignored: `bench/watch-sync` runs it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use signpost_tests::baseline::{Server, coredns_binary, mib, ratio};
use signpost_tests::kube_fixtures::{cluster_ip_service_json, create_object, create_service_slice};
use signpost_tests::{ControlPlane, DigResult};

const SERVICES: usize = 10_000;
const NAMESPACES: usize = 10;
const ENDPOINTS_PER_SLICE: usize = 3;
const IN_FLIGHT: usize = 32;
const UPDATES: usize = 20;

/// The Corefile both servers run (`{BIND}`: see [`Server::coredns`]).
const COREFILE: &str = "cluster.local:{PORT} in-addr.arpa:{PORT} ip6.arpa:{PORT} {
    {BIND}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        startup_timeout 120s
    }
}
";

/// The `n`th endpoint address: unique, in 198.19.0.0/16 and clear of 198.19.255.254.
fn endpoint_ip(n: usize) -> String {
    format!("198.19.{}.{}", n / 256, n % 256)
}

/// `line` without terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One server's figures.
struct Figures {
    /// spawn -> GET /ready answers 200 (every watched kind listed in full).
    ready: Duration,
    /// spawn -> the first DNS answer of any kind.
    serving: Duration,
    /// spawn -> the last service created answers with its address.
    answered: Duration,
    /// (VmHWM, VmRSS) in KiB right after `answered`, and 5 s later.
    at_sync: (u64, u64),
    steady: (u64, u64),
    /// CPU time used from spawn to `answered`, and to 5 s later.
    cpu_sync: Duration,
    cpu_steady: Duration,
    /// Programming latency of UPDATES new services: median and max.
    median: Duration,
    max: Duration,
    /// The server's own log, for what only it reports.
    log: String,
}

fn answers(r: &DigResult) -> bool {
    r.status.as_deref() == Some("NOERROR") && !r.answer.is_empty()
}

/// Starts a server (`spawn`, given the Corefile and kubeconfig) against the populated API and
/// measures it; `tag` names its update services so the two servers' updates are distinct.
async fn measure(
    spawn: fn(&str, &std::path::Path) -> Server,
    cp: &ControlPlane,
    client: &kube::Client,
    namespaces: &[String],
    last_fqdn: &str,
    tag: &str,
) -> Figures {
    let spawned = Instant::now();
    let mut server = spawn(COREFILE, cp.kubeconfig());
    let (mut ready, mut serving, mut answered) = (None, None, None);
    while ready.is_none() || answered.is_none() {
        server.assert_running();
        assert!(
            spawned.elapsed() < Duration::from_secs(180),
            "{}: not synced and answering within 180 s:\n{}",
            server.name,
            server.log()
        );
        if ready.is_none() && server.is_ready() {
            ready = Some(spawned.elapsed());
        }
        if answered.is_none() {
            let r = server.dig(&[last_fqdn, "A", "+time=1", "+tries=1"]);
            if r.status.is_some() && serving.is_none() {
                serving = Some(spawned.elapsed());
            }
            if answers(&r) {
                answered = Some(spawned.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_sync = server.memory_kib();
    let cpu_sync = server.cpu_time();
    std::thread::sleep(Duration::from_secs(5));
    let steady = server.memory_kib();
    let cpu_steady = server.cpu_time();

    // Programming latency: a new service acknowledged by the API -> dig answers it.
    let mut latencies = Vec::new();
    for n in 0..UPDATES {
        let name = format!("late-{tag}-{n}");
        let ns = &namespaces[n % NAMESPACES];
        let fqdn = format!("{name}.{ns}.svc.cluster.local");
        let _: Service = create_object(client, ns, cluster_ip_service_json(&name)).await;
        let acked = Instant::now();
        loop {
            let r = server.dig(&[&fqdn, "A", "+time=1", "+tries=1"]);
            if answers(&r) {
                break;
            }
            assert!(
                acked.elapsed() < Duration::from_secs(30),
                "{fqdn}: {}",
                r.raw
            );
        }
        latencies.push(acked.elapsed());
    }
    latencies.sort();
    Figures {
        ready: ready.expect("ready"),
        serving: serving.expect("serving"),
        answered: answered.expect("answered"),
        at_sync,
        steady,
        cpu_sync,
        cpu_steady,
        median: latencies[UPDATES / 2],
        max: latencies[UPDATES - 1],
        log: server.log(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bench/watch-sync runs it"]
async fn watch_sync_10k_services_30k_endpoints() {
    coredns_binary(); // fail before populating when it is missing
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(cp.namespace("bench").await);
    }

    let began = Instant::now();
    let mut done = futures::stream::iter(0..SERVICES)
        .map(|i| {
            let client = client.clone();
            let ns = namespaces[i % NAMESPACES].clone();
            async move {
                let name = format!("svc-{i}");
                let _: Service = create_object(&client, &ns, cluster_ip_service_json(&name)).await;
                let ips: Vec<String> = (0..ENDPOINTS_PER_SLICE)
                    .map(|j| endpoint_ip(i * ENDPOINTS_PER_SLICE + j))
                    .collect();
                let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
                create_service_slice(&client, &ns, &name, &format!("{name}-1"), &ips).await;
                (ns, name)
            }
        })
        .buffer_unordered(IN_FLIGHT);
    let mut last = None;
    let mut created = 0;
    while let Some(item) = done.next().await {
        created += 1;
        last = Some(item);
    }
    let populate = began.elapsed();
    let (last_ns, last_name) = last.expect("services were created");
    let last_fqdn = format!("{last_name}.{last_ns}.svc.cluster.local");
    eprintln!("populated {created} services + slices in {populate:.1?}");

    // One at a time, so neither competes with the other for the two cores.
    let ours = measure(
        Server::cluster_dns,
        cp,
        &client,
        &namespaces,
        &last_fqdn,
        "ours",
    )
    .await;
    eprintln!("cluster-dns measured; now CoreDNS");
    let theirs = measure(
        Server::coredns,
        cp,
        &client,
        &namespaces,
        &last_fqdn,
        "coredns",
    )
    .await;

    let synced_line = ours
        .log
        .lines()
        .find(|l| l.contains("cluster cache synced with the Kubernetes API"))
        .unwrap_or_else(|| panic!("no sync line in cluster-dns's log:\n{}", ours.log));
    let took = strip_ansi(synced_line)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("took=").map(str::to_string))
        .unwrap_or_else(|| "?".into());

    println!();
    println!(
        "watch-sync: {SERVICES} services, {} endpoints, {NAMESPACES} namespaces; \
         populating the API ({IN_FLIGHT} writes in flight) took {populate:.1?}",
        SERVICES * ENDPOINTS_PER_SLICE
    );
    println!("cluster-dns's own log: initial sync took={took}");
    println!("| what | cluster-dns | CoreDNS | ours / CoreDNS |");
    println!("|---|---|---|---|");
    let time_row = |what: &str, a: Duration, b: Duration| {
        println!(
            "| {what} | {} | {} | {} |",
            ms(a),
            ms(b),
            ratio(a.as_secs_f64(), b.as_secs_f64())
        );
    };
    let mem_row = |what: &str, a: u64, b: u64| {
        println!(
            "| {what} | {} | {} | {} |",
            mib(a),
            mib(b),
            ratio(a as f64, b as f64)
        );
    };
    time_row("spawn -> /ready 200 (synced)", ours.ready, theirs.ready);
    time_row("spawn -> first DNS answer", ours.serving, theirs.serving);
    time_row(
        "spawn -> last service answers",
        ours.answered,
        theirs.answered,
    );
    mem_row("VmRSS at sync", ours.at_sync.1, theirs.at_sync.1);
    mem_row("VmHWM at sync", ours.at_sync.0, theirs.at_sync.0);
    mem_row("VmRSS +5 s", ours.steady.1, theirs.steady.1);
    mem_row("VmHWM +5 s", ours.steady.0, theirs.steady.0);
    time_row("CPU time, spawn -> sync", ours.cpu_sync, theirs.cpu_sync);
    time_row(
        "CPU time, spawn -> +5 s",
        ours.cpu_steady,
        theirs.cpu_steady,
    );
    time_row(
        &format!("programming latency, {UPDATES} new services: median"),
        ours.median,
        theirs.median,
    );
    time_row("same: max", ours.max, theirs.max);
    println!(
        "(one after the other on the same populated API; dig polled back to back, one dig costs \
         a few ms, so latencies include that; CPU time from /proc/PID/stat, 10 ms ticks)"
    );
}
