//! Records encoded once and copied behind each client's question ([`crate::wire::encoded`]):
//! the bytes are those of encoding the whole message, whatever the question's case; TTLs are
//! patched; what cannot be copied whole is refused, for the caller to encode.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::wire::encode::{encode_prebuilt, encode_within};
use crate::wire::encoded::{EncodedSections, Prebuilt};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn a(owner: &str, last: u8) -> Record {
    Record::from_rdata(
        name(owner),
        30,
        RData::A(A(Ipv4Addr::new(198, 18, 0, last))),
    )
}

fn header(qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(4242, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), qtype));
    m
}

/// An SRV answer with an additional record and an authority: pointers into the question,
/// between the records, and an uncompressed SRV target.
fn srv_sections(qname: &str) -> EncodedSections {
    let target = name("web-0.web.prod.svc.cluster.local.");
    let srv = Record::from_rdata(
        name("_http._tcp.web.prod.svc.cluster.local."),
        30,
        RData::SRV(SRV::new(0, 100, 80, target)),
    );
    let soa = Record::from_rdata(
        name("cluster.local."),
        30,
        RData::SOA(SOA::new(
            name("ns.dns.cluster.local."),
            name("hostmaster.cluster.local."),
            1,
            7200,
            1800,
            86400,
            30,
        )),
    );
    EncodedSections::new(
        Some(&Query::query(name(qname), RecordType::SRV)),
        vec![srv],
        vec![soa],
        vec![a("web-0.web.prod.svc.cluster.local.", 7)],
    )
}

fn prebuilt(sections: EncodedSections, ttl: u32) -> Prebuilt {
    Prebuilt {
        sections: Arc::new(sections),
        ttl: Some(ttl),
    }
}

/// The message the copy stands for: the header with the records filled in.
fn filled(mut m: Message, p: &Prebuilt) -> Message {
    p.sections.fill(&mut m, p.ttl);
    m
}

#[test]
fn a_copy_is_the_bytes_of_encoding_the_whole_message() {
    let q = "_http._tcp.web.prod.svc.cluster.local.";
    let p = prebuilt(srv_sections(q), 30);
    let mut m = header(q, RecordType::SRV);
    m.edns = Some(Edns::new());
    let copied = encode_prebuilt(&m, &p, 1232).unwrap();
    assert_eq!(copied, encode_within(&filled(m, &p), 1232).unwrap());
}

#[test]
fn every_ttl_is_the_one_served() {
    let q = "_http._tcp.web.prod.svc.cluster.local.";
    let p = prebuilt(srv_sections(q), 7);
    let m = header(q, RecordType::SRV);
    let copied = encode_prebuilt(&m, &p, 512).unwrap();
    assert_eq!(copied, encode_within(&filled(m, &p), 512).unwrap());
    let decoded = Message::from_vec(&copied).unwrap();
    let ttls: Vec<u32> = decoded
        .answers
        .iter()
        .chain(&decoded.authorities)
        .chain(&decoded.additionals)
        .map(|r| r.ttl)
        .collect();
    assert_eq!(ttls, [7, 7, 7]);
}

/// The records were encoded after the first client's question; a later client's spelling is
/// the question of its answer, and owners that point at the question read in its case.
#[test]
fn another_clients_case_is_its_question() {
    let sections = EncodedSections::new(
        Some(&Query::query(
            name("web.prod.svc.cluster.local."),
            RecordType::A,
        )),
        vec![a("web.prod.svc.cluster.local.", 10)],
        vec![],
        vec![],
    );
    let p = prebuilt(sections, 30);
    let m = header("WeB.pROD.svc.cluster.local.", RecordType::A);
    let decoded = Message::from_vec(&encode_prebuilt(&m, &p, 512).unwrap()).unwrap();
    assert_eq!(
        decoded.queries[0].name().to_ascii(),
        "WeB.pROD.svc.cluster.local."
    );
    assert_eq!(
        decoded.answers[0].name.to_ascii(),
        "WeB.pROD.svc.cluster.local."
    );
    assert_eq!(
        decoded.answers[0].data,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 10)))
    );
}

#[test]
fn what_does_not_fit_whole_is_left_to_the_encoder() {
    let q = "web.prod.svc.cluster.local.";
    let many: Vec<Record> = (0..40).map(|i| a(q, i)).collect();
    let sections = EncodedSections::new(
        Some(&Query::query(name(q), RecordType::A)),
        many,
        vec![],
        vec![],
    );
    let p = prebuilt(sections, 30);
    let m = header(q, RecordType::A);
    assert!(encode_prebuilt(&m, &p, 512).is_none());
    assert!(encode_prebuilt(&m, &p, 1232).is_some());
    // The encoder then truncates as it always does.
    let truncated = Message::from_vec(&encode_within(&filled(m, &p), 512).unwrap()).unwrap();
    assert!(truncated.metadata.truncation);
}

#[test]
fn another_question_length_is_refused() {
    let p = prebuilt(srv_sections("_http._tcp.web.prod.svc.cluster.local."), 30);
    let m = header("_http._tcp.db.prod.svc.cluster.local.", RecordType::SRV);
    assert!(encode_prebuilt(&m, &p, 1232).is_none());
}

#[test]
fn no_question_no_encoding() {
    let sections = EncodedSections::new(
        None,
        vec![a("web.prod.svc.cluster.local.", 1)],
        vec![],
        vec![],
    );
    assert!(!sections.is_encoded());
    let p = prebuilt(sections, 30);
    assert!(
        encode_prebuilt(
            &header("web.prod.svc.cluster.local.", RecordType::A),
            &p,
            512
        )
        .is_none()
    );
    // The records are still there for the encoder.
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    p.sections.fill(&mut m, Some(30));
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn without_a_ttl_each_record_keeps_its_own() {
    let q = "_http._tcp.web.prod.svc.cluster.local.";
    let p = Prebuilt {
        ttl: None,
        ..prebuilt(srv_sections(q), 7)
    };
    let m = header(q, RecordType::SRV);
    let copied = encode_prebuilt(&m, &p, 512).unwrap();
    assert_eq!(copied, encode_within(&filled(m, &p), 512).unwrap());
    let decoded = Message::from_vec(&copied).unwrap();
    assert_eq!(decoded.answers[0].ttl, 30);
}

#[test]
fn an_empty_answer_copies_as_a_header_and_question() {
    let q = "nope.prod.svc.cluster.local.";
    let sections = EncodedSections::new(
        Some(&Query::query(name(q), RecordType::A)),
        vec![],
        vec![],
        vec![],
    );
    assert!(sections.is_encoded());
    let p = prebuilt(sections, 5);
    let m = header(q, RecordType::A);
    assert_eq!(
        encode_prebuilt(&m, &p, 512).unwrap(),
        encode_within(&filled(m, &p), 512).unwrap()
    );
}
