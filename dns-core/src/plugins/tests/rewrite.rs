//! `rewrite`: setup errors with their location, and each rule's request rewrite and answer
//! revert.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::corefile::parse_str;
use crate::plugins::rewrite::{Rules, parse, splice_cname_answers};

fn rules(lines: &str) -> Result<Rules, String> {
    let src = format!(".:53 {{\n{lines}\n}}\n");
    let c = parse_str(&src, "Corefile", &|_| None).map_err(|e| e.to_string())?;
    c.blocks[0]
        .directives
        .iter()
        .map(|d| parse(d).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(Rules)
}

fn query(name: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m
}

/// Applies `lines` to `name`/`qtype`; answers the rewritten question with one A record named
/// as asked (TTL 300), reverts, and returns (rewritten question, answer name and TTL, client
/// question).
fn run(lines: &str, name: &str, qtype: RecordType) -> Option<(String, String, String)> {
    let rules = rules(lines).unwrap();
    let request = query(name, qtype);
    let applied = rules.apply(&request)?;
    let q = applied.request.queries[0].clone();
    let rewritten = format!("{} {} {}", q.name(), q.query_type(), q.query_class());
    let mut response = applied.request.clone();
    response.answers.push(Record::from_rdata(
        q.name().clone(),
        300,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 1))),
    ));
    rules.revert(&applied, &mut response);
    let answer = format!("{} {}", response.answers[0].name, response.answers[0].ttl);
    let question = response.queries[0].name().to_string();
    Some((rewritten, answer, question))
}

/// Rule lines, asked name and type, and (rewritten question, answer, client question).
type Case<'a> = (
    &'a str,
    &'a str,
    RecordType,
    Option<(&'a str, &'a str, &'a str)>,
);

#[test]
fn rewrite_rules_table() {
    use RecordType::*;
    let cases: &[Case] = &[
        // A block continues the line (CoreDNS's response-rule syntax).
        (
            "rewrite stop {\n  name regex (.*)\\.corp\\.test\\.$ {1}.svc.example.test.\n  answer name (.*)\\.svc\\.example\\.test\\.$ {1}.corp.test.\n}",
            "web.corp.test.",
            A,
            Some((
                "web.svc.example.test. A IN",
                "web.corp.test. 300",
                "web.corp.test.",
            )),
        ),
        (
            "rewrite name regex (.*)\\.corp\\.test\\.$ {1}.svc.example.test. {\n  answer name (.*)\\.svc\\.example\\.test\\.$ {1}.corp.test.\n}",
            "web.corp.test.",
            A,
            Some((
                "web.svc.example.test. A IN",
                "web.corp.test. 300",
                "web.corp.test.",
            )),
        ),
        (
            "rewrite name foo.example.test web.prod.svc.cluster.local",
            "Foo.Example.Test.",
            A,
            Some((
                "web.prod.svc.cluster.local. A IN",
                // Answers get the rule's FROM (lowercase); the question keeps the client's case.
                "foo.example.test. 300",
                "Foo.Example.Test.",
            )),
        ),
        (
            "rewrite name foo.example.test bar.example.test",
            "x.example.test.",
            A,
            None,
        ),
        // Prefix and suffix without an answer rule: the question is restored, answers not.
        (
            "rewrite name prefix foo. bar.",
            "foo.example.test.",
            A,
            Some((
                "bar.example.test. A IN",
                "bar.example.test. 300",
                "foo.example.test.",
            )),
        ),
        (
            "rewrite name suffix .example.test .svc.cluster.local answer auto",
            "web.prod.example.test.",
            A,
            Some((
                "web.prod.svc.cluster.local. A IN",
                "web.prod.example.test. 300",
                "web.prod.example.test.",
            )),
        ),
        (
            "rewrite name substring prod stage answer auto",
            "web.prod.example.test.",
            A,
            Some((
                "web.stage.example.test. A IN",
                "web.prod.example.test. 300",
                "web.prod.example.test.",
            )),
        ),
        (
            r"rewrite name regex (.*)\.corp\.test {1}.svc.cluster.local answer name (.*)\.svc\.cluster\.local {1}.corp.test",
            "web.prod.corp.test.",
            A,
            Some((
                "web.prod.svc.cluster.local. A IN",
                "web.prod.corp.test. 300",
                "web.prod.corp.test.",
            )),
        ),
        (
            "rewrite type ANY HINFO",
            "x.example.test.",
            ANY,
            Some((
                "x.example.test. HINFO IN",
                "x.example.test. 300",
                "x.example.test.",
            )),
        ),
        ("rewrite type ANY HINFO", "x.example.test.", A, None),
        (
            "rewrite ttl example.test 30",
            "example.test.",
            A,
            Some(("example.test. A IN", "example.test. 30", "example.test.")),
        ),
        (
            "rewrite ttl suffix .example.test 400-",
            "a.example.test.",
            A,
            Some((
                "a.example.test. A IN",
                "a.example.test. 400",
                "a.example.test.",
            )),
        ),
        (
            "rewrite ttl suffix .example.test -60",
            "a.example.test.",
            A,
            Some((
                "a.example.test. A IN",
                "a.example.test. 60",
                "a.example.test.",
            )),
        ),
        // stop (the default) ends at the first match; continue goes on.
        (
            "rewrite name a.example.test b.example.test\nrewrite name b.example.test c.example.test",
            "a.example.test.",
            A,
            Some((
                "b.example.test. A IN",
                "a.example.test. 300",
                "a.example.test.",
            )),
        ),
        (
            "rewrite continue name a.example.test b.example.test\nrewrite name b.example.test c.example.test",
            "a.example.test.",
            A,
            Some((
                "c.example.test. A IN",
                "a.example.test. 300",
                "a.example.test.",
            )),
        ),
    ];
    for (lines, name, qtype, want) in cases {
        let got = run(lines, name, *qtype);
        let want = want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(got, want, "{lines} / {name}");
    }
}

