//! `bench/serving-vs-coredns`: serving throughput of cluster-dns against CoreDNS (the baseline,
//! `$SIGNPOST_COREDNS`), both reading the same small cluster from the test control plane (the
//! Services and EndpointSlices of examples/cluster.yaml) with the same Corefile, loaded in turn by
//! dnsperf with bench/queries.txt. Prints QPS, latency and memory of each and the ratios.
//! Ignored: `bench/serving-vs-coredns` runs it.
//!
//! CoreDNS cannot read our snapshot file, so both watch the API. What the API would not take
//! as it is in the file is adjusted, the same for both servers: Services lose their selectors
//! and the slices their controller's `managed-by` (nothing runs pods here, and the EndpointSlice
//! controller would otherwise replace the hand-written slices), IPv6 cluster IPs move from
//! 2001:db8::/112 into the control plane's 2001:db8:1::/112, default/kubernetes is the control
//! plane's own, prod/noports is left out (the API requires ports beside a cluster IP), and so are
//! Pods (`pods insecure` does not read them).

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use serde_json::Value;
use signpost_tests::baseline::{
    Perf, Server, coredns_binary, dnsperf_via, kib, median, ms, print_row, qps,
};
use signpost_tests::kube_fixtures::{TEST_SLICE_MANAGER, create_object};
use signpost_tests::{ControlPlane, dig, workspace_root};

/// examples/Corefile without `log`, its probes and metrics on free loopback ports, reading the
/// test control plane (`{BIND}`: see [`Server::coredns`]).
const COREFILE: &str = ".:{PORT} {
    {BIND}
    errors
    health 127.0.0.1:{HEALTH}
    ready 127.0.0.1:{READY}
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        pods insecure
        ttl 30
    }
    prometheus 127.0.0.1:{METRICS}
}
";

/// Rounds of (ours, CoreDNS), alternating, so drift in the machine's load hits both.
const ROUNDS: usize = 2;

/// Puts the Services and EndpointSlices of examples/cluster.yaml into the control plane,
/// adjusted as the module documentation says.
async fn apply_example_cluster(client: &kube::Client) {
    let text = std::fs::read_to_string(workspace_root().join("examples/cluster.yaml"))
        .expect("examples/cluster.yaml");
    let list: Value = serde_yaml::from_str(&text).expect("examples/cluster.yaml parses");
    let items = list["items"].as_array().expect("a List");
    let strip = |item: &Value| {
        let mut item = item.clone();
        let meta = item["metadata"].as_object_mut().expect("metadata");
        meta.remove("resourceVersion");
        meta.remove("uid");
        item
    };
    for item in items {
        let name = item["metadata"]["name"].as_str().unwrap_or("");
        let ns = item["metadata"]["namespace"].as_str().unwrap_or("");
        match item["kind"].as_str() {
            Some("Namespace") => {
                let object: Namespace =
                    serde_json::from_value(strip(item)).expect("Namespace from JSON");
                match Api::<Namespace>::all(client.clone())
                    .create(&PostParams::default(), &object)
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => panic!("create namespace {name}: {e}"),
                }
            }
            // The API requires ports of a Service with a cluster IP.
            Some("Service")
                if (ns, name) != ("default", "kubernetes")
                    && (item["spec"]["ports"].is_array()
                        || item["spec"]["clusterIP"] == "None"
                        || item["spec"]["type"] == "ExternalName") =>
            {
                let mut object = strip(item);
                let spec = object["spec"].as_object_mut().expect("spec");
                spec.remove("selector");
                for key in ["clusterIP", "clusterIPs"] {
                    if let Some(v) = spec.get_mut(key) {
                        *v = serde_json::from_str(
                            &v.to_string().replace("2001:db8::", "2001:db8:1::"),
                        )
                        .expect("JSON");
                    }
                }
                let _: Service = create_object(client, ns, object).await;
            }
            Some("EndpointSlice") if (ns, name) != ("default", "kubernetes") => {
                let mut object = strip(item);
                object["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] =
                    Value::from(TEST_SLICE_MANAGER);
                let _: EndpointSlice = create_object(client, ns, object).await;
            }
            _ => {}
        }
    }
}

