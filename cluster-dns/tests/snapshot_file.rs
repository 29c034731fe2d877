//! Snapshot mode's edge: conversion rules, file formats, broken files, the example's parity
//! with the core's fixture, and reloading.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_dns::snapshot_file::{SnapshotFileError, SnapshotFileSource, parse_snapshot};
use dns_core::cluster::testdata::example_cluster;
use dns_core::cluster::{Change, ServiceType, SnapshotStore};

fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/cluster.yaml"
    ))
    .unwrap()
}

#[test]
fn example_matches_the_core_fixture() {
    let parsed = parse_snapshot(&example(), "examples/cluster.yaml").unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    // The one object the example keeps on purpose with something missing.
    assert_eq!(
        parsed.warnings,
        [
            "ServiceImport prod/pending: ClusterSetIP import has no IPs (yet): its name answers NODATA"
        ]
    );
    assert_eq!(parsed.changes, example_cluster());
}

/// ServiceImports and their slices: what is kept, what is skipped, and why (R-MCS-BAD-INPUT).
#[test]
fn r_mcs_bad_input() {
    let text = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: multicluster.x-k8s.io/v1alpha1, kind: ServiceImport, metadata: {name: odd, namespace: ns}, spec: {type: Bogus, ports: []}}
- {apiVersion: multicluster.x-k8s.io/v1alpha1, kind: ServiceImport, metadata: {name: notype, namespace: ns}, spec: {ports: []}}
- {apiVersion: multicluster.x-k8s.io/v1alpha1, kind: ServiceImport, metadata: {name: badip, namespace: ns}, spec: {type: ClusterSetIP, ips: [nonsense], ports: []}}
- {apiVersion: multicluster.x-k8s.io/v1alpha1, kind: ServiceImport, metadata: {name: clash, namespace: ns}, spec: {type: ClusterSetIP, ips: [198.18.5.9], ports: [{name: http, port: 80}, {name: http, port: 8080, protocol: TCP}, {name: http, port: 80, protocol: UDP}]}}
- {apiVersion: multicluster.x-k8s.io/v1alpha1, kind: ServiceImport, metadata: {name: hl, namespace: ns}, spec: {type: Headless, ips: [198.18.5.10], ports: []}}
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: nocluster, namespace: ns, labels: {multicluster.kubernetes.io/service-name: hl}}, addressType: IPv4, endpoints: []}
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: dotted, namespace: ns, labels: {multicluster.kubernetes.io/service-name: hl, multicluster.kubernetes.io/source-cluster: a.b}}, addressType: IPv4, endpoints: []}
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: both, namespace: ns, labels: {kubernetes.io/service-name: svc, multicluster.kubernetes.io/service-name: hl, multicluster.kubernetes.io/source-cluster: east}}, addressType: IPv4, endpoints: [{addresses: [198.19.5.5]}]}
"#;
    let parsed = parse_snapshot(text, "f").unwrap();
    let skipped: Vec<String> = parsed.skipped.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        skipped,
        [
            "ServiceImport ns/odd: unknown ServiceImport type \"Bogus\" (ClusterSetIP or Headless)",
            "ServiceImport ns/notype: unknown ServiceImport type \"\" (ClusterSetIP or Headless)",
            "ServiceImport ns/badip: invalid cluster IP \"nonsense\"",
            "EndpointSlice ns/nocluster: label multicluster.kubernetes.io/source-cluster is missing or not a DNS label: its endpoints could not be named",
            "EndpointSlice ns/dotted: label multicluster.kubernetes.io/source-cluster is missing or not a DNS label: its endpoints could not be named",
        ]
    );
    assert_eq!(
        parsed.warnings,
        [
            "ServiceImport ns/clash: ports conflict: \"http\"/tcp is 80 and 8080; keeping 80",
            "ServiceImport ns/hl: Headless import lists IPs; they are ignored",
        ]
    );
    let kinds: Vec<&str> = parsed
        .changes
        .iter()
        .map(|c| match c {
            Change::UpsertServiceImport(i) => {
                if i.name == "clash" {
                    assert_eq!(i.ports.len(), 2, "{:?}", i.ports);
                }
                "import"
            }
            Change::UpsertEndpointSlice(_) => "slice",
            Change::UpsertImportSlice(s) => {
                assert_eq!(
                    (s.service_name.as_str(), s.cluster_id.as_str()),
                    ("hl", "east")
                );
                "import slice"
            }
            other => panic!("{other:?}"),
        })
        .collect();
    // A slice labelled for both a Service and an import counts for both.
    assert_eq!(kinds, ["import", "import", "slice", "import slice"]);
}

