//! `bench/watch-sync`: the watch cache's initial sync and memory for 10k services with 30k
//! endpoints on the test control plane, and how soon a change answers after the API took it.
//! Reports, asserts nothing beyond the answers being right. Ignored: `bench/watch-sync` runs it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use signpost_tests::kube_fixtures::{cluster_ip_service_json, create_object, create_service_slice};
use signpost_tests::{ClusterDns, ControlPlane};

const SERVICES: usize = 10_000;
const NAMESPACES: usize = 10;
const ENDPOINTS_PER_SLICE: usize = 3;
const IN_FLIGHT: usize = 32;
const UPDATES: usize = 20;

const COREFILE: &str = "cluster.local:{PORT} in-addr.arpa:{PORT} ip6.arpa:{PORT} {
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

/// VmHWM and VmRSS of `pid` in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
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

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bench/watch-sync runs it"]
async fn watch_sync_10k_services_30k_endpoints() {
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
    eprintln!("populated {created} services + slices in {populate:.1?}");

    // Spawn -> serving (start_watching waits for the first answer, which comes after the first
    // full list) -> the last service created answers.
    let spawned = Instant::now();
    let dns = ClusterDns::start_watching(COREFILE, cp.kubeconfig());
    let serving = spawned.elapsed();
    let last_fqdn = format!("{last_name}.{last_ns}.svc.cluster.local");
    dns.dig_until(&[&last_fqdn, "A"], Duration::from_secs(120), |r| {
        r.status.as_deref() == Some("NOERROR") && !r.answer.is_empty()
    });
    let answered = spawned.elapsed();
    let log = dns.log();
    let synced_line = log
        .lines()
        .find(|l| l.contains("cluster cache synced with the Kubernetes API"))
        .unwrap_or_else(|| panic!("no sync line in the log:\n{log}"));
    let took = strip_ansi(synced_line)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("took=").map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let (hwm_synced, rss_synced) = memory_kib(dns.pid());
    std::thread::sleep(Duration::from_secs(5));
    let (hwm, rss_steady) = memory_kib(dns.pid());

    // Programming latency: a new service acknowledged by the API -> dig answers it.
    let mut latencies = Vec::new();
    for n in 0..UPDATES {
        let name = format!("late-{n}");
        let ns = &namespaces[n % NAMESPACES];
        let fqdn = format!("{name}.{ns}.svc.cluster.local");
        let _: Service = create_object(&client, ns, cluster_ip_service_json(&name)).await;
        let acked = Instant::now();
        loop {
            let r = dns.dig(&[&fqdn, "A", "+time=1", "+tries=1"]);
            if r.status.as_deref() == Some("NOERROR") && !r.answer.is_empty() {
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
    let median = latencies[UPDATES / 2];
    let max = latencies[UPDATES - 1];

    println!();
    println!(
        "watch-sync: {SERVICES} services, {} endpoints, {NAMESPACES} namespaces",
        SERVICES * ENDPOINTS_PER_SLICE
    );
    println!("| what | figure |");
    println!("|---|---|");
    println!("| populate the API ({IN_FLIGHT} in flight) | {populate:.1?} |");
    println!("| initial sync (log `took=`) | {took} |");
    println!("| spawn -> serving | {serving:.1?} |");
    println!("| spawn -> last service answers | {answered:.1?} |");
    println!(
        "| RSS at sync (VmRSS / VmHWM) | {} / {} |",
        mib(rss_synced),
        mib(hwm_synced)
    );
    println!(
        "| RSS steady, +5 s (VmRSS / VmHWM) | {} / {} |",
        mib(rss_steady),
        mib(hwm)
    );
    println!(
        "| programming latency, {UPDATES} new services (median / max) | {median:.1?} / {max:.1?} |"
    );
    println!("(dig polled back to back; one dig costs a few ms, so latencies include that)");
}
