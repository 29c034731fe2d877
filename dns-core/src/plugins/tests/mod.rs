//! Plugin setup table tests (every option and error location) and the chain's routing.

mod autopath;
mod bind;
mod cache;
mod check;
mod errors;
mod fallthrough;
mod file;
mod forward;
mod hosts;
mod k8s_external;
mod loadbalance;
mod memo;
mod metadata;
mod observability;
mod query_policy;
mod reload;
mod rewrite;
mod server_info;
mod template;
mod transfer;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::cluster::SnapshotStore;
use crate::cluster::records::PodMode;
use crate::cluster::testdata::example_cluster;
use crate::corefile::parse_str;
use crate::plugin::Router;
use crate::plugin::build::Dependencies;
use crate::plugins::build;
use crate::wire::{Handler, RequestInfo, Transport};

fn no_env(_: &str) -> Option<String> {
    None
}

fn kubernetes(block: &str) -> Result<super::kubernetes::KubernetesConfig, String> {
    let src = format!("cluster.local:53 in-addr.arpa:53 {{\n  kubernetes {block}\n}}\n");
    let c = parse_str(&src, "Corefile", &no_env).map_err(|e| e.to_string())?;
    let zones: Vec<Name> = c.blocks[0].keys.iter().map(|k| k.zone.clone()).collect();
    super::kubernetes::parse(&c.blocks[0].directives[0], &zones).map_err(|e| e.to_string())
}

#[test]
fn kubernetes_defaults() {
    let k = kubernetes("").unwrap();
    assert_eq!(
        k.records
            .zones
            .iter()
            .map(|z| z.to_string())
            .collect::<Vec<_>>(),
        ["cluster.local.", "in-addr.arpa."]
    );
    assert_eq!(k.records.ttl, 5);
    assert_eq!(k.records.pods, PodMode::Disabled);
    assert!(
        !k.fallthrough
            .through(&Name::from_ascii("x.cluster.local.").unwrap())
    );
    assert_eq!(k.startup_timeout, Duration::from_secs(5));
}

#[test]
fn kubernetes_every_option() {
    let k = kubernetes(
        "cluster.local {\n endpoint https://198.18.0.1:6443\n tls cert.pem key.pem ca.pem\n kubeconfig /k.conf ctx\n \
         namespaces default prod\n labels app=web,tier!=db\n pods verified\n endpoint_pod_names\n \
         ttl 30\n noendpoints\n fallthrough in-addr.arpa\n ignore empty_service\n startup_timeout 10s\n apiserver_qps 50\n \
         apiserver_burst 100\n apiserver_max_inflight 20\n }",
    )
    .unwrap();
    assert_eq!(k.records.zones.len(), 1);
    assert_eq!(k.endpoint.as_deref(), Some("https://198.18.0.1:6443"));
    assert!(k.tls.is_some());
    assert_eq!(
        k.kubeconfig.as_ref().and_then(|(_, c)| c.as_deref()),
        Some("ctx")
    );
    assert_eq!(
        k.records.namespaces.iter().cloned().collect::<Vec<_>>(),
        ["default", "prod"]
    );
    assert_eq!(
        k.labels.as_ref().map(|s| s.as_str()),
        Some("app=web,tier!=db")
    );
    assert_eq!(k.records.pods, PodMode::Verified);
    assert!(
        k.records.endpoint_pod_names && k.records.noendpoints && k.records.ignore_empty_service
    );
    assert_eq!(k.records.ttl, 30);
    assert!(
        k.fallthrough
            .through(&Name::from_ascii("1.0.18.198.in-addr.arpa.").unwrap())
    );
    assert!(
        !k.fallthrough
            .through(&Name::from_ascii("x.cluster.local.").unwrap())
    );
    assert_eq!(k.startup_timeout, Duration::from_secs(10));
    assert_eq!(
        (k.apiserver_qps, k.apiserver_burst, k.apiserver_max_inflight),
        (Some(50.0), Some(100), Some(20))
    );
}

