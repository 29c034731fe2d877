//! A real Kubernetes node on this machine, beside the test control plane
//! ([`ControlPlane::for_node`]): containerd with runc and the CNI bridge plugin (Debian's),
//! kubelet, kube-proxy and kube-scheduler (built by `scripts/node/build`, found through
//! `$SIGNPOST_NODE_BIN`), running pods from the images `scripts/image/build --test-images`
//! wrote (found through `$SIGNPOST_IMAGES`).
//!
//! Everything lives in a state directory of its own (`$TMPDIR/signpost-node-<pid>`): containerd's
//! root and state, its socket, kubelet's root, pod logs, the CNI configuration and leases.
//! Addresses: the node (and the apiserver's advertise address) is [`NODE_IP`] and the upstream
//! knotd is [`UPSTREAM_IP`], both on a dummy link [`HOST_LINK`]; pods get [`POD_CIDR`] on the
//! bridge [`BRIDGE`]; Services come from the control plane's 198.18.0.0/16.
//!
//! The node changes host state, so it holds the host lock ([`crate::host_lock`]) and
//! [`RealNode::teardown`] (also run on drop) undoes everything by name and PID: processes
//! (kubelet, kube-proxy, kube-scheduler, containerd, its shims and every container process),
//! mounts under the state directory, the pods' network namespaces, links, cgroups, kube-proxy's
//! and nodelocal's rules (`kube-proxy --cleanup`), the sysctls kubelet, kube-proxy and the
//! bridge plugin set (saved at start, written back), and the host directories kubelet and
//! containerd create when they did not exist before. [`RealNode::leftovers`] lists whatever
//! would remain, and a start first clears what a killed run left.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::control_plane::{APISERVER_ADVERTISE_ADDRESS, ControlPlane};
use crate::knot::Knot;
use crate::load::{Load, LoadReport};
use crate::{free_port, host_lock, workspace_root};

pub const NODE_NAME: &str = "signpost-node";
/// The node's InternalIP: the control plane's advertise address, on [`HOST_LINK`].
pub const NODE_IP: &str = APISERVER_ADVERTISE_ADDRESS;
/// The pods' addresses (the CNI bridge's host-local range); the gateway is `.1`.
pub const POD_CIDR: &str = "198.19.0.0/24";
pub const POD_GATEWAY: &str = "198.19.0.1";
/// The kube-dns Service's ClusterIP: kubelet's clusterDNS.
pub const CLUSTER_DNS_IP: &str = "198.18.0.10";
/// The node-local IP nodelocal binds beside [`CLUSTER_DNS_IP`].
pub const LOCAL_IP: &str = "169.254.20.10";
/// The node's upstream resolver (knotd serving `example.test`): kubelet's resolvConf names it.
pub const UPSTREAM_IP: &str = "198.19.254.53";
/// The dummy link (an empty bridge without the dummy driver) holding [`NODE_IP`] and
/// [`UPSTREAM_IP`].
pub const HOST_LINK: &str = "signpost-host";
/// The CNI bridge.
pub const BRIDGE: &str = "signpost-cni0";
/// The images' names (what `scripts/image/build` writes and deploy/ names).
pub const PAUSE_IMAGE: &str = "signpost.test/pause:1";
pub const CLIENT_IMAGE: &str = "signpost.test/client:1";

const STATE_PREFIX: &str = "signpost-node-";

/// The sysctls kubelet (protectKernelDefaults off), kube-proxy and the bridge plugin may set,
/// and the test sets itself (bridge-nf-call): saved at start and written back at teardown.
const SYSCTLS: &[&str] = &[
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
];

/// Host paths kubelet, containerd, the CNI plugins and the DaemonSet's hostPath volume
/// (`/run/xtables.lock`) make whatever the configuration says: removed at teardown when they
/// did not exist at start.
const HOST_DIRS: &[&str] = &[
    "/run/xtables.lock",
    "/var/log/containers",
    "/var/log/pods",
    "/run/containerd",
    "/run/mount",
    "/var/lib/cni",
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/etc/kubernetes",
    "/run/netns",
    "/opt/cni",
    "/etc/cni",
];

