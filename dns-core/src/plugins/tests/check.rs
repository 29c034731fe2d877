//! `check`: every block and plugin with its verdict and place; one refusal does not hide the
//! next; accepted-but-different plugins are listed with their note.

use std::sync::Arc;

use super::no_env;
use crate::cluster::SnapshotStore;
use crate::corefile::parse_str;
use crate::plugin::build::{Dependencies, Verdict, check};
use crate::plugins::REGISTRY;

#[test]
fn check_lists_every_plugin_with_its_verdict() {
    let c = parse_str(
        ".:53 {\n debug\n frobnicate\n etcd\n cache 30\n ttl\n cache x\n forward . 198.18.0.1\n}\nexample.test:53 {\n template IN A {\n  rcode BOGUS\n }\n whoami\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let deps = Dependencies::new(Arc::new(SnapshotStore::new()));
    let report = check(&c, &deps, REGISTRY);
    let lines: Vec<String> = report
        .lines
        .iter()
        .map(|l| {
            let verdict = match &l.verdict {
                Verdict::Supported => "supported".to_string(),
                Verdict::Ignored(_) => "ignored".to_string(),
                Verdict::Refused(why) => format!("refused: {why}"),
            };
            format!(
                "{}:{} {} {verdict}",
                l.location.line, l.location.col, l.what
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "1:1 server block .:53 supported",
            "2:2 plugin debug supported",
            "2:2 debug option ignored",
            "3:2 plugin frobnicate refused: unknown plugin",
            "4:2 plugin etcd refused: not supported yet by Signpost",
            "5:2 plugin cache supported",
            "6:2 plugin ttl refused: unknown plugin",
            "7:2 plugin cache refused: appears twice in one server block",
            "8:2 plugin forward supported",
            "10:1 server block example.test.:53 supported",
            "12:9 plugin template refused: unknown rcode \"BOGUS\"",
            "14:2 plugin whoami supported",
        ]
    );
    assert!(!report.starts());
    let fine = parse_str(".:53 {\n pprof\n whoami\n}\n", "Corefile", &no_env).unwrap();
    let report = check(&fine, &deps, REGISTRY);
    assert!(report.starts());
    assert!(
        report
            .to_string()
            .contains("Corefile:2:2: pprof option: accepted, ignored: ")
    );
}
