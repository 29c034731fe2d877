use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::watch::{metrics::metrics, trigger_of};

fn slice(annotation: Option<&str>, managed_by: Option<&str>) -> EndpointSlice {
    let mut labels =
        BTreeMap::from([("kubernetes.io/service-name".to_string(), "web".to_string())]);
    if let Some(m) = managed_by {
        labels.insert("endpointslice.kubernetes.io/managed-by".into(), m.into());
    }
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some("prod".into()),
            name: Some("web-abc".into()),
            labels: Some(labels),
            annotations: annotation.map(|a| {
                BTreeMap::from([(
                    "endpoints.kubernetes.io/last-change-trigger-time".to_string(),
                    a.to_string(),
                )])
            }),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![],
        ports: None,
    }
}

#[test]
fn trigger_time_from_the_controller_annotation() {
    let t = trigger_of(&slice(
        Some("2026-11-25T12:00:00Z"),
        Some("endpointslice-controller.k8s.io"),
    ))
    .unwrap();
    assert_eq!(t.at, UNIX_EPOCH + Duration::from_secs(1_795_608_000));
    assert_eq!(t.service.to_string(), "prod/web");
    assert!(t.from_selector);

    let t = trigger_of(&slice(Some("2026-11-25T12:00:00.5Z"), Some("someone-else"))).unwrap();
    assert_eq!(t.at, UNIX_EPOCH + Duration::from_millis(1_795_608_000_500));
    assert!(!t.from_selector);
}

#[test]
fn no_or_broken_annotation_means_no_programming_sample() {
    assert!(trigger_of(&slice(None, None)).is_none());
    assert!(trigger_of(&slice(Some("yesterday"), None)).is_none());
}

#[test]
fn metric_definitions_are_valid() {
    // Registering twice in one process must not panic either (LazyLock).
    metrics().skipped.with_label_values(&["services"]).inc();
    metrics().skipped.with_label_values(&["services"]).inc();
    let names: Vec<String> = prometheus::gather()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n == "signpost_kubernetes_skipped_objects_total"),
        "{names:?}"
    );
}