/// kube-proxy's two modes the test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    Nftables,
    Iptables,
}

impl ProxyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Nftables => "nftables",
            ProxyMode::Iptables => "iptables",
        }
    }
}

struct Proc {
    name: &'static str,
    child: Child,
}

/// A running node. See the module documentation.
pub struct RealNode {
    dir: PathBuf,
    bin: PathBuf,
    kubeconfig: PathBuf,
    procs: Vec<Proc>,
    proxy_mode: ProxyMode,
    sysctls: Vec<(String, String)>,
    host_dirs_before: BTreeSet<String>,
    nft_tables_before: BTreeSet<String>,
    netns_before: BTreeSet<String>,
    knot: Option<Knot>,
    startup: Duration,
    torn_down: bool,
}

fn env_dir(var: &str, how: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: {how} (scripts/test does)"))
}

/// The directory `scripts/node/build` printed (kubelet, kube-proxy, kube-scheduler, kubectl).
pub fn node_bin() -> PathBuf {
    env_dir(
        "SIGNPOST_NODE_BIN",
        "run scripts/node/build and export SIGNPOST_NODE_BIN=<the directory it prints last>",
    )
}

/// The directory with `scripts/image/build --test-images`'s archives.
pub fn images_dir() -> PathBuf {
    env_dir(
        "SIGNPOST_IMAGES",
        "run scripts/image/build --test-images and export SIGNPOST_IMAGES=<its output directory>",
    )
}

/// The `clusterIP` of deploy/cluster-dns/service.yaml.
fn deploy_cluster_ip() -> String {
    let path = workspace_root().join("deploy/cluster-dns/service.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/cluster-dns/service.yaml");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("clusterIP:"))
        .map(|ip| ip.trim().to_string())
        .expect("a clusterIP in deploy/cluster-dns/service.yaml")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc/sys").join(name))
        .ok()
        .map(|v| v.trim().to_string())
}

fn write_sysctl(name: &str, value: &str) {
    let _ = std::fs::write(Path::new("/proc/sys").join(name), value);
}

fn spawn(name: &'static str, program: &Path, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let err = out.try_clone().expect("clone log fd");
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Dies with the thread that started it (the test's), even on SIGKILL.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    Proc { name, child }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    format!("--- {} ---\n{}", path.display(), all[from..].join("\n"))
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("node: gave up waiting for {what} after {limit:?}");
    false
}

fn listed_netns() -> BTreeSet<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Mount points at or under `prefix`, deepest first.
fn mounts_under(prefix: &str) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    points
}

