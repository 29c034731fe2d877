//! The Corefile kubeadm installs for CoreDNS, unchanged but for the listen port, served by
//! cluster-dns inside a network namespace of the test's own (so `:8080`, `:8181`, `:9153` and
//! `/etc/resolv.conf` are its own): cluster names from the cluster state, external names through
//! `forward . /etc/resolv.conf` to a real upstream (knotd) in the same namespace.

use std::net::SocketAddr;

use signpost_tests::knot::Knot;
use signpost_tests::netns::NetNs;
use signpost_tests::{ClusterDns, example_cluster};

/// kubeadm's CoreDNS Corefile (cmd/kubeadm/app/phases/addons/dns).
const KUBEADM_COREFILE: &str = include_str!("../../examples/kubeadm.Corefile");

#[test]
fn the_kubeadm_corefile_resolves_cluster_and_external_names() {
    let ns = NetNs::isolated("kubeadm");
    ns.set_resolv_conf("nameserver 127.0.0.1\nsearch example.test\noptions ndots:5\n");
    let wrapper = ns.wrapper();
    let _upstream = Knot::start_via(&wrapper, SocketAddr::from(([127, 0, 0, 1], 53)));
    // Unchanged but for the listen port.
    let corefile = KUBEADM_COREFILE.replace(".:53 {", ".:{PORT} {");
    assert_ne!(corefile, KUBEADM_COREFILE);
    let dns = ClusterDns::launch_via(&wrapper, &corefile, Some(&example_cluster()), &[]);

    // Cluster names, with the kubeadm TTL, never cached (disable success/denial cluster.local).
    let r = dns.dig(&["web.prod.svc.cluster.local", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"], "{}", r.raw);
    assert_eq!(r.answer[0].ttl, 30);
    let r = dns.dig(&["nope.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
    let r = dns.dig(&["-x", "198.18.0.20"]);
    assert_eq!(
        r.answers(),
        ["PTR web.prod.svc.cluster.local."],
        "{}",
        r.raw
    );

    // External names: forwarded to the resolv.conf nameserver, then answered from the cache.
    let r = dns.dig(&["www.example.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.10"], "{}\n{}", r.raw, dns.log());
    assert!(r.answer[0].ttl <= 30, "cache 30 caps the TTL: {}", r.raw);
    let r = dns.dig(&["nope.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
    // A reverse name the cluster does not know falls through to the upstream.
    let r = dns.dig(&["-x", "198.18.0.99"]);
    assert!(r.status.is_some(), "{}", r.raw);

    // The loop probe passed and the server keeps serving.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let r = dns.dig(&["www.example.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.10"], "{}\n{}", r.raw, dns.log());
}
