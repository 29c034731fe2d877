//! The corpus of distribution Corefiles (tests/corefiles, each with its source in a comment):
//! each one served by the built cluster-dns watching the test control plane, asked a cluster
//! name, an external name (forwarded to knotd) and its own plugins' cases with dig; and each
//! one checked by `cluster-dns check` (node-local-dns's by `nodelocal check`, and served by
//! the nodelocal tests, which read the same text from examples/nodelocal.Corefile).
//!
//! What the test changes in a Corefile, and nothing else (`serveable`):
//! - the server blocks' port (`:53`, `:5353`) becomes a free loopback port;
//! - `/etc/resolv.conf` as forward's upstream becomes knotd's `127.0.0.1:PORT` (a resolv.conf
//!   cannot name a port);
//! - `/etc/coredns/` and AKS's `custom/` become a temporary directory holding NodeHosts and
//!   the coredns-custom ConfigMap's `*.override` and `*.server` files;
//! - `health`, `ready` and `prometheus` get `127.0.0.1:PORT` addresses of their own, so
//!   parallel tests and other processes on the machine do not collide on 8080, 8181 or 9153.
//!
//! The Kubernetes API is the shared test control plane, through `$KUBECONFIG`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use signpost_tests::knot::Knot;
use signpost_tests::kube_fixtures::TestNamespace;
use signpost_tests::{
    ClusterDns, ControlPlane, TempDir, cluster_dns_binary, free_port, http_get, nodelocal_binary,
    run, workspace_root,
};

const DISTRIBUTIONS: &[&str] = &[
    "kubeadm",
    "k3s",
    "rke2",
    "eks",
    "aks",
    "kubespray",
    "openshift",
    "helm",
];

/// An external IP of the `ext` service (k8s_external answers it).
const EXTERNAL_IP: &str = "198.19.200.7";

