//! chaos, whoami and bufsize: setup errors with their place, and answers through the chain.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RData, RecordType};

use super::template::ask_type;
use super::{build_error, no_env, router};
use crate::corefile::parse_str;
use crate::plugins::{bufsize, chaos};

#[test]
fn setup_errors_name_the_place() {
    let cases = [
        (
            ".:53 {\n bufsize 511\n}\n",
            "Corefile:2:10: bufsize: buffer size must be an integer from 512 to 4096, not \"511\"",
        ),
        (
            ".:53 {\n bufsize 4097\n}\n",
            "Corefile:2:10: bufsize: buffer size must be an integer from 512 to 4096",
        ),
        (
            ".:53 {\n bufsize big\n}\n",
            "Corefile:2:10: bufsize: buffer size must be",
        ),
        (
            ".:53 {\n bufsize 1232 512\n}\n",
            "Corefile:2:15: bufsize: bufsize takes one size",
        ),
        (
            ".:53 {\n chaos {\n  x\n }\n}\n",
            "Corefile:3:3: chaos: unknown property \"x\"",
        ),
        (
            ".:53 {\n whoami x\n}\n",
            "Corefile:2:9: whoami: whoami takes no arguments",
        ),
        (
            ".:53 {\n debug x\n}\n",
            "Corefile:2:8: debug: debug takes no arguments",
        ),
        (
            ".:53 {\n pprof localhost\n}\n",
            "Corefile:2:8: pprof: invalid address \"localhost\"",
        ),
        (
            ".:53 {\n pprof :6053 :6054\n}\n",
            "Corefile:2:14: pprof: pprof takes at most one address",
        ),
        (
            ".:53 {\n pprof {\n  frob\n }\n}\n",
            "Corefile:3:3: pprof: unknown property \"frob\"",
        ),
        (
            ".:53 {\n trace jaeger localhost:9411\n}\n",
            "Corefile:2:8: trace: unknown endpoint type \"jaeger\"",
        ),
    ];
    for (corefile, want) in cases {
        let got = build_error(corefile);
        assert!(got.starts_with(want), "{corefile:?}: {got}");
    }
    for fine in [
        ".:53 {\n bufsize\n}\n",
        ".:53 {\n bufsize 512\n}\n",
        ".:53 {\n chaos\n}\n",
        ".:53 {\n chaos v1 alice bob\n}\n",
        ".:53 {\n whoami\n}\n",
        ".:53 {\n debug\n pprof\n trace\n}\n",
        ".:53 {\n pprof 127.0.0.1:6053 {\n  block\n }\n trace zipkin localhost:9411 {\n  every 100\n }\n}\n",
    ] {
        assert_eq!(build_error(fine), "", "{fine:?}");
    }
}

#[test]
fn bufsize_default() {
    let c = parse_str(".:53 {\n bufsize\n}\n", "Corefile", &no_env).unwrap();
    assert_eq!(bufsize::parse(&c.blocks[0].directives[0]).unwrap(), 1232);
}

/// OpenShift's `hostname.bind:5353 { chaos }` and CoreDNS's default names.
#[tokio::test]
async fn chaos_answers_ch_txt_about_the_server() {
    let r = router(
        "version.bind:53 version.server:53 authors.bind:53 hostname.bind:53 id.server:53 {\n chaos v9 alice bob\n}\n",
    );
    let txt = |m: &hickory_proto::op::Message| -> Vec<String> {
        m.answers
            .iter()
            .map(|r| {
                assert_eq!(r.dns_class, DNSClass::CH);
                match &r.data {
                    RData::TXT(t) => t.to_string(),
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    };
    let m = ask_type(&r, "version.bind.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(txt(&m), ["v9"]);
    let m = ask_type(&r, "VERSION.server.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(txt(&m), ["v9"]);
    let m = ask_type(&r, "authors.bind.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(txt(&m), ["alice", "bob"]);
    let m = ask_type(&r, "hostname.bind.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(txt(&m), [chaos::hostname()]);
    let m = ask_type(&r, "id.server.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(txt(&m), [chaos::hostname()]);
    // Not TXT, or not CH: on down the chain (nothing there: SERVFAIL).
    let m = ask_type(&r, "version.bind.", RecordType::A, DNSClass::CH).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = ask_type(&r, "version.bind.", RecordType::TXT, DNSClass::IN).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let defaults = router(".:53 {\n chaos\n}\n");
    let m = ask_type(&defaults, "version.bind.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(txt(&m), [chaos::default_version()]);
}

#[tokio::test]
async fn whoami_tells_the_client_its_address_and_port() {
    let r = router(".:53 {\n whoami\n}\n");
    let m = ask_type(&r, "example.test.", RecordType::A, DNSClass::IN).await;
    assert!(m.answers.is_empty() && m.metadata.authoritative);
    let extra: Vec<String> = m
        .additionals
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
        .collect();
    assert_eq!(
        extra,
        [
            "example.test. 0 198.18.1.2",
            "_udp.example.test. 0 0 0 4242 ."
        ]
    );
}

/// RFC 8482: ANY gets one HINFO; other types go on (here to kubernetes).
#[tokio::test]
async fn any_answers_hinfo() {
    let r = router("cluster.local:53 {\n any\n kubernetes\n}\n");
    let m = ask_type(
        &r,
        "web.prod.svc.cluster.local.",
        RecordType::ANY,
        DNSClass::IN,
    )
    .await;
    let answers: Vec<String> = m
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
        .collect();
    assert_eq!(
        answers,
        ["web.prod.svc.cluster.local. 8482 ANY obsoleted See RFC 8482"]
    );
    let m = ask_type(
        &r,
        "web.prod.svc.cluster.local.",
        RecordType::A,
        DNSClass::IN,
    )
    .await;
    assert_eq!(m.answers.len(), 1);
}

/// Positive answers lose authority and additional; denials keep their SOA.
#[tokio::test]
async fn minimal_keeps_only_the_answer() {
    let full = router("cluster.local:53 {\n kubernetes\n}\n");
    let r = router("cluster.local:53 {\n minimal\n kubernetes\n}\n");
    let srv = "_http._tcp.web.prod.svc.cluster.local.";
    let m = ask_type(&full, srv, RecordType::SRV, DNSClass::IN).await;
    assert!(!m.additionals.is_empty());
    let m = ask_type(&r, srv, RecordType::SRV, DNSClass::IN).await;
    assert!(!m.answers.is_empty() && m.additionals.is_empty() && m.authorities.is_empty());
    let m = ask_type(
        &r,
        "nope.prod.svc.cluster.local.",
        RecordType::A,
        DNSClass::IN,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    let m = ask_type(
        &r,
        "web.prod.svc.cluster.local.",
        RecordType::TXT,
        DNSClass::IN,
    )
    .await;
    assert!(m.answers.is_empty() && m.authorities.len() == 1);
}
