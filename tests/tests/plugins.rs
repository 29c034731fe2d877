//! acl, header, nsid, dns64, timeouts, local, metadata and cancel as a client sees them: the
//! built cluster-dns (snapshot mode, examples/cluster.yaml) asked with dig.

use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use signpost_tests::{ClusterDns, example_cluster};

#[test]
fn small_plugins_answer_as_coredns_does() {
    // An upstream that takes every query and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let corefile = format!(
        "cluster.local:{{PORT}} {{\n    metadata\n    log . \"META {{/kubernetes/namespace}} {{/kubernetes/service}} {{name}}\"\n    acl {{\n        filter type AAAA\n        block type TXT\n        drop type SRV\n    }}\n    header {{\n        response set ra\n    }}\n    nsid signpost-test\n    timeouts {{\n        idle 1s\n    }}\n    kubernetes cluster.local\n}}\n\
         localhost:{{PORT}} 127.in-addr.arpa:{{PORT}} {{\n    local\n}}\n\
         example.test:{{PORT}} {{\n    dns64 {{\n        allow_ipv4\n    }}\n    hosts {{\n        198.18.0.30 v4.example.test\n    }}\n}}\n\
         slow.test:{{PORT}} {{\n    cancel 1s\n    forward . 127.0.0.1:{silent_port}\n}}\n"
    );
    let server = ClusterDns::start(&corefile, &example_cluster());

    // header sets RA; nsid answers the NSID option with its data.
    let r = server.dig(&["web.prod.svc.cluster.local", "A", "+nsid"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"], "{}", r.raw);
    assert!(r.has_flag("ra"), "{}", r.raw);
    assert!(r.raw.contains("(\"signpost-test\")"), "{}", r.raw);
    let r = server.dig(&["web.prod.svc.cluster.local", "A"]);
    assert!(!r.raw.contains("NSID"), "{}", r.raw);

    // acl: filter (NOERROR, EDE 17), block (REFUSED, EDE 15), drop (no answer at all).
    let r = server.dig(&["web.prod.svc.cluster.local", "AAAA"]);
    assert_eq!(
        (r.status.as_deref(), r.answer.len()),
        (Some("NOERROR"), 0),
        "{}",
        r.raw
    );
    assert!(r.raw.contains("EDE: 17"), "{}", r.raw);
    let r = server.dig(&["web.prod.svc.cluster.local", "TXT"]);
    assert_eq!(r.status.as_deref(), Some("REFUSED"), "{}", r.raw);
    assert!(r.raw.contains("EDE: 15"), "{}", r.raw);
    let r = server.dig(&[
        "_http._tcp.web.prod.svc.cluster.local",
        "SRV",
        "+tries=1",
        "+time=1",
    ]);
    assert_eq!(r.status, None, "{}", r.raw);

    // metadata: the log line has the kubernetes plugin's values for the name.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server
        .stdout()
        .contains("META prod web web.prod.svc.cluster.local.")
    {
        assert!(Instant::now() < deadline, "{}", server.stdout());
        std::thread::sleep(Duration::from_millis(100));
    }

    // local: loopback answers, NXDOMAIN for the rest of its zones.
    let r = server.dig(&["localhost", "A"]);
    assert_eq!(r.answers(), ["A 127.0.0.1"], "{}", r.raw);
    let r = server.dig(&["db.localhost", "AAAA"]);
    assert_eq!(r.answers(), ["AAAA ::1"], "{}", r.raw);
    let r = server.dig(&["-x", "127.0.0.1"]);
    assert_eq!(r.answers(), ["PTR localhost."], "{}", r.raw);
    let r = server.dig(&["-x", "127.0.0.2"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);

    // dns64: an A-only name gets AAAA inside 64:ff9b::/96.
    let r = server.dig(&["v4.example.test", "AAAA"]);
    assert_eq!(r.answers(), ["AAAA 64:ff9b::c612:1e"], "{}", r.raw);

    // cancel: the upstream never answers; SERVFAIL at the deadline instead of forward's 5 s.
    let started = Instant::now();
    let r = server.dig(&["www.slow.test", "A", "+tries=1", "+time=4"]);
    assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // timeouts: an idle TCP connection is closed after 1 s (the default is 8 s).
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        tcp.read(&mut buf).unwrap(),
        0,
        "the idle connection was closed"
    );
    drop(silent);
}

/// `apiserver_qps 1`, `apiserver_burst 1` and `apiserver_max_inflight 1` on the real API
/// server: every watch still lists and streams (a watch holds its one in-flight place only
/// until the API answers), and a service created later answers.
#[test]
fn api_limits_still_sync_the_watch() {
    use serde_json::json;
    use signpost_tests::ControlPlane;
    use signpost_tests::kube_fixtures::TestNamespace;

    let corefile = "cluster.local:{PORT} {\n    kubernetes cluster.local {\n        kubeconfig {KUBECONFIG}\n        apiserver_qps 1\n        apiserver_burst 1\n        apiserver_max_inflight 1\n    }\n}\n";
    let dns = ClusterDns::start_watching(corefile, ControlPlane::shared().kubeconfig());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ns = rt.block_on(async {
        let ns = TestNamespace::new("api-limits").await;
        ns.service(json!({
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
        }))
        .await;
        ns
    });
    let ip = rt.block_on(ns.cluster_ips("web"))[0].clone();
    let name = format!("web.{}.svc.cluster.local", ns.name);
    let r = dns.dig_until(&[&name, "A"], Duration::from_secs(15), |r| {
        !r.answer.is_empty()
    });
    assert_eq!(r.answers(), [format!("A {ip}")], "{}", r.raw);
}

/// `nodelocal check --kubednscm DIR`: the kube-dns ConfigMap's stub domains become server
/// blocks of the Corefile nodelocal would serve; a broken one is refused with the reason.
#[test]
fn nodelocal_merges_the_kube_dns_configmap() {
    use signpost_tests::{TempDir, nodelocal_binary, run, workspace_root};
    let dir = TempDir::new("kubednscm");
    std::fs::write(
        dir.path().join("stubDomains"),
        r#"{"acme.test": ["198.18.0.60", "198.18.0.61:5353"]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("upstreamNameservers"), r#"["198.18.0.53"]"#).unwrap();
    let template = workspace_root().join("tests/corefiles/node-local-dns.Corefile");
    let template = template.display().to_string();
    let cm = dir.path().display().to_string();
    let check = || {
        run(
            &nodelocal_binary(),
            &[
                "check",
                "--basecorefile",
                &template,
                "--localip",
                "169.254.20.10,198.18.0.10",
                "--kubednscm",
                &cm,
            ],
            &[("KUBE_DNS_SERVICE_HOST", "198.18.0.11")],
        )
    };
    let (code, out) = check();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("server block acme.test.:53: supported"),
        "{out}"
    );
    std::fs::write(
        dir.path().join("stubDomains"),
        r#"{"acme.test": ["https://198.18.0.60"]}"#,
    )
    .unwrap();
    let (code, out) = check();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("invalid nameserver \"https://198.18.0.60\""),
        "{out}"
    );
}
