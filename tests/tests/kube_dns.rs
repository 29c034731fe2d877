//! Conformance on a real API server, checked with dig: the scenarios of Kubernetes' own DNS e2e
//! tests (test/e2e/network/dns.go, dns_common.go) and every API-dependent row of
//! docs/records.md. The EndpointSlices come from the real controller unless a test plays
//! another controller on purpose. Rows are named after docs/records.md.

use std::time::Duration;

use serde_json::json;
use signpost_tests::kube_fixtures::{PodSpec, TestNamespace};
use signpost_tests::{ClusterDns, ControlPlane, DigResult};

const COREFILE: &str = "\
cluster.local:{PORT} in-addr.arpa:{PORT} ip6.arpa:{PORT} {
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
        pods insecure
    }
}
";

/// Changes reach the answers within this (generous for a busy 2-core CI machine; the figure
/// itself is measured by bench/watch-sync, not asserted here).
const CATCH_UP: Duration = Duration::from_secs(30);

fn server() -> ClusterDns {
    ClusterDns::start_watching(COREFILE, ControlPlane::shared().kubeconfig())
}

fn status(r: &DigResult) -> &str {
    r.status.as_deref().unwrap_or("no answer")
}

/// Waits until `name type` answers `want` (TYPE RDATA, any order) with NOERROR.
fn expect_answers(dns: &ClusterDns, name: &str, qtype: &str, want: &[&str]) -> DigResult {
    dns.expect_answers(name, qtype, want, CATCH_UP)
}

