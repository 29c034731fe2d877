//! deploy/cluster-dns against the real API server: every manifest passes a server-side dry-run
//! apply, and cluster-dns running with the ServiceAccount's own token syncs and answers, while
//! that account can do nothing beyond what the watch cache needs.

use std::collections::BTreeSet;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::Value;
use signpost_tests::manifests::apply;
use signpost_tests::{ClusterDns, ControlPlane, free_port};

const SERVICE_ACCOUNT: &str = "system:serviceaccount:kube-system:cluster-dns";

fn manifests() -> Vec<Value> {
    signpost_tests::manifests::manifests("deploy/cluster-dns")
}

async fn allowed(client: &kube::Client, verb: &str, group: &str, resource: &str) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(SERVICE_ACCOUNT.into()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:kube-system".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviewed = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview");
    reviewed.status.is_some_and(|s| s.allowed)
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_apply_and_the_service_account_is_enough_and_no_more() {
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let mut objects = manifests();
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(kind), "deploy/cluster-dns has no {kind}");
    }
    for object in &mut objects {
        if object["kind"] == "Service" {
            // The manifest keeps the usual kube-dns address; the test cluster's range is
            // 198.18.0.0/16.
            object["spec"]["clusterIP"] = Value::from("198.18.0.10");
        }
    }
    for object in &objects {
        apply(&client, object.clone(), true).await;
    }

    // The Deployment asks for what an operator expects of a cluster DNS pod.
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["add"],
        serde_json::json!(["NET_BIND_SERVICE"])
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], 8080);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], 8181);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert!(pod["affinity"]["podAntiAffinity"].is_object());

    // Really create the identity and its RBAC, then run cluster-dns with the account's token.
    for object in objects.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("ServiceAccount" | "ClusterRole" | "ClusterRoleBinding")
        )
    }) {
        apply(&client, object.clone(), false).await;
    }
    let token = Api::<ServiceAccount>::namespaced(client.clone(), "kube-system")
        .create_token_request(
            "cluster-dns",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(3600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("a token for the ServiceAccount")
        .status
        .expect("token status")
        .token;
    let kubeconfig = cp.kubeconfig_for_token("cluster-dns", &token);

    let configmap = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("ConfigMap");
    let corefile = configmap["data"]["Corefile"]
        .as_str()
        .expect("Corefile")
        .to_string();
    let corefile = corefile
        .replace(".:53", ".:{PORT}")
        .replace("health {", &format!("health 127.0.0.1:{} {{", free_port()))
        .replace(
            "    ready\n",
            &format!("    ready 127.0.0.1:{}\n", free_port()),
        )
        .replace(
            "prometheus :9153",
            &format!("prometheus 127.0.0.1:{}", free_port()),
        )
        // No upstream here: nothing leaves loopback.
        .replace(
            "forward . /etc/resolv.conf",
            &format!("forward . 127.0.0.1:{}", free_port()),
        )
        // With Multi-Cluster Services on, so the account must read ServiceImports too.
        .replace(
            "kubernetes cluster.local in-addr.arpa ip6.arpa {",
            "kubernetes cluster.local clusterset.local in-addr.arpa ip6.arpa {\n            multicluster clusterset.local",
        );
    assert!(corefile.contains("multicluster"), "{corefile}");
    signpost_tests::mcs::install_crds(&client).await;
    let kubeconfig_text = kubeconfig.display().to_string();
    let dns = ClusterDns::launch(&corefile, None, &[("KUBECONFIG", kubeconfig_text.as_str())]);
    let r = dns.dig_until(
        &["kubernetes.default.svc.cluster.local", "A"],
        std::time::Duration::from_secs(30),
        |r| r.answers() == ["A 198.18.0.1"],
    );
    assert_eq!(r.status.as_deref(), Some("NOERROR"));
    let r = dns.dig(&["dns-version.clusterset.local", "TXT"]);
    assert_eq!(r.answers(), ["TXT \"1.0.0\""], "{}", r.raw);
    let log = dns.log();
    assert!(log.contains("cluster cache synced"), "{log}");
    assert!(!log.to_lowercase().contains("forbidden"), "{log}");

    // Enough: exactly what the watch cache lists and watches for this Corefile.
    for (group, resource) in [
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "namespaces"),
        ("multicluster.x-k8s.io", "serviceimports"),
    ] {
        for verb in ["list", "watch"] {
            assert!(
                allowed(&client, verb, group, resource).await,
                "{verb} {resource} must be allowed"
            );
        }
    }
    // No more: no writes, no secrets, no pods (only `pods verified` needs them), no get.
    for (verb, group, resource) in [
        ("get", "", "secrets"),
        ("list", "", "secrets"),
        ("list", "", "pods"),
        ("list", "", "endpoints"),
        ("get", "", "services"),
        ("create", "", "services"),
        ("update", "discovery.k8s.io", "endpointslices"),
        ("delete", "", "namespaces"),
        ("list", "", "configmaps"),
        ("get", "multicluster.x-k8s.io", "serviceimports"),
        ("create", "multicluster.x-k8s.io", "serviceimports"),
        ("list", "multicluster.x-k8s.io", "serviceexports"),
    ] {
        assert!(
            !allowed(&client, verb, group, resource).await,
            "{verb} {resource} must be denied"
        );
    }
}
