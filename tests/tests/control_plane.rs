//! The test control plane itself: a real apiserver and EndpointSlice controller, the faults
//! tests inject, and no process left behind when a test binary ends.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use signpost_tests::{ControlPlane, TempDir};
use tokio::sync::RwLock;

/// The fault tests stop and restart the apiserver that every test in this binary uses: they
/// hold this lock for writing, the other tests for reading.
static FAULTS: RwLock<()> = RwLock::const_new(());

#[tokio::test]
async fn the_kubernetes_service_has_an_address_in_the_service_range() {
    let _shared = FAULTS.read().await;
    let cp = ControlPlane::shared();
    let services: Api<Service> = Api::namespaced(cp.client().await, "default");
    let kubernetes = services
        .get("kubernetes")
        .await
        .expect("kubernetes.default");
    let ip = kubernetes
        .spec
        .and_then(|s| s.cluster_ip)
        .unwrap_or_default();
    assert!(ip.starts_with("198.18."), "kubernetes.default has {ip}");
}

#[tokio::test]
async fn the_endpointslice_controller_publishes_a_pod_whose_status_the_test_wrote() {
    let _shared = FAULTS.read().await;
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let ns = cp.namespace("eps").await;
    cp.node("node-a").await;

    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ipFamilyPolicy": "RequireDualStack",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }))
    .expect("service");
    let service = services
        .create(&PostParams::default(), &service)
        .await
        .expect("create the service");
    let ips = service.spec.and_then(|s| s.cluster_ips).unwrap_or_default();
    assert!(
        ips.len() == 2 && ips[0].starts_with("198.18.") && ips[1].starts_with("2001:db8:1::"),
        "cluster IPs {ips:?}"
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-0", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-a",
            "automountServiceAccountToken": false,
            "containers": [{"name": "web", "image": "registry.invalid/web",
                            "ports": [{"name": "http", "containerPort": 8080}]}],
        },
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create the pod");
    let status = json!({"status": {
        "phase": "Running",
        "podIP": "198.19.0.10",
        "podIPs": [{"ip": "198.19.0.10"}, {"ip": "2001:db8:2::10"}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }});
    pods.patch_status("web-0", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("write the pod's status");

    let slices: Api<EndpointSlice> = Api::namespaced(client, &ns);
    let by_service = ListParams::default().labels("kubernetes.io/service-name=web");
    let want = [("IPv4", "198.19.0.10"), ("IPv6", "2001:db8:2::10")]
        .map(|(f, a)| (f.to_string(), a.to_string()));
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let list = slices.list(&by_service).await.expect("list slices");
        seen.clear();
        for slice in &list.items {
            for endpoint in &slice.endpoints {
                if endpoint.conditions.as_ref().and_then(|c| c.ready) == Some(true) {
                    for address in &endpoint.addresses {
                        seen.push((slice.address_type.clone(), address.clone()));
                    }
                }
            }
        }
        seen.sort();
        if seen == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("ready endpoints {seen:?}, want {want:?}");
}

#[tokio::test]
async fn the_apiserver_can_be_paused_killed_and_started_again() {
    let _exclusive = FAULTS.write().await;
    let cp = ControlPlane::shared();
    let ns = cp.namespace("faults").await;
    let namespaces: Api<Namespace> = Api::all(cp.client().await);

    cp.pause_apiserver();
    let paused = tokio::time::timeout(Duration::from_secs(2), namespaces.get(&ns)).await;
    cp.resume_apiserver();
    assert!(paused.is_err(), "a paused apiserver answered: {paused:?}");
    tokio::time::timeout(Duration::from_secs(30), namespaces.get(&ns))
        .await
        .expect("an answer after resume")
        .expect("the namespace after resume");

    cp.kill_apiserver();
    let killed = tokio::time::timeout(Duration::from_secs(10), namespaces.get(&ns)).await;
    assert!(
        matches!(killed, Ok(Err(_))),
        "a killed apiserver must refuse at once: {killed:?}"
    );
    let began = Instant::now();
    cp.start_apiserver();
    eprintln!("apiserver restarted in {:.1?}", began.elapsed());
    // Same port, same data: the old client and a new one both find the namespace.
    namespaces.get(&ns).await.expect("old client after restart");
    Api::<Namespace>::all(cp.client().await)
        .get(&ns)
        .await
        .expect("new client after restart");
}

#[tokio::test]
async fn after_compact_etcd_a_watch_from_an_old_resource_version_is_gone() {
    let _exclusive = FAULTS.write().await;
    let cp = ControlPlane::shared();
    let ns = cp.namespace("compact").await;
    let maps: Api<ConfigMap> = Api::namespaced(cp.client().await, &ns);
    let map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "counter"},
        "data": {"n": "0"},
    }))
    .expect("configmap");
    let created = maps
        .create(&PostParams::default(), &map)
        .await
        .expect("create the configmap");
    let old = created.metadata.resource_version.expect("resourceVersion");
    for n in 1..=3 {
        let patch = json!({"data": {"n": n.to_string()}});
        maps.patch("counter", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("update the configmap");
    }

    cp.compact_etcd();

    let watched = maps.watch(&WatchParams::default(), &old).await;
    let code = match watched {
        Err(kube::Error::Api(status)) => status.code,
        Err(e) => panic!("watch from {old}: {e}"),
        Ok(stream) => match Box::pin(stream).next().await {
            Some(Ok(WatchEvent::Error(status))) => status.code,
            Some(Err(kube::Error::Api(status))) => status.code,
            other => panic!("watch from the compacted {old}: {other:?}"),
        },
    };
    assert_eq!(code, 410, "a watch from a compacted resourceVersion");
}

