//! Signpost on a real node: containerd, runc, the CNI bridge, kubelet, kube-proxy and
//! kube-scheduler beside the test control plane (`signpost_tests::node`), Signpost's image built
//! from the repository (`scripts/image/build`), and `deploy/cluster-dns` and `deploy/nodelocal`
//! applied as they are, but for the kube-dns ClusterIP (the test's 198.18.0.10 for the one
//! deploy/cluster-dns/service.yaml carries). A pod with the resolv.conf kubelet wrote for it resolves cluster and external
//! names through nodelocal (NOTRACK: no conntrack entry) and cluster-dns, past the real
//! kube-proxy, in its nftables mode and then its iptables mode; nodelocal's container is
//! killed, the DaemonSet rolled, and a cluster-dns pod deleted, each under continuous lookups.
//!
//! Needs root, `SIGNPOST_CONTROL_PLANE_BIN`, `SIGNPOST_NODE_BIN` and `SIGNPOST_IMAGES`
//! (scripts/test sets them). Figures go to stderr (`--nocapture`).

use std::time::{Duration, Instant};

use signpost_tests::ControlPlane;
use signpost_tests::node::{
    CLIENT_IMAGE, CLUSTER_DNS_IP, LOCAL_IP, ProxyMode, RealNode, load_from,
};

const APP: &str = "app";

/// The client pod and the Services the queries name, in namespace `app`.
fn fixtures() -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {APP}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: {APP}
  labels:
    app: client
spec:
  hostname: client-0
  subdomain: db
  terminationGracePeriodSeconds: 1
  containers:
    - name: client
      image: {CLIENT_IMAGE}
      imagePullPolicy: Never
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {APP}
spec:
  selector:
    app: client
  ports:
    - name: http
      port: 80
      protocol: TCP
---
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: {APP}
spec:
  clusterIP: None
  selector:
    app: client
  ports:
    - name: db
      port: 5432
      protocol: TCP
"#
    )
}

fn jsonpath(node: &RealNode, ns: &str, what: &str, path: &str) -> String {
    node.kubectl(&["-n", ns, "get", what, "-o", &format!("jsonpath={path}")])
        .trim()
        .to_string()
}

/// `dig` in the client pod: its own resolv.conf (search path, ndots:5, kubelet's clusterDNS).
fn dig(node: &RealNode, args: &[&str]) -> String {
    let mut all = vec!["dig", "+short", "+tries=2", "+time=2"];
    all.extend_from_slice(args);
    let out = node.exec(APP, "client", "client", &all);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn dig_until(node: &RealNode, args: &[&str], want: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let got = dig(node, args);
        if got.lines().any(|l| l.trim() == want) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The pod's names resolve through nodelocal with no conntrack entry of the pod's DNS.
fn pod_resolves(node: &RealNode) {
    let mode = node.proxy_mode().as_str();
    let resolv = node.exec(APP, "client", "client", &["cat", "/etc/resolv.conf"]);
    let resolv = String::from_utf8_lossy(&resolv.stdout).to_string();
    assert!(
        resolv.contains(&format!("nameserver {CLUSTER_DNS_IP}"))
            && resolv.contains("search app.svc.cluster.local svc.cluster.local cluster.local")
            && resolv.contains("ndots:5"),
        "kubelet's resolv.conf for the pod:\n{resolv}"
    );
    let web_ip = jsonpath(node, APP, "service/web", "{.spec.clusterIP}");
    let pod_ip = jsonpath(node, APP, "pod/client", "{.status.podIP}");
    let limit = Duration::from_secs(30);
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["+search", "web"], web_ip.clone()),
        (vec!["+search", "db"], pod_ip.clone()),
        (vec!["+search", "client-0.db"], pod_ip.clone()),
        (
            vec!["SRV", "_http._tcp.web.app.svc.cluster.local"],
            "0 100 80 web.app.svc.cluster.local.".to_string(),
        ),
        (
            vec!["-x", &web_ip],
            "web.app.svc.cluster.local.".to_string(),
        ),
        (
            vec!["+search", "kubernetes.default"],
            "198.18.0.1".to_string(),
        ),
        (
            vec!["+search", "www.example.test"],
            "198.18.0.10".to_string(),
        ),
    ];
    let _ = run_conntrack(&["-D", "-s", &pod_ip]);
    for (args, want) in &cases {
        let got = dig_until(node, args, want, limit);
        assert!(
            got.lines().any(|l| l.trim() == want),
            "kube-proxy {mode}: dig {args:?} in the pod: want {want}, got {got:?}\n{}",
            node.logs()
        );
        eprintln!("kube-proxy {mode}: pod: dig {args:?} -> {want}");
    }
    // NOTRACK: none of the pod's DNS to the node-local addresses went through conntrack.
    let flows = run_conntrack(&["-L", "-s", &pod_ip]);
    let dns: Vec<&str> = flows
        .lines()
        .filter(|l| l.contains("dport=53") && (l.contains(CLUSTER_DNS_IP) || l.contains(LOCAL_IP)))
        .collect();
    assert!(
        dns.is_empty(),
        "kube-proxy {mode}: the pod's DNS flows are tracked (NOTRACK missing):\n{}",
        dns.join("\n")
    );
    eprintln!("kube-proxy {mode}: conntrack: no DNS flow of the pod's (NOTRACK)");
}