/// `multicluster ZONES...` as CoreDNS takes it: each zone must be one of the plugin's zones.
#[test]
fn kubernetes_multicluster() {
    let parse = |src: &str| {
        let c = parse_str(src, "Corefile", &no_env).map_err(|e| e.to_string())?;
        let zones: Vec<Name> = c.blocks[0].keys.iter().map(|k| k.zone.clone()).collect();
        super::kubernetes::parse(&c.blocks[0].directives[0], &zones).map_err(|e| e.to_string())
    };
    let k = parse(
        ".:53 {\n kubernetes cluster.local clusterset.local {\n  multicluster clusterset.local\n }\n}\n",
    )
    .unwrap();
    assert_eq!(
        k.records.multicluster_zones,
        [Name::from_ascii("clusterset.local.").unwrap()]
    );
    let err =
        parse(".:53 {\n kubernetes cluster.local {\n  multicluster clusterset.local\n }\n}\n")
            .unwrap_err();
    assert!(
        err.starts_with(
            "Corefile:3:16: kubernetes: is not authoritative for the multicluster zone clusterset.local. (authoritative zones: cluster.local.)"
        ),
        "{err}"
    );
    let none = parse(".:53 {\n kubernetes cluster.local {\n  multicluster\n }\n}\n").unwrap();
    assert!(none.records.multicluster_zones.is_empty());
}

/// `zonal` as CoreDNS takes it: no arguments, and not with `noendpoints` (its names are
/// answered from endpoints).
#[test]
fn kubernetes_zonal() {
    assert!(!kubernetes("cluster.local").unwrap().records.zonal);
    let k = kubernetes("cluster.local {\n zonal\n }").unwrap();
    assert!(k.records.zonal);
    let cases = [
        (
            "cluster.local {\n zonal pin\n }",
            "Corefile:3:2: kubernetes: zonal needs exactly 0 arguments",
        ),
        (
            "cluster.local {\n zonal\n noendpoints\n }",
            "Corefile:2:3: kubernetes: zonal requires the endpoint cache; remove noendpoints",
        ),
    ];
    for (src, want) in cases {
        let err = kubernetes(src).unwrap_err();
        assert!(err.starts_with(want), "{src}: {err}");
    }
}

#[test]
fn kubernetes_errors_name_the_line() {
    let cases = [
        (
            "{\n pods sometimes\n }",
            "Corefile:3:7: kubernetes: invalid pods mode \"sometimes\"",
        ),
        (
            "{\n ttl 3601\n }",
            "Corefile:3:6: kubernetes: ttl must be an integer from 0 to 3600, not \"3601\"",
        ),
        (
            "{\n ttl -1\n }",
            "Corefile:3:6: kubernetes: ttl must be an integer",
        ),
        (
            "{\n ttl\n }",
            "Corefile:3:2: kubernetes: ttl needs exactly argument",
        ),
        (
            "{\n frobnicate\n }",
            "Corefile:3:2: kubernetes: unknown property \"frobnicate\"",
        ),
        (
            "{\n upstream\n }",
            "Corefile:3:2: kubernetes: upstream was removed",
        ),
        (
            "{\n resyncperiod 30s\n }",
            "Corefile:3:2: kubernetes: resyncperiod was removed",
        ),
        (
            "{\n namespaces\n }",
            "Corefile:3:2: kubernetes: namespaces needs at least one namespace",
        ),
        (
            "{\n labels app in web\n }",
            "Corefile:3:2: kubernetes: invalid label selector \"app in web\"",
        ),
        (
            "{\n namespaces prod\n namespace_labels team=shop\n }",
            "Corefile:2:3: kubernetes: namespaces and namespace_labels cannot both be set",
        ),
        (
            "{\n ignore everything\n }",
            "Corefile:3:9: kubernetes: unknown ignore option",
        ),
        (
            "{\n startup_timeout soon\n }",
            "Corefile:3:18: kubernetes: invalid duration",
        ),
        (
            "{\n tls a b\n }",
            "Corefile:3:2: kubernetes: tls needs exactly 3 arguments",
        ),
        (
            "example.org",
            "Corefile:2:14: kubernetes: zone example.org. is not inside this server block's zones",
        ),
    ];
    for (block, want) in cases {
        let got = kubernetes(block).unwrap_err();
        assert!(got.starts_with(want), "{block:?}: {got}");
    }
}