const CHILD_MODE: &str = "SIGNPOST_CONTROL_PLANE_CHILD";

/// Not a test of its own: `no_process_outlives_its_test_binary` runs it in a copy of this
/// binary, which starts a control plane and then panics or hangs until killed.
#[test]
#[ignore = "run by no_process_outlives_its_test_binary"]
fn child_starts_a_control_plane() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let cp = ControlPlane::shared();
    let pids: Vec<String> = cp.pids().iter().map(u32::to_string).collect();
    println!("CHILD {} {}", cp.dir().display(), pids.join(" "));
    if mode == "panic" {
        panic!("the child test binary panics on purpose");
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Alive and one of ours: gone, a zombie (dead, not yet reaped by init) or a reused pid are
/// not.
fn ours_alive(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    (comm.starts_with("etcd") || comm.starts_with("kube-")) && state != Some('Z')
}

#[test]
fn no_process_outlives_its_test_binary() {
    let exe = std::env::current_exe().expect("this test binary");
    for mode in ["panic", "sigkill"] {
        let scratch = TempDir::new("cp-child");
        let stderr = scratch.path().join("stderr");
        let mut child = Command::new(&exe)
            .args(["child_starts_a_control_plane", "--exact", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_MODE, mode)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("run a child copy of this test binary");
        let stdout = child.stdout.take().expect("child stdout");
        let line = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest prints `test <name> ... ` before it, on the same line.
            .find_map(|l| l.find("CHILD ").map(|at| l[at..].to_string()))
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child ({mode}) printed no pids: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        let mut words = line.split_whitespace().skip(1);
        let dir = words.next().expect("the child's directory").to_string();
        let pids: Vec<String> = words.map(str::to_string).collect();
        assert_eq!(pids.len(), 3, "{line}");
        assert!(pids.iter().all(|p| ours_alive(p)), "not running: {line}");

        if mode == "sigkill" {
            child.kill().expect("SIGKILL the child");
        }
        let status = child.wait().expect("wait for the child");
        assert!(
            !status.success(),
            "the child ({mode}) should fail: {status}"
        );

        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|p| ours_alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left: Vec<&String> = pids.iter().filter(|p| ours_alive(p)).collect();
        assert!(left.is_empty(), "left behind by the {mode} child: {left:?}");
        if mode == "panic" {
            assert!(!Path::new(&dir).exists(), "{dir} left behind");
        } else {
            // A killed binary runs no exit hook: the next start removes the directory; do it here.
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