fn run_conntrack(args: &[&str]) -> String {
    let out = std::process::Command::new("conntrack")
        .args(args)
        .output()
        .expect("run conntrack");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What nodelocal has on the node: the ClusterIP on its link, its NOTRACK table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NodelocalState {
    cluster_ip: bool,
    rules: bool,
}

fn nodelocal_state() -> NodelocalState {
    let addrs = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", "nodelocaldns"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let table = std::process::Command::new("nft")
        .args(["list", "table", "inet", "nodelocaldns"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    NodelocalState {
        cluster_ip: addrs.contains(LOCAL_IP) && addrs.contains(CLUSTER_DNS_IP),
        rules: table.contains("notrack"),
    }
}

/// nodelocal's link carries both addresses, and its NOTRACK table is beside kube-proxy's rules.
fn node_has_nodelocal(node: &RealNode) -> bool {
    let _ = node;
    let state = nodelocal_state();
    state.cluster_ip && state.rules
}

fn kube_proxy_rules(mode: ProxyMode) -> bool {
    let (tool, args): (&str, &[&str]) = match mode {
        ProxyMode::Nftables => ("nft", &["list", "table", "ip", "kube-proxy"]),
        ProxyMode::Iptables => ("iptables", &["-t", "nat", "-S", "KUBE-SERVICES"]),
    };
    std::process::Command::new(tool)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(CLUSTER_DNS_IP))
        .unwrap_or(false)
}

fn nodelocal_pod(node: &RealNode) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let name = node
            .kubectl(&[
                "-n",
                "kube-system",
                "get",
                "pods",
                "-l",
                "k8s-app=node-local-dns",
                "--field-selector=status.phase=Running",
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ])
            .trim()
            .to_string();
        if !name.is_empty() {
            return name;
        }
        assert!(Instant::now() < deadline, "no running nodelocal pod");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The failure drills under continuous lookups from the client pod, then a lookup of every
/// kind again: the same in each kube-proxy mode. nodelocal is killed `kills` times in a row:
/// kubelet restarts it at once the first time, then after its crash-loop back-off (10 s, 20 s,
/// ...), during which pods must keep resolving through kube-proxy.
fn drills(node: &RealNode, kills: usize) {
    let client = node
        .container_pid(APP, "client", "client")
        .expect("client container PID");
    for round in 1..=kills {
        kill_nodelocal(node, client, round);
    }
    roll_nodelocal(node, client);
    delete_cluster_dns_pod(node, client);
    pod_resolves(node);
}

/// Issue 14: deploy/ runs every Signpost container with `readOnlyRootFilesystem: true`, and
/// each of them is serving, so nothing of theirs needs to write there. Shown from the host: the
/// root mount in each container process's mount namespace is read-only.
fn read_only_roots(node: &RealNode) {
    let cluster_dns = cluster_dns_pod(node);
    let nodelocal = nodelocal_pod(node);
    for (pod, container) in [
        (cluster_dns.as_str(), "cluster-dns"),
        (nodelocal.as_str(), "nodelocal"),
        (nodelocal.as_str(), "guard"),
    ] {
        let pid = node
            .container_pid("kube-system", pod, container)
            .unwrap_or_else(|| panic!("no PID for {pod}/{container}"));
        let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap_or_else(|e| panic!("{pod}/{container} mountinfo: {e}"));
        // Fields: id, parent, major:minor, root, mount point, mount options, ...
        let root = mountinfo
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.get(4) == Some(&"/"))
            .unwrap_or_else(|| panic!("{pod}/{container}: no root mount in\n{mountinfo}"));
        let options = root.get(5).copied().unwrap_or_default();
        assert!(
            options.split(',').any(|o| o == "ro"),
            "{pod}/{container}: the root is mounted {options}, not read-only"
        );
    }
    eprintln!("FIGURE read-only root: cluster-dns, nodelocal and guard serve from a read-only /");
}

/// The name of (the first) cluster-dns pod.
fn cluster_dns_pod(node: &RealNode) -> String {
    node.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=cluster-dns",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ])
    .trim()
    .to_string()
}

const NAME: &str = "web.app.svc.cluster.local";
const TIMEOUT: Duration = Duration::from_millis(500);

/// Kill nodelocal's container: the guard takes the rules and the ClusterIP away, pod DNS goes
/// through kube-proxy to cluster-dns until kubelet restarts nodelocal.
fn kill_nodelocal(node: &RealNode, client: i32, round: usize) {
    let pod = nodelocal_pod(node);
    let pid = node
        .container_pid("kube-system", &pod, "nodelocal")
        .expect("nodelocal's container PID");
    let load = load_from(client, CLUSTER_DNS_IP, NAME, TIMEOUT);
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    // SAFETY: signalling the container's process found through containerd's state.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // The guard takes the ClusterIP and the rules away (after four failed probes, about 1 s);
    // kubelet restarts nodelocal, which puts them back. A restart quicker than the guard's
    // threshold leaves them in place throughout. Every change is kept, for the report.
    let mut timeline = vec![(Duration::ZERO, nodelocal_state())];
    let (mut gone, mut back) = (None, None);
    while killed.elapsed() < Duration::from_secs(90) {
        let state = nodelocal_state();
        let at = killed.elapsed();
        if timeline.last().map(|(_, s)| *s) != Some(state) {
            timeline.push((at, state));
        }
        let complete = state.cluster_ip && state.rules;
        if gone.is_none() && !complete {
            gone = Some(at);
        }
        if gone.is_some() && complete {
            back = Some(at);
            break;
        }
        if gone.is_none() && complete && at > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let report = load.finish();
    let first_fail = report.failures.first().map(|f| f.duration_since(killed));
    eprintln!(
        "FIGURE kill nodelocal #{round} ({}): {} of {} queries failed ({TIMEOUT:?} timeout, no \
         retry), sent from {first_fail:.2?} after the kill: unanswered for {:.2?}; the guard \
         removed the rules {gone:.2?} after the kill; nodelocal, restarted by kubelet, had them \
         back {back:.2?} after",
        node.proxy_mode().as_str(),
        report.failures.len(),
        report.sent,
        report.window(TIMEOUT),
    );
    let why = || {
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("{:.2?}", f.duration_since(killed)))
            .collect();
        let logs = |container: &str, previous: bool| {
            let mut args = vec!["-n", "kube-system", "logs", &pod, "-c", container];
            if previous {
                args.push("--previous");
            }
            let out = node.kubectl_output(&args, None);
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        format!(
            "timeline (since the kill: ClusterIP on the link, rules): {timeline:?}\n\
             failed queries sent at: {failures:?}\n\
             == guard\n{}\n== nodelocal (killed)\n{}\n== nodelocal (now)\n{}",
            logs("guard", false),
            logs("nodelocal", true),
            logs("nodelocal", false),
        )
    };
    assert!(
        report.window(TIMEOUT) < Duration::from_secs(5),
        "kill #{round}: the guard's fail-over took too long: {report:?}\n{}",
        why()
    );
    assert!(
        back.is_some() || gone.is_none(),
        "kill #{round}: nodelocal did not come back after the kill\n{}",
        why()
    );
}

fn node_pods(node: &RealNode, selector: &str) -> usize {
    node.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        "name",
    ])
    .lines()
    .count()
}