#[test]
fn log_and_errors_setup() {
    let c = parse_str(
        ".:53 {\n log\n log example.org \"{name} {rcode}\" {\n  class denial error\n }\n errors {\n  consolidate 5m \".* i/o timeout$\" warning\n }\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let d = &c.blocks[0].directives;
    let plain = super::log::parse(&d[0]).unwrap();
    assert_eq!(plain.rules[0].format, super::log::COMMON_FORMAT);
    let custom = super::log::parse(&d[1]).unwrap();
    assert_eq!(custom.rules[0].format, "{name} {rcode}");
    assert!(
        custom.rules[0].classes.denial
            && custom.rules[0].classes.error
            && !custom.rules[0].classes.success
    );
    let errors = super::errors::parse(&d[2]).unwrap();
    assert_eq!(errors.consolidate[0].period, Duration::from_secs(300));
    assert_eq!(errors.consolidate[0].level, "warning");

    let bad = parse_str(
        ".:53 {\n log {\n  class sometimes\n }\n errors x\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    assert!(
        super::log::parse(&bad.blocks[0].directives[0])
            .unwrap_err()
            .to_string()
            .starts_with("Corefile:3:9: log: invalid class")
    );
    assert!(
        super::errors::parse(&bad.blocks[0].directives[1])
            .unwrap_err()
            .to_string()
            .starts_with("Corefile:5:2: errors:")
    );
}

#[test]
fn log_line_has_corefile_format() {
    let mut request = Message::new(4242, MessageType::Query, OpCode::Query);
    request.metadata.recursion_desired = true;
    request.queries.push(Query::query(
        Name::from_ascii("web.prod.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let mut response = crate::wire::reply_to(&request, ResponseCode::NoError);
    response.metadata.authoritative = true;
    let info = RequestInfo {
        src: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 44,
    };
    let line = super::log::render(
        super::log::COMMON_FORMAT,
        &request,
        &response,
        &info,
        Duration::from_micros(120),
    );
    assert_eq!(
        line,
        "127.0.0.1:40000 - 4242 \"A IN web.prod.svc.cluster.local. udp 44 false 512\" NOERROR qr,aa,rd 44 0.00012s"
    );
}

fn router(corefile: &str) -> Router {
    let store = Arc::new(SnapshotStore::new());
    store.replace(example_cluster(), 1);
    router_over(store, corefile)
}

/// The first listener's router of `corefile`, over `store`.
fn router_over(store: Arc<SnapshotStore>, corefile: &str) -> Router {
    let c = parse_str(corefile, "Corefile", &no_env).unwrap();
    build(&c, &Dependencies::new(store))
        .unwrap()
        .routers
        .remove(0)
}

/// The error building `corefile` gives, empty when it builds.
fn build_error(corefile: &str) -> String {
    let c = parse_str(corefile, "Corefile", &no_env).unwrap();
    let deps = Dependencies::new(Arc::new(SnapshotStore::new()));
    match build(&c, &deps) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

async fn ask(router: &Router, name: &str) -> Message {
    ask_as(router, "127.0.0.1", name, RecordType::A).await
}

/// `router`'s answer to `name`/`qtype` asked over UDP from `client`.
async fn ask_as(router: &Router, client: &str, name: &str, qtype: RecordType) -> Message {
    let mut request = Message::new(1, MessageType::Query, OpCode::Query);
    request
        .queries
        .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let info = RequestInfo {
        src: SocketAddr::new(client.parse().unwrap(), 40000),
        local: SocketAddr::from(([127, 0, 0, 1], 53)),
        transport: Transport::Udp,
        request_size: 0,
    };
    router.handle(&request, &info).await.0
}

/// The answer section as `owner TYPE data` lines.
fn render_answers(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

#[tokio::test]
async fn routing_by_zone() {
    let r = router(
        "cluster.local:53 {\n kubernetes\n}\nexample.internal:53 {\n kubernetes {\n  fallthrough\n }\n}\n",
    );
    assert_eq!(
        ask(&r, "web.prod.svc.cluster.local.").await.answers.len(),
        1
    );
    // No block serves the name: REFUSED.
    assert_eq!(
        ask(&r, "example.com.").await.metadata.response_code,
        ResponseCode::Refused
    );
    // NXDOMAIN without fallthrough is answered; with fallthrough and no next plugin, SERVFAIL.
    assert_eq!(
        ask(&r, "nope.prod.svc.cluster.local.")
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&r, "nope.prod.svc.example.internal.")
            .await
            .metadata
            .response_code,
        ResponseCode::ServFail
    );
    // The root block catches what no longer zone does; kubernetes passes names outside its zone.
    let r = router(".:53 {\n kubernetes cluster.local\n}\n");
    assert_eq!(
        ask(&r, "example.com.").await.metadata.response_code,
        ResponseCode::ServFail
    );
    assert!(
        ask(&r, "web.prod.svc.cluster.local.")
            .await
            .metadata
            .authoritative
    );
}

#[test]
fn build_rejects_duplicates() {
    let store = Arc::new(SnapshotStore::new());
    let deps = Dependencies::new(store);
    let c = parse_str(
        "cluster.local:53 {\n kubernetes\n}\ncluster.local:53 {\n log\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    assert!(
        build(&c, &deps)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("already served")
    );
    let c = parse_str(".:53 {\n kubernetes\n kubernetes\n}\n", "Corefile", &no_env).unwrap();
    assert_eq!(
        build(&c, &deps)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
        "Corefile:3:2: plugin \"kubernetes\" appears twice in one server block"
    );
    let c = parse_str(
        "cluster.local:53 {\n kubernetes\n}\ncluster.local:5353 {\n kubernetes\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    assert_eq!(build(&c, &deps).unwrap().routers.len(), 2);
}

/// R-NOT-SYNCED: before the first full list, names that exist answer; a name error is SERVFAIL
/// (the name may not have arrived yet), unless fallthrough passes it on.
#[tokio::test]
async fn r_not_synced_name_errors_are_servfail() {
    let store = Arc::new(SnapshotStore::new());
    store.apply(example_cluster(), 1);
    assert!(!store.is_synced());
    let r = router_over(store.clone(), ".:53 {\n kubernetes cluster.local\n}\n");
    let found = ask(&r, "web.prod.svc.cluster.local.").await;
    assert_eq!(found.metadata.response_code, ResponseCode::NoError);
    assert_eq!(found.answers.len(), 1);
    let missing = ask(&r, "nope.prod.svc.cluster.local.").await;
    assert_eq!(missing.metadata.response_code, ResponseCode::ServFail);
    store.mark_synced();
    let missing = ask(&r, "nope.prod.svc.cluster.local.").await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
}

fn parse_ok(src: &str) -> crate::corefile::Corefile {
    parse_str(src, "Corefile", &no_env).unwrap()
}

use crate::plugin::registry::check_plugins;

#[test]
fn unknown_and_unsupported_plugins() {
    let c = parse_ok(".:53 {\n  errors\n  frobnicate on\n}\n");
    assert_eq!(
        check_plugins(&c, crate::plugins::REGISTRY)
            .unwrap_err()
            .to_string(),
        "Corefile:3:3: unknown plugin \"frobnicate\""
    );
    let c = parse_ok(".:53 {\n  forward . 198.18.0.53\n  dnstap /tmp/dnstap.sock\n}\n");
    assert_eq!(
        check_plugins(&c, crate::plugins::REGISTRY)
            .unwrap_err()
            .to_string(),
        "Corefile:3:3: plugin \"dnstap\" is not supported yet by Signpost"
    );
    let c = parse_ok(".:53 {\n  kubernetes\n  errors\n  log\n}\n");
    assert!(check_plugins(&c, crate::plugins::REGISTRY).is_ok());
    // The old out-of-tree plugin's directive points at the kubernetes option.
    let c = parse_ok(".:53 {\n  kubernetes\n  multicluster clusterset.local\n}\n");
    assert_eq!(
        check_plugins(&c, crate::plugins::REGISTRY)
            .unwrap_err()
            .to_string(),
        "Corefile:3:3: multicluster is an option of the kubernetes plugin, as in CoreDNS: kubernetes cluster.local clusterset.local { multicluster clusterset.local }"
    );
}
