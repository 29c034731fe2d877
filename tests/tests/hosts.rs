//! `hosts` as a client sees it: a hosts file and inline entries answered with dig, NODATA
//! against SERVFAIL, PTR, fallthrough to kubernetes, and a file edit picked up on reload.

use std::time::Duration;

use signpost_tests::{ClusterDns, TempDir, example_cluster, free_port, http_get};

#[test]
fn hosts_answers_from_file_and_inline_and_follows_edits() {
    let dir = TempDir::new("hosts");
    let file = dir.path().join("hosts");
    std::fs::write(
        &file,
        "198.18.0.30 web.example.test\n2001:db8::30 web.example.test\n198.18.0.40 extra.cluster.local\n",
    )
    .unwrap();
    let metrics = free_port();
    let corefile = format!(
        "example.test:{{PORT}} {{\n    prometheus 127.0.0.1:{metrics}\n    hosts {path} {{\n        198.18.0.31 inline.example.test\n        ttl 60\n        reload 1s\n    }}\n}}\n\
         .:{{PORT}} {{\n    kubernetes cluster.local\n    hosts {path} {{\n        fallthrough\n    }}\n}}\n",
        path = file.display()
    );
    let server = ClusterDns::start(&corefile, &example_cluster());

    let r = server.dig(&["web.example.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.30"]);
    assert_eq!(r.answer[0].ttl, 60);
    assert!(r.has_flag("aa"));
    assert_eq!(
        server.dig(&["web.example.test", "AAAA"]).answers(),
        ["AAAA 2001:db8::30"]
    );
    assert_eq!(
        server.dig(&["inline.example.test", "A"]).answers(),
        ["A 198.18.0.31"]
    );
    // The name exists, not the type: NODATA. No name: SERVFAIL (no SOA to deny with).
    let r = server.dig(&["inline.example.test", "AAAA"]);
    assert_eq!((r.status.as_deref(), r.answer.len()), (Some("NOERROR"), 0));
    assert_eq!(
        server.dig(&["nope.example.test", "A"]).status.as_deref(),
        Some("SERVFAIL")
    );
    // PTR goes to the `.` block (longest zone), whose hosts has the file but not the inline
    // entry; an address no entry has falls through (to nothing here: SERVFAIL).
    assert_eq!(
        server.dig(&["-x", "198.18.0.30"]).answers(),
        ["PTR web.example.test."]
    );
    assert!(server.dig(&["-x", "198.18.0.31"]).answer.is_empty());
    // hosts runs before kubernetes (plugin.cfg order) and falls through to it.
    assert_eq!(
        server.dig(&["extra.cluster.local", "A"]).answers(),
        ["A 198.18.0.40"]
    );
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );

    let (_, body) = http_get(metrics, "/metrics").unwrap();
    assert!(body.contains("coredns_hosts_entries "), "{body}");
    assert!(body.contains("coredns_hosts_reload_timestamp_seconds "));

    std::fs::write(
        &file,
        "198.18.0.32 web.example.test\n198.18.0.33 new.example.test\n",
    )
    .unwrap();
    server.dig_until(&["new.example.test", "A"], Duration::from_secs(10), |r| {
        r.answers() == ["A 198.18.0.33"]
    });
    assert_eq!(
        server.dig(&["web.example.test", "A"]).answers(),
        ["A 198.18.0.32"]
    );
}