fn node_has_nodelocal_within(node: &RealNode, limit: Duration) -> Option<Duration> {
    let began = Instant::now();
    while began.elapsed() < limit {
        if node_has_nodelocal(node) {
            return Some(began.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// `kubectl rollout restart` of the DaemonSet under continuous lookups.
fn roll_nodelocal(node: &RealNode, client: i32) {
    let load = load_from(client, CLUSTER_DNS_IP, NAME, TIMEOUT);
    std::thread::sleep(Duration::from_secs(1));
    let began = Instant::now();
    node.kubectl(&[
        "-n",
        "kube-system",
        "rollout",
        "restart",
        "daemonset/node-local-dns",
    ]);
    node.rollout("daemonset/node-local-dns", "120s");
    // The rollout is done when the new pod is available; the old one then stops (hands over).
    let deadline = Instant::now() + Duration::from_secs(60);
    while node_pods(node, "k8s-app=node-local-dns") > 1 {
        assert!(
            Instant::now() < deadline,
            "the old nodelocal pod did not go"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = began.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let report = load.finish();
    eprintln!(
        "FIGURE rollout restart nodelocal ({}): {} of {} queries lost ({TIMEOUT:?} timeout, no \
         retry), rollout until the old pod was gone {took:.1?}, unanswered for {:.2?}",
        node.proxy_mode().as_str(),
        report.failures.len(),
        report.sent,
        report.window(TIMEOUT)
    );
    assert!(node_has_nodelocal_within(node, Duration::from_secs(30)).is_some());
}

/// Delete a cluster-dns pod under lookups to the kube-dns-upstream Service (no cache between).
fn delete_cluster_dns_pod(node: &RealNode, client: i32) {
    let upstream = jsonpath(
        node,
        "kube-system",
        "service/kube-dns-upstream",
        "{.spec.clusterIP}",
    );
    let victim = cluster_dns_pod(node);
    let load = load_from(client, &upstream, NAME, TIMEOUT);
    std::thread::sleep(Duration::from_secs(1));
    node.kubectl(&[
        "-n",
        "kube-system",
        "delete",
        "pod",
        &victim,
        "--wait=false",
    ]);
    std::thread::sleep(Duration::from_secs(12));
    node.rollout("deployment/cluster-dns", "120s");
    let report = load.finish();
    eprintln!(
        "FIGURE delete a cluster-dns pod ({}): {} of {} queries to kube-dns-upstream {upstream} \
         failed ({TIMEOUT:?} timeout, no retry), unanswered for {:.2?}",
        node.proxy_mode().as_str(),
        report.failures.len(),
        report.sent,
        report.window(TIMEOUT)
    );
}

#[test]
fn signpost_on_a_real_node() {
    let cp = ControlPlane::for_node();
    let mut node = RealNode::start(cp, ProxyMode::Nftables);
    eprintln!("FIGURE node start: {:.1?}", node.startup_time());

    let began = Instant::now();
    node.apply(&node.rendered_deploy("cluster-dns"));
    node.rollout("deployment/cluster-dns", "180s");
    node.apply(&node.rendered_deploy("nodelocal"));
    node.rollout("daemonset/node-local-dns", "180s");
    assert!(
        node_has_nodelocal_within(&node, Duration::from_secs(30)).is_some(),
        "nodelocal's link, addresses or NOTRACK table missing on the node"
    );
    assert!(
        kube_proxy_rules(ProxyMode::Nftables),
        "kube-proxy's nftables rules lack the kube-dns ClusterIP"
    );
    eprintln!(
        "FIGURE deploy (apply → Deployment and DaemonSet ready): {:.1?}",
        began.elapsed()
    );

    read_only_roots(&node);

    node.apply(&fixtures());
    let ready = node.kubectl_output(
        &[
            "-n",
            APP,
            "wait",
            "--for=condition=Ready",
            "pod/client",
            "--timeout=120s",
        ],
        None,
    );
    assert!(ready.status.success(), "client pod: {}", node.logs());
    pod_resolves(&node);

    // Three kills in a row in this mode (kubelet's back-off grows: 0, 10, 20 s); the fail-over
    // does not depend on kube-proxy's mode, so one in the other.
    drills(&node, 3);

    node.switch_kube_proxy(ProxyMode::Iptables);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kube_proxy_rules(ProxyMode::Iptables) {
        assert!(
            Instant::now() < deadline,
            "kube-proxy iptables mode: no rules\n{}",
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !kube_proxy_rules(ProxyMode::Nftables),
        "kube-proxy --cleanup left the nftables rules"
    );
    pod_resolves(&node);
    drills(&node, 1);

    node.teardown();
    let left = node.leftovers();
    assert!(left.is_empty(), "the node's teardown left: {left:?}");
}
