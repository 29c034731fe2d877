//! template: setup (every option, errors with their place), the text subset, and answers
//! through the chain: the common uses (AAAA with NODATA, search-path expansions blocked,
//! names synthesised from a regex), NXDOMAIN without fallthrough, Corefile order, and
//! `ederror` on the wire.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::{no_env, router};
use crate::corefile::parse_str;
use crate::plugin::Router;
use crate::plugins::template::{self, text};
use crate::wire::{Handler, RequestInfo, Transport};

fn setup(text: &str) -> Result<template::Template, String> {
    let c = parse_str(
        &format!("example.test:53 {{\n template {text}\n}}\n"),
        "Corefile",
        &no_env,
    )
    .map_err(|e| e.to_string())?;
    let zones: Vec<Name> = c.blocks[0].keys.iter().map(|k| k.zone.clone()).collect();
    template::parse(&c.blocks[0].directives[0], &zones).map_err(|e| e.to_string())
}

pub(super) async fn ask_type(
    router: &Router,
    name: &str,
    qtype: RecordType,
    class: DNSClass,
) -> Message {
    let mut request = Message::new(7, MessageType::Query, OpCode::Query);
    let mut query = Query::query(Name::from_ascii(name).unwrap(), qtype);
    query.set_query_class(class);
    request.queries.push(query);
    let info = RequestInfo {
        src: "198.18.1.2:4242".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    };
    router.handle(&request, &info).await.0
}

fn texts(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
        .collect()
}

#[test]
fn template_every_option() {
    let t = setup(
        "IN A example.test other.test {\n match ^ip-(\\d+)-(\\d+)\\.example\\.test\\.$ ^x\\.\n answer \"{{ .Name }} 60 IN A 198.18.{{ index .Match 1 }}.{{ index .Match 2 }}\"\n additional \"ns.example.test. 60 IN A 198.18.0.53\"\n authority \"example.test. 60 IN NS ns.example.test.\"\n rcode NOERROR\n fallthrough other.test\n }",
    )
    .unwrap();
    assert_eq!(t.class, Some(DNSClass::IN));
    assert_eq!(t.qtype, Some(RecordType::A));
    assert_eq!(t.zones.len(), 2);
    assert_eq!(t.regexes.len(), 2);
    assert_eq!(t.records.len(), 3);
    let t = setup("ANY ANY").unwrap();
    assert_eq!((t.class, t.qtype), (None, None));
    assert_eq!(t.zones, [Name::from_ascii("example.test.").unwrap()]);
    assert_eq!(t.regexes[0].as_str(), ".*");
    assert_eq!(t.rcode, ResponseCode::NoError);
}