/// The query lines of bench/queries.txt as dig arguments.
fn queries(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .expect("bench/queries.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// status and sorted answers of one query, to compare the two servers.
fn answer_of(port: u16, query: &[String]) -> String {
    let mut args: Vec<&str> = query.iter().map(String::as_str).collect();
    args.extend(["+time=2", "+tries=1"]);
    let r = dig(port, &args);
    format!(
        "{} {}",
        r.status.as_deref().unwrap_or("no answer"),
        r.answers().join("; ")
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: bench/serving-vs-coredns runs it"]
async fn serving_example_cluster_vs_coredns() {
    coredns_binary(); // fail before starting anything when it is missing
    let secs: u64 = std::env::var("SIGNPOST_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    apply_example_cluster(&client).await;

    let mut ours = Server::cluster_dns(COREFILE, cp.kubeconfig());
    ours.wait_ready(Duration::from_secs(60));
    ours.wait_serving(Duration::from_secs(10));
    let mut theirs = Server::coredns(COREFILE, cp.kubeconfig());
    theirs.wait_ready(Duration::from_secs(60));
    theirs.wait_serving(Duration::from_secs(10));
    let (base_ours, base_theirs) = (ours.memory_kib().1, theirs.memory_kib().1);

    let query_file = workspace_root().join("bench/queries.txt");
    let mut differ = Vec::new();
    for q in queries(&query_file) {
        let (a, b) = (answer_of(ours.port, &q), answer_of(theirs.port, &q));
        if a != b {
            differ.push(format!("{}: cluster-dns `{a}`, CoreDNS `{b}`", q.join(" ")));
        }
    }

    let mut runs: [Vec<Perf>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, server) in [&ours, &theirs].into_iter().enumerate() {
            let perf = dnsperf_via(&[], "127.0.0.1", server.port, &query_file, secs);
            eprintln!(
                "{}: {:.0} QPS, {:.3} ms average, lost {}",
                server.name, perf.qps, perf.latency_ms, perf.lost
            );
            runs[i].push(perf);
        }
    }
    let (hwm_ours, rss_ours) = ours.memory_kib();
    let (hwm_theirs, rss_theirs) = theirs.memory_kib();

    let median_qps = |i: usize| median(&runs[i].iter().map(|p| p.qps).collect::<Vec<_>>());
    let median_latency =
        |i: usize| median(&runs[i].iter().map(|p| p.latency_ms).collect::<Vec<_>>());
    println!();
    println!(
        "serving-vs-coredns: examples/cluster.yaml on the test control plane, dnsperf -c 4 -q 200, \
         bench/queries.txt, {ROUNDS} rounds of {secs} s each, alternating; medians"
    );
    println!("| what | cluster-dns | CoreDNS | ours / CoreDNS |");
    println!("|---|---|---|---|");
    print_row("QPS", median_qps(0), median_qps(1), qps);
    print_row("average latency", median_latency(0), median_latency(1), ms);
    print_row(
        "VmRSS when ready",
        base_ours as f64,
        base_theirs as f64,
        kib,
    );
    print_row("VmRSS after load", rss_ours as f64, rss_theirs as f64, kib);
    print_row("VmHWM after load", hwm_ours as f64, hwm_theirs as f64, kib);
    for (i, name) in ["cluster-dns", "CoreDNS"].into_iter().enumerate() {
        let each: Vec<String> = runs[i].iter().map(|p| format!("{:.0}", p.qps)).collect();
        let lost: Vec<&str> = runs[i].iter().map(|p| p.lost.as_str()).collect();
        println!(
            "{name}: QPS per round {}; lost {}",
            each.join(", "),
            lost.join(", ")
        );
    }
    if differ.is_empty() {
        println!("every query in bench/queries.txt: the same status and answers from both");
    } else {
        println!("answers that differ (status and sorted answers):");
        for d in differ {
            println!("  {d}");
        }
    }
}
