//! Kubernetes' own DNS end-to-end tests, the `[sig-network] DNS` specs of k8s.io/kubernetes
//! test/e2e (`e2e.test`, built by `scripts/e2e/build`), run against Signpost on the real node
//! (`signpost_tests::node`): deploy/cluster-dns applied as the cluster DNS, alone or with
//! deploy/nodelocal on the node, and CoreDNS 1.15.0 in the same place, alone or with nodelocal,
//! as the control (`docs/conformance.md`).
//!
//! The suite's ConfigMap tests know two DNS servers by the name of the first pod labelled
//! `k8s-app=kube-dns`: a name with `coredns` in it gets a new Corefile in the ConfigMap
//! `kube-system/coredns`, any other the kube-dns `stubDomains` format in `kube-system/kube-dns`.
//! Signpost reads a Corefile, so it is deployed here as kubeadm's CoreDNS is, the Deployment and
//! its ConfigMap named `coredns` ([`as_kubeadm_coredns`]); everything else is deploy/ as it is.
//!
//! `conformance_subset` (run by scripts/test) runs the `[Conformance]` specs against cluster-dns
//! with nodelocal; the `#[ignore]`d tests run every spec for one setup each
//! (`scripts/e2e-conformance`). Each writes the suite's log, its JUnit report and a table of
//! the specs to `$SIGNPOST_CONFORMANCE_OUT/<setup>` (default `target/conformance/<setup>`).
//!
//! Needs root, `SIGNPOST_CONTROL_PLANE_BIN`, `SIGNPOST_NODE_BIN`, `SIGNPOST_IMAGES` (with
//! `scripts/image/build --test-images --e2e-images`) and `SIGNPOST_E2E_BIN`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_yaml::Value;
use signpost_tests::ControlPlane;
use signpost_tests::knot::INTERNET_ZONES;
use signpost_tests::node::{ProxyMode, RealNode, images_dir, node_bin};
use signpost_tests::workspace_root;

/// The suite's focus: every spec of the DNS, DNS HostNetwork and DNS configMap groups.
const FOCUS: &str = r"\[sig-network\] DNS";

/// What the CI subset runs: the specs of the conformance profile.
const CONFORMANCE_FOCUS: &str = r"\[sig-network\] DNS.*\[Conformance\]";

/// What every run leaves out, each for a reason in docs/conformance.md: a cloud provider's
/// metadata server (the suite skips it itself unless `--provider=gce`).
const SKIP: &str = r"\[Provider:GCE\]";

/// The longest a whole run may take (the ConfigMap specs are `[Slow]`: minutes each).
const RUN_LIMIT: Duration = Duration::from_secs(60 * 60);

/// The name kubeadm gives CoreDNS's Deployment and ConfigMap.
const KUBEADM_NAME: &str = "coredns";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    ClusterDns,
    CoreDns,
}

struct Setup {
    label: &'static str,
    server: Server,
    nodelocal: bool,
}

/// One spec of the JUnit report.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    status: String,
    seconds: f64,
}

fn e2e_bin() -> PathBuf {
    std::env::var_os("SIGNPOST_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "run scripts/e2e/build and export SIGNPOST_E2E_BIN=<the directory it prints last>"
            )
        })
}

fn out_dir(label: &str) -> PathBuf {
    std::env::var_os("SIGNPOST_CONFORMANCE_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/conformance"))
        .join(label)
}

/// The `kind/name` of a rendered object.
fn kind_name(object: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&object["kind"]), text(&object["metadata"]["name"]))
}

