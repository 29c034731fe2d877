//! `transfer`: setup (every option and error), who may transfer and how (TCP only, listed
//! clients, IXFR up to date), the file and kubernetes zones whole, and a big zone as a stream
//! of messages.

use std::net::SocketAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::router;
use crate::corefile::parse_str;
use crate::plugin::Router;
use crate::plugins::transfer::{Peer, Xfr, longest_match, parse};
use crate::wire::encode::encode_stream;
use crate::wire::{Handler, RequestInfo, Transport};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn xfr(directive: &str) -> Result<Xfr, String> {
    let src = format!("example.test:53 other.test:53 {{\n  {directive}\n}}\n");
    let c = parse_str(&src, "Corefile", &|_| None).map_err(|e| e.to_string())?;
    parse(
        &c.blocks[0].directives[0],
        &[name("example.test."), name("other.test.")],
    )
    .map_err(|e| e.to_string())
}

#[test]
fn transfer_setup_options_and_errors() {
    let x = xfr("transfer {\n to * 198.18.0.53 198.18.0.54:5300 [2001:db8::53]:5300 2001:db8::54\n source 198.18.0.1\n }").unwrap();
    assert_eq!(x.zones, [name("example.test."), name("other.test.")]);
    assert_eq!(
        x.to,
        [
            Peer::Any,
            Peer::Addr("198.18.0.53:53".parse().unwrap()),
            Peer::Addr("198.18.0.54:5300".parse().unwrap()),
            Peer::Addr("[2001:db8::53]:5300".parse().unwrap()),
            Peer::Addr("[2001:db8::54]:53".parse().unwrap()),
        ]
    );
    assert_eq!(x.source, Some("198.18.0.1".parse().unwrap()));
    let x = xfr("transfer example.test {\n to 198.18.0.53\n to 198.18.0.54\n }").unwrap();
    assert_eq!(x.zones, [name("example.test.")]);
    assert_eq!(x.to.len(), 2);
    assert!(x.allowed("198.18.0.54".parse().unwrap()));
    assert!(!x.allowed("198.18.0.55".parse().unwrap()));
    let errors: &[(&str, &str)] = &[
        ("transfer", "Corefile:2:3: transfer: 'to' is required"),
        (
            "transfer {\n to\n }",
            "Corefile:3:2: transfer: to needs at least one address",
        ),
        (
            "transfer {\n to secondary.example\n }",
            "Corefile:3:5: transfer: not an IP address or IP:port: \"secondary.example\"",
        ),
        (
            "transfer {\n to *\n source 198.18.0.1\n source 198.18.0.2\n }",
            "Corefile:5:2: transfer: source already specified",
        ),
        (
            "transfer {\n to *\n source here\n }",
            "Corefile:4:9: transfer: invalid source address \"here\"",
        ),
        (
            "transfer {\n to *\n tsig key\n }",
            "Corefile:4:2: transfer: unknown property \"tsig\"",
        ),
    ];
    for (directive, want) in errors {
        assert_eq!(xfr(directive).unwrap_err(), *want, "{directive}");
    }
}

#[test]
fn transfer_longest_zone_wins() {
    let line = |zone: &str| Xfr {
        zones: vec![name(zone)],
        to: vec![Peer::Any],
        source: None,
    };
    let xfrs = [line("example.test."), line("sub.example.test."), line(".")];
    let zone_of = |n: &str| longest_match(&xfrs, &name(n)).map(|x| x.zones[0].to_string());
    assert_eq!(
        zone_of("a.sub.example.test.").as_deref(),
        Some("sub.example.test.")
    );
    assert_eq!(zone_of("example.test.").as_deref(), Some("example.test."));
    assert_eq!(zone_of("other.").as_deref(), Some("."));
}

/// `qtype` for `qname` over `transport` from `client`, with `authority` (IXFR's SOA).
async fn ask(
    router: &Router,
    client: &str,
    transport: Transport,
    qname: &str,
    qtype: RecordType,
    authority: Option<u32>,
) -> Message {
    let mut request = Message::new(1, MessageType::Query, OpCode::Query);
    request.queries.push(Query::query(name(qname), qtype));
    if let Some(serial) = authority {
        let soa = SOA::new(name("ns."), name("host."), serial, 1, 1, 1, 1);
        request
            .authorities
            .push(Record::from_rdata(name(qname), 0, RData::SOA(soa)));
    }
    let info = RequestInfo {
        src: SocketAddr::new(client.parse().unwrap(), 40000),
        local: SocketAddr::from(([127, 0, 0, 1], 53)),
        transport,
        request_size: 0,
    };
    router.handle(&request, &info).await.0
}

/// An AXFR of `zone` over TCP from a client `transfer { to * }` allows.
async fn axfr(router: &Router, zone: &str) -> Message {
    ask(
        router,
        "198.18.0.5",
        Transport::Tcp,
        zone,
        RecordType::AXFR,
        None,
    )
    .await
}

