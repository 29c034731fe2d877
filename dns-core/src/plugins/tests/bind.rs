//! bind: addresses, interfaces, `except` per directive, errors with file:line:col, and the
//! routers it yields (one listener per bound address; blocks share an address's listener).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::cluster::SnapshotStore;
use crate::corefile::parse_str;
use crate::plugin::build::Dependencies;
use crate::plugins::bind;
use crate::plugins::build;

fn no_env(_: &str) -> Option<String> {
    None
}

fn interfaces(name: &str) -> Option<Vec<IpAddr>> {
    match name {
        "nodelocaldns" => Some(vec![
            "169.254.20.10".parse().unwrap(),
            "198.18.0.10".parse().unwrap(),
        ]),
        "lo" => Some(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]),
        _ => None,
    }
}

fn parse(block: &str) -> Result<Vec<String>, String> {
    let c = parse_str(&format!(".:53 {{\n{block}\n}}\n"), "Corefile", &no_env)
        .map_err(|e| e.to_string())?;
    let binds: Vec<_> = c.blocks[0]
        .directives
        .iter()
        .filter(|d| d.name == "bind")
        .collect();
    bind::parse(&binds, &interfaces)
        .map(|addrs| addrs.iter().map(ToString::to_string).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn bind_setup_table() {
    let ok: &[(&str, &[&str])] = &[
        ("bind 127.0.0.1", &["127.0.0.1"]),
        ("bind 127.0.0.1 ::1", &["127.0.0.1", "::1"]),
        ("bind nodelocaldns", &["169.254.20.10", "198.18.0.10"]),
        (
            "bind nodelocaldns {\n except 198.18.0.10\n}",
            &["169.254.20.10"],
        ),
        (
            "bind lo nodelocaldns {\n except lo\n}",
            &["169.254.20.10", "198.18.0.10"],
        ),
        // Repeated lines merge; a repeated address listens once.
        (
            "bind 169.254.20.10\nbind 198.18.0.10 169.254.20.10",
            &["169.254.20.10", "198.18.0.10"],
        ),
        // except applies to its own line only.
        (
            "bind 127.0.0.1 {\n except 127.0.0.1\n}\nbind 127.0.0.1",
            &["127.0.0.1"],
        ),
    ];
    for (block, want) in ok {
        let want: Vec<String> = want.iter().map(ToString::to_string).collect();
        assert_eq!(parse(block), Ok(want), "{block}");
    }
    let bad = [
        (
            "bind",
            "Corefile:2:1: bind: needs at least one address or interface",
        ),
        (
            "bind eth9",
            "Corefile:2:6: bind: \"eth9\" is neither an IP address nor an interface",
        ),
        (
            "bind 127.0.0.1 {\n only 1.2.3.4\n}",
            "Corefile:3:2: bind: unknown option \"only\" (only `except ADDRESS|IFACE...`)",
        ),
        (
            "bind 127.0.0.1 {\n except\n}",
            "Corefile:3:2: bind: unknown option \"except\" (only `except ADDRESS|IFACE...`)",
        ),
        (
            "bind 127.0.0.1 {\n except 127.0.0.1\n}",
            "Corefile:2:1: bind: no address left to listen on",
        ),
    ];
    for (block, want) in bad {
        assert_eq!(parse(block), Err(want.to_string()), "{block}");
    }
}

fn router_addrs(corefile: &str) -> Result<Vec<(SocketAddr, usize)>, String> {
    let c = parse_str(corefile, "Corefile", &no_env).map_err(|e| e.to_string())?;
    let deps = Dependencies::new(Arc::new(SnapshotStore::new()));
    let routers = build(&c, &deps).map_err(|e| e.to_string())?;
    Ok(routers
        .routers
        .iter()
        .map(|r| (r.addr, r.zone_count()))
        .collect())
}

#[test]
fn bound_blocks_share_each_address_listener() {
    // node-local-dns's shape: every zone bound to the same two addresses.
    let corefile = "cluster.local:53 {\n bind 169.254.20.10 198.18.0.10\n}\n\
                    in-addr.arpa:53 {\n bind 169.254.20.10 198.18.0.10\n}\n\
                    .:53 {\n bind 169.254.20.10 198.18.0.10\n}\n\
                    .:5300 {\n}\n";
    let got = router_addrs(corefile).unwrap();
    let want: Vec<(SocketAddr, usize)> = vec![
        ("0.0.0.0:5300".parse().unwrap(), 1),
        ("169.254.20.10:53".parse().unwrap(), 3),
        ("198.18.0.10:53".parse().unwrap(), 3),
    ];
    assert_eq!(got, want);
}

#[test]
fn one_zone_on_two_bound_addresses_is_allowed_but_not_twice_on_one() {
    let ok = ".:53 {\n bind 127.0.0.1\n}\n.:53 {\n bind 127.0.0.2\n}\n";
    assert_eq!(router_addrs(ok).unwrap().len(), 2);
    let dup = ".:53 {\n bind 127.0.0.1\n}\n.:53 {\n bind 127.0.0.1\n}\n";
    let err = router_addrs(dup).unwrap_err();
    assert!(err.contains("zone . on port 53 is already served"), "{err}");
}

#[test]
fn interface_addrs_reads_loopback() {
    let lo = bind::interface_addrs("lo").expect("lo exists");
    assert!(lo.contains(&"127.0.0.1".parse().unwrap()), "{lo:?}");
    assert_eq!(bind::interface_addrs("no-such-if0"), None);
}