fn corpus(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join(format!("tests/corefiles/{name}.Corefile")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Ports a served Corefile's HTTP endpoints got.
struct Ports {
    health: u16,
    ready: u16,
    metrics: u16,
}

/// The Corefile as this test serves it (see the module's comment).
fn serveable(text: &str, port: u16, upstream: SocketAddr, files: &Path, ports: &Ports) -> String {
    let files = files.display().to_string();
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let line = match words.as_slice() {
            // A server block's keys: `.:53 {`, `hostname.bind:5353 {`.
            [.., "{"] if indent.is_empty() && !trimmed.starts_with('#') => trimmed
                .replace(":5353 ", &format!(":{port} "))
                .replace(":53 ", &format!(":{port} ")),
            ["health", rest @ ..] => format!(
                "{indent}health 127.0.0.1:{} {}",
                ports.health,
                rest.join(" ")
            ),
            ["ready", rest @ ..] => {
                format!("{indent}ready 127.0.0.1:{} {}", ports.ready, rest.join(" "))
            }
            ["prometheus", _addr] => format!("{indent}prometheus 127.0.0.1:{}", ports.metrics),
            ["prometheus"] => format!("{indent}prometheus 127.0.0.1:{}", ports.metrics),
            _ => line
                .replace("/etc/resolv.conf", &upstream.to_string())
                .replace("/etc/coredns/", &format!("{files}/"))
                .replace("import custom/", &format!("import {files}/custom/")),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The files distributions mount beside the Corefile: k3s's NodeHosts, and the
/// coredns-custom ConfigMap's override (a rewrite in the main block) and server (a block of
/// its own on the same port).
fn write_mounted_files(dir: &Path, port: u16) {
    std::fs::write(dir.join("NodeHosts"), "198.18.0.77 node-a\n").unwrap();
    std::fs::create_dir_all(dir.join("custom")).unwrap();
    std::fs::write(
        dir.join("custom/alias.override"),
        "rewrite name exact alias.example.test www.example.test\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("custom/whoami.server"),
        format!("whoami.test:{port} {{\n    whoami\n}}\n"),
    )
    .unwrap();
}

#[test]
fn every_corpus_corefile_starts_and_answers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ns = rt.block_on(async {
        let ns = TestNamespace::new("corpus").await;
        ns.service(json!({
            "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
        }))
        .await;
        ns.service(json!({
            "metadata": {"name": "ext"},
            "spec": {
                "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
                "externalIPs": [EXTERNAL_IP],
            },
        }))
        .await;
        ns
    });
    let web_ip = rt.block_on(ns.cluster_ips("web"))[0].clone();
    let upstream = Knot::start(SocketAddr::from(([127, 0, 0, 1], free_port())));
    let kubeconfig = ControlPlane::shared().kubeconfig().display().to_string();

    for name in DISTRIBUTIONS {
        let files = TempDir::new(&format!("corpus-{name}"));
        let port = free_port();
        write_mounted_files(files.path(), port);
        let ports = Ports {
            health: free_port(),
            ready: free_port(),
            metrics: free_port(),
        };
        let corefile = serveable(&corpus(name), port, upstream.addr, files.path(), &ports);
        let dns = ClusterDns::launch_on(port, &[], &corefile, None, &[("KUBECONFIG", &kubeconfig)]);
        let context = |what: &str, raw: &str| {
            format!(
                "{name}: {what}\n{raw}\nCorefile:\n{corefile}\nlog:\n{}",
                dns.log()
            )
        };

        // A cluster name, once the watch has it.
        let svc = format!("web.{}.svc.cluster.local", ns.name);
        let r = dns.dig_until(&[&svc, "A"], Duration::from_secs(10), |r| {
            !r.answer.is_empty()
        });
        assert_eq!(
            r.answers(),
            [format!("A {web_ip}")],
            "{}",
            context("cluster name", &r.raw)
        );
        // An external name, through forward to knotd.
        let r = dns.dig(&["www.example.test", "A"]);
        assert_eq!(
            r.answers(),
            ["A 198.18.0.10"],
            "{}",
            context("external name", &r.raw)
        );
        // Probes where the Corefile has them.
        if corefile.contains("\n    ready") {
            assert_eq!(
                http_get(ports.ready, "/ready").map(|r| r.0),
                Some(200),
                "{name}: /ready"
            );
        }
        if corefile.contains("\n    health") {
            assert_eq!(
                http_get(ports.health, "/health").map(|r| r.0),
                Some(200),
                "{name}: /health"
            );
        }

        match *name {
            "k3s" | "aks" => {
                // The coredns-custom override (a rewrite) and server block (whoami).
                let r = dns.dig(&["alias.example.test", "A"]);
                assert_eq!(
                    r.answers(),
                    ["A 198.18.0.10"],
                    "{}",
                    context("override", &r.raw)
                );
                let r = dns.dig(&["whoami.test", "A"]);
                assert!(
                    r.additional.iter().any(|rr| rr.rdata == "127.0.0.1"),
                    "{}",
                    context("custom server block", &r.raw)
                );
            }
            _ => {}
        }
        match *name {
            "k3s" => {
                let r = dns.dig(&["node-a", "A"]);
                assert_eq!(
                    r.answers(),
                    ["A 198.18.0.77"],
                    "{}",
                    context("NodeHosts", &r.raw)
                );
            }
            "aks" => {
                // Search-path expansions under the node's Azure domains stop at once.
                for expansion in [
                    format!("{svc}.reddog.microsoft.com"),
                    format!("{svc}.abc.internal.cloudapp.net"),
                ] {
                    let r = dns.dig(&[&expansion, "A"]);
                    assert_eq!(
                        r.status.as_deref(),
                        Some("NXDOMAIN"),
                        "{}",
                        context("template", &r.raw)
                    );
                }
            }
            "kubespray" => {
                let ext = format!("ext.{}.k8s_external.local", ns.name);
                let r = dns.dig_until(&[&ext, "A"], Duration::from_secs(10), |r| {
                    !r.answer.is_empty()
                });
                assert_eq!(
                    r.answers(),
                    [format!("A {EXTERNAL_IP}")],
                    "{}",
                    context("k8s_external", &r.raw)
                );
                let srv = format!("_https._tcp.{ext}");
                let r = dns.dig(&[&srv, "SRV"]);
                assert_eq!(
                    r.answers(),
                    [format!("SRV 0 100 443 {ext}.")],
                    "{}",
                    context("k8s_external SRV", &r.raw)
                );
            }
            "openshift" => {
                // chaos answers CH TXT; bufsize 1232 is what the response advertises.
                let r = dns.dig(&["-c", "CH", "-t", "TXT", "hostname.bind"]);
                assert_eq!(
                    r.status.as_deref(),
                    Some("NOERROR"),
                    "{}",
                    context("chaos", &r.raw)
                );
                assert_eq!(r.answer.len(), 1, "{}", context("chaos", &r.raw));
                let r = dns.dig(&["+bufsize=4096", "www.example.test", "A"]);
                assert!(
                    r.raw.contains("udp: 1232"),
                    "{}",
                    context("bufsize", &r.raw)
                );
            }
            _ => {}
        }
        assert!(
            !dns.log().contains("ERROR"),
            "{}",
            context("no error logged", "")
        );
        drop(dns);
    }
}

/// `check` on the corpus as an operator runs it on the ConfigMap they have: every one starts,
/// nothing refused; and the exit codes a CI job reads.
#[test]
fn check_passes_every_corpus_corefile_and_exits_for_ci() {
    for name in DISTRIBUTIONS {
        let path = workspace_root().join(format!("tests/corefiles/{name}.Corefile"));
        let (code, out) = run(
            &cluster_dns_binary(),
            &["check", "--conf", &path.display().to_string()],
            &[],
        );
        assert_eq!(code, 0, "{name}:\n{out}");
        assert!(!out.contains("REFUSED"), "{name}:\n{out}");
        assert!(out.contains("starts"), "{name}:\n{out}");
    }
    // node-local-dns: the template, filled as nodelocal fills it at start.
    let path = workspace_root().join("tests/corefiles/node-local-dns.Corefile");
    let (code, out) = run(
        &nodelocal_binary(),
        &[
            "check",
            "--basecorefile",
            &path.display().to_string(),
            "--localip",
            "169.254.20.10,198.18.0.10",
        ],
        &[("KUBE_DNS_SERVICE_HOST", "198.18.0.11")],
    );
    assert_eq!(code, 0, "node-local-dns:\n{out}");
    assert!(!out.contains("REFUSED"), "{out}");
    let strip = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&std::fs::read_to_string(&path).unwrap()),
        strip(
            &std::fs::read_to_string(workspace_root().join("examples/nodelocal.Corefile")).unwrap()
        ),
        "the corpus's node-local-dns Corefile is the one the nodelocal tests serve"
    );

    // CI's exit codes: 1 refused (with the place), 2 unreadable; -plugins lists what is built in.
    let dir = TempDir::new("corpus-check");
    let refused = dir.path().join("refused.Corefile");
    std::fs::write(
        &refused,
        ".:53 {\n    etcd\n    forward . 198.18.0.1\n    cache {\n        frob\n    }\n}\n",
    )
    .unwrap();
    let (code, out) = run(
        &cluster_dns_binary(),
        &["check", "--conf", &refused.display().to_string()],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("refused.Corefile:2:5: plugin etcd: REFUSED: not supported yet by Signpost"),
        "{out}"
    );
    assert!(
        out.contains("refused.Corefile:5:9: plugin cache: REFUSED: unknown property"),
        "{out}"
    );
    assert!(
        out.contains("refused.Corefile:3:5: plugin forward: supported"),
        "{out}"
    );
    let (code, _) = run(
        &cluster_dns_binary(),
        &["check", "--conf", "/nonexistent/Corefile"],
        &[],
    );
    assert_eq!(code, 2);
    let noted = dir.path().join("noted.Corefile");
    std::fs::write(&noted, ".:53 {\n    debug\n    pprof\n    whoami\n}\n").unwrap();
    let (code, out) = run(
        &cluster_dns_binary(),
        &["check", "--conf", &noted.display().to_string()],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("noted.Corefile:3:5: pprof option: accepted, ignored:"),
        "{out}"
    );
    for binary in [cluster_dns_binary(), nodelocal_binary()] {
        let (code, out) = run(&binary, &["-plugins"], &[]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("  dns.kubernetes\n") && out.contains("  dns.template\n"),
            "{out}"
        );
    }
}