fn types(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {}", r.name, r.record_type()))
        .collect()
}

#[tokio::test]
async fn transfers_of_a_file_zone() {
    let dir = std::env::temp_dir().join(format!("signpost-transfer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("db");
    std::fs::write(
        &path,
        "$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 host 7 1 1 1 1\n@ NS ns1\nns1 A 198.18.1.1\nwww A 198.18.1.2\n",
    )
    .unwrap();
    let r = router(&format!(
        "example.test:53 {{\n file {} {{\n  reload 0\n }}\n transfer {{\n  to 127.0.0.1\n }}\n}}\n",
        path.display()
    ));
    use RecordType::{A, AXFR, IXFR};
    use Transport::{Tcp, Udp};
    let m = ask(&r, "127.0.0.1", Tcp, "example.test.", AXFR, None).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(
        types(&m),
        [
            "example.test. SOA",
            "example.test. NS",
            "ns1.example.test. A",
            "www.example.test. A",
            "example.test. SOA"
        ]
    );
    // Case does not matter; the question stays as asked.
    let m = ask(&r, "127.0.0.1", Tcp, "EXAMPLE.test.", AXFR, None).await;
    assert_eq!(m.answers.len(), 5);
    let refused = [
        ask(&r, "127.0.0.1", Udp, "example.test.", AXFR, None).await,
        ask(&r, "198.18.0.5", Tcp, "example.test.", AXFR, None).await,
        // A name inside the zone is no zone: the file plugin refuses it.
        ask(&r, "127.0.0.1", Tcp, "www.example.test.", AXFR, None).await,
    ];
    for m in refused {
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{m:?}");
    }
    // IXFR: up to date, the SOA alone; older, the whole zone; no SOA, SERVFAIL.
    let m = ask(&r, "127.0.0.1", Tcp, "example.test.", IXFR, Some(7)).await;
    assert_eq!(types(&m), ["example.test. SOA"]);
    let m = ask(&r, "127.0.0.1", Tcp, "example.test.", IXFR, Some(6)).await;
    assert_eq!(m.answers.len(), 5);
    let m = ask(&r, "127.0.0.1", Tcp, "example.test.", IXFR, None).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // Other questions pass through.
    let m = ask(&r, "127.0.0.1", Udp, "www.example.test.", A, None).await;
    assert_eq!(m.answers.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn transfer_of_the_cluster_zone() {
    let r = router("cluster.local:53 {\n kubernetes\n transfer {\n  to *\n }\n}\n");
    let m = axfr(&r, "cluster.local.").await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let lines: Vec<String> = m
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("cluster.local. SOA")),
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("cluster.local. SOA")),
        "{lines:?}"
    );
    for want in [
        "cluster.local. NS ns.dns.cluster.local.",
        "web.prod.svc.cluster.local. A 198.18.0.20",
        "web.prod.svc.cluster.local. SRV 0 100 443 web.prod.svc.cluster.local.",
        "_https._tcp.web.prod.svc.cluster.local. SRV 0 100 443 web.prod.svc.cluster.local.",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want} not in {lines:#?}");
    }
    // A multicluster zone is not transferred (D-TRANSFER-MULTICLUSTER): refused.
    let r = router(
        "cluster.local:53 clusterset.local:53 {\n kubernetes cluster.local clusterset.local {\n  multicluster clusterset.local\n }\n transfer {\n  to *\n }\n}\n",
    );
    let m = axfr(&r, "clusterset.local.").await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = axfr(&r, "cluster.local.").await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // Without `transfer` the kubernetes plugin refuses transfers.
    let r = router("cluster.local:53 {\n kubernetes\n}\n");
    let m = axfr(&r, "cluster.local.").await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

/// A zone bigger than one message goes out as several, each within 64 KiB, every record once.
#[test]
fn a_big_transfer_is_a_stream() {
    let mut response = Message::new(9, MessageType::Response, OpCode::Query);
    response
        .queries
        .push(Query::query(name("example.test."), RecordType::AXFR));
    for i in 0..10_000u32 {
        let owner = name(&format!("host-{i}.example.test."));
        let ip = std::net::Ipv4Addr::from(0xc612_0000 | (i & 0xffff));
        response
            .answers
            .push(Record::from_rdata(owner, 60, RData::A(A(ip))));
    }
    let messages = encode_stream(&response, usize::from(u16::MAX)).unwrap();
    assert!(messages.len() > 1);
    let mut seen = 0;
    for bytes in &messages {
        assert!(bytes.len() <= usize::from(u16::MAX));
        let m = Message::from_vec(bytes).unwrap();
        assert_eq!(m.metadata.id, 9);
        assert_eq!(m.queries.len(), 1);
        seen += m.answers.len();
    }
    assert_eq!(seen, 10_000);
    // A small one is one message.
    response.answers.truncate(3);
    assert_eq!(encode_stream(&response, 65535).unwrap().len(), 1);
}