/// deploy/cluster-dns as rendered, with its Deployment and ConfigMap under kubeadm's name for
/// CoreDNS (the ConfigMap specs edit `kube-system/coredns` and then delete the pods); for
/// [`Server::CoreDns`] the container runs CoreDNS's image with the same Corefile.
fn as_kubeadm_coredns(rendered: &str, server: Server, coredns_image: &str) -> String {
    let mut out = String::new();
    for doc in serde_yaml::Deserializer::from_str(rendered) {
        let mut object = Value::deserialize(doc).expect("rendered YAML");
        if object.is_null() {
            continue;
        }
        match kind_name(&object) {
            (kind, name) if kind == "ConfigMap" && name == "cluster-dns" => {
                object["metadata"]["name"] = KUBEADM_NAME.into();
            }
            (kind, name) if kind == "Deployment" && name == "cluster-dns" => {
                object["metadata"]["name"] = KUBEADM_NAME.into();
                let pod = &mut object["spec"]["template"]["spec"];
                if let Some(volumes) = pod["volumes"].as_sequence_mut() {
                    for v in volumes {
                        if v["configMap"]["name"] == "cluster-dns" {
                            v["configMap"]["name"] = KUBEADM_NAME.into();
                        }
                    }
                }
                if server == Server::CoreDns {
                    let c = &mut pod["containers"][0];
                    c["image"] = coredns_image.into();
                    c["args"] =
                        serde_yaml::from_str("[-conf, /etc/coredns/Corefile]").expect("args");
                }
            }
            _ => {}
        }
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&object).expect("YAML"));
    }
    out
}

/// The `testcase` elements of a Ginkgo JUnit report whose name has `[sig-network] DNS`.
fn parse_junit(xml: &str) -> Vec<Case> {
    let attr = |tag: &str, name: &str| -> String {
        let key = format!(" {name}=\"");
        tag.find(&key)
            .map(|i| {
                let rest = &tag[i + key.len()..];
                let value = &rest[..rest.find('"').unwrap_or(rest.len())];
                value
                    .replace("&#34;", "\"")
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            })
            .unwrap_or_default()
    };
    xml.split("<testcase ")
        .skip(1)
        // Every attribute after a space, the first one too.
        .map(|t| format!(" {}", &t[..t.find('>').unwrap_or(t.len())]))
        .map(|tag| Case {
            name: attr(&tag, "name").trim_start_matches("[It] ").to_string(),
            status: attr(&tag, "status"),
            seconds: attr(&tag, "time").parse().unwrap_or(0.0),
        })
        .filter(|c| c.name.contains("[sig-network] DNS"))
        .collect()
}

fn table(cases: &[Case]) -> String {
    let mut t = String::from("| result | seconds | spec |\n|---|---:|---|\n");
    for c in cases {
        t.push_str(&format!(
            "| {} | {:.0} | {} |\n",
            c.status,
            c.seconds,
            c.name.replace('|', "\\|")
        ));
    }
    let count = |s: &str| cases.iter().filter(|c| c.status == s).count();
    t.push_str(&format!(
        "\n{} specs: {} passed, {} failed, {} skipped\n",
        cases.len(),
        count("passed"),
        count("failed"),
        count("skipped")
    ));
    t
}