#[test]
fn rewrite_class() {
    let rules = rules("rewrite class CH IN").unwrap();
    let mut request = query("x.example.test.", RecordType::A);
    request.queries[0].set_query_class(DNSClass::CH);
    let applied = rules.apply(&request).unwrap();
    assert_eq!(applied.request.queries[0].query_class(), DNSClass::IN);
}

#[test]
fn rewrite_setup_errors_name_the_line() {
    let cases = [
        ("rewrite", "Corefile:2:1: rewrite: rewrite needs a field"),
        (
            "rewrite name a.test",
            "Corefile:2:9: rewrite: name needs FROM and TO",
        ),
        (
            "rewrite frob a b",
            "Corefile:2:9: rewrite: invalid field \"frob\"",
        ),
        (
            "rewrite type A BOGUS",
            "Corefile:2:16: rewrite: invalid type \"BOGUS\"",
        ),
        (
            "rewrite class IN XX",
            "Corefile:2:18: rewrite: invalid class \"XX\"",
        ),
        (
            "rewrite ttl a.test soon",
            "Corefile:2:20: rewrite: invalid TTL \"soon\"",
        ),
        (
            "rewrite ttl a.test 60-30",
            "Corefile:2:20: rewrite: invalid TTL \"60-30\"",
        ),
        (
            "rewrite name regex ( x",
            "Corefile:2:20: rewrite: invalid regex \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
        ),
        (
            "rewrite name regex a b answer auto",
            "Corefile:2:31: rewrite: answer auto needs a non-regex match; use answer name FROM TO",
        ),
        (
            "rewrite rcode a.test SERVFAIL BOGUS",
            "Corefile:2:31: rewrite: invalid rcode \"BOGUS\"",
        ),
        (
            "rewrite rcode a.test 4096 NXDOMAIN",
            "Corefile:2:22: rewrite: invalid rcode \"4096\"",
        ),
        (
            "rewrite rcode a.test SERVFAIL",
            "Corefile:2:9: rewrite: rcode needs [TYPE] NAME FROM TO",
        ),
        (
            "rewrite rcode fuzzy a.test SERVFAIL NXDOMAIN",
            "Corefile:2:15: rewrite: invalid match type \"fuzzy\"",
        ),
        (
            "rewrite edns0 local set 0xffee 0xabc",
            "Corefile:2:32: rewrite: invalid hex data \"0xabc\"",
        ),
        (
            "rewrite edns0 local set 0x1ffee abc",
            "Corefile:2:25: rewrite: invalid EDNS0 code \"0x1ffee\"",
        ),
        (
            "rewrite edns0 local set 65001 {query_name}",
            "Corefile:2:31: rewrite: unsupported variable name \"{query_name}\"",
        ),
        (
            "rewrite edns0 local frob 1 a",
            "Corefile:2:21: rewrite: invalid action \"frob\"",
        ),
        (
            "rewrite edns0 subnet set 33 56",
            "Corefile:2:26: rewrite: invalid bitmask \"33\" (0-32)",
        ),
        (
            "rewrite edns0 subnet set 24",
            "Corefile:2:15: rewrite: edns0 subnet needs IPV4_BITMASK and IPV6_BITMASK",
        ),
        (
            "rewrite edns0 nsid set x",
            "Corefile:2:24: rewrite: edns0 nsid takes no arguments",
        ),
        (
            "rewrite edns0 cookie set",
            "Corefile:2:15: rewrite: invalid edns0 option \"cookie\"",
        ),
        (
            "rewrite {\n  name a b {\n    x\n  }\n}",
            "Corefile:4:5: rewrite: a rewrite block cannot hold another block",
        ),
        (
            "rewrite stop {\n  name a.test\n}",
            "Corefile:3:3: rewrite: name needs FROM and TO",
        ),
        (
            "rewrite cname fuzzy a b",
            "Corefile:2:15: rewrite: invalid match type \"fuzzy\"",
        ),
        (
            "rewrite cname a",
            "Corefile:2:9: rewrite: cname needs [TYPE] FROM TO",
        ),
        (
            "rewrite name a b answer frob x y",
            "Corefile:2:18: rewrite: answer takes auto, name FROM TO or value FROM TO",
        ),
        (
            "rewrite name a b answer value x",
            "Corefile:2:18: rewrite: answer takes auto, name FROM TO or value FROM TO",
        ),
        (
            "rewrite name a b answer value ( x",
            "Corefile:2:31: rewrite: invalid regex \"(\": regex parse error:\n    (\n    ^\nerror: unclosed group",
        ),
    ];
    for (lines, want) in cases {
        assert_eq!(rules(lines).err().as_deref(), Some(want), "{lines}");
    }
}

