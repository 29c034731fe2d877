//! Test support for Signpost's end-to-end tests: run the real binaries on loopback and ask them
//! with `dig`, the way an operator would; and a real Kubernetes control plane to run them
//! against ([`control_plane`]).

pub mod baseline;
pub mod control_plane;
pub mod host_lock;
pub mod knot;
pub mod kube_fixtures;
pub mod load;
pub mod manifests;
pub mod mcs;
pub mod netns;
pub mod node;
pub mod nodelocal;
pub mod tcp_proxy;

pub use control_plane::ControlPlane;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives in the workspace")
        .to_path_buf()
}

/// The `cluster-dns` binary: `$SIGNPOST_CLUSTER_DNS` if set, else the workspace's debug build,
/// built once per test binary if it is missing or older than its sources.
pub fn cluster_dns_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SIGNPOST_CLUSTER_DNS") {
        return PathBuf::from(p);
    }
    built_binary("cluster-dns")
}

/// The built `nodelocal` binary.
pub fn nodelocal_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SIGNPOST_NODELOCAL") {
        return PathBuf::from(p);
    }
    built_binary("nodelocal")
}

/// Both binaries, built once per test binary with the same command as `scripts/test` (so
/// nothing is rebuilt there: one set of packages, one feature resolution).
fn built_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "cluster-dns", "-p", "nodelocal"])
                .current_dir(workspace_root())
                .status()
                .expect("run cargo build");
            assert!(
                status.success(),
                "cargo build -p cluster-dns -p nodelocal failed"
            );
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| workspace_root().join("target"));
            target.join("debug")
        })
        .join(name)
}

/// Starts `command` at log level info, its stdout and stderr in `dir`'s `stdout.log` and
/// `stderr.log`.
pub fn spawn_logged(command: &mut Command, dir: &TempDir, what: &str) -> Child {
    let log = |name: &str| {
        Stdio::from(std::fs::File::create(dir.path().join(name)).expect("create a log file"))
    };
    command
        .env("RUST_LOG", "info")
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"))
}

/// Waits up to `limit` for `child` to exit; panics naming `what` otherwise.
pub fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not stop in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to `pid`, a child the test spawned and has not reaped (SIGSTOP and SIGCONT
/// freeze a server while the cluster changes under it).
pub fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) only sends a signal; the pid is a child the caller has not reaped.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

