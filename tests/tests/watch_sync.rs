//! `bench/watch-sync`: the watch cache's initial sync and memory for 10k services with 30k
//! endpoints (`$SIGNPOST_BENCH_SERVICES` services, 3 endpoints each, with the pod and node names
//! the EndpointSlice controller writes) on the test control plane,
//! and how soon a change answers after the API took it; cluster-dns first, then CoreDNS (the
//! baseline, `$SIGNPOST_COREDNS`, built by scripts/baseline/coredns-build) against the same
//! populated API in the same run, with the same Corefile and the same measurements, one at a
//! time; then cluster-dns in snapshot mode from the same objects written to a file (`kubectl
//! get -o json` without managed fields). With `$SIGNPOST_CLUSTER_DNS_BEFORE` (another build of
//! cluster-dns) that build is measured too, in watch and snapshot mode, for before/after figures
//! from one run. Reports all and the ratios, asserts nothing beyond the answers being right.
//! Ignored: `bench/watch-sync` runs it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use signpost_tests::baseline::{Server, coredns_binary, mib, ratio};
use signpost_tests::kube_fixtures::{
    CLUSTER_IP_SERVICES_MAX, cluster_ip_service_json, create_object, endpoint_slice_json,
    headless_service_json,
};
use signpost_tests::{ControlPlane, DigResult, TempDir, cluster_dns_binary};

/// Services (each with one slice of [`ENDPOINTS_PER_SLICE`]) unless `$SIGNPOST_BENCH_SERVICES`
/// says how many.
const DEFAULT_SERVICES: usize = 10_000;
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