/// Rule lines, asked name, upstream rcode, and the rcode the client gets (`None`: no rule
/// matched the name).
#[test]
fn rewrite_rcode_table() {
    use ResponseCode::*;
    let cases: &[(&str, &str, ResponseCode, Option<ResponseCode>)] = &[
        (
            "rewrite rcode example.test SERVFAIL NXDOMAIN",
            "Example.Test.",
            ServFail,
            Some(NXDomain),
        ),
        (
            "rewrite rcode example.test SERVFAIL NXDOMAIN",
            "example.test.",
            Refused,
            Some(Refused),
        ),
        (
            "rewrite rcode example.test SERVFAIL NXDOMAIN",
            "a.example.test.",
            ServFail,
            None,
        ),
        (
            "rewrite rcode suffix .example.test 2 0",
            "a.example.test.",
            ServFail,
            Some(NoError),
        ),
        (
            "rewrite rcode prefix a. refused noerror",
            "a.example.test.",
            Refused,
            Some(NoError),
        ),
        (
            "rewrite rcode substring mpl NXDOMAIN NOERROR",
            "example.test.",
            NXDomain,
            Some(NoError),
        ),
        (
            "rewrite rcode regex ^[0-9]+\\. NXDOMAIN REFUSED",
            "42.example.test.",
            NXDomain,
            Some(Refused),
        ),
        (
            "rewrite rcode regex ^[0-9]+\\. NXDOMAIN REFUSED",
            "x.example.test.",
            NXDomain,
            None,
        ),
        // The rcode rule sees the name the rules before it wrote (continue).
        (
            "rewrite continue name a.example.test b.example.test\nrewrite rcode b.example.test NXDOMAIN SERVFAIL",
            "a.example.test.",
            NXDomain,
            Some(ServFail),
        ),
        // A stop rule that matched ends the list: the rcode rule never runs.
        (
            "rewrite name a.example.test b.example.test\nrewrite rcode b.example.test NXDOMAIN SERVFAIL",
            "a.example.test.",
            NXDomain,
            Some(NXDomain),
        ),
    ];
    for (lines, name, upstream, want) in cases {
        let rules = rules(lines).unwrap();
        let request = query(name, RecordType::A);
        let got = rules.apply(&request).map(|applied| {
            let mut response = applied.request.clone();
            response.metadata.message_type = MessageType::Response;
            response.metadata.response_code = *upstream;
            rules.revert(&applied, &mut response);
            response.metadata.response_code
        });
        assert_eq!(got, *want, "{lines} / {name}");
    }
}

