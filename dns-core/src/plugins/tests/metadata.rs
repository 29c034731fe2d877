//! metadata: what the kubernetes plugin publishes, and `log` and `rewrite` reading it.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::router;
use crate::plugin::metadata;
use crate::plugins::kubernetes::metadata::{NameParts, parse_parts, provide};
use crate::wire::{Handler, RequestInfo, Transport};

fn parts(labels: &[&str], zonal: bool) -> Result<NameParts, &'static str> {
    let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    parse_parts(&labels, zonal)
}

/// CoreDNS's parseRequest, label by label.
#[test]
fn kubernetes_name_parts() {
    let p =
        |port: &str, protocol: &str, endpoint: &str, service: &str, namespace: &str, kind: &str| {
            NameParts {
                port: port.into(),
                protocol: protocol.into(),
                endpoint: endpoint.into(),
                service: service.into(),
                namespace: namespace.into(),
                kind: kind.into(),
                zone: String::new(),
            }
        };
    let zone = |zone: &str| NameParts {
        zone: zone.into(),
        ..p("", "", "", "db", "prod", "svc")
    };
    let cases: [(&[&str], Result<NameParts, &str>); 9] = [
        (&[], Ok(NameParts::default())),
        (&["svc"], Ok(NameParts::default())),
        (&["prod", "svc"], Ok(p("", "", "", "", "prod", "svc"))),
        (
            &["web", "prod", "svc"],
            Ok(p("", "", "", "web", "prod", "svc")),
        ),
        (
            &["web-0", "web", "prod", "svc"],
            Ok(p("", "", "web-0", "web", "prod", "svc")),
        ),
        (
            &["_http", "_tcp", "web", "prod", "svc"],
            Ok(p("http", "tcp", "", "web", "prod", "svc")),
        ),
        // CoreDNS 1.15 has no endpoint-with-port form: three labels left are too many.
        (
            &["web-0", "_http", "_tcp", "web", "prod", "svc"],
            Err("invalid query name"),
        ),
        (
            &["a", "b", "c", "d", "web", "prod", "svc"],
            Err("invalid query name"),
        ),
        (&["web", "prod", "nodes"], Err("invalid query name")),
    ];
    for (labels, want) in cases {
        assert_eq!(parts(labels, false), want, "{labels:?}");
    }
    // With `zonal`: the zone of a zonal name, every label left of the directive (R-ZONAL).
    let zonal: [(&[&str], Result<NameParts, &str>); 7] = [
        (&["db", "prod", "svc"], Ok(zone(""))),
        (
            &["zone-a", "pin", "_zone", "db", "prod", "svc"],
            Ok(zone("zone-a")),
        ),
        (
            &["corp", "example", "prefer", "_zone", "db", "prod", "svc"],
            Ok(zone("corp.example")),
        ),
        (
            &["pin", "_zone", "db", "prod", "svc"],
            Ok(NameParts {
                port: "pin".into(),
                protocol: "zone".into(),
                ..zone("")
            }),
        ),
        (
            &["zone-a", "near", "_zone", "db", "prod", "svc"],
            Err("invalid query name"),
        ),
        (
            &["zone-a", "pin", "zone", "db", "prod", "svc"],
            Err("invalid query name"),
        ),
        (
            &["zone-a", "pin", "_zone", "db", "prod", "nodes"],
            Err("invalid query name"),
        ),
    ];
    for (labels, want) in zonal {
        assert_eq!(parts(labels, true), want, "zonal {labels:?}");
    }
    assert_eq!(
        parts(&["zone-a", "pin", "_zone", "db", "prod", "svc"], false),
        Err("invalid query name")
    );
}

