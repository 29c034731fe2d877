//! errors: consolidation of matching messages, CoreDNS's report line and Go durations.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::no_env;
use crate::corefile::parse_str;
use crate::plugins::errors::{ErrorsPlugin, consolidated_line, go_duration, parse};

#[test]
fn report_lines_read_as_coredns_prints_them() {
    assert_eq!(
        consolidated_line("warning", 3, ".* i/o timeout$", Duration::from_secs(300)),
        "[WARNING] plugin/errors: 3 errors like '.* i/o timeout$' occurred in last 5m0s"
    );
    let cases = [
        (Duration::from_secs(30), "30s"),
        (Duration::from_secs(90), "1m30s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_millis(500), "500ms"),
    ];
    for (d, want) in cases {
        assert_eq!(go_duration(d), want, "{d:?}");
    }
}

#[test]
fn matching_errors_are_counted_not_printed() {
    let c = parse_str(
        ".:53 {\n errors {\n  consolidate 30s \"^read udp .* i/o timeout$\"\n }\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let d = &c.blocks[0].directives[0];
    let plugin = ErrorsPlugin::new(&parse(d).unwrap(), &d.location).unwrap();
    plugin.report(
        2,
        "a.example.test.",
        "A",
        "read udp 127.0.0.1:1->127.0.0.1:2: i/o timeout",
    );
    plugin.report(
        2,
        "b.example.test.",
        "A",
        "read udp 127.0.0.1:1->127.0.0.1:2: i/o timeout",
    );
    // Another error is printed at once (not counted).
    plugin.report(2, "c.example.test.", "A", "connection refused");
    assert_eq!(plugin.pending(0).load(Ordering::Relaxed), 2);
}

#[test]
fn a_bad_regexp_is_a_setup_error_with_its_place() {
    let c = parse_str(
        ".:53 {\n errors {\n  consolidate 30s \"(\"\n }\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let d = &c.blocks[0].directives[0];
    let err = ErrorsPlugin::new(&parse(d).unwrap(), &d.location)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("Corefile:2:2: errors: invalid consolidate regexp"),
        "{err}"
    );
}