/// Options already on the request, rule lines, client address, and the options the rest of
/// the chain sees (`code=hex`, in order; `None`: no rule applied).
#[test]
fn rewrite_edns0_table() {
    use hickory_proto::op::Edns;
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    use hickory_proto::serialize::binary::BinEncodable;
    type Case<'a> = (&'a [(u16, &'a [u8])], &'a str, &'a str, Option<&'a str>);
    let cases: &[Case] = &[
        (
            &[],
            "rewrite edns0 local set 0xffee 0xabcd",
            "198.18.0.9",
            Some("65518=abcd"),
        ),
        (
            &[],
            "rewrite edns0 local set 65001 abc",
            "198.18.0.9",
            Some("65001=616263"),
        ),
        (
            &[(65001, b"x")],
            "rewrite edns0 local set 65001 abc",
            "198.18.0.9",
            Some("65001=616263"),
        ),
        (
            &[(65001, b"x")],
            "rewrite edns0 local append 65001 abc",
            "198.18.0.9",
            None,
        ),
        (
            &[(65002, b"x")],
            "rewrite edns0 local append 65001 abc",
            "198.18.0.9",
            Some("65002=78 65001=616263"),
        ),
        (
            &[],
            "rewrite edns0 local replace 65001 abc",
            "198.18.0.9",
            None,
        ),
        (
            &[(65001, b"x")],
            "rewrite edns0 local replace 65001 abc",
            "198.18.0.9",
            Some("65001=616263"),
        ),
        (&[], "rewrite edns0 nsid set", "198.18.0.9", Some("3=")),
        // Family 1, source /24, scope 0, three address bytes.
        (
            &[],
            "rewrite edns0 subnet set 24 56",
            "198.18.7.9",
            Some("8=00011800c61207"),
        ),
        (
            &[],
            "rewrite edns0 subnet set 32 56",
            "::ffff:198.18.7.9",
            Some("8=00012000c6120709"),
        ),
        (
            &[],
            "rewrite edns0 subnet set 0 56",
            "198.18.7.9",
            Some("8=00010000"),
        ),
        (
            &[],
            "rewrite edns0 subnet set 24 32",
            "2001:db8:1:2::9",
            Some("8=0002200020010db8"),
        ),
        (
            &[(8, b"\x00\x01\x08\x00\x0a")],
            "rewrite edns0 subnet append 24 56",
            "198.18.7.9",
            None,
        ),
        // A stop edns0 rule that applied ends the list; continue lets the name rule run.
        (
            &[],
            "rewrite edns0 nsid set\nrewrite edns0 local set 1 a",
            "198.18.0.9",
            Some("3="),
        ),
        (
            &[],
            "rewrite continue edns0 nsid set\nrewrite edns0 local set 1 a",
            "198.18.0.9",
            Some("3= 1=61"),
        ),
        // Variables, encoded as CoreDNS encodes them.
        (
            &[],
            "rewrite edns0 local set 0xffee {client_ip}",
            "198.18.7.9",
            Some("65518=c6120709"),
        ),
        (
            &[],
            "rewrite edns0 local set 0xffee {client_ip}",
            "::ffff:198.18.7.9",
            Some("65518=c6120709"),
        ),
        (
            &[],
            "rewrite edns0 local set 0xffee {client_ip}",
            "2001:db8::9",
            Some("65518=20010db8000000000000000000000009"),
        ),
        (
            &[],
            "rewrite continue edns0 local set 0xffee {client_port}\nrewrite continue edns0 local set 0xffef {server_port}\nrewrite edns0 local set 0xfff0 {server_ip}",
            "198.18.7.9",
            Some("65518=9c40 65519=0035 65520=7f000001"),
        ),
        (
            &[],
            "rewrite continue edns0 local set 0xffee {qtype}\nrewrite edns0 local set 0xffef {protocol}",
            "198.18.7.9",
            Some("65518=0001 65519=756470"),
        ),
        (
            &[],
            "rewrite edns0 local set 0xffee {qname}",
            "198.18.7.9",
            Some("65518=612e6578616d706c652e746573742e"),
        ),
        // The server's address in another family than the client's: nothing to send.
        (
            &[],
            "rewrite edns0 local set 0xffee {server_ip}",
            "2001:db8::9",
            None,
        ),
        // A metadata label no plugin publishes: the rule does not apply, as in CoreDNS.
        (
            &[],
            "rewrite edns0 local set 0xffee {kubernetes/client-namespace}",
            "198.18.7.9",
            None,
        ),
    ];
    for (present, lines, client, want) in cases {
        let rules = rules(lines).unwrap();
        let mut request = query("a.example.test.", RecordType::A);
        if !present.is_empty() {
            let mut edns = Edns::new();
            for (code, data) in *present {
                edns.options_mut().as_mut().push((
                    EdnsCode::from(*code),
                    EdnsOption::Unknown(*code, data.to_vec()),
                ));
            }
            request.edns = Some(edns);
        }
        let client: IpAddr = client.parse().unwrap();
        let info = crate::wire::RequestInfo {
            src: std::net::SocketAddr::new(client, 40000),
            local: "127.0.0.1:53".parse().unwrap(),
            transport: crate::wire::Transport::Udp,
            request_size: 0,
        };
        let got = rules.apply_from(&request, &info).map(|applied| {
            let edns = applied.request.edns.expect("an OPT record");
            edns.options()
                .as_ref()
                .iter()
                .map(|(code, option)| {
                    let mut bytes = Vec::new();
                    let mut enc = hickory_proto::serialize::binary::BinEncoder::new(&mut bytes);
                    option.emit(&mut enc).unwrap();
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    format!("{}={hex}", u16::from(*code))
                })
                .collect::<Vec<_>>()
                .join(" ")
        });
        assert_eq!(got.as_deref(), *want, "{lines} from {client}");
    }
}

/// Rule lines, the upstream answer's CNAME chain for `www.example.test.` (owner > target, the
/// last target's A record at 198.18.0.1), and (new target looked up, the client's answer with
/// the lookup's record at 198.18.0.2).
#[test]
fn rewrite_cname_table() {
    use hickory_proto::rr::rdata::CNAME;
    let name = |n: &str| Name::from_ascii(n).unwrap();
    let a = |n: &str, last: u8| {
        Record::from_rdata(name(n), 60, RData::A(A(Ipv4Addr::new(198, 18, 0, last))))
    };
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<(&'a str, &'a str)>,
    );
    let cases: &[Case] = &[
        (
            "rewrite cname exact cdn.example.net. edge.example.test.",
            &[("www.example.test.", "cdn.example.net.")],
            Some((
                "edge.example.test.",
                "www.example.test.>edge.example.test. edge.example.test.=198.18.0.2",
            )),
        ),
        (
            "rewrite cname suffix .example.net. .example.test.",
            &[("www.example.test.", "a.cdn.example.net.")],
            Some((
                "a.cdn.example.test.",
                "www.example.test.>a.cdn.example.test. a.cdn.example.test.=198.18.0.2",
            )),
        ),
        (
            "rewrite cname prefix cdn. edge.",
            &[
                ("www.example.test.", "x.example.net."),
                ("x.example.net.", "cdn.example.net."),
            ],
            Some((
                "edge.example.net.",
                "www.example.test.>x.example.net. x.example.net.>edge.example.net. edge.example.net.=198.18.0.2",
            )),
        ),
        (
            "rewrite cname regex (.*)\\.cdn\\.example\\.net\\. {1}.example.test.",
            &[("www.example.test.", "w1.cdn.example.net.")],
            Some((
                "w1.example.test.",
                "www.example.test.>w1.example.test. w1.example.test.=198.18.0.2",
            )),
        ),
        // No CNAME target matches: the answer is untouched.
        (
            "rewrite cname exact cdn.example.net. edge.example.test.",
            &[("www.example.test.", "other.example.net.")],
            None,
        ),
    ];
    for (lines, chain, want) in cases {
        let rules = rules(lines).unwrap();
        let request = query("www.example.test.", RecordType::A);
        let applied = rules.apply(&request).unwrap();
        let mut response = applied.request.clone();
        for (owner, target) in *chain {
            response.answers.push(Record::from_rdata(
                name(owner),
                60,
                RData::CNAME(CNAME(name(target))),
            ));
        }
        let last = chain.last().unwrap().1;
        response.answers.push(a(last, 1));
        rules.revert(&applied, &mut response);
        let Some(target) = rules.rewrite_cnames(&applied, &mut response) else {
            assert_eq!(*want, None, "{lines}");
            assert_eq!(response.answers.len(), chain.len() + 1, "{lines}");
            continue;
        };
        let lookup = Rules::cname_lookup(&applied, &target);
        assert_eq!(lookup.queries[0].query_type(), RecordType::A);
        let mut found = lookup.clone();
        found.answers.push(a(&target.to_string(), 2));
        // Records of other owners in the lookup are dropped.
        found.answers.push(a("elsewhere.example.test.", 3));
        splice_cname_answers(&mut response, &target, &found);
        let answer: Vec<String> = response
            .answers
            .iter()
            .map(|r| match &r.data {
                RData::CNAME(c) => format!("{}>{}", r.name, c.0),
                RData::A(ip) => format!("{}={ip}", r.name),
                other => format!("{other:?}"),
            })
            .collect();
        let got = (lookup.queries[0].name().to_string(), answer.join(" "));
        let want = want.map(|(a, b)| (a.to_string(), b.to_string()));
        assert_eq!(Some(got), want, "{lines}");
    }
}

