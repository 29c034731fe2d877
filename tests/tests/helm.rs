//! The Helm chart (deploy/helm/signpost) renders the same objects as the kustomizations:
//! `helm template` with the chart's defaults against `kubectl kustomize deploy/cluster-dns` and
//! `deploy/nodelocal`, object by object; and the coredns chart's keys change what they say.
//! Needs `SIGNPOST_HELM_BIN` (scripts/helm/build) and `SIGNPOST_NODE_BIN` (kubectl, from
//! scripts/node/build); scripts/test sets both.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;
use signpost_tests::workspace_root;

fn bin(var: &str, name: &str) -> PathBuf {
    let dir =
        std::env::var_os(var).unwrap_or_else(|| panic!("{var} is not set (scripts/test sets it)"));
    PathBuf::from(dir).join(name)
}

fn output(program: PathBuf, args: &[&str]) -> String {
    // helm keeps nothing of this run under $HOME.
    let home = std::env::temp_dir().join(format!("signpost-helm-{}", std::process::id()));
    let out = Command::new(&program)
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {}: {}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&home);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Multi-document YAML → objects keyed by kind/namespace/name.
fn objects(yaml: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v = Value::deserialize(doc).expect("YAML document");
        if v.is_null() {
            continue;
        }
        let key = format!(
            "{}/{}/{}",
            v["kind"].as_str().unwrap_or("?"),
            v["metadata"]["namespace"].as_str().unwrap_or(""),
            v["metadata"]["name"].as_str().unwrap_or("?")
        );
        assert!(out.insert(key.clone(), v).is_none(), "{key} twice");
    }
    out
}

fn kustomize() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for dir in ["deploy/cluster-dns", "deploy/nodelocal"] {
        all.extend(objects(&output(
            bin("SIGNPOST_NODE_BIN", "kubectl"),
            &["kustomize", dir],
        )));
    }
    all
}

fn helm(extra: &[&str]) -> BTreeMap<String, Value> {
    let mut args = vec![
        "template",
        "signpost",
        "deploy/helm/signpost",
        "--namespace",
        "kube-system",
    ];
    args.extend_from_slice(extra);
    objects(&output(bin("SIGNPOST_HELM_BIN", "helm"), &args))
}

#[test]
fn helm_template_renders_what_kustomize_renders() {
    let want = kustomize();
    let got = helm(&[]);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the chart and the kustomizations render different objects"
    );
    for (key, object) in &want {
        assert_eq!(
            &got[key],
            object,
            "{key}: helm\n{}\nkustomize\n{}",
            serde_json::to_string_pretty(&got[key]).unwrap(),
            serde_json::to_string_pretty(object).unwrap()
        );
    }
}

#[test]
fn the_coredns_chart_keys_change_what_they_say() {
    // A list is replaced whole, so `servers` comes in a values file.
    let servers =
        std::env::temp_dir().join(format!("signpost-helm-values-{}.yaml", std::process::id()));
    std::fs::write(
        &servers,
        "servers:\n  - zones:\n      - zone: cluster.local\n      - zone: in-addr.arpa\n    port: 1053\n    plugins:\n      - name: errors\n      - name: kubernetes\n        parameters: cluster.local in-addr.arpa\n  - zones:\n      - zone: .\n    port: 1053\n    plugins:\n      - name: forward\n        parameters: . /etc/resolv.conf\n",
    )
    .unwrap();
    let got = helm(&[
        "--set",
        "replicaCount=3",
        "--set",
        "service.clusterIP=198.18.0.10",
        "--set",
        "image.tag=test",
        "--set",
        "nodeSelector.pool=dns",
        "--set",
        "prometheus.service.enabled=false",
        "--values",
        &servers.display().to_string(),
    ]);
    let deployment = &got["Deployment/kube-system/cluster-dns"];
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["pool"], "dns");
    assert_eq!(
        pod["containers"][0]["image"],
        "ghcr.io/signpost-dns/signpost:test"
    );
    let service = &got["Service/kube-system/kube-dns"];
    assert_eq!(service["spec"]["clusterIP"], "198.18.0.10");
    assert_eq!(service["spec"]["ports"].as_array().unwrap().len(), 2);
    let ds = &got["DaemonSet/kube-system/node-local-dns"];
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "-localip=169.254.20.10,198.18.0.10"
    );
    let corefile = got["ConfigMap/kube-system/cluster-dns"]["data"]["Corefile"]
        .as_str()
        .unwrap();
    let _ = std::fs::remove_file(&servers);
    assert_eq!(
        corefile,
        "cluster.local:1053 in-addr.arpa:1053 {\n    errors\n    kubernetes cluster.local in-addr.arpa\n}\n\
         .:1053 {\n    forward . /etc/resolv.conf\n}\n"
    );
}
