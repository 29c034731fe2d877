//! `rewrite` as a client sees it: a name rewritten onto a cluster service is answered from the
//! snapshot, and the answer carries the name the client asked.

use signpost_tests::{ClusterDns, example_cluster};

#[test]
fn rewrite_name_answers_with_the_asked_name() {
    let corefile = ".:{PORT} {\n    rewrite name foo.example.test web.prod.svc.cluster.local\n    \
                    rewrite name suffix .corp.test .svc.cluster.local answer auto\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["foo.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    assert_eq!(r.answers(), ["A 198.18.0.20"]);
    assert_eq!(r.answer[0].name, "foo.example.test.");
    // dig drops a response whose question differs from its own: an answer at all means the
    // question came back as asked.
    let r = server.dig(&["web.prod.corp.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"]);
    assert_eq!(r.answer[0].name, "web.prod.corp.test.");
    // Names no rule matches go through untouched.
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );
}

#[test]
fn rewrite_rcode_changes_the_status_for_matching_names() {
    let corefile = ".:{PORT} {\n    rewrite rcode suffix .prod.svc.cluster.local NXDOMAIN REFUSED\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["missing.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("REFUSED"), "{}", r.raw);
    // Another rcode, or another name, is left alone.
    let r = server.dig(&["web.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    let r = server.dig(&["missing.other.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
}

#[test]
fn rewrite_cname_points_an_external_name_into_the_cluster() {
    // prod/legacy is an ExternalName service for legacy.example.com: its answer is that CNAME
    // alone. The rule points it at web.prod, whose address the rest of the chain adds.
    let corefile = ".:{PORT} {\n    rewrite cname exact legacy.example.com web.prod.svc.cluster.local\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["legacy.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    assert_eq!(
        r.answers(),
        ["A 198.18.0.20", "CNAME web.prod.svc.cluster.local."],
        "{}",
        r.raw
    );
    // Other CNAME targets are left alone.
    let r = server.dig(&["alias.prod.svc.cluster.local", "A"]);
    assert!(
        r.answers()
            .contains(&"CNAME web.prod.svc.cluster.local.".to_string()),
        "{}",
        r.raw
    );
}

#[test]
fn rewrite_block_rewrites_the_name_and_turns_answers_back() {
    let corefile = ".:{PORT} {\n    rewrite stop {\n        \
                    name regex (.*)\\.corp\\.test\\.$ {1}.prod.svc.cluster.local.\n        \
                    answer name (.*)\\.prod\\.svc\\.cluster\\.local\\.$ {1}.corp.test.\n    }\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["web.corp.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"], "{}", r.raw);
    assert_eq!(r.answer[0].name, "web.corp.test.");
}