/// An empty lookup leaves the response as the upstream gave it (with its rewritten target).
#[test]
fn rewrite_cname_empty_lookup_keeps_the_answer() {
    let mut response = query("www.example.test.", RecordType::A);
    response.answers.push(Record::from_rdata(
        Name::from_ascii("www.example.test.").unwrap(),
        60,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 1))),
    ));
    let found = query("edge.example.test.", RecordType::A);
    splice_cname_answers(
        &mut response,
        &Name::from_ascii("edge.example.test.").unwrap(),
        &found,
    );
    assert_eq!(response.answers.len(), 1);
}

/// `answer value` turns names inside answer data back (CNAME, SRV, MX, NS, PTR targets); other
/// data and non-matching names stay.
#[test]
fn rewrite_answer_value_turns_data_names_back() {
    use hickory_proto::rr::rdata::{CNAME, MX, SRV};
    let name = |n: &str| Name::from_ascii(n).unwrap();
    let rules = rules(
        "rewrite name regex (.*)\\.corp\\.test\\.$ {1}.svc.example.test. {\n  answer name (.*)\\.svc\\.example\\.test\\.$ {1}.corp.test.\n  answer value (.*)\\.svc\\.example\\.test\\.$ {1}.corp.test.\n}",
    )
    .unwrap();
    let applied = rules
        .apply(&query("www.corp.test.", RecordType::A))
        .unwrap();
    let asked = name("www.svc.example.test.");
    let mut response = applied.request.clone();
    response.answers = vec![
        Record::from_rdata(
            asked.clone(),
            60,
            RData::CNAME(CNAME(name("web.svc.example.test."))),
        ),
        Record::from_rdata(
            asked.clone(),
            60,
            RData::SRV(SRV::new(0, 0, 80, name("web.svc.example.test."))),
        ),
        Record::from_rdata(
            asked.clone(),
            60,
            RData::MX(MX::new(10, name("mail.example.net."))),
        ),
        Record::from_rdata(
            name("web.svc.example.test."),
            60,
            RData::A(A(Ipv4Addr::new(198, 18, 0, 1))),
        ),
    ];
    rules.revert(&applied, &mut response);
    let got: Vec<String> = response
        .answers
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect();
    assert_eq!(
        got,
        [
            "www.corp.test. web.corp.test.",
            "www.corp.test. 0 0 80 web.corp.test.",
            "www.corp.test. 10 mail.example.net.",
            "web.corp.test. 198.18.0.1",
        ]
    );
}
