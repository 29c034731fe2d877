//! acl, header, nsid, dns64, local, cancel and timeouts: setup errors with their place, and
//! answers through the chain.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::{Name, RecordType};

use super::{build_error, no_env, render_answers, router};
use crate::corefile::parse_str;
use crate::plugin::Router;
use crate::plugins::{cancel, dns64};
use crate::wire::{EDE_CODE, Handler, RequestInfo, Transport};

#[test]
fn setup_errors_name_the_place() {
    let cases = [
        (
            ".:53 {\n acl {\n  permit net 198.18.0.0/16\n }\n}\n",
            "Corefile:3:3: acl: unexpected token \"permit\"; expect 'allow', 'block', 'filter' or 'drop'",
        ),
        (
            ".:53 {\n acl {\n  block type\n }\n}\n",
            "Corefile:3:9: acl: no token specified in \"type\" section",
        ),
        (
            ".:53 {\n acl {\n  block type AAAAA\n }\n}\n",
            "Corefile:3:14: acl: unexpected token \"AAAAA\"; expect legal QTYPE",
        ),
        (
            ".:53 {\n acl {\n  block net 198.18.0.0/33\n }\n}\n",
            "Corefile:3:13: acl: illegal CIDR notation \"198.18.0.0/33\"",
        ),
        (
            ".:53 {\n acl {\n  block from 198.18.0.1\n }\n}\n",
            "Corefile:3:9: acl: unexpected token \"from\"; expect 'type | net | file'",
        ),
        (
            ".:53 {\n acl {\n  block file /nonexistent/signpost-acl\n }\n}\n",
            "Corefile:3:14: acl: unable to load networks from \"/nonexistent/signpost-acl\"",
        ),
        (
            ".:53 {\n header {\n  set xx\n }\n}\n",
            "Corefile:3:7: header: unknown or unsupported flag \"xx\"",
        ),
        (
            ".:53 {\n header {\n  query toggle ra\n }\n}\n",
            "Corefile:3:3: header: unknown flag action \"toggle\", should be set or clear",
        ),
        (
            ".:53 {\n header {\n  answer set ra\n }\n}\n",
            "Corefile:3:3: header: invalid selector \"answer\", should be query or response",
        ),
        (
            ".:53 {\n header {\n  set\n }\n}\n",
            "Corefile:3:3: header: at least one flag should be provided",
        ),
        (
            ".:53 {\n header\n}\n",
            "Corefile:2:2: header: header needs at least one rule",
        ),
        (
            ".:53 {\n nsid {\n  x\n }\n}\n",
            "Corefile:3:3: nsid: unknown property \"x\"",
        ),
        (
            ".:53 {\n dns64 64:ff9b::/95\n}\n",
            "Corefile:2:8: dns64: invalid prefix length 95",
        ),
        (
            ".:53 {\n dns64 198.18.0.0/16\n}\n",
            "Corefile:2:8: dns64: invalid IPv6 prefix \"198.18.0.0/16\"",
        ),
        (
            ".:53 {\n dns64 64:ff9b::/96 2001:db8::/32\n}\n",
            "Corefile:2:21: dns64: dns64 takes at most one prefix",
        ),
        (
            ".:53 {\n dns64 {\n  translate_all yes\n }\n}\n",
            "Corefile:3:3: dns64: translate_all needs exactly 0 arguments",
        ),
        (
            ".:53 {\n dns64 {\n  prefixes 2001:db8::/96\n }\n}\n",
            "Corefile:3:3: dns64: unknown property \"prefixes\"",
        ),
        (
            ".:53 {\n local x\n}\n",
            "Corefile:2:8: local: local takes no arguments",
        ),
        (
            ".:53 {\n local {\n  localhost_prefix maybe\n }\n}\n",
            "Corefile:3:20: local: localhost_prefix expects 'on' or 'off', got \"maybe\"",
        ),
        (
            ".:53 {\n cancel soon\n}\n",
            "Corefile:2:9: cancel: invalid duration \"soon\"",
        ),
        (
            ".:53 {\n cancel 0s\n}\n",
            "Corefile:2:9: cancel: invalid non-positive duration \"0s\"",
        ),
        (
            ".:53 {\n cancel 1s 2s\n}\n",
            "Corefile:2:12: cancel: cancel takes at most one duration",
        ),
        (
            ".:53 {\n timeouts\n}\n",
            "Corefile:2:2: timeouts: timeouts needs a block with at least one of read, write, idle",
        ),
        (
            ".:53 {\n timeouts {\n  read 500ms\n }\n}\n",
            "Corefile:3:8: timeouts: timeout \"500ms\" needs to be between 1 second and 24 hours",
        ),
        (
            ".:53 {\n timeouts {\n  idle 25h\n }\n}\n",
            "Corefile:3:8: timeouts: timeout \"25h\" needs to be between 1 second and 24 hours",
        ),
        (
            ".:53 {\n timeouts {\n  linger 5s\n }\n}\n",
            "Corefile:3:3: timeouts: unknown property \"linger\"",
        ),
    ];
    for (corefile, want) in cases {
        let got = build_error(corefile);
        assert!(got.starts_with(want), "{corefile:?}: {got}");
    }
    for fine in [
        ".:53 {\n acl\n}\n",
        ".:53 {\n acl example.test {\n  allow type A AAAA net 198.18.0.0/15 2001:db8::1\n  filter type ANY\n  drop net *\n }\n acl {\n  block\n }\n}\n",
        ".:53 {\n header {\n  set ra aa\n  clear rd\n  query set rd\n  response clear aa\n }\n}\n",
        ".:53 {\n nsid\n}\n",
        ".:53 {\n nsid signpost one\n}\n",
        ".:53 {\n dns64\n}\n",
        ".:53 {\n dns64 64:ff9b::/96\n}\n",
        ".:53 {\n dns64 {\n  prefix 2001:db8::/32\n  translate_all\n  allow_ipv4\n }\n}\n",
        ".:53 {\n local\n}\n",
        ".:53 {\n local {\n  localhost_prefix off\n }\n}\n",
        ".:53 {\n cancel\n}\n",
        ".:53 {\n cancel 2s\n}\n",
        ".:53 {\n timeouts {\n  read 10s\n  write 20s\n  idle 60s\n }\n}\n",
    ] {
        assert_eq!(build_error(fine), "", "{fine:?}");
    }
}