fn unmount_under(prefix: &str) {
    for _ in 0..3 {
        let points = mounts_under(prefix);
        if points.is_empty() {
            return;
        }
        for p in points {
            let c = std::ffi::CString::new(p).expect("mount point");
            // SAFETY: a plain syscall with a valid C string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// PIDs of processes in a `kubepods` cgroup (the node's containers; only this node's kubelet
/// runs on the machine while the host lock is held), and of containerd shims.
fn node_processes() -> Vec<i32> {
    let mut pids = Vec::new();
    let me = std::process::id() as i32;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cgroup.contains("/kubepods")
            || (cmdline.contains("containerd-shim") && cmdline.contains(STATE_PREFIX))
        {
            pids.push(pid);
        }
    }
    pids
}

/// Cgroup directories named `kubepods` in every hierarchy, removed deepest first.
fn remove_kubepods_cgroups() -> Vec<String> {
    let mut left = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let root = hierarchy.path().join("kubepods");
        if !root.is_dir() {
            continue;
        }
        let mut dirs = Vec::new();
        collect_dirs(&root, &mut dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in &dirs {
            let _ = std::fs::remove_dir(d);
        }
        if root.exists() {
            left.push(root.display().to_string());
        }
    }
    left
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_dirs(&e.path(), out);
        }
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

impl RealNode {
    /// Starts the node with kube-proxy in `mode` and waits until it is Ready. Panics with the
    /// tail of the failing process's log.
    pub fn start(cp: &ControlPlane, mode: ProxyMode) -> RealNode {
        Self::start_serving(cp, mode, &[])
    }

    /// As [`RealNode::start`], the node's upstream (knotd) serving `zones` (domain, zone file
    /// text) beside example.test.
    pub fn start_serving(cp: &ControlPlane, mode: ProxyMode, zones: &[(&str, &str)]) -> RealNode {
        host_lock::hold();
        let began = Instant::now();
        let bin = node_bin();
        let images = images_dir();
        clear_stale(&bin);
        let dir = std::env::temp_dir().join(format!("{STATE_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the node's state directory");
        let host_dirs_before = HOST_DIRS
            .iter()
            .filter(|d| Path::new(d).exists())
            .map(|d| d.to_string())
            .collect();
        let sysctls = SYSCTLS
            .iter()
            .filter_map(|s| read_sysctl(s).map(|v| (s.to_string(), v)))
            .collect();
        let mut node = RealNode {
            dir: dir.clone(),
            bin: bin.clone(),
            kubeconfig: cp.kubeconfig().to_path_buf(),
            procs: Vec::new(),
            proxy_mode: mode,
            sysctls,
            host_dirs_before,
            netns_before: listed_netns(),
            nft_tables_before: nft_tables(),
            knot: None,
            startup: Duration::ZERO,
            torn_down: false,
        };
        // Pods reach Services on this node's bridge through the host's netfilter (kube-proxy's
        // DNAT back to a pod on the same bridge needs the bridged reply to pass conntrack).
        write_sysctl("net/bridge/bridge-nf-call-iptables", "1");
        write_sysctl("net/bridge/bridge-nf-call-ip6tables", "1");

        // A dummy link, or an empty bridge where the kernel has no dummy driver (as nodelocal
        // does for its own link).
        if !run("ip", &["link", "add", HOST_LINK, "type", "dummy"])
            .status
            .success()
        {
            run_ok("ip", &["link", "add", HOST_LINK, "type", "bridge"]);
        }
        run_ok(
            "ip",
            &["addr", "add", &format!("{NODE_IP}/32"), "dev", HOST_LINK],
        );
        run_ok(
            "ip",
            &[
                "addr",
                "add",
                &format!("{UPSTREAM_IP}/32"),
                "dev",
                HOST_LINK,
            ],
        );
        run_ok("ip", &["link", "set", HOST_LINK, "up"]);
        node.knot = Some(Knot::start_serving(
            &[],
            format!("{UPSTREAM_IP}:53").parse().expect("knot address"),
            zones,
        ));

        node.write_config();
        node.start_containerd();
        for archive in ["pause.oci.tar", "client.oci.tar"] {
            node.import(&images.join(archive));
        }
        let signpost = std::fs::read_dir(&images)
            .expect("read SIGNPOST_IMAGES")
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                n.starts_with("signpost-") && n.ends_with(".oci.tar")
            })
            .expect("no signpost-<version>.oci.tar in SIGNPOST_IMAGES");
        node.import(&signpost);

        node.start_kubelet();
        node.start_kube_proxy(mode);
        node.start_scheduler();
        let ready = wait_for("the Node to be Ready", Duration::from_secs(120), || {
            let out = node.kubectl_output(
                &[
                    "get",
                    "node",
                    NODE_NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ],
                None,
            );
            String::from_utf8_lossy(&out.stdout).trim() == "True"
        });
        if !ready {
            let logs = node.logs();
            panic!("the node did not become Ready\n{logs}");
        }
        node.startup = began.elapsed();
        eprintln!(
            "node: {NODE_NAME} Ready in {:.1?} (kube-proxy {}), state in {}",
            node.startup,
            mode.as_str(),
            dir.display()
        );
        node
    }

    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn proxy_mode(&self) -> ProxyMode {
        self.proxy_mode
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    fn write_config(&self) {
        let d = self.dir.display();
        let write = |name: &str, text: String| {
            let path = self.dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("config dir");
            }
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        };
        write(
            "containerd.toml",
            format!(
                r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "runc"
        Root = "{d}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni/net.d"
"#
            ),
        );
        write(
            "cni/net.d/10-signpost.conflist",
            format!(
                r#"{{
  "cniVersion": "0.4.0",
  "name": "signpost",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{d}/cni/ipam",
        "ranges": [[{{"subnet": "{POD_CIDR}", "gateway": "{POD_GATEWAY}"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}]
      }}
    }}
  ]
}}
"#
            ),
        );
        // kubelet's resolvConf: what dnsPolicy Default pods (nodelocal, cluster-dns) get, and
        // so nodelocal's upstream for names outside the cluster.
        write("resolv.conf", format!("nameserver {UPSTREAM_IP}\n"));
        write(
            "kubelet.yaml",
            format!(
                r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: {port}
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{d}/containerd.sock
clusterDNS: ["{CLUSTER_DNS_IP}"]
clusterDomain: cluster.local
resolvConf: {d}/resolv.conf
podLogsDir: {d}/pod-logs
hairpinMode: hairpin-veth
protectKernelDefaults: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 2s
"#,
                port = free_port()
            ),
        );
    }

    fn start_containerd(&mut self) {
        let log = self.dir.join("containerd.log");
        let args = vec![
            "--config".to_string(),
            self.dir.join("containerd.toml").display().to_string(),
        ];
        self.procs
            .push(spawn("containerd", Path::new("containerd"), &args, &log));
        let sock = self.sock().display().to_string();
        let up = wait_for("containerd", Duration::from_secs(30), || {
            run("ctr", &["--address", &sock, "version"])
                .status
                .success()
        });
        assert!(up, "containerd did not start\n{}", tail(&log, 40));
    }

    /// `ctr -n k8s.io images import` of an OCI archive.
    pub fn import(&self, archive: &Path) {
        let sock = self.sock().display().to_string();
        run_ok(
            "ctr",
            &[
                "--address",
                &sock,
                "-n",
                "k8s.io",
                "images",
                "import",
                "--snapshotter",
                "overlayfs",
                &archive.display().to_string(),
            ],
        );
    }

    fn start_kubelet(&mut self) {
        let d = &self.dir;
        let args = vec![
            format!("--config={}", d.join("kubelet.yaml").display()),
            format!("--kubeconfig={}", self.kubeconfig.display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--node-ip={NODE_IP}"),
            format!("--root-dir={}", d.join("kubelet").display()),
            format!("--cert-dir={}", d.join("kubelet-pki").display()),
            "--v=1".to_string(),
        ];
        let log = d.join("kubelet.log");
        self.procs
            .push(spawn("kubelet", &self.bin.join("kubelet"), &args, &log));
    }

    fn start_kube_proxy(&mut self, mode: ProxyMode) {
        let args = vec![
            format!("--kubeconfig={}", self.kubeconfig.display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--proxy-mode={}", mode.as_str()),
            format!("--cluster-cidr={POD_CIDR}"),
            // 0: leave the host's conntrack table size and timeouts alone.
            "--conntrack-max-per-core=0".to_string(),
            "--conntrack-tcp-timeout-established=0s".to_string(),
            "--conntrack-tcp-timeout-close-wait=0s".to_string(),
            "--iptables-localhost-nodeports=false".to_string(),
            format!("--nodeport-addresses={NODE_IP}/32"),
            format!("--healthz-bind-address=127.0.0.1:{}", free_port()),
            format!("--metrics-bind-address=127.0.0.1:{}", free_port()),
            "--v=1".to_string(),
        ];
        let log = self.dir.join(format!("kube-proxy-{}.log", mode.as_str()));
        self.procs.push(spawn(
            "kube-proxy",
            &self.bin.join("kube-proxy"),
            &args,
            &log,
        ));
        self.proxy_mode = mode;
    }

    fn start_scheduler(&mut self) {
        let kc = self.kubeconfig.display().to_string();
        let args = vec![
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--leader-elect=false".to_string(),
            "--secure-port=0".to_string(),
            "--v=1".to_string(),
        ];
        let log = self.dir.join("kube-scheduler.log");
        self.procs.push(spawn(
            "kube-scheduler",
            &self.bin.join("kube-scheduler"),
            &args,
            &log,
        ));
    }

    /// Stops kube-proxy, removes its rules (`kube-proxy --cleanup`) and starts it in `mode`.
    pub fn switch_kube_proxy(&mut self, mode: ProxyMode) {
        self.stop_proc("kube-proxy");
        self.kube_proxy_cleanup();
        self.start_kube_proxy(mode);
    }

    fn kube_proxy_cleanup(&self) {
        kube_proxy_cleanup(&self.bin);
    }

    fn stop_proc(&mut self, name: &str) {
        let mut kept = Vec::new();
        for mut p in self.procs.drain(..) {
            if p.name == name {
                let _ = p.child.kill();
                let _ = p.child.wait();
            } else {
                kept.push(p);
            }
        }
        self.procs = kept;
    }

    /// `kubectl` with the admin kubeconfig; stdout, panicking on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args, None);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl` with the admin kubeconfig and `stdin`, whatever its status.
    pub fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(self.bin.join("kubectl"));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run kubectl");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(text.as_bytes()).expect("kubectl stdin");
        }
        child.wait_with_output().expect("kubectl")
    }

    /// The PID (on the host) of `container` in pod `namespace/pod`, from containerd's state.
    pub fn container_pid(&self, namespace: &str, pod: &str, container: &str) -> Option<i32> {
        let id = self
            .kubectl(&[
                "-n",
                namespace,
                "get",
                "pod",
                pod,
                "-o",
                &format!(
                    "jsonpath={{.status.containerStatuses[?(@.name==\"{container}\")].containerID}}"
                ),
            ])
            .trim()
            .trim_start_matches("containerd://")
            .to_string();
        if id.is_empty() {
            return None;
        }
        let path = self
            .dir
            .join("containerd/state/io.containerd.runtime.v2.task/k8s.io")
            .join(&id)
            .join("init.pid");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Runs `args` inside a container (its mount, network, UTS and IPC namespaces: its own
    /// binaries and `/etc/resolv.conf`), as `kubectl exec` would.
    pub fn exec(&self, namespace: &str, pod: &str, container: &str, args: &[&str]) -> Output {
        let pid = self
            .container_pid(namespace, pod, container)
            .unwrap_or_else(|| panic!("no running container {namespace}/{pod}/{container}"));
        let t = pid.to_string();
        let mut all = vec!["-t", &t, "-m", "-n", "-u", "-i", "--"];
        all.extend_from_slice(args);
        run("nsenter", &all)
    }

    /// Lists what a teardown would have to remove: processes, mounts, links, netns, cgroups,
    /// rules, changed sysctls, host directories. Empty after [`RealNode::teardown`].
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for p in node_processes() {
            left.push(format!("process {p}"));
        }
        for m in mounts_under(&self.dir.display().to_string()) {
            left.push(format!("mount {m}"));
        }
        for l in [HOST_LINK, BRIDGE, "nodelocaldns"] {
            if link_exists(l) {
                left.push(format!("link {l}"));
            }
        }
        for n in listed_netns().difference(&self.netns_before) {
            left.push(format!("netns {n}"));
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            if h.path().join("kubepods").exists() {
                left.push(format!("cgroup {}/kubepods", h.path().display()));
            }
        }
        for t in nft_tables().difference(&self.nft_tables_before) {
            left.push(format!("nft {t}"));
        }
        for (tool, table) in iptables_tables() {
            let rules = run(tool, &["-w", "-t", table, "-S"]);
            for rule in String::from_utf8_lossy(&rules.stdout).lines() {
                if rule.contains("KUBE-") {
                    left.push(format!("{tool} -t {table}: {rule}"));
                }
            }
        }
        for (name, value) in &self.sysctls {
            if read_sysctl(name).as_deref() != Some(value) {
                left.push(format!("sysctl {name}"));
            }
        }
        for d in HOST_DIRS {
            if !self.host_dirs_before.contains(*d) && Path::new(d).exists() {
                left.push(format!("directory {d}"));
            }
        }
        left
    }

    /// `kubectl kustomize deploy/<dir>` with the kube-dns ClusterIP of deploy/ (the usual
    /// default, in service.yaml) rewritten to the test's [`CLUSTER_DNS_IP`].
    pub fn rendered_deploy(&self, dir: &str) -> String {
        let path = workspace_root().join("deploy").join(dir);
        self.kubectl(&["kustomize", &path.display().to_string()])
            .replace(&deploy_cluster_ip(), CLUSTER_DNS_IP)
    }

    /// `kubectl apply -f -` of `yaml`, panicking on failure.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl_output(&["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply: {}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `kubectl -n kube-system rollout status <what>`, panicking with pods, events and the
    /// node's logs when it does not finish within `limit` (a kubectl duration).
    pub fn rollout(&self, what: &str, limit: &str) {
        let out = self.kubectl_output(
            &[
                "-n",
                "kube-system",
                "rollout",
                "status",
                what,
                &format!("--timeout={limit}"),
            ],
            None,
        );
        if !out.status.success() {
            let pods = self.kubectl(&["get", "pods", "-A", "-o", "wide"]);
            let events = self.kubectl(&["get", "events", "-A"]);
            panic!(
                "rollout {what}: {}\n{pods}\n{events}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
    }

    /// The tails of the node's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "containerd.log",
            "kubelet.log",
            "kube-proxy-nftables.log",
            "kube-proxy-iptables.log",
            "kube-scheduler.log",
        ] {
            let p = self.dir.join(name);
            if p.exists() {
                out.push_str(&tail(&p, 25));
                out.push('\n');
            }
        }
        out
    }

    /// Stops and removes everything the node made (see the module documentation). Idempotent.
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        for name in ["kube-scheduler", "kubelet", "kube-proxy"] {
            self.stop_proc(name);
        }
        kill_node_processes();
        self.kube_proxy_cleanup();
        remove_kube_iptables();
        remove_empty_tables(&self.nft_tables_before);
        self.stop_proc("containerd");
        let dir = self.dir.display().to_string();
        unmount_under(&dir);
        for n in listed_netns().difference(&self.netns_before) {
            let path = format!("/run/netns/{n}");
            unmount_under(&path);
            let _ = std::fs::remove_file(&path);
        }
        remove_node_links();
        remove_kubepods_cgroups();
        for (name, value) in &self.sysctls {
            write_sysctl(name, value);
        }
        self.knot = None;
        for d in HOST_DIRS {
            if !self.host_dirs_before.contains(*d) {
                unmount_under(d);
                if Path::new(d).is_dir() {
                    let _ = std::fs::remove_dir_all(d);
                } else {
                    let _ = std::fs::remove_file(d);
                }
            }
        }
        if std::env::var_os("SIGNPOST_KEEP_NODE").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for RealNode {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn kube_proxy_cleanup(bin: &Path) {
    let _ = run(
        &bin.join("kube-proxy").display().to_string(),
        &["--cleanup", "--v=0"],
    );
}

/// The (tool, table) pairs kubelet and kube-proxy write with the host's `iptables`.
fn iptables_tables() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for tool in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "mangle"] {
            out.push((tool, table));
        }
    }
    out
}

