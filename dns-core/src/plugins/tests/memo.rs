//! The kubernetes plugin's per-thread memo of encoded answers: what it sends is byte for byte
//! what working the answer out sends, a changed snapshot is answered from the change at once,
//! and only chains whose plugins before it leave records alone get encoded answers.

use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::router_over;
use crate::cluster::SnapshotStore;
use crate::cluster::model::Change;
use crate::cluster::testdata::example_cluster;
use crate::plugin::Router;
use crate::server::respond;
use crate::wire::{Handler, RequestInfo, Transport};

fn info() -> RequestInfo {
    RequestInfo {
        src: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    }
}

fn query(qname: &str, qtype: RecordType, edns: bool) -> Message {
    let mut m = Message::new(99, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.queries
        .push(Query::query(Name::from_ascii(qname).unwrap(), qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.edns = Some(e);
    }
    m
}

/// Every kind of answer the plugin gives: records, additionals, NODATA, NXDOMAIN, a reverse
/// name, a question in capitals (never remembered), one without EDNS.
const QUESTIONS: &[(&str, RecordType, bool)] = &[
    ("web.prod.svc.cluster.local.", RecordType::A, true),
    ("web.prod.svc.cluster.local.", RecordType::AAAA, true),
    ("db.prod.svc.cluster.local.", RecordType::A, true),
    (
        "_http._tcp.web.prod.svc.cluster.local.",
        RecordType::SRV,
        true,
    ),
    (
        "_postgres._tcp.db.prod.svc.cluster.local.",
        RecordType::SRV,
        false,
    ),
    ("nope.prod.svc.cluster.local.", RecordType::A, true),
    ("1.2.19.198.in-addr.arpa.", RecordType::PTR, true),
    ("Web.PROD.svc.cluster.local.", RecordType::A, true),
    ("prod.svc.cluster.local.", RecordType::A, false),
];

/// `errors` leaves records alone (the memo answers); `any` is not known to (the plugin
/// works every answer out).
const REMEMBERING: &str = ".:53 {\n errors\n kubernetes cluster.local in-addr.arpa\n}\n";
const WORKING_OUT: &str = ".:53 {\n any\n kubernetes cluster.local in-addr.arpa\n}\n";

fn store() -> Arc<SnapshotStore> {
    let store = Arc::new(SnapshotStore::new());
    store.replace(example_cluster(), 1);
    store
}

async fn send(router: &Router, q: &Message) -> Vec<u8> {
    respond(router, &q.to_vec().unwrap(), &info())
        .await
        .0
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_remembered_answer_is_the_bytes_of_working_it_out() {
    let store = store();
    let remembering = router_over(store.clone(), REMEMBERING);
    let working_out = router_over(store, WORKING_OUT);
    for &(qname, qtype, edns) in QUESTIONS {
        let q = query(qname, qtype, edns);
        let expected = send(&working_out, &q).await;
        let first = send(&remembering, &q).await;
        let again = send(&remembering, &q).await;
        assert_eq!(first, expected, "{qname} {qtype}: first");
        assert_eq!(again, expected, "{qname} {qtype}: remembered");
        // And as a message, the records all there (tests and upstream lookups read these).
        let (m, _) = remembering.handle(&q, &info()).await;
        let (w, _) = working_out.handle(&q, &info()).await;
        assert_eq!(m.answers, w.answers, "{qname} {qtype}");
        assert_eq!(m.additionals, w.additionals, "{qname} {qtype}");
        assert_eq!(m.authorities, w.authorities, "{qname} {qtype}");
    }
    let q = query(QUESTIONS[0].0, RecordType::A, true);
    let (_, encoded, _) = remembering.handle_encoded(&q, &info()).await;
    assert!(encoded.is_some(), "behind `errors`, encoded records");
    let (_, encoded, _) = working_out.handle_encoded(&q, &info()).await;
    assert!(encoded.is_none(), "behind `any`, whole messages");
}

#[tokio::test(flavor = "current_thread")]
async fn a_change_is_answered_at_once() {
    let store = store();
    let r = router_over(store.clone(), REMEMBERING);
    let q = query("web.prod.svc.cluster.local.", RecordType::A, true);
    let before = send(&r, &q).await;
    assert_eq!(send(&r, &q).await, before);
    let mut moved = example_cluster();
    for change in &mut moved {
        if let Change::UpsertService(s) = change
            && s.name == "web"
            && s.namespace == "prod"
        {
            s.cluster_ips = smallvec::smallvec!["198.18.0.77".parse().unwrap()];
        }
    }
    store.replace(moved, 2);
    let after = Message::from_vec(&send(&r, &q).await).unwrap();
    assert_eq!(
        after.answers[0].data.to_string(),
        "198.18.0.77",
        "answered from the new snapshot"
    );
}