#[test]
fn template_errors_name_the_place() {
    let cases = [
        (
            "XX A",
            "Corefile:2:11: template: invalid query class \"XX\"",
        ),
        (
            "IN AXX",
            "Corefile:2:14: template: invalid query type \"AXX\"",
        ),
        (
            "IN A {\n match (\n }",
            "Corefile:3:8: template: could not parse regex \"(\"",
        ),
        (
            "IN A {\n match\n }",
            "Corefile:3:2: template: match needs at least one regex",
        ),
        (
            "IN A {\n answer\n }",
            "Corefile:3:2: template: answer needs a record template",
        ),
        (
            "IN A {\n answer \"x. IN A x\"\n }",
            "Corefile:3:9: template: \"x. IN A x\" is not a resource record",
        ),
        (
            "IN A {\n answer \"{{ .Meta \\\"x\\\" }} A 198.18.0.1\"\n }",
            "Corefile:3:9: template: template action {{ .Meta \"x\" }} is not supported by Signpost",
        ),
        (
            "IN A {\n answer \"{{ .Name \"\n }",
            "Corefile:3:9: template: unclosed action",
        ),
        (
            "IN A {\n rcode NOPE\n }",
            "Corefile:3:8: template: unknown rcode \"NOPE\"",
        ),
        (
            "IN A {\n rcode\n }",
            "Corefile:3:2: template: rcode needs exactly one code",
        ),
        (
            "IN A {\n frob\n }",
            "Corefile:3:2: template: unknown property \"frob\"",
        ),
        ("IN A nope..test", "Corefile:2:16: template: invalid zone"),
        (
            "IN A {\n ederror\n }",
            "Corefile:3:2: template: ederror needs an extended error code and an optional reason",
        ),
        (
            "IN A {\n ederror 15 a b\n }",
            "Corefile:3:2: template: ederror needs an extended error code and an optional reason",
        ),
        (
            "IN A {\n ederror blocked\n }",
            "Corefile:3:10: template: error parsing extended DNS error code \"blocked\"",
        ),
        (
            "IN A {\n ederror 65536\n }",
            "Corefile:3:10: template: error parsing extended DNS error code \"65536\"",
        ),
        (
            "IN A {\n ederror -1\n }",
            "Corefile:3:10: template: error parsing extended DNS error code \"-1\"",
        ),
    ];
    for (text, want) in cases {
        let got = setup(text).unwrap_err();
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

#[test]
fn text_subset() {
    let t = text::parse("{{- .Name -}} {{ .Zone }}/{{.Class}}/{{ .Type }}/{{ .Remote }}/{{ index .Match 1 }}/{{ .Group.b }}/{{ index .Group \"b\" }}/{{ .Group.none }}").unwrap();
    let matches = [Some("whole"), Some("one"), None, Some("bee")];
    let data = text::Data {
        name: "n.",
        zone: "z.",
        class: "IN",
        qtype: "A",
        remote: "198.18.0.1",
        matches: &matches,
        names: &[("b", 3)],
    };
    assert_eq!(
        t.render(&data).unwrap(),
        "n.z./IN/A/198.18.0.1/one/bee/bee/"
    );
    let out_of_range = text::parse("{{ index .Match 9 }}").unwrap();
    assert!(out_of_range.render(&data).is_err());
    assert!(text::parse("{{ .Message.Question }}").is_err());
}

/// The recipes of CoreDNS's README that clusters use.
#[tokio::test]
async fn template_answers() {
    let r = router(
        "example.test:53 {\n template IN AAAA {\n  rcode NOERROR\n }\n template IN A {\n  match \"^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)[.]example[.]test[.]$\"\n  answer \"{{ .Name }} 60 IN A 198.18.{{ .Group.a }}.{{ .Group.b }}\"\n  fallthrough\n }\n template ANY ANY {\n  match \"^[^.]+[.]example[.]test[.]$\"\n  rcode NXDOMAIN\n }\n}\n\
         cluster.local:53 {\n template ANY ANY cluster.local {\n  match \"[.]cluster[.]local[.]example[.]internal[.]$\"\n  rcode NXDOMAIN\n  fallthrough\n }\n kubernetes\n}\n",
    );
    // AAAA with NODATA: NOERROR, no answer, authoritative.
    let m = ask_type(&r, "web.example.test.", RecordType::AAAA, DNSClass::IN).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty() && m.metadata.authoritative);
    // A name synthesised from the regex's groups.
    let m = ask_type(&r, "IP-1-2.example.test.", RecordType::A, DNSClass::IN).await;
    assert_eq!(texts(&m), ["ip-1-2.example.test. 60 198.18.1.2"]);
    // The first template's question but no match: it falls through to the next, which denies.
    let m = ask_type(&r, "other.example.test.", RecordType::A, DNSClass::IN).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // Neither matches, and the last has no fallthrough: NXDOMAIN.
    let m = ask_type(&r, "a.b.example.test.", RecordType::TXT, DNSClass::IN).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // Cluster names pass through to kubernetes; nothing here is a search expansion.
    let m = ask_type(
        &r,
        "web.prod.svc.cluster.local.",
        RecordType::A,
        DNSClass::IN,
    )
    .await;
    assert_eq!(m.answers.len(), 1);
}

/// AKS's templates: search-path expansions under the node's domain answered NXDOMAIN at once.
#[tokio::test]
async fn template_blocks_search_path_expansions() {
    let r = router(
        ".:53 {\n template ANY ANY internal.cloudapp.net {\n  match \"^(?:[^.]+\\.){4,}internal\\.cloudapp\\.net\\.$\"\n  rcode NXDOMAIN\n  fallthrough\n }\n template ANY ANY reddog.microsoft.com {\n  rcode NXDOMAIN\n }\n kubernetes cluster.local\n}\n",
    );
    let m = ask_type(
        &r,
        "web.prod.svc.cluster.local.abc.internal.cloudapp.net.",
        RecordType::A,
        DNSClass::IN,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let m = ask_type(
        &r,
        "web.prod.svc.cluster.local.reddog.microsoft.com.",
        RecordType::A,
        DNSClass::IN,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // Fewer labels: through to the rest of the chain (no forward here: SERVFAIL).
    let m = ask_type(
        &r,
        "vm.abc.internal.cloudapp.net.",
        RecordType::A,
        DNSClass::IN,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

/// `ederror CODE [REASON]` as CoreDNS's setup takes it: a 16-bit code, an optional text.
#[test]
fn template_ederror_setup() {
    let cases: [(&str, Option<(u16, &str)>); 4] = [
        ("ANY ANY", None),
        ("ANY ANY {\n ederror 15\n }", Some((15, ""))),
        (
            "ANY ANY {\n ederror 21 \"Blocked according to RFC2606\"\n }",
            Some((21, "Blocked according to RFC2606")),
        ),
        ("ANY ANY {\n ederror 65535 x\n }", Some((65535, "x"))),
    ];
    for (text, want) in cases {
        let t = setup(text).unwrap();
        let got = t.ederror.as_ref().map(|(c, r)| (*c, r.as_str()));
        assert_eq!(got, want, "{text:?}");
    }
}

/// The EDE goes into the OPT record the server answers with (RFC 8914 section 2): code, then
/// the text; the client's DO bit is echoed, and a client without EDNS gets no OPT at all
/// (RFC 6891 section 7; CoreDNS adds one: D-TEMPLATE-EDE).
#[tokio::test]
async fn template_ederror_on_the_wire() {
    use hickory_proto::op::Edns;
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

    let r = router(
        ".:53 {\n template ANY ANY invalid {\n  rcode NXDOMAIN\n  authority \"invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)\"\n  ederror 21 \"Blocked according to RFC2606\"\n }\n template IN A blocked.test {\n  answer \"{{ .Name }} 60 IN A 198.18.0.1\"\n  ederror 15\n }\n}\n",
    );
    let info = RequestInfo {
        src: "198.18.1.2:4242".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    };
    let ask = |name: &str, edns: Option<bool>| {
        let mut request = Message::new(9, MessageType::Query, OpCode::Query);
        request
            .queries
            .push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        if let Some(dnssec_ok) = edns {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            e.set_dnssec_ok(dnssec_ok);
            request.edns = Some(e);
        }
        request.to_vec().unwrap()
    };
    let reply = async |bytes: Vec<u8>| {
        let (wire, _) = crate::server::respond(&r, &bytes, &info).await;
        Message::from_vec(&wire.expect("an answer")).unwrap()
    };
    let ede = |m: &Message| match m
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::Unknown(crate::wire::EDE_CODE)))
    {
        Some(EdnsOption::Unknown(_, data)) => Some(data.clone()),
        _ => None,
    };

    let m = reply(ask("foo.invalid.", Some(false))).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative && !m.metadata.recursion_available);
    assert_eq!(m.authorities.len(), 1);
    let mut want = 21u16.to_be_bytes().to_vec();
    want.extend_from_slice(b"Blocked according to RFC2606");
    assert_eq!(ede(&m), Some(want));
    assert!(!m.edns.as_ref().unwrap().flags().dnssec_ok);

    let m = reply(ask("x.blocked.test.", Some(true))).await;
    assert_eq!(m.answers.len(), 1);
    assert_eq!(ede(&m), Some(15u16.to_be_bytes().to_vec()));
    assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);

    let m = reply(ask("foo.invalid.", None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.edns.is_none(), "{m:?}");
}