/// Brings up the node, deploys the setup, runs e2e.test with `focus` (or
/// `$SIGNPOST_CONFORMANCE_FOCUS`, to run one spec by hand) and returns its specs.
fn run(setup: &Setup, focus: &str) -> Vec<Case> {
    let focus = std::env::var("SIGNPOST_CONFORMANCE_FOCUS").unwrap_or_else(|_| focus.to_string());
    let began = Instant::now();
    let out = out_dir(setup.label);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create the report directory");

    let cp = ControlPlane::for_node();
    let mut node = RealNode::start_serving(cp, ProxyMode::Nftables, INTERNET_ZONES);
    let images = images_dir();
    for archive in [
        "agnhost.oci.tar",
        "jessie-dnsutils.oci.tar",
        "coredns.oci.tar",
    ] {
        node.import(&images.join(archive));
    }
    let coredns_image = format!(
        "registry.k8s.io/coredns/coredns:{}",
        coredns_version().expect("COREDNS_VERSION in scripts/baseline/coredns-build")
    );
    let dns = as_kubeadm_coredns(
        &node.rendered_deploy("cluster-dns"),
        setup.server,
        &coredns_image,
    );
    node.apply(&dns);
    node.rollout(&format!("deployment/{KUBEADM_NAME}"), "180s");
    if setup.nodelocal {
        node.apply(&node.rendered_deploy("nodelocal"));
        node.rollout("daemonset/node-local-dns", "180s");
    }
    let deployed = began.elapsed();

    let log_path = out.join("e2e.log");
    let log = std::fs::File::create(&log_path).expect("e2e.log");
    let kubectl = node_bin().join("kubectl");
    let suite_began = Instant::now();
    let mut child = Command::new(e2e_bin().join("e2e.test"))
        .args([
            format!("--kubeconfig={}", cp.kubeconfig().display()),
            format!("--kubectl-path={}", kubectl.display()),
            format!("--report-dir={}", out.display()),
            "--provider=skeleton".to_string(),
            "--dns-domain=cluster.local".to_string(),
            "--node-os-distro=debian".to_string(),
            format!("--ginkgo.focus={focus}"),
            format!("--ginkgo.skip={SKIP}"),
            format!("--ginkgo.timeout={}s", RUN_LIMIT.as_secs()),
            "--ginkgo.no-color".to_string(),
            "--ginkgo.v".to_string(),
        ])
        .current_dir(&out)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log)
        .spawn()
        .expect("start e2e.test");
    let deadline = Instant::now() + RUN_LIMIT + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for e2e.test") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let suite_time = suite_began.elapsed();

    let junit = std::fs::read_to_string(out.join("junit_01.xml")).unwrap_or_default();
    let cases = parse_junit(&junit);
    let summary = format!(
        "conformance {}: node and deploy {:.0?}, suite {:.0?} (e2e.test {:?}), report in {}\n\n{}",
        setup.label,
        deployed,
        suite_time,
        status,
        out.display(),
        table(&cases)
    );
    std::fs::write(out.join("table.md"), &summary).expect("table.md");
    let tsv: String = cases
        .iter()
        .map(|c| format!("{}\t{:.0}\t{}\n", c.status, c.seconds, c.name))
        .collect();
    std::fs::write(out.join("results.tsv"), tsv).expect("results.tsv");
    eprintln!("{summary}");
    if cases.is_empty() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "no specs in the JUnit report; last lines of {}:\n{}\n{}",
            log_path.display(),
            tail.join("\n"),
            node.logs()
        );
    }
    node.teardown();
    let left = node.leftovers();
    assert!(left.is_empty(), "left on the host: {left:?}");
    cases
}

fn coredns_version() -> Option<String> {
    let script =
        std::fs::read_to_string(workspace_root().join("scripts/baseline/coredns-build")).ok()?;
    script
        .lines()
        .find_map(|l| l.strip_prefix("COREDNS_VERSION="))
        .map(str::to_string)
}

fn assert_none_failed(cases: &[Case]) {
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.status != "passed" && c.status != "skipped")
        .map(|c| c.name.as_str())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

const CLUSTER_DNS: Setup = Setup {
    label: "cluster-dns",
    server: Server::ClusterDns,
    nodelocal: false,
};

const NODELOCAL: Setup = Setup {
    label: "cluster-dns-nodelocal",
    server: Server::ClusterDns,
    nodelocal: true,
};

const COREDNS: Setup = Setup {
    label: "coredns",
    server: Server::CoreDns,
    nodelocal: false,
};

const COREDNS_NODELOCAL: Setup = Setup {
    label: "coredns-nodelocal",
    server: Server::CoreDns,
    nodelocal: true,
};

#[test]
fn conformance_subset() {
    let cases = run(
        &Setup {
            label: "subset",
            ..NODELOCAL
        },
        CONFORMANCE_FOCUS,
    );
    assert!(
        cases.iter().filter(|c| c.status == "passed").count() >= 8,
        "{}",
        table(&cases)
    );
    assert_none_failed(&cases);
}

// The whole suite, one setup each: they report (table.md, results.tsv); scripts/e2e-conformance
// judges Signpost's results against the control's.

