//! The message writer against hickory's decoder (and its encoder, for headers and sizes).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, HINFO, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::wire::encode::{encode_stream, encode_within};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn record(owner: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(name(owner), ttl, data)
}

fn response(qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(4242, MessageType::Response, OpCode::Query);
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(qname), qtype));
    m
}

fn decode(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"))
}

/// Owner, type, class, TTL and RDATA of each record, names spelled as written (case kept).
fn spelled(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}",
                r.name,
                r.ttl,
                r.dns_class,
                r.record_type(),
                r.data
            )
        })
        .collect()
}

fn every_type() -> Message {
    let mut m = response("Web.Prod.svc.cluster.local.", RecordType::ANY);
    let soa = SOA::new(
        name("ns.dns.cluster.local."),
        name("hostmaster.cluster.local."),
        1_700_000_000,
        7200,
        1800,
        86400,
        5,
    );
    m.add_answers([
        record(
            "Web.Prod.svc.cluster.local.",
            5,
            RData::A(A(Ipv4Addr::new(198, 18, 0, 10))),
        ),
        record(
            "web.prod.svc.cluster.local.",
            5,
            RData::AAAA(AAAA(Ipv6Addr::from_str("2001:db8::a").unwrap())),
        ),
        record(
            "alias.prod.svc.cluster.local.",
            5,
            RData::CNAME(CNAME(name("Web.Prod.svc.cluster.local."))),
        ),
        record(
            "cluster.local.",
            5,
            RData::NS(NS(name("ns.dns.cluster.local."))),
        ),
        record(
            "10.0.18.198.in-addr.arpa.",
            5,
            RData::PTR(PTR(name("web.prod.svc.cluster.local."))),
        ),
        record(
            "prod.svc.cluster.local.",
            5,
            RData::MX(MX::new(10, name("mail.prod.svc.cluster.local."))),
        ),
        record(
            "_http._tcp.web.prod.svc.cluster.local.",
            5,
            RData::SRV(SRV::new(0, 100, 80, name("web.prod.svc.cluster.local."))),
        ),
        record(
            "txt.prod.svc.cluster.local.",
            5,
            RData::TXT(TXT::new(vec!["a".into(), "b c".into()])),
        ),
        record(
            "prod.svc.cluster.local.",
            5,
            RData::HINFO(HINFO::new("cpu".into(), "os".into())),
        ),
        record(
            "prod.svc.cluster.local.",
            5,
            RData::CAA(CAA::new_issue(
                false,
                Some(name("ca.example.test.")),
                vec![],
            )),
        ),
    ]);
    m.add_authority(record("cluster.local.", 5, RData::SOA(soa)));
    m.add_additional(record(
        "ns.dns.cluster.local.",
        5,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 53))),
    ));
    m
}

#[test]
fn every_record_type_decodes_as_written_with_case_kept() {
    let m = every_type();
    let bytes = encode_within(&m, 65535).unwrap();
    let back = decode(&bytes);
    assert_eq!(back.metadata, m.metadata);
    assert_eq!(
        back.queries[0].name.to_string(),
        "Web.Prod.svc.cluster.local."
    );
    assert_eq!(spelled(&back.answers), spelled(&m.answers));
    assert_eq!(spelled(&back.authorities), spelled(&m.authorities));
    assert_eq!(spelled(&back.additionals), spelled(&m.additionals));
    // At most hickory's own encoding: compression at least as good.
    let hickory = m.to_vec().unwrap();
    assert!(
        bytes.len() <= hickory.len(),
        "{} > {}",
        bytes.len(),
        hickory.len()
    );
}

