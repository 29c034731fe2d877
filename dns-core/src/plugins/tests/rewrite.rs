//! `rewrite`: setup errors with their location, and each rule's request rewrite and answer
//! revert.

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::corefile::parse_str;
use crate::plugins::rewrite::{Rules, parse};

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
            "rewrite edns0 local set 0xffee abc",
            "Corefile:2:9: rewrite: the edns0 field is not supported by Signpost yet",
        ),
        (
            "rewrite name a b answer value x y",
            "Corefile:2:18: rewrite: answer takes auto or name FROM TO (answer value is not supported by Signpost yet)",
        ),
    ];
    for (lines, want) in cases {
        assert_eq!(rules(lines).err().as_deref(), Some(want), "{lines}");
    }
}
