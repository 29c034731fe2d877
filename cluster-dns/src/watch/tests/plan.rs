use std::path::PathBuf;
use std::time::Duration;

use dns_core::cluster::records::PodMode;
use dns_core::cluster::selector::Selector;
use dns_core::plugins::kubernetes::{KubernetesConfig, TlsFiles};

use crate::watch::plan::{ApiSource, Kind, PlanError, plan};

fn config(edit: impl FnOnce(&mut KubernetesConfig)) -> KubernetesConfig {
    let mut c = KubernetesConfig::default();
    edit(&mut c);
    c
}

fn multicluster_config() -> KubernetesConfig {
    let corefile = dns_core::corefile::parse_str(
        ".:53 {\n kubernetes cluster.local clusterset.local {\n  multicluster clusterset.local\n }\n}\n",
        "Corefile",
        &|_| None,
    )
    .unwrap();
    dns_core::plugins::kubernetes::configs(&corefile)
        .unwrap()
        .remove(0)
}

#[test]
fn no_kubernetes_directive_watches_nothing() {
    assert_eq!(plan(&[]), Ok(None));
}

#[test]
fn kinds_follow_the_options() {
    use Kind::{EndpointSlice, ImportSlice, Namespace, Pod, Service, ServiceImport};
    let cases: &[(&str, KubernetesConfig, &[Kind])] = &[
        (
            "defaults",
            config(|_| {}),
            &[Service, EndpointSlice, Namespace],
        ),
        (
            "pods verified watches pods",
            config(|c| c.records.pods = PodMode::Verified),
            &[Service, EndpointSlice, Namespace, Pod],
        ),
        (
            "pods insecure needs no pods",
            config(|c| c.records.pods = PodMode::Insecure),
            &[Service, EndpointSlice, Namespace],
        ),
        (
            "namespace_labels: namespaces are watched anyway",
            config(|c| c.records.namespace_labels = Some(Selector::parse("team=dns").unwrap())),
            &[Service, EndpointSlice, Namespace],
        ),
        (
            "endpoint_pod_names: slices carry the names",
            config(|c| c.records.endpoint_pod_names = true),
            &[Service, EndpointSlice, Namespace],
        ),
        (
            "multicluster watches ServiceImports and their slices",
            multicluster_config(),
            &[
                Service,
                EndpointSlice,
                Namespace,
                ServiceImport,
                ImportSlice,
            ],
        ),
    ];
    for (name, c, kinds) in cases {
        let p = plan(std::slice::from_ref(c)).unwrap().unwrap();
        assert_eq!(p.kinds, *kinds, "{name}");
    }
}

#[test]
fn sources_in_coredns_precedence() {
    let tls = TlsFiles {
        cert: "c.pem".into(),
        key: "k.pem".into(),
        ca: "ca.pem".into(),
    };
    let cases = [
        (
            "nothing: in-cluster or $KUBECONFIG",
            config(|_| {}),
            ApiSource::Infer,
        ),
        (
            "kubeconfig wins over endpoint",
            config(|c| {
                c.kubeconfig = Some((PathBuf::from("/k"), Some("ctx".into())));
                c.endpoint = Some("https://198.18.0.1".into());
            }),
            ApiSource::Kubeconfig {
                path: "/k".into(),
                context: Some("ctx".into()),
            },
        ),
        (
            "endpoint with tls",
            config(|c| {
                c.endpoint = Some("https://198.18.0.1:6443".into());
                c.tls = Some(tls.clone());
            }),
            ApiSource::Endpoint {
                url: "https://198.18.0.1:6443".into(),
                tls: Some(tls.clone()),
            },
        ),
    ];
    for (name, c, source) in cases {
        assert_eq!(plan(&[c]).unwrap().unwrap().source, source, "{name}");
    }
}

#[test]
fn blocks_share_one_cache_so_they_must_agree() {
    let a = config(|_| {});
    let other_api = config(|c| c.endpoint = Some("https://198.18.0.1".into()));
    let other_labels = config(|c| c.labels = Some(Selector::parse("app=x").unwrap()));
    assert!(matches!(
        plan(&[a.clone(), other_api]),
        Err(PlanError::Conflict { .. })
    ));
    assert_eq!(
        plan(&[a.clone(), other_labels]),
        Err(PlanError::Conflict { option: "labels" })
    );
    // Record options may differ: they are applied per block at answer time.
    let verified = config(|c| {
        c.records.pods = PodMode::Verified;
        c.startup_timeout = Duration::from_secs(9);
    });
    let p = plan(&[a, verified]).unwrap().unwrap();
    assert!(p.kinds.contains(&Kind::Pod));
    assert_eq!(
        p.startup_timeout,
        Duration::from_secs(9),
        "the longest wait"
    );
}

/// One client serves every block: the smallest limit any block gives applies.
#[test]
fn api_limits_take_the_smallest() {
    use crate::watch::ratelimit::ApiLimits;
    let none = plan(&[config(|_| {})]).unwrap().unwrap();
    assert_eq!(none.limits, ApiLimits::default());
    let a = config(|c| {
        c.apiserver_qps = Some(50.0);
        c.apiserver_max_inflight = Some(8);
    });
    let b = config(|c| {
        c.apiserver_qps = Some(20.0);
        c.apiserver_burst = Some(30);
    });
    let p = plan(&[a, b]).unwrap().unwrap();
    assert_eq!(
        p.limits,
        ApiLimits {
            qps: Some(20.0),
            burst: Some(30),
            max_inflight: Some(8),
        }
    );
}
