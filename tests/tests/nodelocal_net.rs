//! nodelocal's link, rules and guard on the real kernel, each test in a network namespace of
//! its own (root needed; `ip`, `nft`, `iptables-nft`, `iptables-legacy` from
//! scripts/install-deps).

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use nodelocal::link::{self, LinkChanges, LinkConfig, LinkError, LinkKind};
use nodelocal::rules::render::{self, Chain, Table};
use nodelocal::rules::{self, RuleMode, RuleSpec, RulesError};
use signpost_tests::netns::NetNs;

const LINK: &str = "nodelocaldns";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn config(addrs: &[&str]) -> LinkConfig {
    LinkConfig {
        name: LINK.to_string(),
        addrs: addrs.iter().map(|a| ip(a)).collect(),
    }
}

/// Log lines written while `f` runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        let this = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || this.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// (address, prefix length) on the link, from `ip -j addr`, link-local v6 left out.
fn addrs_on(ns: &NetNs, dev: &str) -> Vec<(String, u64)> {
    let out = ns.output("ip", &["-j", "addr", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j addr");
    let mut found = Vec::new();
    for a in v[0]["addr_info"].as_array().expect("addr_info") {
        let local = a["local"].as_str().expect("local").to_string();
        if local.starts_with("fe80:") {
            continue;
        }
        assert!(
            a.get("tentative").is_none(),
            "{local} is tentative (DAD ran)"
        );
        found.push((local, a["prefixlen"].as_u64().expect("prefixlen")));
    }
    found.sort();
    found
}

fn link_info(ns: &NetNs) -> serde_json::Value {
    let out = ns.output("ip", &["-d", "-j", "link", "show", "dev", LINK]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j link");
    v[0].clone()
}

fn dummy_driver() -> bool {
    std::path::Path::new("/sys/module/dummy").exists()
}

#[test]
fn link_is_made_with_v4_and_v6_addresses_and_is_idempotent() {
    let ns = NetNs::isolated("nl-link");
    let log = Captured::default();
    let wanted = config(&["169.254.20.10", "198.18.0.10", "2001:db8::10"]);
    let first = ns
        .run_in(|| log.with(|| runtime().block_on(link::ensure(&wanted))))
        .expect("ensure");
    let kind = link_info(&ns)["linkinfo"]["info_kind"]
        .as_str()
        .map(str::to_string);
    if dummy_driver() {
        assert_eq!(first.created, Some(LinkKind::Dummy));
        assert_eq!(kind.as_deref(), Some("dummy"));
    } else {
        assert_eq!(first.created, Some(LinkKind::Bridge));
        assert_eq!(kind.as_deref(), Some("bridge"));
        let text = log.text();
        assert!(
            text.contains("WARN") && text.contains("no dummy link driver"),
            "the fallback is logged as a warning: {text}"
        );
        assert!(text.contains("kind=\"bridge\""), "{text}");
    }
    assert_eq!(first.added_addrs, wanted.addrs);
    let flags = link_info(&ns)["flags"].to_string();
    assert!(flags.contains("\"UP\""), "link is up: {flags}");
    assert_eq!(
        addrs_on(&ns, LINK),
        vec![
            ("169.254.20.10".to_string(), 32),
            ("198.18.0.10".to_string(), 32),
            ("2001:db8::10".to_string(), 128),
        ]
    );

    // The addresses are usable at once: binding to a tentative v6 address would fail.
    ns.run_in(|| {
        for a in ["169.254.20.10:53", "[2001:db8::10]:53"] {
            std::net::UdpSocket::bind(a).unwrap_or_else(|e| panic!("bind {a}: {e}"));
        }
    });

    let again = ns.block_on(|| link::ensure(&wanted)).expect("ensure again");
    assert_eq!(again, LinkChanges::default());
    assert!(again.is_empty());

    // A link that was set down is set up again, with the v6 address the kernel dropped with it
    // (no keep_addr_on_down); one address more is added.
    ns.output("ip", &["link", "set", LINK, "down"]);
    let more = config(&[
        "169.254.20.10",
        "198.18.0.10",
        "2001:db8::10",
        "198.18.0.11",
    ]);
    let changed = ns.block_on(|| link::ensure(&more)).expect("ensure");
    assert!(changed.set_up);
    assert_eq!(
        changed.added_addrs,
        vec![ip("2001:db8::10"), ip("198.18.0.11")]
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn address_on_another_link_is_an_error_naming_it() {
    let ns = NetNs::isolated("nl-else");
    ns.output("ip", &["addr", "add", "198.18.0.20/32", "dev", "lo"]);
    let wanted = config(&["169.254.20.10", "198.18.0.20"]);
    let err = ns
        .block_on(|| link::ensure(&wanted))
        .expect_err("taken elsewhere");
    match &err {
        LinkError::AddressElsewhere { addr, other, .. } => {
            assert_eq!(*addr, ip("198.18.0.20"));
            assert_eq!(other, "lo");
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().contains("already on link lo"), "{err}");
}

#[test]
fn ipv6_disabled_is_a_clear_error() {
    let ns = NetNs::isolated("nl-nov6");
    // /proc/sys/net is the opening thread's namespace's.
    ns.run_in(|| {
        for conf in ["all", "default"] {
            let path = format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6");
            std::fs::write(&path, "1").unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    });
    let wanted = config(&["169.254.20.10", "2001:db8::10"]);
    let err = ns.block_on(|| link::ensure(&wanted)).expect_err("no IPv6");
    assert!(
        matches!(err, LinkError::Ipv6Disabled { addr, .. } if addr == ip("2001:db8::10")),
        "{err}"
    );
    assert!(err.to_string().contains("IPv6 is disabled"), "{err}");
}

#[test]
fn remove_addrs_and_remove_are_idempotent() {
    let ns = NetNs::isolated("nl-rm");
    let wanted = config(&["169.254.20.10", "198.18.0.10", "2001:db8::10"]);
    ns.block_on(|| link::ensure(&wanted)).expect("ensure");
    let cluster_ips = [ip("198.18.0.10"), ip("2001:db8::10")];
    let removed = ns
        .block_on(|| link::remove_addrs(LINK, &cluster_ips))
        .expect("remove_addrs");
    assert_eq!(removed, cluster_ips.to_vec());
    assert_eq!(addrs_on(&ns, LINK), vec![("169.254.20.10".to_string(), 32)]);
    let none = ns
        .block_on(|| link::remove_addrs(LINK, &cluster_ips))
        .expect("remove_addrs again");
    assert!(none.is_empty());

    assert!(ns.block_on(|| link::remove(LINK)).expect("remove"));
    assert!(!ns.block_on(|| link::remove(LINK)).expect("remove again"));
    let absent = ns
        .block_on(|| link::remove_addrs(LINK, &cluster_ips))
        .expect("no link: nothing to do");
    assert!(absent.is_empty());
}

fn rule_spec(ips: &[&str]) -> RuleSpec {
    RuleSpec {
        local_ips: ips.iter().map(|a| ip(a)).collect(),
        dns_port: 53,
        health_port: 8080,
    }
}

const FOREIGN_NFT: &str = "table inet someone {
\tchain out {
\t\ttype filter hook output priority raw; policy accept;
\t\tudp dport 5353 notrack
\t}
}
";

#[test]
fn nftables_table_is_exactly_as_rendered_and_leaves_others_alone() {
    let ns = NetNs::isolated("nl-nft");
    let spec = rule_spec(&["169.254.20.10", "198.18.0.10", "2001:db8::10"]);
    ns.run_in(|| {
        let mut nft = std::process::Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft");
        nft.stdin
            .take()
            .expect("stdin")
            .write_all(FOREIGN_NFT.as_bytes())
            .expect("write");
        assert!(nft.wait().expect("nft").success());
    });
    let ours = render::nft_table(&spec);
    let ruleset = || ns.output("nft", &["list", "ruleset"]);
    assert_eq!(ruleset(), FOREIGN_NFT);

    assert!(
        ns.run_in(|| rules::ensure(RuleMode::Nftables, &spec))
            .expect("ensure")
    );
    assert_eq!(ruleset(), format!("{FOREIGN_NFT}{ours}"));
    let json: serde_json::Value =
        serde_json::from_str(&ns.output("nft", &["-j", "list", "ruleset"])).expect("nft -j");
    let tables: Vec<String> = json["nftables"]
        .as_array()
        .expect("nftables")
        .iter()
        .filter_map(|o| o["table"]["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(tables, ["someone", "nodelocaldns"]);
    let rule_count = json["nftables"]
        .as_array()
        .expect("nftables")
        .iter()
        .filter(|o| o["rule"]["table"] == "nodelocaldns")
        .count();
    assert_eq!(rule_count, 36, "12 rules for each of 3 local IPs");

    assert!(
        !ns.run_in(|| rules::ensure(RuleMode::Nftables, &spec))
            .expect("again")
    );

    // Someone flushed one of our chains: the table is put back whole.
    ns.output(
        "nft",
        &["flush", "chain", "inet", "nodelocaldns", "raw-output"],
    );
    assert!(
        ns.run_in(|| rules::ensure(RuleMode::Nftables, &spec))
            .expect("repair")
    );
    assert_eq!(ruleset(), format!("{FOREIGN_NFT}{ours}"));

    assert!(
        ns.run_in(|| rules::remove(RuleMode::Nftables, &spec))
            .expect("remove")
    );
    assert_eq!(ruleset(), FOREIGN_NFT);
    assert!(
        !ns.run_in(|| rules::remove(RuleMode::Nftables, &spec))
            .expect("remove again")
    );
}

/// The `-A` lines of one table of `<binary>-save`.
fn saved(ns: &NetNs, binary: &str, table: &str) -> Vec<String> {
    ns.output(&format!("{binary}-save"), &["-t", table])
        .lines()
        .filter(|l| l.starts_with("-A "))
        .map(str::to_string)
        .collect()
}

/// What `-save` should print for `table` when our rules were prepended (`-I`, one after the
/// other, as node-cache does) in front of `foreign` (chain, line) rules.
fn expected_save(spec: &RuleSpec, v6: bool, table: Table, foreign: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    for chain in [Chain::Prerouting, Chain::Input, Chain::Output] {
        let ours = render::rules(spec)
            .into_iter()
            .filter(|r| r.ip.is_ipv6() == v6 && r.table == table && r.chain == chain)
            .rev()
            .map(|r| r.iptables_save_line());
        lines.extend(ours);
        let prefix = format!("-A {} ", chain.iptables_name());
        lines.extend(
            foreign
                .iter()
                .filter(|l| l.starts_with(&prefix))
                .map(|l| l.to_string()),
        );
    }
    lines
}

fn iptables_mode_on(backend: &str) {
    let ns = NetNs::isolated(&format!("nl-ipt-{backend}"));
    let spec = rule_spec(&["169.254.20.10", "198.18.0.10", "2001:db8::10"]);
    let (v4, v6) = (
        format!("iptables-{backend}"),
        format!("ip6tables-{backend}"),
    );
    let other = if backend == "nft" { "legacy" } else { "nft" };
    // kube-proxy's chains in this backend, so detection picks it; a rule of someone else's.
    let foreign = "-A OUTPUT -p udp -m udp --dport 5353 -j NOTRACK";
    for bin in [&v4, &v6] {
        ns.output(bin, &["-t", "nat", "-N", "KUBE-SERVICES"]);
        ns.output(
            bin,
            &[
                "-t", "raw", "-A", "OUTPUT", "-p", "udp", "--dport", "5353", "-j", "NOTRACK",
            ],
        );
    }

    assert!(
        ns.run_in(|| rules::ensure(RuleMode::Iptables, &spec))
            .expect("ensure")
    );
    for (bin, is_v6) in [(&v4, false), (&v6, true)] {
        assert_eq!(
            saved(&ns, bin, "raw"),
            expected_save(&spec, is_v6, Table::Raw, &[foreign]),
            "{bin} raw"
        );
        assert_eq!(
            saved(&ns, bin, "filter"),
            expected_save(&spec, is_v6, Table::Filter, &[]),
            "{bin} filter"
        );
    }
    for bin in [format!("iptables-{other}"), format!("ip6tables-{other}")] {
        assert!(saved(&ns, &bin, "raw").is_empty(), "nothing in {bin}");
    }
    assert!(
        !ns.run_in(|| rules::ensure(RuleMode::Iptables, &spec))
            .expect("again")
    );

    // A second copy of one of ours (two nodelocals racing): remove takes every copy.
    let mut copy = vec!["-t", "raw", "-A", "PREROUTING"];
    let first = render::rules(&spec).remove(0);
    let args = first.iptables_args();
    copy.extend(args.iter().map(String::as_str));
    ns.output(&v4, &copy);

    assert!(
        ns.run_in(|| rules::remove(RuleMode::Iptables, &spec))
            .expect("remove")
    );
    for bin in [&v4, &v6] {
        assert_eq!(saved(&ns, bin, "raw"), [foreign], "{bin}: only theirs left");
        assert!(saved(&ns, bin, "filter").is_empty(), "{bin} filter");
    }
    assert!(
        !ns.run_in(|| rules::remove(RuleMode::Iptables, &spec))
            .expect("remove again")
    );
}

#[test]
fn iptables_nft_rules_exactly_as_node_cache_and_others_untouched() {
    iptables_mode_on("nft");
}

#[test]
fn iptables_legacy_rules_exactly_as_node_cache_and_others_untouched() {
    iptables_mode_on("legacy");
}

/// An `-I` that fails midway (ip6tables-nft cannot use an ip6 `raw` table whose PREROUTING chain
/// someone hooked at input) leaves none of the rules this call added.
#[test]
fn iptables_failure_midway_takes_back_what_it_added() {
    let ns = NetNs::isolated("nl-ipt-half");
    ns.output("nft", &["add", "table", "ip6", "raw"]);
    ns.output(
        "nft",
        &["add chain ip6 raw PREROUTING { type filter hook input priority 0; }"],
    );
    let spec = rule_spec(&["169.254.20.10", "2001:db8::10"]);
    let err = ns
        .run_in(|| rules::ensure(RuleMode::Iptables, &spec))
        .expect_err("v6 fails");
    assert!(
        matches!(&err, RulesError::Tool { tool, .. } if tool == "ip6tables-nft"),
        "{err}"
    );
    for table in ["raw", "filter"] {
        assert!(
            saved(&ns, "iptables-nft", table).is_empty(),
            "v4 {table} rolled back"
        );
    }
}

/// Runs [`missing_tool_child`] in a child with an empty PATH.
#[test]
fn missing_tool_is_a_clear_error() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args(["--exact", "missing_tool_child", "--ignored", "--nocapture"])
        .env("PATH", "/nonexistent")
        .output()
        .expect("run the child test");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "run by missing_tool_is_a_clear_error with an empty PATH"]
fn missing_tool_child() {
    let spec = rule_spec(&["169.254.20.10"]);
    for (mode, tool) in [
        (RuleMode::Nftables, "nft"),
        (RuleMode::Iptables, "iptables"),
    ] {
        match rules::ensure(mode, &spec) {
            Err(e @ RulesError::ToolMissing { .. }) => {
                let text = e.to_string();
                assert!(text.starts_with(&format!("{tool} not found")), "{text}");
                assert!(text.contains("--rules"), "{text}");
            }
            other => panic!("{mode:?}: {other:?}"),
        }
    }
    assert!(!rules::ensure(RuleMode::None, &spec).expect("none"));
}

/// Stands in for nodelocal: answers every query on `addr` with itself, marked a response.
async fn responder(addr: &str) -> tokio::task::JoinHandle<()> {
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            if n >= 12 {
                buf[2] |= 0x80;
                let _ = socket.send_to(&buf[..n], from).await;
            }
        }
    })
}

/// Runs `cmd args` from a blocking thread (in the namespace: it inherits the runtime thread's).
async fn sh(cmd: &'static str, args: &'static [&'static str]) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(cmd)
            .args(args)
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .expect("join")
}

/// One sample's value from the guard's `/metrics`, 0 when absent.
async fn metric(line_start: &str) -> f64 {
    let addr = "127.0.0.1:9254".parse().expect("addr");
    let body = dns_core::server::http::get(addr, "/metrics")
        .await
        .unwrap_or_default();
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    within: std::time::Duration,
    mut check: impl FnMut() -> F,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[test]
fn guard_fails_over_within_two_seconds_and_rearms_without_touching_rules() {
    use nodelocal::guard::{self, GuardArgs};
    use std::time::Duration;

    let ns = NetNs::isolated("nl-guard");
    let local = config(&["169.254.20.10", "198.18.0.10"]);
    let spec = rule_spec(&["169.254.20.10", "198.18.0.10"]);
    ns.block_on(|| async {
        // nodelocal's start: link, rules, serving.
        link::ensure(&local).await.expect("link");
        assert!(rules::ensure(RuleMode::Nftables, &spec).expect("rules"));
        let cache = responder("169.254.20.10:53").await;

        let args = GuardArgs {
            localip: local.addrs.clone(),
            interfacename: LINK.to_string(),
            rules: RuleMode::Nftables,
            dns_port: 53,
            health_port: 8080,
            probe_interval: Duration::from_millis(250),
            probe_timeout: Duration::from_millis(200),
            failure_threshold: 4,
            start_grace: Duration::from_secs(5),
            probe_name: "cluster.local.".to_string(),
            metrics_listen_address: "127.0.0.1:9254".to_string(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let guard = tokio::spawn(guard::run_until(args, async {
            let _ = stopped.await;
        }));
        let ok = "signpost_nodelocal_guard_probes_total{ip=\"169.254.20.10\",result=\"ok\"}";
        wait_for("guard sees the cache", Duration::from_secs(3), || async {
            metric(ok).await >= 2.0
        })
        .await;

        // The cache dies: rules and the ClusterIP go, the link-local IP stays.
        cache.abort();
        let _ = cache.await;
        let took = wait_for("fail-over", Duration::from_secs(3), || async {
            let table = sh("nft", &["list", "table", "inet", "nodelocaldns"]).await;
            let addrs = sh("ip", &["-o", "addr", "show", "dev", "nodelocaldns"])
                .await
                .1;
            !table.0 && !addrs.contains("198.18.0.10")
        })
        .await;
        eprintln!("fail-over took {took:?}");
        assert!(took < Duration::from_secs(2), "fail-over took {took:?}");
        let addrs = sh("ip", &["-o", "addr", "show", "dev", "nodelocaldns"])
            .await
            .1;
        assert!(addrs.contains("169.254.20.10"), "{addrs}");
        assert_eq!(
            metric("signpost_nodelocal_guard_failovers_total").await,
            1.0
        );
        assert_eq!(metric("signpost_nodelocal_guard_failed_over").await, 1.0);
        assert!(metric("signpost_nodelocal_guard_last_failover_timestamp_seconds").await > 0.0);

        // nodelocal is back and re-asserts its rules and address: the guard re-arms and leaves
        // them alone.
        let cache = responder("169.254.20.10:53").await;
        link::ensure(&local).await.expect("link again");
        assert!(rules::ensure(RuleMode::Nftables, &spec).expect("rules again"));
        wait_for("re-armed", Duration::from_secs(3), || async {
            metric("signpost_nodelocal_guard_failed_over").await == 0.0
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            sh("nft", &["list", "table", "inet", "nodelocaldns"])
                .await
                .0
        );
        let addrs = sh("ip", &["-o", "addr", "show", "dev", "nodelocaldns"])
            .await
            .1;
        assert!(addrs.contains("198.18.0.10"), "{addrs}");
        assert!(!rules::ensure(RuleMode::Nftables, &spec).expect("unchanged"));
        assert_eq!(
            metric("signpost_nodelocal_guard_failovers_total").await,
            1.0
        );

        let _ = stop.send(());
        guard.await.expect("join").expect("guard stops cleanly");
        cache.abort();
    });
}

/// One UDP exchange with a local responder on 169.254.20.10:53, from inside the namespace.
fn udp_exchange(ns: &NetNs) {
    ns.run_in(|| {
        let server = std::net::UdpSocket::bind("169.254.20.10:53").expect("bind :53");
        let client = std::net::UdpSocket::bind("0.0.0.0:0").expect("client");
        client
            .send_to(&[0u8; 12], "169.254.20.10:53")
            .expect("send");
        let mut buf = [0u8; 64];
        let (_, from) = server.recv_from(&mut buf).expect("receive");
        server.send_to(&buf[..12], from).expect("reply");
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .expect("timeout");
        client.recv_from(&mut buf).expect("the reply");
    });
}

/// The point of the rules: DNS to the local IP makes no conntrack entry (so no DNAT, no
/// conntrack table pressure), in both modes.
fn notrack_keeps_dns_out_of_conntrack(mode: RuleMode) {
    let ns = NetNs::isolated(&format!("nl-ct-{mode:?}").to_lowercase());
    let local = config(&["169.254.20.10"]);
    ns.block_on(|| link::ensure(&local)).expect("link");
    // Conntrack tracks in a namespace only once a rule there uses it.
    ns.output(
        "nft",
        &[
            "add table inet someone; add chain inet someone in { type filter hook input \
             priority 0; }; add rule inet someone in ct state established accept",
        ],
    );
    let dns_flows = || {
        ns.output("conntrack", &["-L", "-p", "udp"])
            .lines()
            .filter(|l| l.contains("dport=53 "))
            .count()
    };
    udp_exchange(&ns);
    assert_eq!(dns_flows(), 1, "without the rules the exchange is tracked");
    ns.output("conntrack", &["-F"]);

    let spec = rule_spec(&["169.254.20.10"]);
    assert!(ns.run_in(|| rules::ensure(mode, &spec)).expect("rules"));
    udp_exchange(&ns);
    assert_eq!(dns_flows(), 0, "{mode:?}: NOTRACK");
}

#[test]
fn nftables_rules_keep_dns_out_of_conntrack() {
    notrack_keeps_dns_out_of_conntrack(RuleMode::Nftables);
}

#[test]
fn iptables_rules_keep_dns_out_of_conntrack() {
    notrack_keeps_dns_out_of_conntrack(RuleMode::Iptables);
}