#[test]
fn the_header_is_hickorys_for_every_flag_and_rcode() {
    for bits in 0u16..128 {
        for rcode in [
            ResponseCode::NoError,
            ResponseCode::NXDomain,
            ResponseCode::Refused,
            ResponseCode::BADCOOKIE,
        ] {
            let mut m = response("a.cluster.local.", RecordType::A);
            let md = &mut m.metadata;
            md.id = bits.wrapping_mul(997);
            md.message_type = if bits & 1 == 1 {
                MessageType::Response
            } else {
                MessageType::Query
            };
            md.op_code = if bits & 2 == 2 {
                OpCode::Notify
            } else {
                OpCode::Query
            };
            md.authoritative = bits & 4 != 0;
            md.truncation = bits & 8 != 0;
            md.recursion_desired = bits & 16 != 0;
            md.recursion_available = bits & 32 != 0;
            md.authentic_data = bits & 64 != 0;
            md.checking_disabled = bits & 3 == 3;
            md.response_code = rcode;
            let ours = encode_within(&m, 512).unwrap();
            let theirs = m.to_vec().unwrap();
            assert_eq!(ours[..12], theirs[..12], "{:?}", m.metadata);
        }
    }
}

/// An A question for `qname` answered with web's address, owner spelled in lower case.
fn web_a(qname: &str) -> Message {
    let mut m = response(qname, RecordType::A);
    m.add_answer(record(
        "web.prod.svc.cluster.local.",
        5,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 10))),
    ));
    m
}

#[test]
fn an_owner_that_is_the_question_is_a_pointer_to_it() {
    let bytes = encode_within(&web_a("web.prod.svc.cluster.local."), 512).unwrap();
    let question_end = 12 + "web.prod.svc.cluster.local.".len() + 1 + 4;
    assert_eq!(bytes[question_end..question_end + 2], [0xC0, 0x0C]);
    // Header, question, pointer, type/class/ttl/rdlength, address.
    assert_eq!(bytes.len(), question_end + 2 + 10 + 4);
}

#[test]
fn a_name_in_another_case_is_written_out_not_pointed_at() {
    let bytes = encode_within(&web_a("WEB.prod.svc.cluster.local."), 512).unwrap();
    let back = decode(&bytes);
    assert_eq!(
        back.answers[0].name.to_string(),
        "web.prod.svc.cluster.local."
    );
    // "web" in full, then a pointer to "prod..." inside the question.
    let question_end = 12 + "WEB.prod.svc.cluster.local.".len() + 1 + 4;
    assert_eq!(
        bytes[question_end..question_end + 6],
        [3, b'w', b'e', b'b', 0xC0, 16]
    );
}

#[test]
fn an_srv_target_is_not_compressed() {
    let mut m = response("_http._tcp.web.prod.svc.cluster.local.", RecordType::SRV);
    m.add_answer(record(
        "_http._tcp.web.prod.svc.cluster.local.",
        5,
        RData::SRV(SRV::new(0, 100, 80, name("web.prod.svc.cluster.local."))),
    ));
    m.add_additional(record(
        "web.prod.svc.cluster.local.",
        5,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 10))),
    ));
    let bytes = encode_within(&m, 512).unwrap();
    let target = b"\x03web\x04prod\x03svc\x07cluster\x05local\x00";
    assert!(
        bytes.windows(target.len()).any(|w| w == target),
        "{bytes:02x?}"
    );
    let back = decode(&bytes);
    assert_eq!(spelled(&back.answers), spelled(&m.answers));
    assert_eq!(spelled(&back.additionals), spelled(&m.additionals));
}

#[test]
fn a_record_rolled_back_leaves_nothing_to_point_at() {
    // The TXT does not fit and goes; the A after it has the same new owner and fits: its
    // owner must be written out, not pointed into the rolled-back bytes.
    let mut m = response("q.cluster.local.", RecordType::TXT);
    let owner = "a-new-owner-name.elsewhere.example.test.";
    m.add_answer(record(
        owner,
        5,
        RData::TXT(TXT::new(vec!["x".repeat(200); 2])),
    ));
    m.add_answer(record(owner, 5, RData::A(A(Ipv4Addr::new(198, 18, 0, 1)))));
    let bytes = encode_within(&m, 200).unwrap();
    let back = decode(&bytes);
    assert!(back.metadata.truncation);
    assert_eq!(spelled(&back.answers), spelled(&m.answers[1..]));
}

