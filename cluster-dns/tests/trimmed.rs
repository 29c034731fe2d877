//! `Trimmed<K>`: the API objects as the watches and snapshot files parse them.

use std::collections::BTreeMap;

use cluster_dns::trimmed::{TRIGGER_TIME, Trimmed};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

fn meta_json() -> serde_json::Value {
    json!({
        "name": "web",
        "namespace": "shop",
        "uid": "9d4a3c2e-0b1f-4c57-9a43-55a1d1c8e7f0",
        "resourceVersion": "4711",
        "labels": {"kubernetes.io/service-name": "web", "app": "web"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\"}",
            TRIGGER_TIME: "2026-12-01T10:00:00Z",
        },
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:ports": {}}}}],
        "ownerReferences": [{"kind": "Service", "name": "web", "uid": "x"}],
    })
}

fn expected_meta() -> ObjectMeta {
    ObjectMeta {
        name: Some("web".into()),
        namespace: Some("shop".into()),
        resource_version: Some("4711".into()),
        labels: Some(BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("kubernetes.io/service-name".to_string(), "web".to_string()),
        ])),
        annotations: Some(BTreeMap::from([(
            TRIGGER_TIME.to_string(),
            "2026-12-01T10:00:00Z".to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

#[test]
fn metadata_keeps_what_dns_and_the_watch_read() {
    let slice: Trimmed<discovery::EndpointSlice> = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": meta_json(), "addressType": "IPv4", "endpoints": [],
    }))
    .unwrap();
    assert_eq!(slice.metadata, expected_meta());
}

#[test]
fn annotations_without_the_trigger_time_are_dropped_whole() {
    for annotations in [
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
        json!({}),
        json!(null),
    ] {
        let ns: Trimmed<core::Namespace> = serde_json::from_value(json!({
            "metadata": {"name": "shop", "annotations": annotations},
        }))
        .unwrap();
        assert_eq!(ns.metadata.annotations, None, "{annotations}");
        assert_eq!(ns.metadata.name.as_deref(), Some("shop"));
    }
}

#[test]
fn a_slice_keeps_what_conversion_reads() {
    let slice: Trimmed<discovery::EndpointSlice> = serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "shop"},
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": ["198.18.0.10"],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "hostname": "web-0",
            "nodeName": "node-1",
            "zone": "zone-a",
            "hints": {"forZones": [{"name": "zone-a"}]},
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-0", "uid": "u"},
        }],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }))
    .unwrap();
    let full: discovery::EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "shop"},
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": ["198.18.0.10"],
            "conditions": {"ready": true, "serving": true, "terminating": false},
            "hostname": "web-0",
            "zone": "zone-a",
            "targetRef": {"name": "web-0"},
        }],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }))
    .unwrap();
    assert_eq!(slice.0, full);
}

#[test]
fn a_slice_without_its_required_fields_is_an_error() {
    for missing in ["addressType", "endpoints"] {
        let mut v = json!({"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": []});
        v.as_object_mut().unwrap().remove(missing);
        let e = serde_json::from_value::<Trimmed<discovery::EndpointSlice>>(v).unwrap_err();
        assert!(e.to_string().contains(missing), "{e}");
    }
}

#[test]
fn a_pod_keeps_its_ips_hostname_and_subdomain() {
    let pod: Trimmed<core::Pod> = serde_json::from_value(json!({
        "metadata": {"name": "web-0", "namespace": "shop"},
        "spec": {
            "hostname": "web-0", "subdomain": "web", "nodeName": "node-1",
            "containers": [{"name": "web", "image": "registry.example/web:1"}],
        },
        "status": {
            "phase": "Running", "podIP": "198.18.0.10",
            "podIPs": [{"ip": "198.18.0.10"}, {"ip": "2001:db8::10"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap();
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("web-0"), Some("web"))
    );
    assert!(spec.containers.is_empty() && spec.node_name.is_none());
    let status = pod.status.as_ref().unwrap();
    assert_eq!(status.pod_ip.as_deref(), Some("198.18.0.10"));
    assert_eq!(status.pod_ips.as_ref().map(Vec::len), Some(2));
    assert!(status.phase.is_none() && status.conditions.is_none());
}

#[test]
fn a_service_keeps_spec_and_status() {
    let spec = json!({"type": "ClusterIP", "clusterIP": "198.18.0.1",
        "clusterIPs": ["198.18.0.1"], "ports": [{"name": "http", "port": 80}]});
    let svc: Trimmed<core::Service> = serde_json::from_value(json!({
        "metadata": meta_json(), "spec": spec, "status": {"loadBalancer": {}},
    }))
    .unwrap();
    let full: core::Service = serde_json::from_value(json!({
        "metadata": {"name": "web"}, "spec": spec, "status": {"loadBalancer": {}},
    }))
    .unwrap();
    assert_eq!(svc.spec, full.spec);
    assert_eq!(svc.status, full.status);
    assert_eq!(svc.metadata, expected_meta());
}

#[test]
fn yaml_parses_the_same() {
    let ns: Trimmed<core::Namespace> = serde_yaml::from_str(
        "metadata:\n  name: shop\n  labels: {team: a}\n  managedFields: [{manager: x}]\n",
    )
    .unwrap();
    assert_eq!(ns.metadata.name.as_deref(), Some("shop"));
    assert_eq!(ns.metadata.labels.as_ref().map(BTreeMap::len), Some(1));
}
