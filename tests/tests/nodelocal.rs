//! nodelocal on the real kernel (issue 5's five scenarios): a node namespace runs nodelocal and
//! its guard, a pod namespace asks with dig, cluster-dns answers behind nftables DNAT standing
//! in for kube-proxy. `conntrack -L` in the node namespace shows which queries skipped it.

use std::time::{Duration, Instant};

use signpost_tests::nodelocal::{
    KUBE_DNS_IP, LOCAL_IP, NAME, NAME_ANSWER, Node, Nodelocal, POD_IP,
};

fn answered(node: &Node, server: &str) -> bool {
    node.dig_from_pod(server, NAME).answers() == [NAME_ANSWER]
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// Waits for the guard's fail-over (the rules gone within `limit`, then the ClusterIP off the
/// link) and for cluster-dns to answer through the DNAT; (rules gone, answering) after the call.
fn failed_over(node: &Node, limit: Duration) -> (Duration, Duration) {
    let failover = wait_for("the guard removes the rules", limit, || {
        !node.nft_tables().contains("nodelocaldns")
    });
    wait_for(
        "the ClusterIP leaves the link",
        Duration::from_secs(2),
        || !node.link_addrs().contains(KUBE_DNS_IP),
    );
    let recovered = wait_for("cluster-dns answers", Duration::from_secs(3), || {
        answered(node, KUBE_DNS_IP)
    });
    (failover, recovered)
}

/// (1) answered locally with no conntrack entry; (2) `kill -9` → the guard fails over within
/// 2 s and cluster-dns answers through the DNAT; (3) restarted → rules back, local again;
/// (4) a restart (new process beside the old, then SIGTERM to the old) under continuous load
/// loses no query.
#[test]
fn nodelocal_answers_locally_fails_over_comes_back_and_upgrades_without_loss() {
    let node = Node::new("nl");
    let mut nodelocal = node.start_nodelocal("nftables");
    let guard = node.start_guard("nftables");

    // (1) Both local IPs answer from the node, and no DNS flow from the pod is tracked.
    node.flush_conntrack();
    for server in [KUBE_DNS_IP, LOCAL_IP] {
        for _ in 0..3 {
            assert!(answered(&node, server), "{server}:\n{}", nodelocal.log());
        }
    }
    let tracked = node.pod_dns_conntrack();
    assert!(
        tracked.is_empty(),
        "DNS from the pod was tracked: {tracked:#?}"
    );
    assert!(node.nft_tables().contains("table inet nodelocaldns"));
    assert!(node.link_addrs().contains(KUBE_DNS_IP));

    // (2) kill -9: the guard removes the rules and the ClusterIP; kube-proxy's DNAT takes the
    // queries to cluster-dns.
    let load = node.load(KUBE_DNS_IP, Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    nodelocal.kill();
    let (failover, recovered) = failed_over(&node, Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(300));
    let report = load.finish();
    let gap = report.failures.iter().filter(|t| **t >= killed).count();
    println!(
        "FIGURE failover: rules gone {failover:?} after kill -9; answered again {:?} after; {} of {} queries (500 ms timeout, no retry) failed in the gap",
        killed.elapsed().min(failover + recovered),
        gap,
        report.sent
    );
    assert!(
        !node.pod_dns_conntrack().is_empty(),
        "cluster-dns answers through the DNAT"
    );
    let guard_log = guard.log();
    assert!(guard_log.contains("FAIL-OVER"), "{guard_log}");

    // (3) Restarted: the link gets its ClusterIP back, the rules return, traffic is local.
    let nodelocal = node.start_nodelocal("nftables");
    assert!(node.nft_tables().contains("table inet nodelocaldns"));
    assert!(node.link_addrs().contains(KUBE_DNS_IP));
    node.flush_conntrack();
    for server in [KUBE_DNS_IP, LOCAL_IP] {
        assert!(answered(&node, server), "{server}:\n{}", nodelocal.log());
    }
    let tracked = node.pod_dns_conntrack();
    assert!(tracked.is_empty(), "after restart: {tracked:#?}");

    // (4) Upgrade under load: the new process binds beside the old one, the old one hands
    // over and keeps the rules in place for it.
    let mut old = nodelocal;
    let load = node.load(KUBE_DNS_IP, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(500));
    let new = node.start_nodelocal("nftables");
    std::thread::sleep(Duration::from_millis(300));
    let status = old.terminate();
    assert!(status.success(), "{status}:\n{}", old.log());
    std::thread::sleep(Duration::from_millis(700));
    let report = load.finish();
    println!(
        "FIGURE upgrade: {} queries during the hand-over, {} lost",
        report.sent, report.failed
    );
    assert_eq!(
        report.failed,
        0,
        "queries lost across the upgrade:\n{}",
        old.log()
    );
    assert!(
        old.log().contains("another nodelocal is serving"),
        "{}",
        old.log()
    );
    assert!(node.nft_tables().contains("table inet nodelocaldns"));
    node.flush_conntrack();
    assert!(answered(&node, KUBE_DNS_IP), "{}", new.log());
    assert!(node.pod_dns_conntrack().is_empty());
    assert!(!guard.log().contains("panic"));
    let _ = POD_IP;
}

/// (5) The rule set is exactly node-cache's in each mode, and gone (with the link) after a
/// clean stop.
#[test]
fn rules_are_exact_in_both_modes_and_gone_after_a_clean_stop() {
    use nodelocal::rules::RuleSpec;
    use nodelocal::rules::render;
    let spec = RuleSpec {
        local_ips: vec![LOCAL_IP.parse().unwrap(), KUBE_DNS_IP.parse().unwrap()],
        dns_port: 53,
        health_port: 8080,
    };
    let node = Node::new("nlr");

    // nftables: our table alone, as rendered.
    let before = node.node.output("nft", &["list", "ruleset"]);
    let mut nodelocal = Nodelocal::start(&node.node, "nftables", &[]);
    let ours = node
        .node
        .output("nft", &["list", "table", "inet", render::NFT_TABLE]);
    let want = render::nft_table(&spec);
    assert_eq!(normalize_nft(&ours), normalize_nft(&want));
    assert!(answered(&node, KUBE_DNS_IP));
    assert!(nodelocal.terminate().success(), "{}", nodelocal.log());
    assert_eq!(node.node.output("nft", &["list", "ruleset"]), before);
    assert_eq!(node.link_addrs(), "", "the link is removed on a clean stop");

    // iptables: node-cache's lines, prepended, with its comments.
    let mut nodelocal = Nodelocal::start(&node.node, "iptables", &[]);
    let saved = node.node.output("iptables-save", &[]);
    let ours: Vec<&str> = saved
        .lines()
        .filter(|l| l.contains("NodeLocal DNS Cache"))
        .collect();
    let mut want: Vec<String> = render::rules(&spec)
        .iter()
        .map(|r| r.iptables_save_line())
        .collect();
    let mut got: Vec<String> = ours.iter().map(|s| s.to_string()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(answered(&node, KUBE_DNS_IP));
    assert!(nodelocal.terminate().success(), "{}", nodelocal.log());
    let saved = node.node.output("iptables-save", &[]);
    assert!(!saved.contains("NodeLocal DNS Cache"), "{saved}");
    assert_eq!(node.link_addrs(), "");

    // --skipteardown leaves everything in place, for the next start to take over. (iptables
    // keeps its emptied built-in chains: they are iptables', not ours.)
    let before = node.node.output("nft", &["list", "ruleset"]);
    let mut kept = Nodelocal::start(&node.node, "nftables", &["--skip-teardown"]);
    assert!(kept.terminate().success(), "{}", kept.log());
    assert!(node.nft_tables().contains("table inet nodelocaldns"));
    assert!(node.link_addrs().contains(KUBE_DNS_IP));
    let mut next = Nodelocal::start(&node.node, "nftables", &[]);
    assert!(answered(&node, KUBE_DNS_IP), "{}", next.log());
    assert!(next.terminate().success(), "{}", next.log());
    assert_eq!(node.node.output("nft", &["list", "ruleset"]), before);
    assert_eq!(node.link_addrs(), "");
}

/// nft prints with its own indentation; compare the statements.
fn normalize_nft(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Bad input: a Corefile naming a variable nodelocal cannot fill, an address already taken, a
/// missing kernel feature, an absent rule tool: each a clear error and a non-zero exit, with
/// nothing left behind on the node (no link, no rules).
#[test]
fn bad_starts_say_why_and_leave_nothing_behind() {
    let node = Node::new("nlb");
    let template = std::fs::read_to_string(
        signpost_tests::workspace_root().join("examples/nodelocal.Corefile"),
    )
    .unwrap();
    let clean = |what: &str| {
        assert!(
            !node.nft_tables().contains("nodelocaldns"),
            "{what}: rules left behind"
        );
        assert_eq!(node.link_addrs(), "", "{what}: link left behind");
    };

    // The upstream Service's variable is missing: nothing is touched at all.
    let err = Nodelocal::try_start(
        &node.node,
        "nftables",
        &["-upstreamsvc=no-such-svc"],
        &template,
        &[],
    )
    .err()
    .expect("a Corefile with an unfillable variable is refused");
    assert!(err.contains("NO_SUCH_SVC_SERVICE_HOST"), "{err}");
    clean("missing variable");

    // A variable node-cache does not know.
    let err = Nodelocal::try_start(
        &node.node,
        "nftables",
        &[],
        &template.replace("__PILLAR__UPSTREAM__SERVERS__", "__PILLAR__UPSTREAMS__"),
        &[],
    )
    .err()
    .expect("an unknown variable is refused");
    assert!(
        err.contains("unknown template variable __PILLAR__UPSTREAMS__"),
        "{err}"
    );
    clean("unknown variable");

    // The DNS port is taken by a process that does not share it.
    let (taken_tx, taken_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = node.node.spawn_in(move || {
        let socket = std::net::UdpSocket::bind("0.0.0.0:53").expect("bind :53 in the node");
        taken_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(socket);
    });
    taken_rx.recv().unwrap();
    let err = Nodelocal::try_start(&node.node, "nftables", &[], &template, &[])
        .err()
        .expect("a taken port is refused");
    assert!(
        err.contains("cannot listen on") && err.contains(":53"),
        "{err}"
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    clean("port taken");

    // A local IP already on another link of the node.
    node.node.output(
        "ip",
        &["addr", "add", &format!("{KUBE_DNS_IP}/32"), "dev", "lo"],
    );
    let err = Nodelocal::try_start(&node.node, "nftables", &[], &template, &[])
        .err()
        .expect("an address on another link is refused");
    assert!(err.contains(KUBE_DNS_IP) && err.contains("lo"), "{err}");
    node.node.output(
        "ip",
        &["addr", "del", &format!("{KUBE_DNS_IP}/32"), "dev", "lo"],
    );
    clean("address elsewhere");

    // The rule tool is absent.
    let err = Nodelocal::try_start(
        &node.node,
        "nftables",
        &[],
        &template,
        &[("PATH", "/nonexistent")],
    )
    .err()
    .expect("an absent nft is refused");
    assert!(err.contains("nft"), "{err}");
    clean("nft absent");

    // A missing kernel feature: IPv6 is off on this node, and a local IP is IPv6.
    node.node
        .output("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    let err = Nodelocal::try_start(
        &node.node,
        "nftables",
        &["-localip=169.254.20.10,2001:db8::a"],
        &template,
        &[],
    )
    .err()
    .expect("IPv6 on a node without it is refused");
    assert!(err.to_lowercase().contains("ipv6"), "{err}");
    clean("ipv6 disabled");

    // And after all that, a good start works.
    let n = Nodelocal::start(&node.node, "nftables", &["-syncinterval=1"]);
    assert!(answered(&node, KUBE_DNS_IP), "{}", n.log());
}

/// While it answers, nodelocal puts back what someone removed: an address at once (a netlink
/// change), its rules within the sync interval. Its metrics on :9253 carry node-cache's setup
/// errors beside CoreDNS's names.
#[test]
fn nodelocal_reasserts_link_and_rules_and_exports_node_cache_metrics() {
    let node = Node::new("nla");
    let n = Nodelocal::start(&node.node, "nftables", &["-syncinterval=1"]);
    node.node.output(
        "ip",
        &[
            "addr",
            "del",
            &format!("{KUBE_DNS_IP}/32"),
            "dev",
            "nodelocaldns",
        ],
    );
    let back = wait_for("the ClusterIP comes back", Duration::from_secs(2), || {
        node.link_addrs().contains(KUBE_DNS_IP)
    });
    println!("address re-added {back:?} after its removal");
    node.node
        .output("nft", &["delete", "table", "inet", "nodelocaldns"]);
    wait_for("the rules come back", Duration::from_secs(3), || {
        node.nft_tables().contains("table inet nodelocaldns")
    });
    assert!(answered(&node, KUBE_DNS_IP), "{}", n.log());
    let metrics = node
        .node
        .run_in(|| signpost_tests::http_get(9253, "/metrics"))
        .expect("metrics on :9253");
    for line in [
        "coredns_nodecache_setup_errors_total{errortype=\"iptables\"} 0",
        "coredns_nodecache_setup_errors_total{errortype=\"interface_add\"} 0",
        "coredns_nodecache_setup_errors_total{errortype=\"configmap\"} 0",
        "server=\"dns://198.18.0.10:53\",type=\"A\"",
        "coredns_cache_entries",
        "coredns_forward_requests_total",
    ] {
        assert!(metrics.1.contains(line), "no {line} in:\n{}", metrics.1);
    }
}

/// The guard takes the ClusterIP off the link when the cache stops answering; a nodelocal
/// that (re)starts in that moment still binds it (IP_FREEBIND) instead of failing and
/// waiting out kubelet's crash-loop back-off, and answers on it once it is back.
#[test]
fn a_cluster_ip_off_the_link_does_not_stop_a_start() {
    let node = Node::new("nlf");
    // As nodelocal makes it: a dummy, or an empty bridge where the kernel has no dummy driver.
    let dummy = std::process::Command::new("ip")
        .args(["netns", "exec", &node.node.name, "ip", "link", "add"])
        .args(["nodelocaldns", "type", "dummy"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !dummy {
        node.node
            .output("ip", &["link", "add", "nodelocaldns", "type", "bridge"]);
    }
    for args in [
        &[
            "addr",
            "add",
            &format!("{LOCAL_IP}/32"),
            "dev",
            "nodelocaldns",
        ][..],
        &["link", "set", "nodelocaldns", "up"],
    ] {
        node.node.output("ip", args);
    }
    let n = Nodelocal::start(&node.node, "nftables", &["-setupinterface=false"]);
    assert!(answered(&node, LOCAL_IP), "{}", n.log());
    assert!(!node.link_addrs().contains(KUBE_DNS_IP));
    node.node.output(
        "ip",
        &[
            "addr",
            "add",
            &format!("{KUBE_DNS_IP}/32"),
            "dev",
            "nodelocaldns",
        ],
    );
    assert!(answered(&node, KUBE_DNS_IP), "{}", n.log());
}

/// Issue 14's drill: nodelocal killed ten times in a row under continuous load. Each time the
/// guard fails over, and the only queries lost are those sent within the reaction time (from
/// one query timeout before the kill until cluster-dns answers through the DNAT).
#[test]
fn ten_kills_in_a_row_under_load_lose_queries_only_within_the_reaction_time() {
    const KILLS: usize = 10;
    const QUERY_TIMEOUT: Duration = Duration::from_millis(500);
    let node = Node::new("nlkill");
    let guard = node.start_guard("nftables");
    let load = node.load(KUBE_DNS_IP, QUERY_TIMEOUT);
    let mut windows = Vec::new();
    let mut failovers = Vec::new();
    for round in 1..=KILLS {
        let mut nodelocal = node.start_nodelocal("nftables");
        // Armed (first answer) or re-armed: the guard has seen this cache answer.
        wait_for(
            "the guard sees the cache answer",
            Duration::from_secs(3),
            || {
                let log = guard.log();
                log.matches("guard armed").count() + log.matches("re-armed").count() >= round
            },
        );
        std::thread::sleep(Duration::from_millis(200));
        let killed = Instant::now();
        nodelocal.kill();
        let (failover, _) = failed_over(&node, Duration::from_secs(2));
        windows.push((killed - QUERY_TIMEOUT, Instant::now()));
        failovers.push(failover);
    }
    std::thread::sleep(Duration::from_millis(300));
    let report = load.finish();
    let outside: Vec<_> = report
        .failures
        .iter()
        .filter(|t| !windows.iter().any(|(from, to)| *t >= from && *t <= to))
        .collect();
    let (fastest, slowest) = (
        failovers.iter().min().copied().unwrap_or_default(),
        failovers.iter().max().copied().unwrap_or_default(),
    );
    println!(
        "FIGURE ten kills: fail-over after {fastest:?} to {slowest:?}; {} of {} queries \
         (500 ms timeout, no retry) lost, {} of them outside the reaction windows",
        report.failed,
        report.sent,
        outside.len()
    );
    assert!(
        outside.is_empty(),
        "queries lost outside the reaction windows:\n{}",
        guard.log()
    );
    assert_eq!(guard.log().matches("FAIL-OVER").count(), KILLS);
    assert!(!guard.log().contains("panic"));
}

/// Issue 14's drill: nodelocal and its guard die together (a node OOM, say). What nodelocal
/// left (NOTRACK rules, the ClusterIP on its link) black-holes pod DNS, exactly as a
/// node-local-dns killed with SIGKILL does. The guard restarted without its cache fails over
/// after its start grace (5 s), so the node resolves through cluster-dns until nodelocal is
/// back.
#[test]
fn nodelocal_and_its_guard_killed_together_the_restarted_guard_fails_over() {
    let node = Node::new("nlboth");
    let mut nodelocal = node.start_nodelocal("nftables");
    let mut guard = node.start_guard("nftables");
    wait_for("the guard arms", Duration::from_secs(3), || {
        guard.log().contains("guard armed")
    });
    nodelocal.kill();
    guard.kill();

    // What pods see with neither running: the rules and the ClusterIP stay, nothing listens.
    assert!(node.nft_tables().contains("table inet nodelocaldns"));
    assert!(node.link_addrs().contains(KUBE_DNS_IP));
    assert!(!answered(&node, KUBE_DNS_IP), "nothing should answer");

    // The guard comes back first (nodelocal waits out a crash-loop back-off).
    let started = Instant::now();
    let guard = node.start_guard("nftables");
    let (failover, recovered) = failed_over(&node, Duration::from_secs(8));
    println!(
        "FIGURE both killed: pod DNS down until the guard restarts; then fail-over {failover:?} \
         after its start, cluster-dns answering {:?} after it",
        started.elapsed().min(failover + recovered)
    );
    assert!(
        guard
            .log()
            .contains("the cache has not answered since the guard started"),
        "{}",
        guard.log()
    );

    // nodelocal back: local again, the guard re-armed.
    let nodelocal = node.start_nodelocal("nftables");
    assert!(node.nft_tables().contains("table inet nodelocaldns"));
    node.flush_conntrack();
    assert!(answered(&node, KUBE_DNS_IP), "{}", nodelocal.log());
    assert!(node.pod_dns_conntrack().is_empty());
    wait_for("the guard re-arms", Duration::from_secs(3), || {
        guard.log().contains("re-armed")
    });
}
