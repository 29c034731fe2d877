//! nodelocal's figures (run by bench/nodelocal; ignored in the suite): on the node of
//! tests/src/nodelocal.rs, dnsperf from the pod namespace to the kube-dns ClusterIP with
//! bench/queries.txt less the names a cache may not store ([`cacheable_queries`]), answered
//! - by nodelocal from its cache (node-local-dns's Corefile),
//! - by nodelocal forwarding every query (the same Corefile without `cache`) over TCP to
//!   cluster-dns behind the kube-dns-upstream Service,
//! - by cluster-dns through kube-proxy's DNAT, with no nodelocal on the node,
//! - and, when `$SIGNPOST_NODE_CACHE` names node-cache (scripts/baseline/node-cache-build), by
//!   node-cache from its cache, on the same link, with its own iptables rules.
//!
//! Prints QPS, latency and memory, and the ratios.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use signpost_tests::baseline::{
    Perf, dnsperf_via, kib, memory_kib, mib, ms, print_row, qps, ratio,
};
use signpost_tests::nodelocal::{KUBE_DNS_IP, LOCAL_IP, Node, Nodelocal, UPSTREAM_IP};
use signpost_tests::{TempDir, workspace_root};

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("examples/nodelocal.Corefile")).unwrap()
}

/// node-local-dns's Corefile without its caches: every query goes upstream.
fn without_cache(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim();
        if skipping {
            skipping = t != "}";
            continue;
        }
        if t == "cache {" {
            skipping = true;
            continue;
        }
        if t.starts_with("cache") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Names of bench/queries.txt whose answer no cache of CoreDNS 1.15's rules stores: the
/// ExternalName service's answer is its CNAME alone (the target is outside the test's world),
/// a CNAME chain that does not answer the question and has no SOA to bound it, which CoreDNS
/// 1.15 and nodelocal pass upstream every time (RFC 2308 section 5). node-cache 1.22 (CoreDNS
/// 1.10) stores it; measured with it, 1 query in 12 was forwarded by nodelocal and none by
/// node-cache, so the "cache hits" runs compared forwarding with hits.
const NOT_CACHED: &[&str] = &["legacy.prod.svc.cluster.local"];

/// bench/queries.txt without [`NOT_CACHED`], written into `dir`.
fn cacheable_queries(dir: &TempDir) -> PathBuf {
    let all = std::fs::read_to_string(workspace_root().join("bench/queries.txt")).unwrap();
    let kept: String = all
        .lines()
        .filter(|l| {
            !NOT_CACHED
                .iter()
                .any(|n| l.split_whitespace().next() == Some(n))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.path().join("queries.txt");
    std::fs::write(&path, kept).unwrap();
    path
}

fn run(node: &Node, queries: &Path, what: &str, secs: u64) -> Perf {
    // Warm: the caches fill, the upstream connections open.
    dnsperf_via(&node.pod.wrapper(), KUBE_DNS_IP, 53, queries, 1);
    let perf = dnsperf_via(&node.pod.wrapper(), KUBE_DNS_IP, 53, queries, secs);
    eprintln!(
        "{what}: {:.0} QPS, {:.3} ms average, lost {}",
        perf.qps, perf.latency_ms, perf.lost
    );
    perf
}

/// The share of the cache's requests it answered itself, from the server's own counters on
/// :9253 in the node's namespace (a miss goes upstream: it measures forwarding, not the cache).
fn answered_from_cache(node: &Node) -> Option<f64> {
    let (_, metrics) = node
        .node
        .run_in(|| signpost_tests::http_get(9253, "/metrics"))?;
    let requests = signpost_tests::sum(&metrics, "coredns_cache_requests_total");
    let hits = signpost_tests::sum(&metrics, "coredns_cache_hits_total");
    (requests > 0.0).then(|| hits / requests)
}

fn share(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), |s| format!("{:.2}%", s * 100.0))
}

/// node-cache on the node's link (made here, as the kernel has no dummy driver), rendering
/// the same template.
fn start_node_cache(node: &Node, binary: &Path, template: &str) -> (std::process::Child, TempDir) {
    let dir = TempDir::new("node-cache");
    // node-cache fills __PILLAR__LOCAL__DNS__ with every local IP, which `health` refuses:
    // the operator's install-time substitution, done here.
    let base = template
        .replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
        .replace(
            "health __PILLAR__LOCAL__DNS__:8080",
            &format!("health {LOCAL_IP}:8080"),
        );
    std::fs::write(dir.path().join("Corefile.base"), base).unwrap();
    let _ = Command::new("ip")
        .args(["-n", &node.node.name, "link", "del", "nodelocaldns"])
        .output();
    for args in [
        vec!["link", "add", "nodelocaldns", "type", "bridge"],
        vec!["addr", "add", "169.254.20.10/32", "dev", "nodelocaldns"],
        vec!["addr", "add", "198.18.0.10/32", "dev", "nodelocaldns"],
    ] {
        node.node.output("ip", &args);
    }
    let child = Command::new("ip")
        .args(["netns", "exec", &node.node.name])
        .arg(binary)
        .arg(format!("-localip={LOCAL_IP},{KUBE_DNS_IP}"))
        .arg(format!(
            "-basecorefile={}",
            dir.path().join("Corefile.base").display()
        ))
        .arg(format!("-conf={}", dir.path().join("Corefile").display()))
        .arg("-upstreamsvc=kube-dns-upstream")
        .arg("-metrics-listen-address=127.0.0.1:9353")
        // node-cache installs its rules only at the first sync tick, `syncinterval * 1s`.
        .arg("-syncinterval=1ns")
        .env("KUBE_DNS_UPSTREAM_SERVICE_HOST", UPSTREAM_IP)
        .stdout(Stdio::from(
            std::fs::File::create(dir.path().join("log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("err")).unwrap(),
        ))
        .spawn()
        .expect("start node-cache");
    let deadline = Instant::now() + Duration::from_secs(20);
    while node
        .dig_from_pod(KUBE_DNS_IP, "web.prod.svc.cluster.local")
        .status
        .is_none()
    {
        assert!(Instant::now() < deadline, "node-cache does not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, dir)
}

#[test]
#[ignore = "a benchmark: bench/nodelocal runs it"]
fn nodelocal_cache_forwarding_and_node_cache() {
    let secs: u64 = std::env::var("SIGNPOST_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let node = Node::new("nlperf");
    let dir = TempDir::new("nlperf-queries");
    let queries = cacheable_queries(&dir);

    let mut cached = Nodelocal::start(&node.node, "nftables", &[]);
    node.flush_conntrack();
    node.dig_from_pod(KUBE_DNS_IP, "web.prod.svc.cluster.local");
    assert!(
        node.pod_dns_conntrack().is_empty(),
        "nodelocal's rules are not in effect"
    );
    let hit = run(&node, &queries, "nodelocal, cache hits", secs);
    let (hwm, rss) = memory_kib(cached.pid().unwrap_or(0));
    let ours_from_cache = answered_from_cache(&node);
    assert!(cached.terminate().success());

    let mut forwarding = Nodelocal::try_start(
        &node.node,
        "nftables",
        &[],
        &without_cache(&template()),
        &[],
    )
    .unwrap_or_else(|log| panic!("{log}"));
    let fwd = run(&node, &queries, "nodelocal, forwarding every query", secs);
    assert!(forwarding.terminate().success());

    let direct = run(
        &node,
        &queries,
        "no nodelocal: cluster-dns through the DNAT",
        secs,
    );

    println!();
    println!(
        "nodelocal: dnsperf -c 4 -q 200 from a pod namespace to {KUBE_DNS_IP}, bench/queries.txt less {NOT_CACHED:?}, {secs} s each"
    );
    println!("| path | QPS | average latency | vs cache hits |");
    println!("|---|---|---|---|");
    for (name, p) in [
        ("nodelocal, cache hits", &hit),
        ("nodelocal, forwarding (TCP to kube-dns-upstream)", &fwd),
        ("cluster-dns via kube-proxy DNAT (no nodelocal)", &direct),
    ] {
        println!(
            "| {name} | {:.0} | {:.3} ms | {} |",
            p.qps,
            p.latency_ms,
            ratio(p.qps, hit.qps)
        );
    }
    println!(
        "nodelocal memory after the cache-hit run: VmRSS {}, VmHWM {}; answered from its cache: {}",
        mib(rss),
        mib(hwm),
        share(ours_from_cache)
    );

    if let Ok(binary) = std::env::var("SIGNPOST_NODE_CACHE") {
        let (mut child, _dir) = start_node_cache(&node, Path::new(&binary), &template());
        let theirs = run(&node, &queries, "node-cache, cache hits", secs);
        let (hwm_t, rss_t) = memory_kib(child.id());
        let theirs_from_cache = answered_from_cache(&node);
        let _ = child.kill();
        let _ = child.wait();
        let (mut child, _dir) =
            start_node_cache(&node, Path::new(&binary), &without_cache(&template()));
        let theirs_fwd = run(&node, &queries, "node-cache, forwarding every query", secs);
        let _ = child.kill();
        let _ = child.wait();
        println!();
        println!("| what | nodelocal | node-cache | nodelocal / node-cache |");
        println!("|---|---|---|---|");
        print_row("QPS, cache hits", hit.qps, theirs.qps, qps);
        print_row(
            "average latency, cache hits",
            hit.latency_ms,
            theirs.latency_ms,
            ms,
        );
        println!(
            "| answered from the cache, cache-hit run | {} | {} | - |",
            share(ours_from_cache),
            share(theirs_from_cache)
        );
        print_row("VmRSS after load", rss as f64, rss_t as f64, kib);
        print_row("VmHWM after load", hwm as f64, hwm_t as f64, kib);
        print_row(
            "QPS, forwarding every query (TCP)",
            fwd.qps,
            theirs_fwd.qps,
            qps,
        );
        print_row(
            "average latency, forwarding",
            fwd.latency_ms,
            theirs_fwd.latency_ms,
            ms,
        );
    }
}