/// `request` asked over UDP from `client`.
async fn ask(router: &Router, client: &str, request: &Message) -> Message {
    let info = RequestInfo {
        src: SocketAddr::new(client.parse().unwrap(), 40000),
        local: SocketAddr::from(([127, 0, 0, 1], 53)),
        transport: Transport::Udp,
        request_size: 0,
    };
    router.handle(request, &info).await.0
}

fn question(name: &str, qtype: RecordType) -> Message {
    let mut request = Message::new(1, MessageType::Query, OpCode::Query);
    request.metadata.recursion_desired = true;
    request
        .queries
        .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    request
}

fn with_edns(mut request: Message, option: Option<EdnsOption>) -> Message {
    let mut edns = Edns::new();
    if let Some(option) = option {
        edns.options_mut().insert(option);
    }
    request.edns = Some(edns);
    request
}

/// The RFC 8914 info code of the response's Extended DNS Error, if any.
fn ede(m: &Message) -> Option<u16> {
    match m.edns.as_ref()?.option(EdnsCode::Unknown(EDE_CODE))? {
        EdnsOption::Unknown(_, data) => Some(u16::from_be_bytes([data[0], data[1]])),
        _ => None,
    }
}

/// The first policy that matches decides; `allow` ends every rule; no match goes on.
#[tokio::test]
async fn acl_allows_blocks_filters_and_drops_by_type_and_source() {
    let r = router(
        "cluster.local:53 {\n acl {\n  allow net 198.18.5.0/24\n  block type AAAA net 198.18.0.0/16\n  filter type SRV\n  drop net 2001:db8::/32\n }\n acl web.prod.svc.cluster.local {\n  block\n }\n kubernetes\n}\n",
    );
    let a = question("api.prod.svc.cluster.local.", RecordType::A);
    let aaaa = question("api.prod.svc.cluster.local.", RecordType::AAAA);
    let srv = question("_http._tcp.web.prod.svc.cluster.local.", RecordType::SRV);
    let rcode = |m: &Message| m.metadata.response_code;

    // Allowed by the first policy, also where the second rule would block.
    let m = ask(
        &r,
        "198.18.5.9",
        &question("web.prod.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        render_answers(&m),
        ["web.prod.svc.cluster.local. A 198.18.0.20"]
    );
    // AAAA from 198.18/16: REFUSED, with EDE Blocked when the client speaks EDNS.
    let m = ask(&r, "198.18.1.1", &with_edns(aaaa.clone(), None)).await;
    assert_eq!((rcode(&m), ede(&m)), (ResponseCode::Refused, Some(15)));
    let m = ask(&r, "198.18.1.1", &aaaa).await;
    assert_eq!((rcode(&m), ede(&m)), (ResponseCode::Refused, None));
    // A from there matches no policy of the first rule; the second rule's zone does not hold it.
    let m = ask(&r, "198.18.1.1", &a).await;
    assert_ne!(rcode(&m), ResponseCode::Refused);
    // SRV from anywhere: NOERROR, no records, EDE Filtered.
    let m = ask(&r, "198.19.0.1", &with_edns(srv, None)).await;
    assert_eq!(
        (rcode(&m), m.answers.len(), ede(&m)),
        (ResponseCode::NoError, 0, Some(17))
    );
    // The second rule blocks web from any client the first rule let through unmatched.
    let m = ask(
        &r,
        "198.19.0.1",
        &question("web.prod.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(rcode(&m), ResponseCode::Refused);
    // IPv4-mapped clients are IPv4 clients.
    let m = ask(&r, "::ffff:198.18.1.1", &aaaa).await;
    assert_eq!(rcode(&m), ResponseCode::Refused);
}

/// `drop` sends nothing: the server writes no response at all.
#[tokio::test]
async fn acl_drop_sends_nothing() {
    let r = router("cluster.local:53 {\n acl {\n  drop net 2001:db8::/32\n }\n kubernetes\n}\n");
    let info = RequestInfo {
        src: "[2001:db8::7]:40000".parse().unwrap(),
        local: SocketAddr::from(([127, 0, 0, 1], 53)),
        transport: Transport::Udp,
        request_size: 0,
    };
    let request = question("web.prod.svc.cluster.local.", RecordType::A);
    let bytes = request.to_vec().unwrap();
    let (reply, disposition) = crate::server::respond(&r, &bytes, &info).await;
    assert!(reply.is_none());
    assert_eq!(disposition, crate::server::Disposition::Dropped);
    let info = RequestInfo {
        src: "198.18.1.1:40000".parse().unwrap(),
        ..info
    };
    assert!(crate::server::respond(&r, &bytes, &info).await.0.is_some());
}

/// Query rules change what the chain sees; response rules what the client gets; the last rule
/// about a flag wins.
#[tokio::test]
async fn header_sets_and_clears_flags() {
    let r = router(
        "cluster.local:53 {\n header {\n  set ra\n  set aa\n  clear aa\n  query clear rd\n }\n kubernetes\n}\n",
    );
    let m = ask(
        &r,
        "198.18.1.1",
        &question("web.prod.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert!(m.metadata.recursion_available);
    assert!(!m.metadata.authoritative);
    // The kubernetes plugin copied the RD the query rule cleared.
    assert!(!m.metadata.recursion_desired);
    assert_eq!(m.answers.len(), 1);
}

/// The NSID option only when asked for, with the configured data.
#[tokio::test]
async fn nsid_answers_when_asked() {
    let r = router("cluster.local:53 {\n nsid signpost one\n kubernetes\n}\n");
    let asked = with_edns(
        question("web.prod.svc.cluster.local.", RecordType::A),
        Some(EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap())),
    );
    let m = ask(&r, "198.18.1.1", &asked).await;
    match m.edns.as_ref().and_then(|e| e.option(EdnsCode::NSID)) {
        Some(EdnsOption::NSID(data)) => assert_eq!(data.as_ref(), b"signpost one"),
        other => panic!("{other:?}"),
    }
    let plain = with_edns(question("web.prod.svc.cluster.local.", RecordType::A), None);
    let m = ask(&r, "198.18.1.1", &plain).await;
    assert!(
        m.edns
            .as_ref()
            .and_then(|e| e.option(EdnsCode::NSID))
            .is_none()
    );
}

/// RFC 6052 2.2's table: the IPv4 address 192.0.2.33 under each prefix length.
#[test]
fn dns64_embeds_as_rfc_6052_says() {
    let v4 = Ipv4Addr::new(192, 0, 2, 33);
    let cases = [
        ("2001:db8::/32", "2001:db8:c000:221::"),
        ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
        ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
        ("2001:db8:122:344::/96", "2001:db8:122:344::c000:221"),
        ("64:ff9b::/96", "64:ff9b::c000:221"),
    ];
    for (prefix, want) in cases {
        let got = dns64::embed(&prefix.parse().unwrap(), v4);
        assert_eq!(got, want.parse::<Ipv6Addr>().unwrap(), "{prefix}");
    }
}

/// A name with only A records gets synthesised AAAA for IPv6 clients, through the block's own
/// chain; a name with AAAA, a name error, and IPv4 clients are left alone.
#[tokio::test]
async fn dns64_synthesises_aaaa_from_a() {
    let corefile = |options: &str| {
        format!(
            "example.test:53 {{\n dns64 {{\n  prefix 64:ff9b::/96\n{options} }}\n hosts {{\n  198.18.0.30 v4.example.test\n  198.18.0.31 both.example.test\n  2001:db8::31 both.example.test\n  ttl 900\n }}\n}}\n"
        )
    };
    let r = router(&corefile(""));
    let m = ask(
        &r,
        "2001:db8::1",
        &question("v4.example.test.", RecordType::AAAA),
    )
    .await;
    assert_eq!(
        render_answers(&m),
        ["v4.example.test. AAAA 64:ff9b::c612:1e"]
    );
    // hosts answers without a SOA: the TTL is at most 600 (RFC 6147 5.1.7).
    assert_eq!(m.answers[0].ttl, 600);
    let m = ask(
        &r,
        "2001:db8::1",
        &question("both.example.test.", RecordType::AAAA),
    )
    .await;
    assert_eq!(render_answers(&m), ["both.example.test. AAAA 2001:db8::31"]);
    let m = ask(
        &r,
        "198.18.1.1",
        &question("v4.example.test.", RecordType::AAAA),
    )
    .await;
    assert!(m.answers.is_empty());
    let m = ask(
        &r,
        "2001:db8::1",
        &question("v4.example.test.", RecordType::A),
    )
    .await;
    assert_eq!(render_answers(&m), ["v4.example.test. A 198.18.0.30"]);

    let r = router(&corefile("  translate_all\n  allow_ipv4\n"));
    let m = ask(
        &r,
        "198.18.1.1",
        &question("both.example.test.", RecordType::AAAA),
    )
    .await;
    assert_eq!(
        render_answers(&m),
        ["both.example.test. AAAA 64:ff9b::c612:1f"]
    );
}

/// RFC 6761 and 6303 names are answered here, everything else goes on.
#[tokio::test]
async fn local_answers_local_names() {
    let r = router(".:53 {\n local\n kubernetes cluster.local\n}\n");
    let ask_local = |name: &str, qtype| {
        let r = &r;
        let request = question(name, qtype);
        async move { ask(r, "198.18.1.1", &request).await }
    };
    let rows = |m: &Message| {
        let mut out = render_answers(m);
        out.extend(
            m.authorities
                .iter()
                .map(|r| format!("{} {}", r.name, r.record_type())),
        );
        out
    };
    let cases = [
        (
            "localhost.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["localhost. A 127.0.0.1"],
        ),
        (
            "localhost.",
            RecordType::AAAA,
            ResponseCode::NoError,
            vec!["localhost. AAAA ::1"],
        ),
        (
            "localhost.",
            RecordType::MX,
            ResponseCode::NoError,
            vec!["localhost. SOA"],
        ),
        (
            "localhost.",
            RecordType::NS,
            ResponseCode::NoError,
            vec!["localhost. NS localhost."],
        ),
        (
            "db.localhost.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["db.localhost. A 127.0.0.1"],
        ),
        (
            "localhost.example.test.",
            RecordType::AAAA,
            ResponseCode::NoError,
            vec!["localhost.example.test. AAAA ::1"],
        ),
        (
            "localhost.example.test.",
            RecordType::TXT,
            ResponseCode::NoError,
            vec!["localhost.example.test. SOA"],
        ),
        (
            "1.0.0.127.in-addr.arpa.",
            RecordType::PTR,
            ResponseCode::NoError,
            vec!["1.0.0.127.in-addr.arpa. PTR localhost."],
        ),
        (
            "1.0.0.127.in-addr.arpa.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["127.in-addr.arpa. SOA"],
        ),
        (
            "2.0.0.127.in-addr.arpa.",
            RecordType::PTR,
            ResponseCode::NXDomain,
            vec!["127.in-addr.arpa. SOA"],
        ),
        (
            "255.in-addr.arpa.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["255.in-addr.arpa. SOA"],
        ),
        (
            "1.0.in-addr.arpa.",
            RecordType::PTR,
            ResponseCode::NXDomain,
            vec!["0.in-addr.arpa. SOA"],
        ),
    ];
    for (name, qtype, rcode, want) in cases {
        let m = ask_local(name, qtype).await;
        assert_eq!(m.metadata.response_code, rcode, "{name} {qtype}");
        assert_eq!(rows(&m), want, "{name} {qtype}");
    }
    // Not local: on to kubernetes.
    let m = ask_local("web.prod.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.answers.len(), 1);
    let r = router(".:53 {\n local {\n  localhost_prefix off\n }\n}\n");
    let m = ask(
        &r,
        "198.18.1.1",
        &question("localhost.example.test.", RecordType::A),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

/// A query still waiting at the deadline is answered SERVFAIL; answers from memory are not
/// held up.
#[tokio::test]
async fn cancel_ends_a_waiting_query() {
    let c = parse_str(".:53 {\n cancel 2s\n}\n", "Corefile", &no_env).unwrap();
    assert_eq!(
        cancel::parse(&c.blocks[0].directives[0]).unwrap(),
        std::time::Duration::from_secs(2)
    );
    // An upstream that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let r = router(&format!(
        ".:53 {{\n cancel 1s\n forward . 127.0.0.1:{port}\n}}\n"
    ));
    let started = std::time::Instant::now();
    let m = ask(&r, "198.18.1.1", &question("example.test.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

/// The listener takes the block's timeouts; blocks without any keep the server's.
#[test]
fn timeouts_reach_the_listener() {
    let r = router(
        "example.test:53 {\n timeouts {\n  read 10s\n  idle 1m\n }\n}\ncluster.local:53 {\n kubernetes\n}\n",
    );
    let t = r.tcp_timeouts();
    assert_eq!(t.read, Some(std::time::Duration::from_secs(10)));
    assert_eq!(t.write, None);
    assert_eq!(t.idle, Some(std::time::Duration::from_secs(60)));
}