/// What `kube-proxy --cleanup` leaves: kubelet's own chains (KUBE-KUBELET-CANARY,
/// KUBE-FIREWALL...) and any jump to them, in every table of `iptables` and `ip6tables`.
fn remove_kube_iptables() {
    for (tool, table) in iptables_tables() {
        let rules = run(tool, &["-w", "-t", table, "-S"]);
        let text = String::from_utf8_lossy(&rules.stdout).into_owned();
        for rule in text.lines() {
            // Rules in built-in chains that jump to a KUBE- chain.
            if let Some(spec) = rule.strip_prefix("-A ")
                && !spec.starts_with("KUBE-")
                && rule.contains("KUBE-")
            {
                let words = shell_words(spec);
                let mut args = vec!["-w", "-t", table, "-D"];
                args.extend(words.iter().map(String::as_str));
                let _ = run(tool, &args);
            }
        }
        let chains: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("-N "))
            .filter(|c| c.starts_with("KUBE-"))
            .collect();
        for c in &chains {
            let _ = run(tool, &["-w", "-t", table, "-F", c]);
        }
        for c in &chains {
            let _ = run(tool, &["-w", "-t", table, "-X", c]);
        }
    }
}

/// `nft list tables`: "family name" per table.
fn nft_tables() -> BTreeSet<String> {
    let out = run("nft", &["list", "tables"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("table "))
        .map(str::to_string)
        .collect()
}

/// Tables that appeared during the run (iptables-nft makes `ip filter`, `ip nat`... for
/// kubelet's and kube-proxy's chains) and hold no rule any more: deleted.
fn remove_empty_tables(before: &BTreeSet<String>) {
    for table in nft_tables().difference(before) {
        let mut args = vec!["list", "table"];
        args.extend(table.split_whitespace());
        let listing = String::from_utf8_lossy(&run("nft", &args).stdout).into_owned();
        let empty = listing.lines().map(str::trim).all(|l| {
            l.is_empty()
                || l.starts_with("table ")
                || l.starts_with("chain ")
                || l.starts_with("type ")
                || l == "}"
        });
        if empty {
            let mut args = vec!["delete", "table"];
            args.extend(table.split_whitespace());
            let _ = run("nft", &args);
        }
    }
}

/// `iptables -S` output words: split at spaces, except inside double quotes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            _ => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

fn kill_node_processes() {
    for _ in 0..50 {
        let pids = node_processes();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            // SAFETY: signalling a PID found in a kubepods cgroup or a shim of this node.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Links a node makes: the host link, the CNI bridge, and nodelocal's link with its nft table
/// (nodelocal removes them when stopped, not when killed).
fn remove_node_links() {
    for l in [HOST_LINK, BRIDGE, "nodelocaldns"] {
        if link_exists(l) {
            let _ = run("ip", &["link", "del", l]);
        }
    }
    let _ = run("nft", &["delete", "table", "inet", "nodelocaldns"]);
}

/// What a killed earlier run left (its test binary is gone): processes, mounts and state
/// directories of dead PIDs, links, rules, cgroups.
fn clear_stale(bin: &Path) {
    let mut stale = false;
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(STATE_PREFIX) else {
            continue;
        };
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        stale = true;
        kill_node_processes();
        unmount_under(&entry.path().display().to_string());
        let _ = std::fs::remove_dir_all(entry.path());
    }
    if stale || link_exists(HOST_LINK) || link_exists(BRIDGE) {
        eprintln!("node: clearing what an earlier run left");
        kill_node_processes();
        kube_proxy_cleanup(bin);
        remove_kube_iptables();
        remove_node_links();
        remove_kubepods_cgroups();
        for n in listed_netns() {
            if n.starts_with("cni-") {
                let path = format!("/run/netns/{n}");
                unmount_under(&path);
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Continuous A queries for `name` to `server:53` from inside the network namespace of the
/// process `pid` (a pod's), each from a new socket, waiting up to `timeout`, no retry.
pub fn load_from(pid: i32, server: &str, name: &str, timeout: Duration) -> Load {
    let target: SocketAddr = format!("{server}:53").parse().expect("server address");
    let ns = format!("/proc/{pid}/ns/net");
    let spawn = move |lookups: Box<dyn FnOnce() -> LoadReport + Send>| {
        std::thread::spawn(move || {
            let file = std::fs::File::open(&ns).unwrap_or_else(|e| panic!("open {ns}: {e}"));
            // SAFETY: a plain syscall on an fd this thread owns; affects this thread only.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            lookups()
        })
    };
    Load::start(spawn, target, name, timeout, Duration::from_millis(5))
}