#[test]
fn truncation_keeps_edns_and_stays_within_the_limit() {
    let mut m = response("big.prod.svc.cluster.local.", RecordType::A);
    for i in 0..200u32 {
        let [_, _, c, d] = (0xC612_0000u32 + i).to_be_bytes();
        m.add_answer(record(
            "big.prod.svc.cluster.local.",
            5,
            RData::A(A(Ipv4Addr::new(198, 18, c, d))),
        ));
    }
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    m.edns = Some(edns);
    for limit in [512usize, 1232, 4096] {
        let bytes = encode_within(&m, limit).unwrap();
        assert!(bytes.len() <= limit, "{} > {limit}", bytes.len());
        let back = decode(&bytes);
        assert!(back.edns.is_some());
        assert_eq!(
            back.metadata.truncation,
            back.answers.len() < 200,
            "{limit}"
        );
        assert_eq!(
            spelled(&back.answers),
            spelled(&m.answers[..back.answers.len()])
        );
    }
}

#[test]
fn random_names_decode_as_written_and_no_longer_than_hickorys() {
    let labels = [
        "a", "A", "web", "Web", "prod", "svc", "cluster", "local", "x-1", "_tcp",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..300 {
        let mut names = Vec::new();
        for _ in 0..8 {
            let count = 1 + next(5);
            let text: Vec<&str> = (0..count).map(|_| labels[next(labels.len())]).collect();
            names.push(format!("{}.", text.join(".")));
        }
        let mut m = response(&names[0], RecordType::ANY);
        for i in 0..12 {
            let owner = &names[next(names.len())];
            let target = name(&names[next(names.len())]);
            let data = match i % 4 {
                0 => RData::CNAME(CNAME(target)),
                1 => RData::SRV(SRV::new(1, 2, 3, target)),
                2 => RData::PTR(PTR(target)),
                _ => RData::MX(MX::new(5, target)),
            };
            m.add_answer(record(owner, 30, data));
        }
        let bytes = encode_within(&m, 65535).unwrap();
        let back = decode(&bytes);
        assert_eq!(spelled(&back.answers), spelled(&m.answers));
        assert!(bytes.len() <= m.to_vec().unwrap().len());
    }
}

#[test]
fn a_zone_transfer_stream_carries_every_record_once() {
    let mut m = response("cluster.local.", RecordType::AXFR);
    for i in 0..500u32 {
        let [_, _, c, d] = (0xC612_0000u32 + i).to_be_bytes();
        m.add_answer(record(
            &format!("svc-{i}.prod.svc.cluster.local."),
            5,
            RData::A(A(Ipv4Addr::new(198, 18, c, d))),
        ));
    }
    let messages = encode_stream(&m, 2048).unwrap();
    assert!(messages.len() > 1);
    let mut all = Vec::new();
    for bytes in &messages {
        assert!(bytes.len() <= 2048);
        all.extend(decode(bytes).answers);
    }
    assert_eq!(spelled(&all), spelled(&m.answers));
}

#[test]
fn a_class_other_than_in_and_an_update_record_keep_their_fields() {
    let mut m = response("cluster.local.", RecordType::SOA);
    let mut chaos = record(
        "version.bind.",
        0,
        RData::TXT(TXT::new(vec!["signpost".into()])),
    );
    chaos.dns_class = DNSClass::CH;
    m.add_answer(chaos.clone());
    let bytes = encode_within(&m, 512).unwrap();
    assert_eq!(spelled(&decode(&bytes).answers), spelled(&[chaos]));
    let update = Record::update0(name("gone.cluster.local."), 0, RecordType::A);
    let mut m = response("cluster.local.", RecordType::SOA);
    m.add_answer(update.clone());
    let bytes = encode_within(&m, 512).unwrap();
    assert!(bytes.ends_with(&update.to_bytes().unwrap()[update.to_bytes().unwrap().len() - 10..]));
}