fn expect_status(dns: &ClusterDns, name: &str, qtype: &str, want: &str) -> DigResult {
    dns.dig_until(&[name, qtype], CATCH_UP, |r| status(r) == want)
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_default_the_apiservers_own_service() {
    let dns = server();
    // dns.go "should provide DNS for the cluster": kubernetes.default and its search forms.
    expect_answers(
        &dns,
        "kubernetes.default.svc.cluster.local",
        "A",
        &["A 198.18.0.1"],
    );
    // R-SVC-FAMILY-NODATA: single-stack service, AAAA is NODATA with the SOA.
    let r = expect_status(
        &dns,
        "kubernetes.default.svc.cluster.local",
        "AAAA",
        "NOERROR",
    );
    assert!(
        r.answer.is_empty() && r.authority.iter().any(|a| a.rtype == "SOA"),
        "{}",
        r.raw
    );
    // R-PTR-SERVICE.
    expect_answers(
        &dns,
        "1.0.18.198.in-addr.arpa",
        "PTR",
        &["PTR kubernetes.default.svc.cluster.local."],
    );
    // R-SRV-CLUSTERIP: the https port.
    expect_answers(
        &dns,
        "_https._tcp.kubernetes.default.svc.cluster.local",
        "SRV",
        &["SRV 0 100 443 kubernetes.default.svc.cluster.local."],
    );
}

/// dns.go "should provide DNS for services": a headless and a ClusterIP service over one pod,
/// with A, SRV and PTR.
#[tokio::test(flavor = "multi_thread")]
async fn services_headless_and_cluster_ip() {
    let ns = TestNamespace::new("dns-services").await;
    let n = &ns.name;
    let port = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    ns.service(json!({"metadata": {"name": "dns-test-service"},
        "spec": {"clusterIP": "None", "selector": {"dns-test": "true"}, "ports": port}}))
        .await;
    ns.service(json!({"metadata": {"name": "test-service-2"},
        "spec": {"selector": {"dns-test": "true"}, "ports": port}}))
        .await;
    ns.pod(PodSpec::ready(
        "dns-test-0",
        json!({"dns-test": "true"}),
        &["198.19.1.10"],
    ))
    .await;
    let cluster_ip = ns.cluster_ips("test-service-2").await[0].clone();

    let dns = server();
    // R-HEADLESS-A.
    expect_answers(
        &dns,
        &format!("dns-test-service.{n}.svc.cluster.local"),
        "A",
        &["A 198.19.1.10"],
    );
    // R-SVC-A.
    expect_answers(
        &dns,
        &format!("test-service-2.{n}.svc.cluster.local"),
        "A",
        &[&format!("A {cluster_ip}")],
    );
    // R-SRV-HEADLESS: the endpoint without a hostname is named by its dashed address.
    let r = expect_answers(
        &dns,
        &format!("_http._tcp.dns-test-service.{n}.svc.cluster.local"),
        "SRV",
        &[&format!(
            "SRV 0 100 80 198-19-1-10.dns-test-service.{n}.svc.cluster.local."
        )],
    );
    assert!(
        r.additional
            .iter()
            .any(|a| a.rtype == "A" && a.rdata == "198.19.1.10"),
        "additional A for the SRV target: {}",
        r.raw
    );
    // R-SRV-CLUSTERIP.
    expect_answers(
        &dns,
        &format!("_http._tcp.test-service-2.{n}.svc.cluster.local"),
        "SRV",
        &[&format!(
            "SRV 0 100 80 test-service-2.{n}.svc.cluster.local."
        )],
    );
    // R-PTR-SERVICE and R-PTR-ENDPOINT.
    let reverse = |ip: &str| {
        let mut o: Vec<&str> = ip.split('.').collect();
        o.reverse();
        format!("{}.in-addr.arpa", o.join("."))
    };
    expect_answers(
        &dns,
        &reverse(&cluster_ip),
        "PTR",
        &[&format!("PTR test-service-2.{n}.svc.cluster.local.")],
    );
    // One PTR per service with an endpoint at the address, as CoreDNS answers.
    expect_answers(
        &dns,
        &reverse("198.19.1.10"),
        "PTR",
        &[
            &format!("PTR 198-19-1-10.dns-test-service.{n}.svc.cluster.local."),
            &format!("PTR 198-19-1-10.test-service-2.{n}.svc.cluster.local."),
        ],
    );
    // R-POD-INSECURE: the pod name form.
    expect_answers(
        &dns,
        &format!("198-19-1-10.{n}.pod.cluster.local"),
        "A",
        &["A 198.19.1.10"],
    );
    // R-SVC-NXDOMAIN and R-NS-NODATA.
    expect_status(
        &dns,
        &format!("nope.{n}.svc.cluster.local"),
        "A",
        "NXDOMAIN",
    );
    expect_status(&dns, &format!("{n}.svc.cluster.local"), "A", "NOERROR");
}

/// dns.go "should provide DNS for pods for Hostname" and "... for Subdomain".
#[tokio::test(flavor = "multi_thread")]
async fn pods_with_hostname_and_subdomain() {
    let ns = TestNamespace::new("dns-hostname").await;
    let n = &ns.name;
    ns.service(json!({"metadata": {"name": "dns-test-service-2"},
        "spec": {"clusterIP": "None", "selector": {"dns-test-hostname-attribute": "true"},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}))
        .await;
    for (name, ip) in [
        ("dns-querier-1", "198.19.2.11"),
        ("dns-querier-2", "198.19.2.12"),
    ] {
        ns.pod(PodSpec {
            hostname: Some(name),
            subdomain: Some("dns-test-service-2"),
            ..PodSpec::ready(name, json!({"dns-test-hostname-attribute": "true"}), &[ip])
        })
        .await;
    }
    let dns = server();
    // R-HEADLESS-HOSTNAME: <hostname>.<subdomain>.<ns>.svc.
    expect_answers(
        &dns,
        &format!("dns-querier-2.dns-test-service-2.{n}.svc.cluster.local"),
        "A",
        &["A 198.19.2.12"],
    );
    expect_answers(
        &dns,
        &format!("dns-test-service-2.{n}.svc.cluster.local"),
        "A",
        &["A 198.19.2.11", "A 198.19.2.12"],
    );
    // R-SRV-HEADLESS with hostnames: weight split between the two.
    expect_answers(
        &dns,
        &format!("_http._tcp.dns-test-service-2.{n}.svc.cluster.local"),
        "SRV",
        &[
            &format!("SRV 0 50 80 dns-querier-1.dns-test-service-2.{n}.svc.cluster.local."),
            &format!("SRV 0 50 80 dns-querier-2.dns-test-service-2.{n}.svc.cluster.local."),
        ],
    );
    // R-PTR-ENDPOINT with the hostname.
    expect_answers(
        &dns,
        "11.2.19.198.in-addr.arpa",
        "PTR",
        &[&format!(
            "PTR dns-querier-1.dns-test-service-2.{n}.svc.cluster.local."
        )],
    );
}

/// dns.go "should provide DNS for ExternalName services", and a service changing type.
#[tokio::test(flavor = "multi_thread")]
async fn external_name_and_its_changes() {
    let ns = TestNamespace::new("dns-external").await;
    let n = &ns.name;
    ns.service(json!({"metadata": {"name": "dns-test-service-3"},
        "spec": {"type": "ExternalName", "externalName": "foo.example.com"}}))
        .await;
    let dns = server();
    let name = format!("dns-test-service-3.{n}.svc.cluster.local");
    // R-EXTERNAL-CNAME.
    expect_answers(&dns, &name, "CNAME", &["CNAME foo.example.com."]);
    ns.patch_service(
        "dns-test-service-3",
        json!({"spec": {"externalName": "bar.example.com"}}),
    )
    .await;
    expect_answers(&dns, &name, "CNAME", &["CNAME bar.example.com."]);
    // ExternalName -> ClusterIP: the CNAME goes, an A with the new cluster IP comes.
    ns.patch_service(
        "dns-test-service-3",
        json!({"spec": {"type": "ClusterIP", "externalName": null,
                        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
    )
    .await;
    let ip = ns.cluster_ips("dns-test-service-3").await[0].clone();
    expect_answers(&dns, &name, "A", &[&format!("A {ip}")]);
    expect_status(&dns, &name, "CNAME", "NOERROR");
    // And back to ExternalName.
    ns.patch_service(
        "dns-test-service-3",
        json!({"spec": {"type": "ExternalName", "externalName": "baz.example.com",
                        "clusterIP": null, "clusterIPs": null, "ports": null,
                        "ipFamilies": null, "ipFamilyPolicy": null}}),
    )
    .await;
    expect_answers(&dns, &name, "CNAME", &["CNAME baz.example.com."]);
}

/// Dual-stack services and pods: A and AAAA, both reverse zones.
#[tokio::test(flavor = "multi_thread")]
async fn dual_stack() {
    let ns = TestNamespace::new("dns-dual").await;
    let n = &ns.name;
    let spec = |headless: bool| {
        let mut s = json!({"selector": {"app": "dual"}, "ipFamilyPolicy": "RequireDualStack",
                           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
        if headless {
            s["clusterIP"] = json!("None");
        }
        s
    };
    ns.service(json!({"metadata": {"name": "dual"}, "spec": spec(false)}))
        .await;
    ns.service(json!({"metadata": {"name": "dual-headless"}, "spec": spec(true)}))
        .await;
    ns.pod(PodSpec::ready(
        "dual-0",
        json!({"app": "dual"}),
        &["198.19.3.10", "2001:db8:3::10"],
    ))
    .await;
    let ips = ns.cluster_ips("dual").await;
    assert_eq!(ips.len(), 2, "{ips:?}");
    let dns = server();
    expect_answers(
        &dns,
        &format!("dual.{n}.svc.cluster.local"),
        "A",
        &[&format!("A {}", ips[0])],
    );
    expect_answers(
        &dns,
        &format!("dual.{n}.svc.cluster.local"),
        "AAAA",
        &[&format!("AAAA {}", ips[1])],
    );
    expect_answers(
        &dns,
        &format!("dual-headless.{n}.svc.cluster.local"),
        "A",
        &["A 198.19.3.10"],
    );
    expect_answers(
        &dns,
        &format!("dual-headless.{n}.svc.cluster.local"),
        "AAAA",
        &["AAAA 2001:db8:3::10"],
    );
    // ip6.arpa PTR of the IPv6 cluster IP.
    let v6: std::net::Ipv6Addr = ips[1].parse().expect("IPv6 cluster IP");
    let nibbles: String = v6
        .octets()
        .iter()
        .rev()
        .flat_map(|b| [b & 0xf, b >> 4])
        .map(|x| format!("{x:x}."))
        .collect();
    expect_answers(
        &dns,
        &format!("{nibbles}ip6.arpa"),
        "PTR",
        &[&format!("PTR dual.{n}.svc.cluster.local.")],
    );
    // The IPv6 pod name form.
    expect_answers(
        &dns,
        &format!("2001-db8-3--10.{n}.pod.cluster.local"),
        "AAAA",
        &["AAAA 2001:db8:3::10"],
    );
}

/// R-HEADLESS-MANY-SLICES: more than 100 endpoints, so the controller splits them over slices.
#[tokio::test(flavor = "multi_thread")]
async fn more_than_a_hundred_endpoints_over_several_slices() {
    let ns = TestNamespace::new("dns-big").await;
    let n = &ns.name;
    ns.service(json!({"metadata": {"name": "big"},
        "spec": {"clusterIP": "None", "selector": {"app": "big"},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}))
        .await;
    let names: Vec<String> = (0..130).map(|i| format!("big-{i}")).collect();
    let ips: Vec<String> = (0..130)
        .map(|i| format!("198.19.{}.{}", 10 + i / 100, i % 100 + 1))
        .collect();
    for (name, ip) in names.iter().zip(&ips) {
        ns.pod(PodSpec::ready(name, json!({"app": "big"}), &[ip.as_str()]))
            .await;
    }
    let dns = server();
    let want: Vec<String> = ips.iter().map(|ip| format!("A {ip}")).collect();
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    let name = format!("big.{n}.svc.cluster.local");
    let mut sorted: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    dns.dig_until(&[&name, "A", "+tcp"], CATCH_UP, |r| r.answers() == sorted);
    assert!(
        ns.slice_count("big").await >= 2,
        "the controller should have split the endpoints"
    );
    // Over UDP the answer is truncated (TC), as in CoreDNS.
    let udp = dns.dig(&[&name, "A", "+ignore", "+bufsize=1232"]);
    assert!(udp.has_flag("tc"), "{}", udp.raw);
}

/// R-HEADLESS-NOTREADY, terminating endpoints, and R-HEADLESS-PUBLISH-NOT-READY.
#[tokio::test(flavor = "multi_thread")]
async fn not_ready_terminating_and_publish_not_ready() {
    let ns = TestNamespace::new("dns-ready").await;
    let n = &ns.name;
    for (name, publish) in [("strict", false), ("peers", true)] {
        ns.service(json!({"metadata": {"name": name},
            "spec": {"clusterIP": "None", "selector": {"app": "ready"},
                     "publishNotReadyAddresses": publish,
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}))
            .await;
    }
    ns.pod(PodSpec::ready(
        "r-0",
        json!({"app": "ready"}),
        &["198.19.4.10"],
    ))
    .await;
    ns.pod(PodSpec::ready(
        "r-1",
        json!({"app": "ready"}),
        &["198.19.4.11"],
    ))
    .await;
    ns.pod(PodSpec {
        ready: false,
        ..PodSpec::ready("r-2", json!({"app": "ready"}), &["198.19.4.12"])
    })
    .await;
    let dns = server();
    let strict = format!("strict.{n}.svc.cluster.local");
    let peers = format!("peers.{n}.svc.cluster.local");
    expect_answers(&dns, &strict, "A", &["A 198.19.4.10", "A 198.19.4.11"]);
    expect_answers(
        &dns,
        &peers,
        "A",
        &["A 198.19.4.10", "A 198.19.4.11", "A 198.19.4.12"],
    );
    // r-1 starts terminating (no kubelet confirms the delete): no longer ready, so it leaves
    // `strict`; `peers` publishes not-ready addresses, terminating ones included.
    ns.delete_pod("r-1").await;
    expect_answers(&dns, &strict, "A", &["A 198.19.4.10"]);
    expect_answers(
        &dns,
        &peers,
        "A",
        &["A 198.19.4.10", "A 198.19.4.11", "A 198.19.4.12"],
    );
    // Gone for good: gone everywhere.
    ns.force_delete_pod("r-1").await;
    expect_answers(&dns, &peers, "A", &["A 198.19.4.10", "A 198.19.4.12"]);
}

/// Slices written by another controller (a selectorless service), their changes and deletes;
/// a deleted service goes NXDOMAIN.
#[tokio::test(flavor = "multi_thread")]
async fn hand_written_slices_changes_and_deletes() {
    let ns = TestNamespace::new("dns-manual").await;
    let n = &ns.name;
    ns.service(json!({"metadata": {"name": "manual"},
        "spec": {"clusterIP": "None", "ports": [{"name": "db", "port": 5432, "protocol": "TCP"}]}}))
        .await;
    let slice = |endpoints: serde_json::Value| {
        json!({"metadata": {"name": "manual-1", "labels": {
                   "kubernetes.io/service-name": "manual",
                   "endpointslice.kubernetes.io/managed-by": "signpost-test"}},
               "addressType": "IPv4",
               "ports": [{"name": "db", "port": 5432, "protocol": "TCP"}],
               "endpoints": endpoints})
    };
    ns.slice(slice(json!([
        {"addresses": ["198.19.5.10"], "hostname": "alpha", "conditions": {"ready": true}},
        {"addresses": ["198.19.5.11"], "conditions": {"ready": true}},
    ])))
    .await;
    let dns = server();
    let name = format!("manual.{n}.svc.cluster.local");
    expect_answers(&dns, &name, "A", &["A 198.19.5.10", "A 198.19.5.11"]);
    expect_answers(
        &dns,
        &format!("alpha.manual.{n}.svc.cluster.local"),
        "A",
        &["A 198.19.5.10"],
    );
    // An update drops an endpoint.
    ns.patch_slice(
        "manual-1",
        json!({"endpoints": [
        {"addresses": ["198.19.5.10"], "hostname": "alpha", "conditions": {"ready": true}}]}),
    )
    .await;
    expect_answers(&dns, &name, "A", &["A 198.19.5.10"]);
    // R-HEADLESS-EMPTY: the slice deleted, the service has no endpoints.
    ns.delete_slice("manual-1").await;
    expect_status(&dns, &name, "A", "NXDOMAIN");
    // A ClusterIP service deleted: NXDOMAIN, and its PTR goes too.
    ns.service(json!({"metadata": {"name": "gone"},
        "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}))
        .await;
    let ip = ns.cluster_ips("gone").await[0].clone();
    let gone = format!("gone.{n}.svc.cluster.local");
    expect_answers(&dns, &gone, "A", &[&format!("A {ip}")]);
    ns.delete_service("gone").await;
    expect_status(&dns, &gone, "A", "NXDOMAIN");
    let mut o: Vec<&str> = ip.split('.').collect();
    o.reverse();
    expect_status(
        &dns,
        &format!("{}.in-addr.arpa", o.join(".")),
        "PTR",
        "NXDOMAIN",
    );
}

/// autopath @kubernetes with a real pod object: a query sent from the pod's own address (in a
/// network namespace the test makes) is answered through its search path in one round trip.
#[tokio::test(flavor = "multi_thread")]
async fn autopath_answers_a_pods_search_walk() {
    let ns = TestNamespace::new("dns-autopath").await;
    let n = &ns.name;
    ns.pod(PodSpec::ready(
        "client",
        json!({"app": "client"}),
        &["198.19.250.2"],
    ))
    .await;
    let corefile = "\
cluster.local:{PORT} {
    autopath @kubernetes
    kubernetes cluster.local {
        kubeconfig {KUBECONFIG}
        pods verified
    }
}
";
    let dns = ClusterDns::start_watching(corefile, ControlPlane::shared().kubeconfig());
    let pod_net = signpost_tests::netns::NetNs::new("autopath", "198.19.250.1", "198.19.250.2");
    let asked = format!("kubernetes.default.{n}.svc.cluster.local");
    let deadline = std::time::Instant::now() + CATCH_UP;
    let r = loop {
        let r = pod_net.dig(dns.port, &[&asked, "A"]);
        if r.answers().len() == 2 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        r.answers(),
        [
            "A 198.18.0.1",
            "CNAME kubernetes.default.svc.cluster.local."
        ],
        "{}\n{}",
        r.raw,
        dns.log()
    );
    assert_eq!(
        r.answer[0].rtype, "CNAME",
        "the CNAME comes first: {}",
        r.raw
    );
    // From an address that is no pod, the same name is what it says: NXDOMAIN.
    expect_status(&dns, &asked, "A", "NXDOMAIN");
}

/// `multicluster` on an API server without the MCS CRDs (this test binary never installs
/// them): the ServiceImport list fails, the log says what is missing, and the cache never
/// counts as synced, so names that exist answer while name errors stay SERVFAIL (R-NOT-SYNCED),
/// as with CoreDNS. tests/tests/kube_mcs.rs has the CRDs.
#[tokio::test(flavor = "multi_thread")]
async fn multicluster_without_the_mcs_crds_says_so() {
    let corefile = COREFILE
        .replace(
            "cluster.local:{PORT} in-addr.arpa:{PORT}",
            "cluster.local:{PORT} clusterset.local:{PORT} in-addr.arpa:{PORT}",
        )
        .replace(
            "kubernetes cluster.local in-addr.arpa ip6.arpa {",
            "kubernetes cluster.local clusterset.local in-addr.arpa ip6.arpa {\n        multicluster clusterset.local\n        startup_timeout 1s",
        );
    assert!(corefile.contains("multicluster"), "{corefile}");
    let dns = ClusterDns::start_watching(&corefile, ControlPlane::shared().kubeconfig());
    expect_answers(
        &dns,
        "kubernetes.default.svc.cluster.local",
        "A",
        &["A 198.18.0.1"],
    );
    expect_status(&dns, "nope.default.svc.clusterset.local", "A", "SERVFAIL");
    let deadline = std::time::Instant::now() + CATCH_UP;
    while !dns
        .log()
        .contains("multicluster needs the ServiceImport CRD, serviceimports.multicluster.x-k8s.io")
    {
        assert!(std::time::Instant::now() < deadline, "{}", dns.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}