#[test]
fn formats_list_multidoc_json() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {clusterIP: 198.18.0.5, ports: [{port: 80}]}\n";
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n";
    let multi = format!("{svc}---\n{ns}---\n");
    assert_eq!(parse_snapshot(&multi, "f").unwrap().changes.len(), 2);
    let list = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: ns}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: other}}\n";
    assert_eq!(parse_snapshot(list, "f").unwrap().changes.len(), 2);
    let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"ns"},"spec":{"type":"ExternalName","externalName":"example.org."}}]}"#;
    let parsed = parse_snapshot(json, "f").unwrap();
    match &parsed.changes[0] {
        Change::UpsertService(s) => {
            assert_eq!(s.service_type, ServiceType::ExternalName);
            assert_eq!(s.external_name.as_deref(), Some("example.org"));
        }
        other => panic!("{other:?}"),
    }
    assert!(parse_snapshot("", "f").unwrap().changes.is_empty());
}

#[test]
fn invalid_objects_are_skipped_and_named() {
    let text = r#"
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: weird, namespace: ns}, spec: {type: Bogus}}
- {apiVersion: v1, kind: Service, metadata: {name: badip, namespace: ns}, spec: {clusterIP: 999.1.1.1}}
- {apiVersion: v1, kind: Service, metadata: {name: badproto, namespace: ns}, spec: {clusterIP: 198.18.0.9, ports: [{port: 80, protocol: QUIC}]}}
- {apiVersion: v1, kind: Service, metadata: {name: noext, namespace: ns}, spec: {type: ExternalName}}
- {apiVersion: v1, kind: Service, metadata: {name: nonamespace}, spec: {clusterIP: 198.18.0.9}}
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: orphan, namespace: ns}, addressType: IPv4, endpoints: []}
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: odd, namespace: ns, labels: {kubernetes.io/service-name: a}}, addressType: Carrier, endpoints: []}
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: mixed, namespace: ns, labels: {kubernetes.io/service-name: a}}, addressType: IPv4, endpoints: [{addresses: [198.19.0.1, "2001:db8::1", nonsense]}]}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: cm, namespace: ns}}
- {apiVersion: v1, kind: Service, metadata: {name: good, namespace: ns}, spec: {clusterIP: 198.18.0.7}}
"#;
    let parsed = parse_snapshot(text, "f").unwrap();
    let skipped: Vec<String> = parsed.skipped.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        skipped,
        [
            "Service ns/weird: unknown service type \"Bogus\"",
            "Service ns/badip: invalid cluster IP \"999.1.1.1\"",
            "Service ns/badproto: unknown protocol \"QUIC\"",
            "Service ns/noext: ExternalName service without spec.externalName",
            "Service nonamespace: metadata.namespace is missing",
            "EndpointSlice ns/orphan: label kubernetes.io/service-name is missing",
            "EndpointSlice ns/odd: unknown address type \"Carrier\"",
            "ConfigMap ns/cm: unsupported kind v1/ConfigMap",
        ]
    );
    // The slice with one good address is kept; the bad ones are warned about.
    assert_eq!(parsed.changes.len(), 2);
    assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("EndpointSlice ns/mixed: address \"2001:db8::1\""));
}

