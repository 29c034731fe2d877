use super::render::{self, Chain, Table};
use super::{IptablesBackend, Op, Outcome, RuleSpec, choose_backend, classify};

fn spec(ips: &[&str]) -> RuleSpec {
    RuleSpec {
        local_ips: ips.iter().map(|s| s.parse().expect("ip")).collect(),
        dns_port: 53,
        health_port: 8080,
    }
}

#[test]
fn node_cache_rule_set_per_ip() {
    let rules = render::rules(&spec(&["169.254.20.10"]));
    let lines: Vec<(&str, &str, String)> = rules
        .iter()
        .map(|r| {
            (
                r.table.iptables_name(),
                r.chain.iptables_name(),
                r.iptables_args().join(" "),
            )
        })
        .collect();
    let skip = "--comment NodeLocal DNS Cache: skip conntrack";
    let allow = "--comment NodeLocal DNS Cache: allow DNS traffic";
    let ip = "169.254.20.10";
    let want: Vec<(&str, &str, String)> = vec![
        (
            "raw",
            "PREROUTING",
            format!("-p tcp -d {ip} --dport 53 -j NOTRACK -m comment {skip}"),
        ),
        (
            "raw",
            "PREROUTING",
            format!("-p udp -d {ip} --dport 53 -j NOTRACK -m comment {skip}"),
        ),
        (
            "filter",
            "INPUT",
            format!("-p tcp -d {ip} --dport 53 -j ACCEPT -m comment {allow}"),
        ),
        (
            "filter",
            "INPUT",
            format!("-p udp -d {ip} --dport 53 -j ACCEPT -m comment {allow}"),
        ),
        (
            "raw",
            "OUTPUT",
            format!("-p tcp -s {ip} --sport 53 -j NOTRACK -m comment {skip}"),
        ),
        (
            "raw",
            "OUTPUT",
            format!("-p udp -s {ip} --sport 53 -j NOTRACK -m comment {skip}"),
        ),
        (
            "filter",
            "OUTPUT",
            format!("-p tcp -s {ip} --sport 53 -j ACCEPT -m comment {allow}"),
        ),
        (
            "filter",
            "OUTPUT",
            format!("-p udp -s {ip} --sport 53 -j ACCEPT -m comment {allow}"),
        ),
        (
            "raw",
            "OUTPUT",
            format!("-p tcp -d {ip} --dport 53 -j NOTRACK -m comment {skip}"),
        ),
        (
            "raw",
            "OUTPUT",
            format!("-p udp -d {ip} --dport 53 -j NOTRACK -m comment {skip}"),
        ),
        (
            "raw",
            "OUTPUT",
            format!("-p tcp -d {ip} --dport 8080 -j NOTRACK -m comment {skip}"),
        ),
        (
            "raw",
            "OUTPUT",
            format!("-p tcp -s {ip} --sport 8080 -j NOTRACK -m comment {skip}"),
        ),
    ];
    assert_eq!(lines, want);
    assert_eq!(
        render::rules(&spec(&["169.254.20.10", "2001:db8::10"])).len(),
        24
    );
}

#[test]
fn iptables_save_and_nft_spellings() {
    let rules = render::rules(&spec(&["2001:db8::10"]));
    let first = &rules[0];
    assert_eq!(first.table, Table::Raw);
    assert_eq!(first.chain, Chain::Prerouting);
    assert_eq!(
        first.iptables_save_line(),
        "-A PREROUTING -d 2001:db8::10/128 -p tcp -m tcp --dport 53 -m comment --comment \
         \"NodeLocal DNS Cache: skip conntrack\" -j NOTRACK"
    );
    assert_eq!(
        first.nft_line(),
        "ip6 daddr 2001:db8::10 tcp dport 53 notrack comment \"NodeLocal DNS Cache: skip conntrack\""
    );
}

#[test]
fn nft_table_has_our_four_chains_and_the_transaction_replaces_it() {
    let s = spec(&["169.254.20.10"]);
    let table = render::nft_table(&s);
    assert!(table.starts_with("table inet nodelocaldns {\n\tchain raw-prerouting {\n"));
    for hook in [
        "type filter hook prerouting priority raw; policy accept;",
        "type filter hook output priority raw; policy accept;",
        "type filter hook input priority filter; policy accept;",
        "type filter hook output priority filter; policy accept;",
    ] {
        assert_eq!(table.matches(hook).count(), 1, "{hook}");
    }
    assert_eq!(table.matches(" notrack ").count(), 8);
    assert_eq!(table.matches(" accept comment").count(), 4);
    let tx = render::nft_transaction(&s);
    assert!(tx.starts_with("add table inet nodelocaldns\ndelete table inet nodelocaldns\ntable"));
}

/// choose_backend: (nft save, legacy save) -> backend.
#[test]
fn iptables_backend_detection() {
    let kube = "*nat\n:KUBE-SERVICES - [0:0]\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n";
    let hint = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n";
    let docker = "*filter\n-A FORWARD -j DOCKER\n-A FORWARD -j ACCEPT\nCOMMIT\n";
    let empty = "";
    let cases: [(Option<&str>, Option<&str>, IptablesBackend, &str); 9] = [
        (None, None, IptablesBackend::Plain, "no suffixed binaries"),
        (Some(empty), None, IptablesBackend::Nft, "only nft"),
        (None, Some(empty), IptablesBackend::Legacy, "only legacy"),
        (
            Some(empty),
            Some(empty),
            IptablesBackend::Nft,
            "nothing anywhere: nft",
        ),
        (
            Some(empty),
            Some(kube),
            IptablesBackend::Legacy,
            "kube-proxy on legacy",
        ),
        (
            Some(kube),
            Some(empty),
            IptablesBackend::Nft,
            "kube-proxy on nft",
        ),
        (
            Some(hint),
            Some(docker),
            IptablesBackend::Nft,
            "hint beats more rules",
        ),
        (
            Some(empty),
            Some(docker),
            IptablesBackend::Legacy,
            "more rules on legacy",
        ),
        (Some(kube), Some(kube), IptablesBackend::Nft, "a tie: nft"),
    ];
    for (nft, legacy, want, why) in cases {
        assert_eq!(choose_backend(nft, legacy), want, "{why}");
    }
}

/// classify: (op, exit status, stderr) -> outcome; the messages are iptables 1.8's.
#[test]
fn iptables_outcomes() {
    let lock = "Another app is currently holding the xtables lock. Stopped waiting after 5s.";
    let bad = "iptables: Bad rule (does a matching rule exist in that chain?).";
    let cases = [
        (Op::Check, Some(0), "", Outcome::Done),
        (Op::Check, Some(1), bad, Outcome::Absent),
        (Op::Delete, Some(1), bad, Outcome::Absent),
        (Op::Insert, Some(1), bad, Outcome::Failed),
        (Op::Insert, Some(4), lock, Outcome::Locked),
        (Op::Check, Some(4), lock, Outcome::Locked),
        (
            Op::Insert,
            Some(4),
            "CHAIN_ADD failed (Operation not supported)",
            Outcome::Failed,
        ),
        (Op::Check, Some(2), "unknown option", Outcome::Failed),
        (Op::Delete, None, "killed", Outcome::Failed),
    ];
    for (op, status, stderr, want) in cases {
        assert_eq!(
            classify(op, status, stderr),
            want,
            "{op:?} {status:?} {stderr}"
        );
    }
}
