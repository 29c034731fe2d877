//! `hosts`: setup (options, inline entries, errors with their location) and lookups
//! (A/AAAA/PTR, NODATA against no name, zones, no_reverse).

use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};

use crate::corefile::parse_str;
use crate::plugins::hosts::{HostsConfig, HostsTable, Lookup, lookup, parse};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn hosts(directive: &str) -> Result<HostsConfig, String> {
    let src = format!("example.test:53 {{\n  {directive}\n}}\n");
    let c = parse_str(&src, "Corefile", &|_| None).map_err(|e| e.to_string())?;
    parse(&c.blocks[0].directives[0], &[name("example.test.")]).map_err(|e| e.to_string())
}

const FILE: &str = "\
# comment line
127.0.0.1   localhost
198.18.0.10 web.example.test Web2.Example.Test  # trailing comment
198.18.0.11 web.example.test
2001:db8::10 web.example.test
fe80::1%eth0 scoped.example.test
198.18.0.12 v4only.example.test
2001:db8::12 v6only.example.test
not-an-ip   junk.example.test
198.18.0.99 outside.other.test
";

fn answers(found: &Lookup) -> Vec<String> {
    match found {
        Lookup::Answer(rrs) => rrs
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
            .collect(),
        other => vec![format!("{other:?}")],
    }
}

#[test]
fn hosts_lookup_table() {
    let zones = [name("example.test.")];
    let file = HostsTable::parse(FILE, &zones, true);
    let inline = HostsTable::parse("198.18.0.13 web.example.test\n", &zones, true);
    assert_eq!(file.len(), 7);
    let cases: &[(&str, RecordType, &[&str])] = &[
        (
            "web.example.test.",
            RecordType::A,
            &[
                "web.example.test. 60 198.18.0.10",
                "web.example.test. 60 198.18.0.11",
                // Inline entries come after the file's.
                "web.example.test. 60 198.18.0.13",
            ],
        ),
        // Case-insensitive; the answer keeps the question's spelling.
        (
            "WEB2.example.test.",
            RecordType::A,
            &["WEB2.example.test. 60 198.18.0.10"],
        ),
        (
            "web.example.test.",
            RecordType::AAAA,
            &["web.example.test. 60 2001:db8::10"],
        ),
        (
            "scoped.example.test.",
            RecordType::AAAA,
            &["scoped.example.test. 60 fe80::1"],
        ),
        // The name exists with other records: NODATA.
        ("v4only.example.test.", RecordType::AAAA, &[]),
        ("v6only.example.test.", RecordType::A, &[]),
        ("web.example.test.", RecordType::MX, &[]),
        // No such name: NXDOMAIN territory.
        ("junk.example.test.", RecordType::A, &["NoName"]),
        ("nope.example.test.", RecordType::TXT, &["NoName"]),
        // Outside the zones: not ours, and names outside were not read.
        ("outside.other.test.", RecordType::A, &["Pass"]),
        ("localhost.", RecordType::A, &["Pass"]),
        // PTR from any zone, for addresses we know.
        (
            "10.0.18.198.in-addr.arpa.",
            RecordType::PTR,
            &[
                "10.0.18.198.in-addr.arpa. 60 web.example.test.",
                "10.0.18.198.in-addr.arpa. 60 web2.example.test.",
            ],
        ),
        (
            "13.0.18.198.in-addr.arpa.",
            RecordType::PTR,
            &["13.0.18.198.in-addr.arpa. 60 web.example.test."],
        ),
        (
            "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            RecordType::PTR,
            &[
                "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 web.example.test.",
            ],
        ),
        ("99.0.18.198.in-addr.arpa.", RecordType::PTR, &["Pass"]),
        ("web.example.test.", RecordType::PTR, &["Pass"]),
    ];
    for (qname, qtype, want) in cases {
        let got = answers(&lookup([&file, &inline], &zones, &name(qname), *qtype, 60));
        assert_eq!(got, *want, "{qname} {qtype}");
    }
}

#[test]
fn hosts_no_reverse_answers_no_ptr() {
    let zones = [name("example.test.")];
    let file = HostsTable::parse(FILE, &zones, false);
    let empty = HostsTable::default();
    let found = lookup(
        [&file, &empty],
        &zones,
        &name("10.0.18.198.in-addr.arpa."),
        RecordType::PTR,
        60,
    );
    assert_eq!(found, Lookup::Pass);
}

#[test]
fn hosts_setup_options() {
    let c = hosts("hosts").unwrap();
    assert_eq!(c.path.to_str(), Some("/etc/hosts"));
    assert_eq!(c.origins, [name("example.test.")]);
    assert_eq!(
        (c.ttl, c.reverse, c.reload),
        (3600, true, Duration::from_secs(5))
    );
    assert!(!c.fallthrough.through(&name("a.example.test.")));

    let c = hosts(
        "hosts /tmp/h sub.example.test {\n 198.18.0.1 a.sub.example.test\n 198.18.0.2 b.example.test\n \
         ttl 60\n no_reverse\n reload 0\n fallthrough\n }",
    )
    .unwrap();
    assert_eq!(c.path.to_str(), Some("/tmp/h"));
    assert_eq!(c.origins, [name("sub.example.test.")]);
    assert_eq!((c.ttl, c.reverse, c.reload), (60, false, Duration::ZERO));
    // Inline entries outside the zones are not read.
    assert_eq!(c.inline.len(), 1);
    assert!(c.fallthrough.through(&name("x.sub.example.test.")));
}

#[test]
fn hosts_setup_errors_name_the_line() {
    let cases = [
        (
            "hosts {\n ttl\n }",
            "Corefile:3:2: hosts: ttl needs a time in second",
        ),
        (
            "hosts {\n ttl soon\n }",
            "Corefile:3:6: hosts: ttl needs a number of second",
        ),
        (
            "hosts {\n ttl 0\n }",
            "Corefile:3:6: hosts: ttl provided is invalid",
        ),
        (
            "hosts {\n ttl 65536\n }",
            "Corefile:3:6: hosts: ttl provided is invalid",
        ),
        (
            "hosts {\n reload\n }",
            "Corefile:3:2: hosts: reload needs a duration (zero seconds to disable)",
        ),
        (
            "hosts {\n reload -1s\n }",
            "Corefile:3:9: hosts: invalid duration for reload '-1s'",
        ),
        (
            "hosts /h bad..zone",
            "Corefile:2:12: hosts: invalid zone \"bad..zone\"",
        ),
    ];
    for (directive, want) in cases {
        assert_eq!(hosts(directive).err().as_deref(), Some(want), "{directive}");
    }
}
