//! Multi-Cluster Services on a real API server, checked with dig: the MCS CRDs installed from
//! sigs.k8s.io/mcs-api, ServiceImports and their EndpointSlices written as an MCS controller
//! writes them, and every `R-MCS-*` row of docs/records.md answered under `clusterset.local`.
//! Each test has its own namespace and its own addresses (PTR names are cluster-wide).

use std::time::Duration;

use serde_json::{Value, json};
use signpost_tests::kube_fixtures::TestNamespace;
use signpost_tests::mcs::{import_slice_json, install_crds};
use signpost_tests::{ClusterDns, ControlPlane, DigResult, free_port, http_get, sample};

/// Changes reach the answers within this (generous for a busy 2-core machine).
const CATCH_UP: Duration = Duration::from_secs(30);

/// Starts cluster-dns watching the shared control plane with `clusterset.local` as a
/// multicluster zone; returns it and its metrics port.
async fn server(ns: &TestNamespace) -> (ClusterDns, u16) {
    install_crds(&ns.client).await;
    let metrics = free_port();
    let corefile = format!(
        "cluster.local:{{PORT}} clusterset.local:{{PORT}} in-addr.arpa:{{PORT}} ip6.arpa:{{PORT}} {{
    prometheus 127.0.0.1:{metrics}
    kubernetes cluster.local clusterset.local in-addr.arpa ip6.arpa {{
        kubeconfig {{KUBECONFIG}}
        multicluster clusterset.local
    }}
}}
"
    );
    let dns = ClusterDns::start_watching(&corefile, ControlPlane::shared().kubeconfig());
    (dns, metrics)
}

fn status(r: &DigResult) -> &str {
    r.status.as_deref().unwrap_or("no answer")
}

/// Waits until `name type` answers `want` (TYPE RDATA, any order) with NOERROR.
fn expect_answers(dns: &ClusterDns, name: &str, qtype: &str, want: &[&str]) -> DigResult {
    dns.expect_answers(name, qtype, want, CATCH_UP)
}

/// Waits until `name type` answers with `rcode` and no records (NXDOMAIN, or NODATA for
/// NOERROR), the zone's SOA in the authority section.
fn expect_empty(dns: &ClusterDns, name: &str, qtype: &str, rcode: &str) {
    dns.dig_until(&[name, qtype], CATCH_UP, |r| {
        status(r) == rcode && r.answer.is_empty() && r.authority.iter().any(|a| a.rtype == "SOA")
    });
}

fn ports(list: &[(&str, u16)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(name, port)| json!({"name": name, "port": port, "protocol": "TCP"}))
            .collect(),
    )
}

fn import(name: &str, kind: &str, ips: &[&str], port_list: &[(&str, u16)]) -> Value {
    json!({"metadata": {"name": name},
           "spec": {"type": kind, "ips": ips, "ports": ports(port_list)}})
}

