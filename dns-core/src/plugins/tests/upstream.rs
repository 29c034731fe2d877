//! The kubernetes plugin's upstream lookup (R-EXTERNAL-UPSTREAM): an ExternalName target
//! outside its zones is asked of the same server, as CoreDNS's backend lookup does.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::{ask_as, render_answers, router};
use crate::plugin::Router;

/// prod/legacy is an ExternalName service for legacy.example.com (example_cluster); the same
/// listener serves example.com from `hosts`. (`router` takes the first listener: port 53.)
const COREFILE: &str = "cluster.local:53 {
 kubernetes
}
example.com:53 {
 hosts {
  192.0.2.7 legacy.example.com
 }
}
";

async fn ask(router: &Router, qname: &str, qtype: RecordType) -> Message {
    ask_as(router, "127.0.0.1", qname, qtype).await
}

#[tokio::test]
async fn an_external_target_is_resolved_through_the_server() {
    let router = router(COREFILE);
    let cases: &[(&str, RecordType, &[&str])] = &[
        // A: the CNAME, then what the example.com block answers for the target.
        (
            "legacy.prod.svc.cluster.local.",
            RecordType::A,
            &[
                "legacy.prod.svc.cluster.local. CNAME legacy.example.com.",
                "legacy.example.com. A 192.0.2.7",
            ],
        ),
        // AAAA: the target has none, so the CNAME alone.
        (
            "legacy.prod.svc.cluster.local.",
            RecordType::AAAA,
            &["legacy.prod.svc.cluster.local. CNAME legacy.example.com."],
        ),
        // A CNAME question is answered with the CNAME: nothing is looked up.
        (
            "legacy.prod.svc.cluster.local.",
            RecordType::CNAME,
            &["legacy.prod.svc.cluster.local. CNAME legacy.example.com."],
        ),
        // An in-zone target is followed by the records rules (R-EXTERNAL-INZONE), not here.
        (
            "alias.prod.svc.cluster.local.",
            RecordType::A,
            &[
                "alias.prod.svc.cluster.local. CNAME web.prod.svc.cluster.local.",
                "web.prod.svc.cluster.local. A 198.18.0.20",
            ],
        ),
    ];
    for (qname, qtype, want) in cases {
        let r = ask(&router, qname, *qtype).await;
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::NoError,
            "{qname} {qtype}"
        );
        assert_eq!(render_answers(&r), *want, "{qname} {qtype}");
    }
}

/// A target no block of this listener serves (example.com on another port) is not looked up
/// elsewhere: the CNAME alone, as CoreDNS answers when its own server refuses the name.
#[tokio::test]
async fn a_target_no_block_serves_gets_the_cname_alone() {
    let router = router(&COREFILE.replace("example.com:53", "example.com:5300"));
    let r = ask(&router, "legacy.prod.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        render_answers(&r),
        ["legacy.prod.svc.cluster.local. CNAME legacy.example.com."]
    );
}