fn services() -> usize {
    std::env::var("SIGNPOST_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SERVICES)
}

/// The `n`th endpoint address in 198.19.0.0/16, clear of 198.19.255.0/24: unique up to 65280
/// endpoints, then repeating (the API allows one address in many slices; the index then holds
/// several services for it).
fn endpoint_ip(n: usize) -> String {
    let n = n % (255 * 256);
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
    /// Programming latency of UPDATES new services: median and max (watch mode only).
    latency: Option<(Duration, Duration)>,
    /// The server's own log, for what only it reports.
    log: String,
}

fn answers(r: &DigResult) -> bool {
    r.status.as_deref() == Some("NOERROR") && !r.answer.is_empty()
}

/// Starts a server (`spawn`, given the Corefile and kubeconfig) against the populated API and
/// measures it; `tag` names its update services so the servers' updates are distinct. With no
/// tag (snapshot mode: the server does not follow the API) no updates are timed.
async fn measure(
    spawn: &dyn Fn(&str, &std::path::Path) -> Server,
    cp: &ControlPlane,
    client: &kube::Client,
    namespaces: &[String],
    last_fqdn: &str,
    tag: Option<&str>,
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
    for n in 0..tag.map_or(0, |_| UPDATES) {
        let tag = tag.unwrap_or_default();
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
        latency: (latencies.len() == UPDATES)
            .then(|| (latencies[UPDATES / 2], latencies[UPDATES - 1])),
        log: server.log(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The cluster's Services, EndpointSlices and Namespaces as one `v1/List` in JSON, as
/// `kubectl get services,endpointslices,namespaces -A -o json` writes it (managed fields left
/// out, as kubectl shows them), for snapshot mode.
async fn write_snapshot(client: &kube::Client, path: &std::path::Path) {
    fn items<K: serde::Serialize>(list: Vec<K>, api_version: &str, kind: &str) -> Vec<Value> {
        list.into_iter()
            .map(|object| {
                let mut v = serde_json::to_value(object).expect("serialize");
                v["apiVersion"] = api_version.into();
                v["kind"] = kind.into();
                if let Some(meta) = v["metadata"].as_object_mut() {
                    meta.remove("managedFields");
                }
                v
            })
            .collect()
    }
    let all = ListParams::default();
    let services = Api::<Service>::all(client.clone()).list(&all).await;
    let slices = Api::<EndpointSlice>::all(client.clone()).list(&all).await;
    let namespaces = Api::<Namespace>::all(client.clone()).list(&all).await;
    let mut list = items(services.expect("list services").items, "v1", "Service");
    list.extend(items(
        slices.expect("list slices").items,
        "discovery.k8s.io/v1",
        "EndpointSlice",
    ));
    list.extend(items(
        namespaces.expect("list namespaces").items,
        "v1",
        "Namespace",
    ));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": list});
    std::fs::write(path, serde_json::to_vec(&list).expect("JSON")).expect("write snapshot");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bench/watch-sync runs it"]
async fn watch_sync_10k_services_30k_endpoints() {
    coredns_binary(); // fail before populating when it is missing
    let services = services();
    let before = std::env::var_os("SIGNPOST_CLUSTER_DNS_BEFORE").map(std::path::PathBuf::from);
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(cp.namespace("bench").await);
    }

    let began = Instant::now();
    let mut done = futures::stream::iter(0..services)
        .map(|i| {
            let client = client.clone();
            let ns = namespaces[i % NAMESPACES].clone();
            async move {
                let name = format!("svc-{i}");
                let service = if i < CLUSTER_IP_SERVICES_MAX {
                    cluster_ip_service_json(&name)
                } else {
                    headless_service_json(&name, &[])
                };
                let _: Service = create_object(&client, &ns, service).await;
                let ips: Vec<String> = (0..ENDPOINTS_PER_SLICE)
                    .map(|j| endpoint_ip(i * ENDPOINTS_PER_SLICE + j))
                    .collect();
                let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
                let labels = [("kubernetes.io/service-name", name.as_str())];
                let mut slice = endpoint_slice_json(&format!("{name}-1"), &labels, "IPv4", &ips);
                // As the EndpointSlice controller writes them: each endpoint names its pod
                // and node.
                if let Some(endpoints) = slice["endpoints"].as_array_mut() {
                    for (j, ep) in endpoints.iter_mut().enumerate() {
                        ep["nodeName"] = format!("node-{}", i % 100).into();
                        ep["targetRef"] =
                            json!({"kind": "Pod", "namespace": ns, "name": format!("{name}-{j}")});
                    }
                }
                let _: EndpointSlice = create_object(&client, &ns, slice).await;
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

    // One at a time, so none competes with another for the two cores.
    let ours = measure(
        &Server::cluster_dns,
        cp,
        &client,
        &namespaces,
        &last_fqdn,
        Some("ours"),
    )
    .await;
    let spawn_before = |args: &'static [&'static str]| {
        let program = before.clone();
        move |corefile: &str, kubeconfig: &std::path::Path| {
            let program = program.clone().expect("before");
            let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
            Server::cluster_dns_with(
                "cluster-dns (before)",
                &program,
                corefile,
                kubeconfig,
                &args,
            )
        }
    };
    let mut earlier = None;
    if before.is_some() {
        eprintln!("cluster-dns measured; now the build before");
        earlier = Some(
            measure(
                &spawn_before(&[]),
                cp,
                &client,
                &namespaces,
                &last_fqdn,
                Some("before"),
            )
            .await,
        );
    }
    eprintln!("cluster-dns measured; now CoreDNS");
    let theirs = measure(
        &Server::coredns,
        cp,
        &client,
        &namespaces,
        &last_fqdn,
        Some("coredns"),
    )
    .await;

    // Snapshot mode, from the same objects (the updates above included).
    let dir = TempDir::new("watch-sync");
    let file = dir.path().join("cluster.json");
    write_snapshot(&client, &file).await;
    let file_mib = std::fs::metadata(&file).map_or(0, |m| m.len()) / (1 << 20);
    eprintln!("wrote the snapshot file ({file_mib} MiB); now snapshot mode");
    let snapshot_args = |program: std::path::PathBuf, name: &'static str| {
        let file = file.clone();
        move |corefile: &str, kubeconfig: &std::path::Path| {
            let args = [std::ffi::OsStr::new("--snapshot"), file.as_os_str()];
            Server::cluster_dns_with(name, &program, corefile, kubeconfig, &args)
        }
    };
    let ours_snapshot = measure(
        &snapshot_args(cluster_dns_binary(), "cluster-dns --snapshot"),
        cp,
        &client,
        &namespaces,
        &last_fqdn,
        None,
    )
    .await;
    let mut earlier_snapshot = None;
    if let Some(program) = &before {
        earlier_snapshot = Some(
            measure(
                &snapshot_args(program.clone(), "cluster-dns (before) --snapshot"),
                cp,
                &client,
                &namespaces,
                &last_fqdn,
                None,
            )
            .await,
        );
    }

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
        "watch-sync: {services} services ({} headless), {} endpoints, {NAMESPACES} namespaces; \
         populating the API ({IN_FLIGHT} writes in flight) took {populate:.1?}",
        services.saturating_sub(CLUSTER_IP_SERVICES_MAX),
        services * ENDPOINTS_PER_SLICE
    );
    println!("cluster-dns's own log: initial sync took={took}");
    table("cluster-dns", &ours, "CoreDNS", &theirs);
    if let Some(earlier) = &earlier {
        println!();
        table("cluster-dns", &ours, "the build before", earlier);
        println!();
        table("the build before", earlier, "CoreDNS", &theirs);
    }
    println!();
    println!("snapshot mode, the same objects in a {file_mib} MiB JSON file:");
    table("snapshot mode", &ours_snapshot, "watch mode", &ours);
    if let Some(earlier_snapshot) = &earlier_snapshot {
        println!();
        table(
            "snapshot mode",
            &ours_snapshot,
            "the build before, snapshot mode",
            earlier_snapshot,
        );
    }
    println!(
        "(one after the other on the same populated API; dig polled back to back, one dig costs \
         a few ms, so latencies include that; CPU time from /proc/PID/stat, 10 ms ticks)"
    );
}

/// The figures of `a` and `b` side by side, and their ratio.
fn table(a_name: &str, a: &Figures, b_name: &str, b: &Figures) {
    println!("| what | {a_name} | {b_name} | ratio |");
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
    time_row("spawn -> /ready 200 (synced)", a.ready, b.ready);
    time_row("spawn -> first DNS answer", a.serving, b.serving);
    time_row("spawn -> last service answers", a.answered, b.answered);
    mem_row("VmRSS at sync", a.at_sync.1, b.at_sync.1);
    mem_row("VmHWM at sync", a.at_sync.0, b.at_sync.0);
    mem_row("VmRSS +5 s", a.steady.1, b.steady.1);
    mem_row("VmHWM +5 s", a.steady.0, b.steady.0);
    time_row("CPU time, spawn -> sync", a.cpu_sync, b.cpu_sync);
    time_row("CPU time, spawn -> +5 s", a.cpu_steady, b.cpu_steady);
    if let (Some((a_median, a_max)), Some((b_median, b_max))) = (a.latency, b.latency) {
        time_row(
            &format!("programming latency, {UPDATES} new services: median"),
            a_median,
            b_median,
        );
        time_row("same: max", a_max, b_max);
    }
}
