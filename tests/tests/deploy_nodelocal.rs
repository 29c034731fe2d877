//! deploy/nodelocal against the real API server: every manifest passes a server-side dry-run
//! apply, the DaemonSet asks for what a node-local-dns operator expects (host network, only
//! NET_ADMIN and NET_BIND_SERVICE, system-node-critical, the nodelocal and guard containers, a
//! surge update), and the ConfigMap's Corefile is node-local-dns's, as nodelocal reads it.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use signpost_tests::manifests::{apply, manifests};
use signpost_tests::{ControlPlane, workspace_root};

fn daemonset_pod(objects: &[Value]) -> &Value {
    let ds = objects
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .expect("DaemonSet");
    &ds["spec"]["template"]["spec"]
}

#[tokio::test(flavor = "multi_thread")]
async fn nodelocal_manifests_apply_and_ask_for_what_a_node_cache_needs() {
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let objects = manifests("deploy/nodelocal");
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in ["ServiceAccount", "ConfigMap", "DaemonSet", "Service"] {
        assert!(kinds.contains(kind), "deploy/nodelocal has no {kind}");
    }
    for object in &objects {
        apply(&client, object.clone(), true).await;
    }

    let upstream = objects
        .iter()
        .find(|o| o["kind"] == "Service")
        .expect("Service");
    assert_eq!(upstream["metadata"]["name"], "kube-dns-upstream");
    assert_eq!(upstream["spec"]["selector"], json!({"k8s-app": "kube-dns"}));

    let ds = objects.iter().find(|o| o["kind"] == "DaemonSet").unwrap();
    assert_eq!(
        ds["spec"]["updateStrategy"]["rollingUpdate"],
        json!({"maxSurge": 1, "maxUnavailable": 0})
    );
    let pod = daemonset_pod(&objects);
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "Default");
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    let containers = pod["containers"].as_array().expect("containers");
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["nodelocal", "guard"]);
    for c in containers {
        let caps = &c["securityContext"]["capabilities"];
        assert_eq!(caps["drop"], json!(["ALL"]), "{}", c["name"]);
        let added: BTreeSet<&str> = caps["add"]
            .as_array()
            .expect("capabilities.add")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            added.is_subset(&BTreeSet::from(["NET_ADMIN", "NET_BIND_SERVICE"])),
            "{added:?}"
        );
        assert_eq!(c["securityContext"]["privileged"], Value::Null);
    }
    let nodelocal = &containers[0];
    assert_eq!(
        nodelocal["livenessProbe"]["httpGet"]["host"],
        "169.254.20.10"
    );
    assert_eq!(nodelocal["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(nodelocal["livenessProbe"]["httpGet"]["port"], 8080);
    let args: Vec<&str> = nodelocal["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"-upstreamsvc=kube-dns-upstream"), "{args:?}");
    assert_eq!(containers[1]["args"][0], "guard");

    // The ConfigMap holds node-local-dns's Corefile: the example nodelocal is tested with.
    let configmap = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("ConfigMap");
    let example = std::fs::read_to_string(workspace_root().join("examples/nodelocal.Corefile"))
        .expect("examples/nodelocal.Corefile");
    let example: String = example
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        configmap["data"]["Corefile"].as_str(),
        Some(example.as_str())
    );
}