/// A loopback port free for both UDP and TCP right now, and never handed out twice in one
/// test binary: servers bind with SO_REUSEPORT, so two parallel tests given the same port
/// would both bind it and share its queries.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("0.0.0.0", port)).is_err() {
            continue;
        }
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("signpost-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `cluster-dns`, killed on drop.
pub struct ClusterDns {
    child: Child,
    /// Runs the process and dig elsewhere (e.g. `ip netns exec NS`); empty: here.
    wrapper: Vec<String>,
    pub port: u16,
    pub dir: TempDir,
    pub corefile: PathBuf,
    pub snapshot: PathBuf,
}

impl ClusterDns {
    /// Starts `cluster-dns --conf <corefile> --snapshot <snapshot>` where `{PORT}` in the
    /// Corefile text is replaced by a free loopback port, and waits until it answers.
    pub fn start(corefile: &str, snapshot_yaml: &str) -> Self {
        Self::launch(corefile, Some(snapshot_yaml), &[])
    }

    /// Starts `cluster-dns --conf <corefile>` in watch mode: `{PORT}` in the Corefile becomes a
    /// free loopback port and `{KUBECONFIG}` the given kubeconfig's path. Waits until it
    /// answers, which it does once the first full list arrived (or `startup_timeout` passed).
    pub fn start_watching(corefile: &str, kubeconfig: &Path) -> Self {
        let corefile = corefile.replace("{KUBECONFIG}", &kubeconfig.display().to_string());
        Self::launch(&corefile, None, &[])
    }

    /// Starts `cluster-dns` with `{PORT}` replaced, `--snapshot` only when `snapshot_yaml` is
    /// given, and extra environment variables.
    pub fn launch(corefile: &str, snapshot_yaml: Option<&str>, env: &[(&str, &str)]) -> Self {
        Self::launch_via(&[], corefile, snapshot_yaml, env)
    }

    /// [`Self::launch`] through `wrapper` (e.g. `ip netns exec NS`): the process runs there and
    /// [`Self::dig`] asks from there.
    pub fn launch_via(
        wrapper: &[&str],
        corefile: &str,
        snapshot_yaml: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch_on(free_port(), wrapper, corefile, snapshot_yaml, env)
    }

    /// [`Self::launch_via`] on a port the caller chose (files the Corefile imports may need
    /// to name it before the start).
    pub fn launch_on(
        port: u16,
        wrapper: &[&str],
        corefile: &str,
        snapshot_yaml: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = TempDir::new("cluster-dns");
        let corefile_path = dir.path().join("Corefile");
        let snapshot_path = dir.path().join("cluster.yaml");
        std::fs::write(
            &corefile_path,
            corefile.replace("{PORT}", &port.to_string()),
        )
        .expect("write Corefile");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(cluster_dns_binary());
                c
            }
            None => Command::new(cluster_dns_binary()),
        };
        command.arg("--conf").arg(&corefile_path);
        if let Some(yaml) = snapshot_yaml {
            std::fs::write(&snapshot_path, yaml).expect("write snapshot");
            command.arg("--snapshot").arg(&snapshot_path);
        }
        let child = spawn_logged(command.envs(env.iter().copied()), &dir, "cluster-dns");
        let mut server = Self {
            child,
            wrapper: wrapper.iter().map(|w| w.to_string()).collect(),
            port,
            dir,
            corefile: corefile_path,
            snapshot: snapshot_path,
        };
        server.wait_ready();
        server
    }

    /// The process id (for signals and RSS).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks `dig` until `done` holds for its result, for at most `timeout`; panics with the
    /// last answer and the server's log otherwise. Watch mode answers a change a moment after
    /// the API accepted it, so tests wait for the answer rather than sleep.
    pub fn dig_until(
        &self,
        args: &[&str],
        timeout: Duration,
        done: impl Fn(&DigResult) -> bool,
    ) -> DigResult {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.dig(args);
            if done(&r) {
                return r;
            }
            if Instant::now() >= deadline {
                panic!(
                    "dig {args:?}: no satisfying answer within {timeout:?}; last:\n{}\nserver log:\n{}",
                    r.raw,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `name type` answers `want` (`TYPE RDATA` of each record, any order) with
    /// NOERROR, for at most `timeout`.
    pub fn expect_answers(
        &self,
        name: &str,
        qtype: &str,
        want: &[&str],
        timeout: Duration,
    ) -> DigResult {
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        self.dig_until(&[name, qtype], timeout, |r| {
            r.status.as_deref() == Some("NOERROR") && r.answers() == want
        })
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("cluster-dns exited early ({status}):\n{}", self.log());
            }
            let r = self.dig(&["dns-version.cluster.local", "TXT", "+time=1", "+tries=1"]);
            if r.status.is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cluster-dns did not answer within 20s:\n{}", self.log());
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// What the server printed on stdout so far (CoreDNS's plugin log lines).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// `dig @127.0.0.1 -p <port> <args...>`, from where the server runs.
    pub fn dig(&self, args: &[&str]) -> DigResult {
        let wrapper: Vec<&str> = self.wrapper.iter().map(String::as_str).collect();
        dig_via(&wrapper, "127.0.0.1", self.port, args)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.signal_term();
        self.wait_exit(Duration::from_secs(15))
    }

    /// Sends SIGTERM and returns at once.
    pub fn signal_term(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(mut self, limit: Duration) -> std::process::ExitStatus {
        wait_exit(&mut self.child, limit, "cluster-dns")
    }
}

impl Drop for ClusterDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/cluster.yaml`, the snapshot most tests serve.
pub fn example_cluster() -> String {
    std::fs::read_to_string(workspace_root().join("examples/cluster.yaml"))
        .expect("example cluster")
}

/// `GET path` on 127.0.0.1:`port`, as a probe or a scraper asks: the status code and body,
/// or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The value of the first sample of `family` in Prometheus text `metrics` whose labels
/// include every `want` pair (`to="127.0.0.1:53"`).
pub fn sample(metrics: &str, family: &str, want: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .find(|l| want.iter().all(|w| l.contains(w)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The sum of every sample of `family` in Prometheus text `metrics`, whatever its labels.
pub fn sum(metrics: &str, family: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One `dig` answer, split into its parts.
#[derive(Debug, Default, Clone)]
pub struct DigResult {
    /// `NOERROR`, `NXDOMAIN`, ... or `None` when dig got no answer.
    pub status: Option<String>,
    pub flags: Vec<String>,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
    pub raw: String,
}

/// A resource record as dig prints it: name, TTL, type and rdata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub rtype: String,
    pub rdata: String,
}

impl DigResult {
    /// `TYPE RDATA` of every answer record, sorted: the usual thing to compare.
    pub fn answers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .answer
            .iter()
            .map(|r| format!("{} {}", r.rtype, r.rdata))
            .collect();
        v.sort();
        v
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// Runs `binary` with `args` and extra `env` to its end: its exit code (-1 for a signal) and
/// its stdout then stderr (`check`, `-plugins`).
pub fn run(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(binary)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Runs dig against 127.0.0.1:`port` and parses its output.
pub fn dig(port: u16, args: &[&str]) -> DigResult {
    dig_via(&[], "127.0.0.1", port, args)
}

/// Runs `<wrapper...> dig @server -p port <args>` (the wrapper, e.g. `ip netns exec NS`, runs
/// dig elsewhere) and parses its output.
pub fn dig_via(wrapper: &[&str], server: &str, port: u16, args: &[&str]) -> DigResult {
    let (program, wrapper_args) = match wrapper.split_first() {
        Some((program, rest)) => (*program, rest),
        None => ("dig", &[][..]),
    };
    let mut command = Command::new(program);
    command.args(wrapper_args);
    if !wrapper.is_empty() {
        command.arg("dig");
    }
    let out = command
        .arg(format!("@{server}"))
        .arg("-p")
        .arg(port.to_string())
        .args([
            "+noall",
            "+comments",
            "+answer",
            "+authority",
            "+additional",
            "+nocookie",
        ])
        .args(args)
        .output()
        .expect("run dig (scripts/install-deps installs it)");
    parse_dig(&String::from_utf8_lossy(&out.stdout))
}

/// Parses dig's `+comments +answer +authority +additional` output.
pub fn parse_dig(text: &str) -> DigResult {
    let mut result = DigResult {
        raw: text.to_string(),
        ..Default::default()
    };
    let mut section = "";
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
            result.status = rest
                .split(',')
                .find_map(|p| p.trim().strip_prefix("status: "))
                .map(str::to_string);
        } else if let Some(rest) = line.strip_prefix(";; flags:") {
            let flags = rest.split(';').next().unwrap_or("");
            result.flags = flags.split_whitespace().map(str::to_string).collect();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
        } else if line.is_empty() || line.starts_with(';') {
            continue;
        } else if let Some(rr) = parse_rr(line) {
            match section {
                "answer" => result.answer.push(rr),
                "authority" => result.authority.push(rr),
                "additional" => result.additional.push(rr),
                _ => {}
            }
        }
    }
    result
}

fn parse_rr(line: &str) -> Option<Rr> {
    let mut parts = line.split_whitespace();
    let name = parts.next()?.to_string();
    let ttl = parts.next()?.parse().ok()?;
    let _class = parts.next()?;
    let rtype = parts.next()?.to_string();
    let rdata = parts.collect::<Vec<_>>().join(" ");
    Some(Rr {
        name,
        ttl,
        rtype,
        rdata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dig_output() {
        let text = ";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n\
;; flags: qr aa rd; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1\n\n\
;; AUTHORITY SECTION:\ncluster.local.\t\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5\n";
        let r = parse_dig(text);
        assert_eq!(r.status.as_deref(), Some("NXDOMAIN"));
        assert!(r.has_flag("aa"));
        assert_eq!(r.authority.len(), 1);
        assert_eq!(r.authority[0].rtype, "SOA");
        assert_eq!(r.authority[0].ttl, 5);
    }
}
