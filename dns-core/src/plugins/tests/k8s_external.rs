//! k8s_external: setup (every option, errors with their place) and answers: external and load
//! balancer IPs under the external zone, SRV, headless endpoints, the apex, NXDOMAIN with SOA,
//! fallthrough.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::no_env;
use super::template::ask_type;
use crate::cluster::SnapshotStore;
use crate::cluster::model::{Change, Service};
use crate::cluster::testdata::example_cluster;
use crate::corefile::parse_str;
use crate::plugin::Router;
use crate::plugin::build::Dependencies;
use crate::plugins::{build, k8s_external};

fn setup(text: &str) -> Result<k8s_external::ExternalConfig, String> {
    let c = parse_str(
        &format!(".:53 {{\n k8s_external {text}\n kubernetes cluster.local\n}}\n"),
        "Corefile",
        &no_env,
    )
    .map_err(|e| e.to_string())?;
    k8s_external::parse(&c.blocks[0].directives[0], &[Name::root()]).map_err(|e| e.to_string())
}

fn router(corefile: &str) -> Router {
    let store = Arc::new(SnapshotStore::new());
    let mut changes = example_cluster();
    // `web` gets an external IP and a load balancer's, as the API server shows them.
    let web = changes.iter().find_map(|c| match c {
        Change::UpsertService(s) if s.name == "web" => Some(s.clone()),
        _ => None,
    });
    changes.push(Change::UpsertService(Service {
        external_ips: vec![
            "198.19.200.7".parse().unwrap(),
            "2001:db8:ff::7".parse().unwrap(),
        ],
        ..web.unwrap()
    }));
    store.replace(changes, 1);
    let c = parse_str(corefile, "Corefile", &no_env).unwrap();
    let mut deps = Dependencies::new(store);
    deps.local_ips = vec!["198.18.0.53".parse().unwrap()];
    build(&c, &deps).unwrap().routers.remove(0)
}

fn lines(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

#[test]
fn k8s_external_every_option() {
    let c =
        setup("example.org other.org {\n apex ns\n ttl 30\n headless\n fallthrough other.org\n }")
            .unwrap();
    assert_eq!(c.records.zones.len(), 2);
    assert_eq!(c.records.apex, "ns");
    assert_eq!(c.records.ttl, 30);
    assert!(c.records.headless);
    let c = setup("").unwrap();
    assert_eq!(c.records.zones, [Name::root()]);
    assert_eq!(
        (c.records.apex.as_str(), c.records.ttl, c.records.headless),
        ("dns", 5, false)
    );
}

#[test]
fn k8s_external_errors_name_the_place() {
    let cases = [
        (
            "x {\n ttl 3601\n }",
            "Corefile:3:6: k8s_external: ttl must be an integer from 0 to 3600, not \"3601\"",
        ),
        (
            "x {\n ttl\n }",
            "Corefile:3:2: k8s_external: ttl needs exactly one number",
        ),
        (
            "x {\n apex a.b\n }",
            "Corefile:3:7: k8s_external: apex must be one label, not \"a.b\"",
        ),
        (
            "x {\n headless yes\n }",
            "Corefile:3:11: k8s_external: headless takes no arguments",
        ),
        (
            "x {\n frob\n }",
            "Corefile:3:2: k8s_external: unknown property \"frob\"",
        ),
        ("bad..zone", "Corefile:2:15: k8s_external: invalid zone"),
    ];
    for (text, want) in cases {
        let got = setup(text).unwrap_err();
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
    let c = parse_str(
        ".:53 {\n k8s_external example.org\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let deps = Dependencies::new(Arc::new(SnapshotStore::new()));
    let e = build(&c, &deps).err().unwrap().to_string();
    assert_eq!(
        e,
        "Corefile:2:2: k8s_external: needs a kubernetes plugin in the same server block"
    );
}

async fn ask(r: &Router, name: &str, qtype: RecordType) -> Message {
    ask_type(r, name, qtype, DNSClass::IN).await
}

#[tokio::test]
async fn k8s_external_answers() {
    let r = router(
        ".:53 {\n k8s_external example.org {\n  headless\n  ttl 30\n }\n kubernetes cluster.local\n}\n",
    );
    let m = ask(&r, "web.prod.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&m.answers),
        ["web.prod.example.org. 30 A 198.19.200.7"]
    );
    assert!(m.metadata.authoritative);
    let m = ask(&r, "WEB.prod.example.org.", RecordType::AAAA).await;
    assert_eq!(
        lines(&m.answers),
        ["WEB.prod.example.org. 30 AAAA 2001:db8:ff::7"]
    );
    let m = ask(&r, "_https._tcp.web.prod.example.org.", RecordType::SRV).await;
    assert_eq!(
        lines(&m.answers),
        ["_https._tcp.web.prod.example.org. 30 SRV 0 50 443 web.prod.example.org."]
    );
    assert_eq!(
        lines(&m.additionals),
        [
            "web.prod.example.org. 30 A 198.19.200.7",
            "web.prod.example.org. 30 AAAA 2001:db8:ff::7"
        ]
    );
    // The cluster IP is not external: a service without external IPs does not exist here.
    let m = ask(&r, "api-v6.prod.example.org.", RecordType::AAAA).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    // Headless: each endpoint by its name, and the service as all of them.
    let m = ask(&r, "db-0.db.prod.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&m.answers),
        ["db-0.db.prod.example.org. 30 A 198.19.2.1"]
    );
    let m = ask(&r, "db.prod.example.org.", RecordType::A).await;
    assert_eq!(m.answers.len(), 2);
    // A namespace alone exists (NODATA); another type of an existing name is NODATA too.
    for (name, qtype) in [
        ("prod.example.org.", RecordType::A),
        ("web.prod.example.org.", RecordType::TXT),
    ] {
        let m = ask(&r, name, qtype).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.answers.is_empty() && m.authorities.len() == 1, "{name}");
    }
    let m = ask(&r, "web.nope.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // The apex: SOA, NS with this server's address as glue, ns1.dns.
    let m = ask(&r, "example.org.", RecordType::SOA).await;
    assert_eq!(
        lines(&m.answers),
        [
            "example.org. 30 SOA ns1.dns.example.org. hostmaster.dns.example.org. 1 7200 1800 86400 30"
        ]
    );
    let m = ask(&r, "example.org.", RecordType::NS).await;
    assert_eq!(
        lines(&m.answers),
        ["example.org. 30 NS ns1.dns.example.org."]
    );
    assert_eq!(
        lines(&m.additionals),
        ["ns1.dns.example.org. 30 A 198.18.0.53"]
    );
    let m = ask(&r, "ns1.dns.example.org.", RecordType::A).await;
    assert_eq!(lines(&m.answers), ["ns1.dns.example.org. 30 A 198.18.0.53"]);
    let m = ask(&r, "dns.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let m = ask(&r, "ns2.dns.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // Without `headless`, endpoint names do not exist.
    let plain = router(".:53 {\n k8s_external example.org\n kubernetes cluster.local\n}\n");
    let m = ask(&plain, "db-0.db.prod.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // fallthrough: a name error goes on down the chain (nothing there: SERVFAIL).
    let fall = router(
        ".:53 {\n k8s_external example.org {\n  fallthrough\n }\n kubernetes cluster.local\n}\n",
    );
    let m = ask(&fall, "nope.prod.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}
