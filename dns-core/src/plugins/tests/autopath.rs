//! autopath: the search path rules, setup, and the one-round-trip walk through the chain.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::{no_env, render_answers};
use crate::cluster::SnapshotStore;
use crate::cluster::testdata::example_cluster;
use crate::corefile::parse_str;
use crate::plugin::Router;
use crate::plugin::build::Dependencies;
use crate::plugins::autopath::{base_name, kubernetes_search_path, search_domains};
use crate::plugins::build;

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn names(v: &[Name]) -> Vec<String> {
    v.iter().map(|n| n.to_string()).collect()
}

#[test]
fn kubernetes_search_path_is_the_pods_resolv_conf() {
    let path = kubernetes_search_path(
        "prod",
        &name("cluster.local."),
        &[name("corp.example.test.")],
    );
    assert_eq!(
        names(&path),
        [
            "prod.svc.cluster.local.",
            "svc.cluster.local.",
            "cluster.local.",
            "corp.example.test.",
            "."
        ]
    );
}

#[test]
fn base_name_keeps_the_clients_case() {
    let cases = [
        (
            "Web.prod.svc.cluster.local.",
            "prod.svc.cluster.local.",
            Some("Web."),
        ),
        (
            "a.b.prod.svc.cluster.local.",
            "prod.svc.cluster.local.",
            Some("a.b."),
        ),
        // A wildcard label counts as a label (hickory's num_labels leaves it out).
        (
            "*.prod.svc.cluster.local.",
            "prod.svc.cluster.local.",
            Some("*."),
        ),
        // The search domain itself, or a name outside it: no walk (CoreDNS's TrimZone error).
        ("prod.svc.cluster.local.", "prod.svc.cluster.local.", None),
        (
            "web.other.svc.cluster.local.",
            "prod.svc.cluster.local.",
            None,
        ),
    ];
    for (q, s, want) in cases {
        let got = base_name(&name(q), &name(s)).map(|n| n.to_string());
        assert_eq!(got.as_deref(), want, "{q}");
    }
}

#[test]
fn resolv_conf_search_domains() {
    let text = "nameserver 198.18.0.10\nsearch a.example.test b.example.test.\noptions ndots:5\n";
    assert_eq!(
        names(&search_domains(text)),
        ["a.example.test.", "b.example.test."]
    );
    assert!(search_domains("nameserver 198.18.0.10\n").is_empty());
    assert_eq!(
        names(&search_domains("search x.test\nsearch y.test\n")),
        ["y.test."]
    );
}

#[test]
fn setup_errors_name_the_line() {
    let cases = [
        (
            "cluster.local {\n autopath\n kubernetes\n}\n",
            "Corefile:2:2: autopath: autopath needs RESOLV-CONF",
        ),
        (
            "cluster.local {\n autopath @erratic\n kubernetes\n}\n",
            "Corefile:2:11: autopath: plugin \"erratic\" does not provide",
        ),
        (
            "cluster.local {\n autopath @kubernetes\n}\n",
            "Corefile:2:2: autopath: @kubernetes needs a kubernetes plugin",
        ),
        (
            "cluster.local {\n autopath /nonexistent/resolv.conf\n}\n",
            "Corefile:2:11: autopath: /nonexistent/resolv.conf:",
        ),
    ];
    for (src, want) in cases {
        let c = parse_str(src, "Corefile", &no_env).unwrap();
        let store = Arc::new(SnapshotStore::new());
        let err = build(&c, &Dependencies::new(store))
            .err()
            .expect(src)
            .to_string();
        assert!(err.starts_with(want), "{src}: {err}");
    }
}

fn router(pods: &str) -> Router {
    let store = Arc::new(SnapshotStore::new());
    store.replace(example_cluster(), 1);
    let src = format!(
        "cluster.local:53 {{\n kubernetes {{\n  pods {pods}\n }}\n autopath @kubernetes\n}}\n"
    );
    let c = parse_str(&src, "Corefile", &no_env).unwrap();
    let mut deps = Dependencies::new(store);
    deps.host_search = vec![name("corp.example.test.")];
    build(&c, &deps).unwrap().routers.remove(0)
}

async fn ask_from(router: &Router, client: &str, qname: &str) -> Message {
    super::ask_as(router, client, qname, RecordType::A).await
}

/// The web pod (198.19.1.1, namespace prod) looks up `kubernetes.default`: its resolver asks
/// `kubernetes.default.prod.svc.cluster.local` first; autopath answers the whole walk at once.
#[tokio::test]
async fn a_pods_search_walk_in_one_answer() {
    let r = router("verified");
    let m = ask_from(
        &r,
        "198.19.1.1",
        "kubernetes.default.prod.svc.cluster.local.",
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        render_answers(&m),
        [
            "kubernetes.default.prod.svc.cluster.local. CNAME kubernetes.default.svc.cluster.local.",
            "kubernetes.default.svc.cluster.local. A 198.18.0.1",
        ]
    );
    assert_eq!(
        m.queries[0].name().to_string(),
        "kubernetes.default.prod.svc.cluster.local."
    );

    // Found at the first candidate: no CNAME.
    let m = ask_from(&r, "198.19.1.1", "web.prod.svc.cluster.local.").await;
    assert_eq!(
        render_answers(&m),
        ["web.prod.svc.cluster.local. A 198.18.0.20"]
    );

    // Nothing along the path answers: the first answer as it was (NXDOMAIN), so the client
    // walks its search path itself.
    let m = ask_from(&r, "198.19.1.1", "nope.prod.svc.cluster.local.").await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        m.queries[0].name().to_string(),
        "nope.prod.svc.cluster.local."
    );
}

#[tokio::test]
async fn no_walk_for_unknown_clients_or_without_verified_pods() {
    let r = router("verified");
    let m = ask_from(
        &r,
        "198.19.99.99",
        "kubernetes.default.prod.svc.cluster.local.",
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let r = router("insecure");
    let m = ask_from(
        &r,
        "198.19.1.1",
        "kubernetes.default.prod.svc.cluster.local.",
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}
