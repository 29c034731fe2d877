//! One Kubernetes node on the real kernel, for nodelocal's end-to-end tests: a "node" namespace
//! where nodelocal and its guard run, a "pod" namespace linked to it by veth, a "dns" namespace
//! where cluster-dns (snapshot mode) answers behind the kube-dns-upstream IP, and nftables DNAT
//! in the node namespace standing in for kube-proxy (the kube-dns ClusterIP and the upstream
//! Service's IP both lead to cluster-dns).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::Load;
use crate::netns::NetNs;
use crate::{
    ClusterDns, DigResult, TempDir, dig_via, nodelocal_binary, spawn_logged, wait_exit,
    workspace_root,
};

pub const LOCAL_IP: &str = "169.254.20.10";
pub const KUBE_DNS_IP: &str = "198.18.0.10";
pub const UPSTREAM_IP: &str = "198.18.0.11";
pub const POD_IP: &str = "198.18.64.2";
const NODE_POD_SIDE: &str = "198.18.64.1";
pub const DNS_POD_IP: &str = "198.18.65.2";
const NODE_DNS_SIDE: &str = "198.18.65.1";
/// A name cluster-dns answers from examples/cluster.yaml.
pub const NAME: &str = "web.prod.svc.cluster.local";
pub const NAME_ANSWER: &str = "A 198.18.0.20";

pub struct Node {
    pub node: NetNs,
    pub pod: NetNs,
    pub dns: NetNs,
    pub cluster_dns: ClusterDns,
}

impl Node {
    pub fn new(tag: &str) -> Self {
        let node = NetNs::isolated(&format!("{tag}-node"));
        let pod = NetNs::isolated(&format!("{tag}-pod"));
        let dns = NetNs::isolated(&format!("{tag}-dns"));
        node.link_to(&pod, NODE_POD_SIDE, POD_IP);
        node.link_to(&dns, NODE_DNS_SIDE, DNS_POD_IP);
        pod.output("ip", &["route", "add", "default", "via", NODE_POD_SIDE]);
        dns.output("ip", &["route", "add", "default", "via", NODE_DNS_SIDE]);
        // Like a node's default route: kube-proxy's DNAT comes after the route lookup, which
        // needs one for the Service IPs.
        node.output("ip", &["route", "add", "default", "via", DNS_POD_IP]);
        node.output("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        // nodelocal's `.` block forwards to the node's resolv.conf: cluster-dns here.
        node.set_resolv_conf(&format!("nameserver {DNS_POD_IP}\n"));
        let snapshot = std::fs::read_to_string(workspace_root().join("examples/cluster.yaml"))
            .expect("examples/cluster.yaml");
        let corefile = ".:{PORT} .:53 {\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n}\n";
        let cluster_dns = ClusterDns::launch_via(&dns.wrapper(), corefile, Some(&snapshot), &[]);
        let kube_proxy = format!(
            "table ip kube-proxy-stand-in {{\n\
             \tchain prerouting {{ type nat hook prerouting priority dstnat; \
             ip daddr {{ {KUBE_DNS_IP}, {UPSTREAM_IP} }} meta l4proto {{ udp, tcp }} th dport 53 dnat to {DNS_POD_IP}; }}\n\
             \tchain output {{ type nat hook output priority -100; \
             ip daddr {{ {KUBE_DNS_IP}, {UPSTREAM_IP} }} meta l4proto {{ udp, tcp }} th dport 53 dnat to {DNS_POD_IP}; }}\n\
             }}\n"
        );
        nft_in(&node, &kube_proxy);
        Node {
            node,
            pod,
            dns,
            cluster_dns,
        }
    }

    /// `nodelocal` on this node with `--rules MODE` and node-local-dns's Corefile.
    pub fn start_nodelocal(&self, rules: &str) -> Nodelocal {
        Nodelocal::start(&self.node, rules, &[])
    }

    /// `nodelocal guard` on this node.
    pub fn start_guard(&self, rules: &str) -> Guard {
        Guard::start(&self.node, rules)
    }

    /// `dig @SERVER NAME A` from the pod, one try of one second.
    pub fn dig_from_pod(&self, server: &str, name: &str) -> DigResult {
        dig_via(
            &self.pod.wrapper(),
            server,
            53,
            &[name, "A", "+time=1", "+tries=1"],
        )
    }

    /// The node's conntrack entries for DNS from the pod (UDP and TCP).
    pub fn pod_dns_conntrack(&self) -> Vec<String> {
        let mut entries = Vec::new();
        for proto in ["udp", "tcp"] {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.node.name, "conntrack", "-L"])
                .args(["-s", POD_IP, "-p", proto, "--dport", "53"])
                .output()
                .expect("run conntrack");
            entries.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_string),
            );
        }
        entries
    }

    pub fn flush_conntrack(&self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.node.name, "conntrack", "-F"])
            .output();
    }

    /// `nft list tables` in the node namespace.
    pub fn nft_tables(&self) -> String {
        self.node.output("nft", &["list", "tables"])
    }

    /// The node's addresses on the nodelocaldns link (empty when the link is gone).
    pub fn link_addrs(&self) -> String {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.node.name,
                "-o",
                "addr",
                "show",
                "dev",
                "nodelocaldns",
            ])
            .output()
            .expect("run ip");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Sends queries for [`NAME`] from the pod to `server` until stopped, each from a new
    /// source port and waiting up to `timeout`, with no retry: every lost query counts.
    pub fn load(&self, server: &str, timeout: Duration) -> Load {
        let target: SocketAddr = format!("{server}:53").parse().expect("server address");
        let pod = &self.pod;
        Load::start(
            |lookups| pod.spawn_in(lookups),
            target,
            NAME,
            timeout,
            Duration::from_millis(2),
        )
    }
}