#[test]
fn kubernetes_publishes_the_name_and_the_client_pod() {
    let store = crate::cluster::SnapshotStore::new();
    store.replace(crate::cluster::testdata::example_cluster(), 1);
    let zones = [Name::from_ascii("cluster.local.").unwrap()];
    let qname = Name::from_ascii("_http._tcp.Web.prod.svc.cluster.local.").unwrap();
    let client = "198.19.1.1".parse().unwrap();
    let mut values = Vec::new();
    provide(
        &store.load(),
        &zones,
        true,
        false,
        &qname,
        client,
        &mut values,
    );
    let got: Vec<String> = values.iter().map(|(l, v)| format!("{l}={v}")).collect();
    assert_eq!(
        got,
        [
            "kubernetes/client-namespace=prod",
            "kubernetes/client-pod-name=web-6d4b9c7f5-abcde",
            "kubernetes/port-name=http",
            "kubernetes/protocol=tcp",
            "kubernetes/endpoint=",
            "kubernetes/service=web",
            "kubernetes/namespace=prod",
            "kubernetes/kind=svc",
        ]
    );
    // Without `pods verified`, no client pod; outside the zones, nothing about the name.
    let mut values = Vec::new();
    let outside = Name::from_ascii("example.test.").unwrap();
    provide(
        &store.load(),
        &zones,
        false,
        false,
        &outside,
        client,
        &mut values,
    );
    assert!(values.is_empty());
    // With `zonal`, `kubernetes/zone` too, after the endpoint as CoreDNS orders them.
    let mut values = Vec::new();
    let zonal = Name::from_ascii("zone-a.pin._zone.db.prod.svc.cluster.local.").unwrap();
    provide(
        &store.load(),
        &zones,
        false,
        true,
        &zonal,
        client,
        &mut values,
    );
    let got: Vec<String> = values.iter().map(|(l, v)| format!("{l}={v}")).collect();
    assert_eq!(
        got,
        [
            "kubernetes/port-name=",
            "kubernetes/protocol=",
            "kubernetes/endpoint=",
            "kubernetes/zone=zone-a",
            "kubernetes/service=db",
            "kubernetes/namespace=prod",
            "kubernetes/kind=svc",
        ]
    );
}

/// `log`'s `{/LABEL}` and `rewrite`'s `{LABEL}` see what `metadata` gathered; without it,
/// `-` and nothing.
#[tokio::test]
async fn log_and_rewrite_read_metadata() {
    let mut request = Message::new(1, MessageType::Query, OpCode::Query);
    request.queries.push(Query::query(
        Name::from_ascii("web.prod.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let response = crate::wire::reply_to(&request, ResponseCode::NoError);
    let info = RequestInfo {
        src: "198.18.1.2:4242".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    };
    let format = "{/kubernetes/namespace} {/kubernetes/service} {/forward/upstream}";
    let render = || crate::plugins::log::render(format, &request, &response, &info, Duration::ZERO);
    assert_eq!(render(), "- - -");
    let values = std::sync::Arc::new(vec![
        ("kubernetes/namespace".to_string(), "prod".to_string()),
        ("kubernetes/service".to_string(), "web".to_string()),
    ]);
    assert_eq!(metadata::sync_scope(values.clone(), render), "prod web -");

    let c = crate::corefile::parse_str(
        ".:53 {\n rewrite edns0 local set 0xffee {kubernetes/namespace}\n}\n",
        "Corefile",
        &super::no_env,
    )
    .unwrap();
    let rules = crate::plugins::rewrite::Rules(vec![
        crate::plugins::rewrite::parse(&c.blocks[0].directives[0]).unwrap(),
    ]);
    assert!(rules.apply_from(&request, &info).is_none());
    let applied = metadata::sync_scope(values, || rules.apply_from(&request, &info)).unwrap();
    let edns = applied.request.edns.unwrap();
    assert!(format!("{:?}", edns.options()).contains("[112, 114, 111, 100]"));

    // Through a chain: the block's metadata plugin gathers the kubernetes plugin's values.
    let r = router("cluster.local:53 {\n metadata\n kubernetes\n}\n");
    let answer = r.handle(&request, &info).await.0;
    assert_eq!(answer.answers.len(), 1);
}
