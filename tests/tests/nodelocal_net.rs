//! nodelocal's link, rules and guard on the real kernel, each test in a network namespace of
//! its own (root needed; `ip`, `nft`, `iptables-nft`, `iptables-legacy` from
//! scripts/install-deps).

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use nodelocal::link::{self, LinkChanges, LinkConfig, LinkError, LinkKind};
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