#[test]
#[ignore = "the whole DNS suite (minutes); scripts/e2e-conformance runs it"]
fn suite_cluster_dns() {
    run(&CLUSTER_DNS, FOCUS);
}

#[test]
#[ignore = "the whole DNS suite (minutes); scripts/e2e-conformance runs it"]
fn suite_cluster_dns_with_nodelocal() {
    run(&NODELOCAL, FOCUS);
}

#[test]
#[ignore = "the whole DNS suite against the control (minutes); scripts/e2e-conformance runs it"]
fn suite_coredns() {
    run(&COREDNS, FOCUS);
}

#[test]
#[ignore = "the whole DNS suite against the control with nodelocal (minutes); scripts/e2e-conformance runs it"]
fn suite_coredns_with_nodelocal() {
    run(&COREDNS_NODELOCAL, FOCUS);
}

#[test]
fn the_junit_report_is_read_for_dns_specs_only() {
    let xml = r#"<testsuites><testsuite name="Kubernetes e2e suite">
<testcase name="[It] [sig-network] DNS should provide DNS for the cluster [Conformance]" classname="Kubernetes e2e suite" status="passed" time="12.5"></testcase>
<testcase name="[sig-network] DNS should provide DNS for the cluster [Provider:GCE]" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
<testcase name="[sig-network] DNS configMap nameserver Forward PTR lookup should forward PTR records lookup to upstream nameserver [Slow] [Serial]" classname="Kubernetes e2e suite" status="failed" time="130.1"><failure message="x &amp; y"></failure></testcase>
<testcase name="[sig-storage] Volumes should work" classname="Kubernetes e2e suite" status="skipped" time="0"></testcase>
</testsuite></testsuites>"#;
    let cases = parse_junit(xml);
    let got: Vec<(&str, f64)> = cases
        .iter()
        .map(|c| (c.status.as_str(), c.seconds))
        .collect();
    assert_eq!(got, [("passed", 12.5), ("skipped", 0.0), ("failed", 130.1)]);
    assert_eq!(
        cases[0].name,
        "[sig-network] DNS should provide DNS for the cluster [Conformance]"
    );
    assert!(table(&cases).contains("3 specs: 1 passed, 1 failed, 1 skipped"));
}

#[test]
fn signpost_takes_kubeadm_names_and_coredns_its_image() {
    let rendered =
        std::fs::read_to_string(workspace_root().join("deploy/cluster-dns/deployment.yaml"))
            .expect("deployment.yaml")
            + "\n---\n"
            + &std::fs::read_to_string(workspace_root().join("deploy/cluster-dns/configmap.yaml"))
                .expect("configmap.yaml");
    for server in [Server::ClusterDns, Server::CoreDns] {
        let out = as_kubeadm_coredns(&rendered, server, "registry.k8s.io/coredns/coredns:vX");
        let objects: Vec<Value> = serde_yaml::Deserializer::from_str(&out)
            .map(|d| Value::deserialize(d).expect("YAML"))
            .collect();
        let names: Vec<(String, String)> = objects.iter().map(kind_name).collect();
        assert_eq!(
            names,
            [
                ("Deployment".to_string(), KUBEADM_NAME.to_string()),
                ("ConfigMap".to_string(), KUBEADM_NAME.to_string())
            ]
        );
        let pod = &objects[0]["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"][0]["configMap"]["name"], KUBEADM_NAME);
        assert_eq!(pod["containers"][0]["name"], "cluster-dns");
        let (image, args) = match server {
            Server::ClusterDns => ("ghcr.io/signpost-dns/signpost:0.1.0", "--conf"),
            Server::CoreDns => ("registry.k8s.io/coredns/coredns:vX", "-conf"),
        };
        assert_eq!(pod["containers"][0]["image"], image);
        assert_eq!(pod["containers"][0]["args"][0], args);
        assert_eq!(pod["containers"][0]["args"][1], "/etc/coredns/Corefile");
    }
}