#[test]
fn broken_yaml_says_where() {
    let err = parse_snapshot(
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: [\n",
        "cluster.yaml",
    )
    .unwrap_err();
    match &err {
        SnapshotFileError::Syntax { file, line, .. } => {
            assert_eq!(file, "cluster.yaml");
            assert!(*line >= 4, "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().starts_with("cluster.yaml:"));
    assert!(matches!(
        parse_snapshot("- just\n- a list\n", "f"),
        Err(SnapshotFileError::Invalid { .. })
    ));
}

/// The Service prod/web with cluster IP `ip`, as a snapshot file.
fn web_service(ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: prod}}\nspec: {{clusterIP: {ip}}}\n"
    )
}

/// Waits up to 2 s for prod/web's cluster IP in `store` to be `want`.
async fn wait_for_web_ip(store: &SnapshotStore, want: Option<&str>) {
    for _ in 0..200 {
        if web_ip(store).as_deref() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("state never became {want:?}, is {:?}", web_ip(store));
}

/// prod/web's cluster IP in what `store` publishes.
fn web_ip(store: &SnapshotStore) -> Option<String> {
    store
        .load()
        .service("prod", "web")
        .map(|e| e.service.cluster_ips[0].to_string())
}

#[tokio::test]
async fn reload_follows_edits_and_keeps_the_last_good_state() {
    let dir = std::env::temp_dir().join(format!("signpost-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cluster.yaml");
    std::fs::write(&path, web_service("198.18.0.20")).unwrap();

    let store = Arc::new(SnapshotStore::new());
    const MAX: u64 = 4096;
    let mut source = SnapshotFileSource::new(path.clone(), store.clone()).max_bytes(MAX);
    source.load_initial().unwrap();
    let stats = source.stats.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(source.watch(Duration::from_millis(20), async {
        let _ = rx.await;
    }));
    wait_for_web_ip(&store, Some("198.18.0.20")).await;
    std::fs::write(&path, web_service("198.18.0.21")).unwrap();
    wait_for_web_ip(&store, Some("198.18.0.21")).await;
    // A broken edit: the last good state stays and the failure is counted.
    std::fs::write(&path, "apiVersion: v1\nkind: [broken\n").unwrap();
    for _ in 0..200 {
        if stats.failures.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.failures.load(Ordering::Relaxed), 1);
    assert_eq!(web_ip(&store).as_deref(), Some("198.18.0.21"));
    // Truncated (as `kubectl ... > file` does before writing): not an empty cluster.
    std::fs::write(&path, "").unwrap();
    for _ in 0..200 {
        if stats.failures.load(Ordering::Relaxed) > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.failures.load(Ordering::Relaxed), 2);
    assert_eq!(web_ip(&store).as_deref(), Some("198.18.0.21"));
    // Replaced atomically (write elsewhere, rename over): picked up too.
    let tmp = dir.join("cluster.yaml.tmp");
    std::fs::write(&tmp, web_service("198.18.0.22")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    wait_for_web_ip(&store, Some("198.18.0.22")).await;
    let failed = |n: u64| {
        let stats = stats.clone();
        async move {
            for _ in 0..200 {
                if stats.failures.load(Ordering::Relaxed) >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("failures stayed below {n}");
        }
    };
    // Deleted: the last good state stays; written again: picked up.
    std::fs::remove_file(&path).unwrap();
    failed(3).await;
    assert_eq!(web_ip(&store).as_deref(), Some("198.18.0.22"));
    std::fs::write(&path, web_service("198.18.0.23")).unwrap();
    wait_for_web_ip(&store, Some("198.18.0.23")).await;
    // Larger than the limit (a valid file, padded with a comment): not read, counted, the
    // last good state stays.
    use dns_core::server::limits::{Limit, count};
    let before = count(Limit::SnapshotFileSize);
    let padded = format!(
        "{}#{}\n",
        web_service("198.18.0.24"),
        "x".repeat(MAX as usize)
    );
    std::fs::write(&path, padded).unwrap();
    failed(4).await;
    assert_eq!(web_ip(&store).as_deref(), Some("198.18.0.23"));
    assert!(count(Limit::SnapshotFileSize) > before);
    let _ = tx.send(());
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What k8s_external answers: `spec.externalIPs`, then the load balancer's ingress IPs (an
/// ingress by hostname only, or an address that does not parse, is left out; repeats once).
#[test]
fn external_ips_and_load_balancer_ingress() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {type: LoadBalancer, clusterIP: 198.18.0.5, externalIPs: [198.19.200.1, nonsense], ports: [{port: 80}]}\nstatus: {loadBalancer: {ingress: [{ip: 2001:db8:ff::1}, {hostname: lb.example.com}, {ip: 198.19.200.1}]}}\n";
    let parsed = parse_snapshot(svc, "f").unwrap();
    match &parsed.changes[0] {
        Change::UpsertService(s) => assert_eq!(
            s.external_ips,
            [
                "198.19.200.1".parse::<std::net::IpAddr>().unwrap(),
                "2001:db8:ff::1".parse().unwrap()
            ]
        ),
        other => panic!("{other:?}"),
    }
}

/// A JSON file (`kubectl get -o json`) is read by the JSON parser, as a stream: the same
/// changes as the same objects in YAML, and a syntax error names its line.
#[test]
fn json_reads_as_yaml_does() {
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "ns",
    "managedFields": [{"manager": "kubectl"}]},
   "spec": {"clusterIP": "198.18.0.5", "ports": [{"name": "http", "port": 80}]}},
  {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
   "metadata": {"name": "a-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "a"}},
   "addressType": "IPv4", "endpoints": [{"addresses": ["198.19.0.1", "nonsense"]}]},
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"}}
]}"#;
    let yaml = "apiVersion: v1\nkind: List\nitems:\n\
- {apiVersion: v1, kind: Service, metadata: {name: a, namespace: ns}, spec: {clusterIP: 198.18.0.5, ports: [{name: http, port: 80}]}}\n\
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: a-1, namespace: ns, labels: {kubernetes.io/service-name: a}}, addressType: IPv4, endpoints: [{addresses: [198.19.0.1, nonsense]}]}\n\
- {apiVersion: v1, kind: ConfigMap, metadata: {name: cm, namespace: ns}}\n";
    let (from_json, from_yaml) = (
        parse_snapshot(json, "f").unwrap(),
        parse_snapshot(yaml, "f").unwrap(),
    );
    assert_eq!(from_json.changes, from_yaml.changes);
    assert_eq!(from_json.changes.len(), 2);
    assert_eq!(from_json.warnings, from_yaml.warnings);
    let skipped = |p: &cluster_dns::snapshot_file::Parsed| -> Vec<String> {
        p.skipped.iter().map(|s| s.to_string()).collect()
    };
    assert_eq!(skipped(&from_json), skipped(&from_yaml));

    let err = parse_snapshot(
        "{\"kind\": \"List\",\n \"items\": [\n {\"kind\": }]}",
        "c.json",
    )
    .unwrap_err();
    match &err {
        SnapshotFileError::Syntax { file, line, .. } => {
            assert_eq!((file.as_str(), *line), ("c.json", 3), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        parse_snapshot("{\"kind\": \"List\", \"items\": []} trailing", "f"),
        Err(SnapshotFileError::Syntax { .. })
    ));
}

/// A file whose modification time and size have not changed is not read again: its content
/// is only looked at once either moves (reading it every poll read the whole cluster state
/// every second). The test rewrites the file with another address of the same length and
/// puts its modification time back; only a later touch reloads it.
#[tokio::test]
async fn an_unchanged_file_is_not_read_again() {
    let dir = std::env::temp_dir().join(format!("signpost-stat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cluster.yaml");
    std::fs::write(&path, web_service("198.18.0.20")).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let store = Arc::new(SnapshotStore::new());
    let mut source = SnapshotFileSource::new(path.clone(), store.clone());
    source.load_initial().unwrap();
    let stats = source.stats.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(source.watch(Duration::from_millis(10), async {
        let _ = rx.await;
    }));

    std::fs::write(&path, web_service("198.18.0.29")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(web_ip(&store).as_deref(), Some("198.18.0.20"));
    assert_eq!(stats.loads.load(Ordering::Relaxed), 1);

    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified + Duration::from_secs(1))
        .unwrap();
    wait_for_web_ip(&store, Some("198.18.0.29")).await;
    assert_eq!(stats.loads.load(Ordering::Relaxed), 2);
    let _ = tx.send(());
    task.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