/// Every R-MCS rule once, against the objects of examples/cluster.yaml's MCS part (in a test
/// namespace, with addresses of this test's own).
#[tokio::test(flavor = "multi_thread")]
async fn mcs_rules_on_the_real_api() {
    let ns = TestNamespace::new("mcs-rules").await;
    let n = ns.name.clone();
    let (dns, _) = server(&ns).await;

    // This cluster's own headless `db`: its endpoint keeps its cluster.local PTR.
    ns.service(json!({"metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "ports": ports(&[("postgres", 5432)])}}))
        .await;
    ns.slice(json!({"metadata": {"name": "db-local", "labels": {
            "kubernetes.io/service-name": "db",
            "endpointslice.kubernetes.io/managed-by": "signpost-test"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["198.19.200.1"], "hostname": "db-0", "conditions": {"ready": true}}],
        "ports": ports(&[("postgres", 5432)])}))
        .await;

    let web_ports = ports(&[("http", 8080), ("https", 8443)]);
    ns.service_import(import(
        "web",
        "ClusterSetIP",
        &["198.19.250.20", "2001:db8:5::20"],
        &[("http", 80), ("https", 443)],
    ))
    .await;
    ns.slice(import_slice_json(
        "imported-web-west",
        "web",
        "west",
        "IPv4",
        &[("198.19.201.1", None, true)],
        web_ports,
    ))
    .await;
    let pg = ports(&[("postgres", 5432)]);
    ns.service_import(import("db", "Headless", &[], &[("postgres", 5432)]))
        .await;
    ns.slice(import_slice_json(
        "imported-db-east",
        "db",
        "east",
        "IPv4",
        &[
            ("198.19.200.1", Some("db-0"), true),
            ("198.19.200.3", Some("db-2"), false),
        ],
        pg.clone(),
    ))
    .await;
    ns.slice(import_slice_json(
        "imported-db-west",
        "db",
        "west",
        "IPv4",
        &[("198.19.202.1", Some("db-0"), true)],
        pg.clone(),
    ))
    .await;
    ns.slice(import_slice_json(
        "imported-db-west-v6",
        "db",
        "west",
        "IPv6",
        &[("2001:db8:202::1", Some("db-0"), true)],
        pg,
    ))
    .await;
    ns.service_import(import("pending", "ClusterSetIP", &[], &[("http", 80)]))
        .await;
    ns.service_import(import("lonely", "Headless", &[], &[("http", 80)]))
        .await;
    ns.slice(import_slice_json(
        "imported-gone-west",
        "gone",
        "west",
        "IPv4",
        &[("198.19.203.1", None, true)],
        ports(&[("http", 8080)]),
    ))
    .await;

    ns.service_import(import("bare", "ClusterSetIP", &["198.19.250.30"], &[]))
        .await;

    let cs = |name: &str| format!("{name}.{n}.svc.clusterset.local");
    // R-MCS-CLUSTERSETIP-A: dual-stack clusterset IPs; an import without ports too.
    expect_answers(&dns, &cs("web"), "A", &["A 198.19.250.20"]);
    expect_answers(&dns, &cs("web"), "AAAA", &["AAAA 2001:db8:5::20"]);
    expect_answers(&dns, &cs("bare"), "A", &["A 198.19.250.30"]);
    expect_empty(&dns, &cs("bare"), "SRV", "NOERROR");
    // R-MCS-CLUSTERSETIP-SRV.
    let r = expect_answers(
        &dns,
        &cs("_https._tcp.web"),
        "SRV",
        &[&format!("SRV 0 50 443 {}.", cs("web"))],
    );
    assert_eq!(r.additional.len(), 2, "{}", r.raw);
    // R-MCS-HEADLESS-A: ready endpoints of every cluster.
    expect_answers(&dns, &cs("db"), "A", &["A 198.19.200.1", "A 198.19.202.1"]);
    expect_answers(&dns, &cs("db"), "AAAA", &["AAAA 2001:db8:202::1"]);
    // R-MCS-ENDPOINT.
    expect_answers(&dns, &cs("db-0.east.db"), "A", &["A 198.19.200.1"]);
    expect_answers(&dns, &cs("db-0.west.db"), "A", &["A 198.19.202.1"]);
    expect_answers(&dns, &cs("db-0.west.db"), "AAAA", &["AAAA 2001:db8:202::1"]);
    expect_answers(&dns, &cs("198-19-201-1.west.web"), "A", &["A 198.19.201.1"]);
    expect_empty(&dns, &cs("db-2.east.db"), "A", "NXDOMAIN");
    expect_empty(&dns, &cs("db-0.db"), "A", "NXDOMAIN");
    // R-MCS-NO-CLUSTER-TARGETING.
    expect_empty(&dns, &cs("west.web"), "A", "NXDOMAIN");
    expect_empty(&dns, &cs("east.db"), "A", "NXDOMAIN");
    // R-MCS-SRV-HEADLESS.
    expect_answers(
        &dns,
        &cs("_postgres._tcp.db"),
        "SRV",
        &[
            &format!("SRV 0 33 5432 {}.", cs("db-0.east.db")),
            &format!("SRV 0 33 5432 {}.", cs("db-0.west.db")),
        ],
    );
    // R-MCS-HEADLESS-EMPTY, R-MCS-NO-IPS, R-MCS-ORPHAN-SLICE.
    expect_empty(&dns, &cs("lonely"), "A", "NXDOMAIN");
    expect_empty(&dns, &cs("pending"), "A", "NOERROR");
    expect_empty(&dns, &cs("gone"), "A", "NXDOMAIN");
    expect_empty(&dns, "1.203.19.198.in-addr.arpa", "PTR", "NXDOMAIN");
    // R-MCS-PTR: clusterset IP, imported endpoint, and an address with a cluster.local PTR.
    expect_answers(
        &dns,
        "20.250.19.198.in-addr.arpa",
        "PTR",
        &[&format!("PTR {}.", cs("web"))],
    );
    expect_answers(
        &dns,
        "1.201.19.198.in-addr.arpa",
        "PTR",
        &[&format!("PTR {}.", cs("198-19-201-1.west.web"))],
    );
    expect_answers(
        &dns,
        "1.200.19.198.in-addr.arpa",
        "PTR",
        &[&format!("PTR db-0.db.{n}.svc.cluster.local.")],
    );
    // R-MCS-DNS-VERSION.
    expect_answers(
        &dns,
        "dns-version.clusterset.local",
        "TXT",
        &["TXT \"1.0.0\""],
    );
    // R-MCS-NXDOMAIN.
    expect_empty(&dns, &cs("nope"), "A", "NXDOMAIN");
    expect_empty(&dns, &format!("{n}.svc.clusterset.local"), "A", "NOERROR");
    expect_empty(
        &dns,
        &format!("pending.{n}.svc.cluster.local"),
        "A",
        "NXDOMAIN",
    );
}

/// Imports created, their IPs changed, their endpoints changed, and deleted: each change
/// answers within CATCH_UP.
#[tokio::test(flavor = "multi_thread")]
async fn mcs_import_lifecycle() {
    let ns = TestNamespace::new("mcs-life").await;
    let n = ns.name.clone();
    let (dns, _) = server(&ns).await;
    let cs = |name: &str| format!("{name}.{n}.svc.clusterset.local");

    // Create, then change the clusterset IP.
    ns.service_import(import(
        "api",
        "ClusterSetIP",
        &["198.19.251.1"],
        &[("http", 80)],
    ))
    .await;
    expect_answers(&dns, &cs("api"), "A", &["A 198.19.251.1"]);
    ns.patch_service_import("api", json!({"spec": {"ips": ["198.19.251.2"]}}))
        .await;
    expect_answers(&dns, &cs("api"), "A", &["A 198.19.251.2"]);
    expect_answers(
        &dns,
        "2.251.19.198.in-addr.arpa",
        "PTR",
        &[&format!("PTR {}.", cs("api"))],
    );
    expect_empty(&dns, "1.251.19.198.in-addr.arpa", "PTR", "NXDOMAIN");

    // A headless import's endpoints: appear, move, gain a cluster, lose one.
    let port = ports(&[("gossip", 7946)]);
    ns.service_import(import("peers", "Headless", &[], &[("gossip", 7946)]))
        .await;
    ns.slice(import_slice_json(
        "imported-peers-east",
        "peers",
        "east",
        "IPv4",
        &[("198.19.252.1", Some("p-0"), true)],
        port.clone(),
    ))
    .await;
    expect_answers(&dns, &cs("peers"), "A", &["A 198.19.252.1"]);
    ns.patch_slice(
        "imported-peers-east",
        json!({"endpoints": [{"addresses": ["198.19.252.2"], "hostname": "p-0",
                              "conditions": {"ready": true}}]}),
    )
    .await;
    expect_answers(&dns, &cs("p-0.east.peers"), "A", &["A 198.19.252.2"]);
    ns.slice(import_slice_json(
        "imported-peers-west",
        "peers",
        "west",
        "IPv4",
        &[("198.19.252.3", Some("p-0"), true)],
        port,
    ))
    .await;
    expect_answers(
        &dns,
        &cs("peers"),
        "A",
        &["A 198.19.252.2", "A 198.19.252.3"],
    );
    ns.delete_slice("imported-peers-east").await;
    expect_answers(&dns, &cs("peers"), "A", &["A 198.19.252.3"]);
    expect_empty(&dns, &cs("p-0.east.peers"), "A", "NXDOMAIN");

    // Delete: the name goes; the slice left behind answers nothing until the import is back.
    ns.delete_service_import("peers").await;
    expect_empty(&dns, &cs("peers"), "A", "NXDOMAIN");
    ns.service_import(import("peers", "Headless", &[], &[("gossip", 7946)]))
        .await;
    expect_answers(&dns, &cs("peers"), "A", &["A 198.19.252.3"]);
    ns.delete_service_import("api").await;
    expect_empty(&dns, &cs("api"), "A", "NXDOMAIN");
    expect_empty(&dns, "2.251.19.198.in-addr.arpa", "PTR", "NXDOMAIN");
}

/// R-MCS-BAD-INPUT: what the model cannot use is logged and counted, and answers a defined
/// way; nothing stops answering.
#[tokio::test(flavor = "multi_thread")]
async fn mcs_bad_input_is_logged_counted_and_answered() {
    let ns = TestNamespace::new("mcs-bad").await;
    let n = ns.name.clone();
    let (dns, metrics) = server(&ns).await;
    let cs = |name: &str| format!("{name}.{n}.svc.clusterset.local");

    // An unknown type never reaches DNS: the CRD refuses it (snapshot files can hold one;
    // cluster-dns/tests/snapshot_file.rs covers that), and the name is NXDOMAIN.
    let refused = ns
        .try_service_import(import("odd", "Bogus", &[], &[("http", 80)]))
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 422),
        "{refused:?}"
    );
    expect_empty(&dns, &cs("odd"), "A", "NXDOMAIN");

    // Conflicting ports: the first of each name and protocol is kept.
    ns.service_import(import(
        "clash",
        "ClusterSetIP",
        &["198.19.253.1"],
        &[("http", 80), ("http", 8080)],
    ))
    .await;
    expect_answers(
        &dns,
        &cs("_http._tcp.clash"),
        "SRV",
        &[&format!("SRV 0 100 80 {}.", cs("clash"))],
    );
    // No IPs yet: NODATA.
    ns.service_import(import("pending", "ClusterSetIP", &[], &[("http", 80)]))
        .await;
    expect_empty(&dns, &cs("pending"), "A", "NOERROR");

    // A slice without its source cluster cannot name its endpoints: skipped.
    ns.service_import(import("hl", "Headless", &[], &[("http", 80)]))
        .await;
    let mut nameless = import_slice_json(
        "imported-hl-nocluster",
        "hl",
        "x",
        "IPv4",
        &[("198.19.253.2", Some("h-0"), true)],
        ports(&[("http", 80)]),
    );
    nameless["metadata"]["labels"]
        .as_object_mut()
        .map(|l| l.remove("multicluster.kubernetes.io/source-cluster"));
    ns.slice(nameless).await;
    expect_empty(&dns, &cs("hl"), "A", "NXDOMAIN");

    let counted = |family: &str, kind: &str| {
        http_get(metrics, "/metrics")
            .and_then(|(_, body)| sample(&body, family, &[&format!("kind=\"{kind}\"")]))
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + CATCH_UP;
    while counted(
        "signpost_kubernetes_skipped_objects_total",
        "multiclusterendpointslices",
    ) < 1.0
        || counted(
            "signpost_kubernetes_object_warnings_total",
            "serviceimports",
        ) < 2.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "metrics: {:?}\n{}",
            http_get(metrics, "/metrics"),
            dns.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = dns.log();
    for want in [
        "imported-hl-nocluster",
        "multicluster.kubernetes.io/source-cluster is missing",
        "ports conflict",
        "has no IPs",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
    // Everything else still answers.
    expect_answers(&dns, &cs("clash"), "A", &["A 198.19.253.1"]);
}