fn nft_in(ns: &NetNs, script: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run nft");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("nft stdin");
        stdin
            .write_all(script.as_bytes())
            .expect("write nft script");
    }
    assert!(child.wait().expect("nft").success(), "nft -f:\n{script}");
}

/// A running `nodelocal`, killed on drop.
pub struct Nodelocal {
    child: Option<Child>,
    dir: TempDir,
}

impl Nodelocal {
    /// Starts nodelocal with node-local-dns's Corefile; panics unless it comes up serving.
    pub fn start(node: &NetNs, rules: &str, extra: &[&str]) -> Self {
        let template =
            std::fs::read_to_string(workspace_root().join("examples/nodelocal.Corefile"))
                .expect("examples/nodelocal.Corefile");
        match Self::try_start(node, rules, extra, &template, &[]) {
            Ok(n) => n,
            Err(log) => panic!("nodelocal did not come up:\n{log}"),
        }
    }

    /// Starts nodelocal with `template` as its template Corefile and extra environment; the
    /// running process once it serves, or its log once it exited (or after 20 s).
    pub fn try_start(
        node: &NetNs,
        rules: &str,
        extra: &[&str],
        template: &str,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let dir = TempDir::new("nodelocal");
        let base = dir.path().join("Corefile.base");
        std::fs::write(&base, template).expect("write the template Corefile");
        let conf = dir.path().join("Corefile");
        // By its full path: a test may give nodelocal a PATH without its tools.
        let mut command = Command::new(ip_binary());
        command
            .args(["netns", "exec", &node.name])
            .arg(nodelocal_binary())
            .arg(format!("-localip={LOCAL_IP},{KUBE_DNS_IP}"))
            .arg(format!("-basecorefile={}", base.display()))
            .arg(format!("-conf={}", conf.display()))
            .arg("-upstreamsvc=kube-dns-upstream")
            .arg(format!("--rules={rules}"))
            .arg("--metrics-listen-address=")
            .args(extra)
            .env("KUBE_DNS_UPSTREAM_SERVICE_HOST", UPSTREAM_IP)
            .envs(env.iter().copied());
        let child = spawn_logged(&mut command, &dir, "nodelocal");
        let mut n = Nodelocal {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(child) = n.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                n.child = None;
                return Err(format!("exited: {status}\n{}", n.log()));
            }
            if n.log().contains("nodelocal serving") {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not serving within 20s:\n{}", n.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The process id (`ip netns exec` execs the binary in place).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`, as when the container dies.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (what the kubelet sends), then waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        wait_exit(&mut child, Duration::from_secs(15), "nodelocal")
    }
}

impl Drop for Nodelocal {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ip` as the test's PATH finds it.
fn ip_binary() -> std::path::PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("ip"))
        .find(|p| p.exists())
        .unwrap_or_else(|| "ip".into())
}

/// A running `nodelocal guard`, killed on drop.
pub struct Guard {
    child: Child,
    dir: TempDir,
}

impl Guard {
    pub fn start(node: &NetNs, rules: &str) -> Self {
        let dir = TempDir::new("guard");
        let child = Command::new("ip")
            .args(["netns", "exec", &node.name])
            .arg(nodelocal_binary())
            .arg("guard")
            .arg(format!("--localip={LOCAL_IP},{KUBE_DNS_IP}"))
            .arg(format!("--rules={rules}"))
            .arg("--metrics-listen-address=127.0.0.1:9254")
            .env("RUST_LOG", "info")
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr.log")).expect("log file"),
            ))
            .stdout(Stdio::null())
            .spawn()
            .expect("start nodelocal guard");
        Guard { child, dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// `kill -9`, as when the container dies (again: nothing).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}
