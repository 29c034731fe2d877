//! The benches' comparison with CoreDNS: the CoreDNS binary (built by
//! scripts/baseline/coredns-build, given as `$SIGNPOST_COREDNS`), and a DNS server process under
//! measurement, cluster-dns or CoreDNS, started the same way from the same Corefile.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{DigResult, TempDir, cluster_dns_binary, dig, free_port, http_get};

/// The CoreDNS binary: `$SIGNPOST_COREDNS`. Panics with how to get it when unset.
pub fn coredns_binary() -> PathBuf {
    let path = std::env::var_os("SIGNPOST_COREDNS")
        .map(PathBuf::from)
        .expect(
            "SIGNPOST_COREDNS is unset: run the bench script, or export \
             SIGNPOST_COREDNS=$(scripts/baseline/coredns-build | tail -n 1)",
        );
    assert!(
        path.is_file(),
        "SIGNPOST_COREDNS={}: no such file",
        path.display()
    );
    path
}

/// A DNS server under measurement, killed on drop.
pub struct Server {
    pub name: &'static str,
    child: Child,
    dir: TempDir,
    /// The DNS port (`{PORT}` in the Corefile).
    pub port: u16,
    /// The `ready` port (`{READY}`).
    pub ready_port: u16,
    /// The `prometheus` port (`{METRICS}`).
    pub metrics_port: u16,
}

impl Server {
    /// Spawns cluster-dns with `corefile` (see [`Server::spawn`]). Returns at once.
    pub fn cluster_dns(corefile: &str, kubeconfig: &Path) -> Self {
        Self::cluster_dns_on(None, corefile, kubeconfig)
    }

    /// [`Server::cluster_dns`], confined to CPU `cpu` (`taskset`) when given, so it has one
    /// core.
    pub fn cluster_dns_on(cpu: Option<usize>, corefile: &str, kubeconfig: &Path) -> Self {
        let program = cluster_dns_binary();
        Self::spawn("cluster-dns", &program, "", corefile, kubeconfig, cpu, &[])
    }

    /// Spawns the cluster-dns binary `program` (a build to compare with) with `corefile` and
    /// `args` after `--conf` (`--snapshot FILE`). Returns at once.
    pub fn cluster_dns_with(
        name: &'static str,
        program: &Path,
        corefile: &str,
        kubeconfig: &Path,
        args: &[&OsStr],
    ) -> Self {
        Self::spawn(name, program, "", corefile, kubeconfig, None, args)
    }

    /// Spawns CoreDNS with `corefile`, `{BIND}` being `bind 127.0.0.1` (CoreDNS otherwise
    /// listens on every address; cluster-dns has no `bind` plugin yet, so for it the line is
    /// empty and is the only difference). Returns at once.
    pub fn coredns(corefile: &str, kubeconfig: &Path) -> Self {
        Self::coredns_on(None, corefile, kubeconfig)
    }

    /// [`Server::coredns`], confined to CPU `cpu` when given, with `GOMAXPROCS=1` then (the Go
    /// runtime would otherwise size its scheduler by the machine, not by the one core it may
    /// use).
    pub fn coredns_on(cpu: Option<usize>, corefile: &str, kubeconfig: &Path) -> Self {
        let program = coredns_binary();
        Self::spawn(
            "CoreDNS",
            &program,
            "bind 127.0.0.1",
            corefile,
            kubeconfig,
            cpu,
            &[],
        )
    }

    /// Writes `corefile` with `{PORT}`, `{READY}`, `{HEALTH}`, `{METRICS}` (free loopback
    /// ports), `{BIND}` and `{KUBECONFIG}` filled in, and spawns `program --conf <it> args`
    /// (Go's flag package takes `--conf` as CoreDNS's `-conf`), under `taskset -c <cpu>` when
    /// `cpu` is given (the affinity is inherited by every thread it starts).
    fn spawn(
        name: &'static str,
        program: &Path,
        bind: &str,
        corefile: &str,
        kubeconfig: &Path,
        cpu: Option<usize>,
        args: &[&OsStr],
    ) -> Self {
        let dir = TempDir::new("baseline");
        let port = free_port();
        let ready_port = free_port();
        let metrics_port = free_port();
        let path = dir.path().join("Corefile");
        std::fs::write(
            &path,
            corefile
                .replace("{PORT}", &port.to_string())
                .replace("{READY}", &ready_port.to_string())
                .replace("{HEALTH}", &free_port().to_string())
                .replace("{METRICS}", &metrics_port.to_string())
                .replace("{BIND}", bind)
                .replace("{KUBECONFIG}", &kubeconfig.display().to_string()),
        )
        .expect("write Corefile");
        let log = |file: &str| {
            Stdio::from(std::fs::File::create(dir.path().join(file)).expect("log file"))
        };
        let mut command = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string()])
                    .arg(program)
                    .env("GOMAXPROCS", "1");
                c
            }
            None => Command::new(program),
        };
        let child = command
            .arg("--conf")
            .arg(&path)
            .args(args)
            // SIGNPOST_SERVER_LOG: another filter, e.g. `info,cluster_dns::watch=debug` to see
            // every publish of the watch cache in a bench's server log.
            .env(
                "RUST_LOG",
                std::env::var("SIGNPOST_SERVER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        Self {
            name,
            child,
            dir,
            port,
            ready_port,
            metrics_port,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout and stderr so far.
    pub fn log(&self) -> String {
        let read = |file: &str| std::fs::read_to_string(self.dir.path().join(file));
        format!(
            "{}{}",
            read("stdout.log").unwrap_or_default(),
            read("stderr.log").unwrap_or_default()
        )
    }

    pub fn dig(&self, args: &[&str]) -> DigResult {
        dig(self.port, args)
    }

    /// The value of the unlabelled metric `name` from `GET /metrics` on the Corefile's
    /// `{METRICS}` port, if it serves one.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (code, body) = http_get(self.metrics_port, "/metrics")?;
        if code != 200 {
            return None;
        }
        body.lines().find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok()).flatten()
        })
    }

    /// Whether `GET /ready` answers 200 now.
    pub fn is_ready(&self) -> bool {
        http_get(self.ready_port, "/ready").is_some_and(|(code, _)| code == 200)
    }

    /// Panics with its log if it exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log());
        }
    }

    /// Waits until `/ready` answers 200, for at most `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) {
        self.wait_for("ready", timeout, Self::is_ready);
    }

    /// Waits until a DNS query gets any answer, for at most `timeout`. CoreDNS's `/ready` can
    /// say 200 a moment before its DNS listener is up.
    pub fn wait_serving(&mut self, timeout: Duration) {
        self.wait_for("answering DNS", timeout, |server| {
            server
                .dig(&["dns-version.cluster.local", "TXT", "+time=1", "+tries=1"])
                .status
                .is_some()
        });
    }

    fn wait_for(&mut self, what: &str, timeout: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{}: not {what} within {timeout:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// (VmHWM, VmRSS) in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid())
    }

    /// User + system CPU time used so far (all threads).
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU time `pid` used so far (all threads; zero when unreadable).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state); utime
    // and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse::<u64>().unwrap_or(0))
        .sum();
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// VmHWM and VmRSS of `pid` in KiB (0 when unreadable).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One row of a comparison table: `| what | ours | theirs | ours / theirs |`, each value shown
/// by `show`.
pub fn print_row(what: &str, ours: f64, theirs: f64, show: fn(f64) -> String) {
    println!(
        "| {what} | {} | {} | {} |",
        show(ours),
        show(theirs),
        ratio(ours, theirs)
    );
}

/// Shows queries per second.
pub fn qps(v: f64) -> String {
    format!("{v:.0}")
}

/// Shows milliseconds.
pub fn ms(v: f64) -> String {
    format!("{v:.3} ms")
}

/// Shows KiB as MiB.
pub fn kib(v: f64) -> String {
    mib(v as u64)
}

/// `kib` as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The median of `v` (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `q` quantile (0..=1) of the sorted `sorted`, nearest rank (0 when empty).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `ours / theirs` with two decimals.
pub fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.2}", ours / theirs)
    } else {
        "-".into()
    }
}

/// One dnsperf run: queries per second, average latency in ms, queries lost, queries
/// answered, and each answered query's latency in ms when it was asked for
/// ([`Dnsperf::latencies`]), in the order dnsperf printed them.
pub struct Perf {
    pub qps: f64,
    pub latency_ms: f64,
    pub lost: String,
    pub completed: u64,
    pub latencies_ms: Vec<f64>,
}

/// A dnsperf run: `server:port`, the query file, for `secs`, with 4 clients and 200 queries
/// outstanding unless changed.
pub struct Dnsperf<'a> {
    /// Runs dnsperf through this (e.g. `ip netns exec NS`, `taskset -c 1`).
    pub wrapper: &'a [&'a str],
    pub server: &'a str,
    pub port: u16,
    pub queries: &'a Path,
    pub secs: u64,
    /// `-Q`: a fixed offered rate instead of as fast as the server answers.
    pub rate: Option<u64>,
    /// `-v`: every answer's latency, for percentiles.
    pub latencies: bool,
}

impl<'a> Dnsperf<'a> {
    pub fn new(server: &'a str, port: u16, queries: &'a Path, secs: u64) -> Self {
        Self {
            wrapper: &[],
            server,
            port,
            queries,
            secs,
            rate: None,
            latencies: false,
        }
    }

    pub fn run(&self) -> Perf {
        let mut command = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg("dnsperf");
                c
            }
            None => Command::new("dnsperf"),
        };
        command
            .args(["-s", self.server, "-p", &self.port.to_string(), "-d"])
            .arg(self.queries)
            .args(["-l", &self.secs.to_string(), "-c", "4", "-q", "200"]);
        if let Some(rate) = self.rate {
            command.args(["-Q", &rate.to_string()]);
        }
        if self.latencies {
            command.arg("-v");
        }
        let out = command
            .output()
            .expect("run dnsperf (the bench scripts install it)");
        parse_dnsperf(&String::from_utf8_lossy(&out.stdout))
    }
}

/// `dnsperf -c 4 -q 200` against `server:port` for `secs`, run through `wrapper` (e.g. `ip
/// netns exec NS`).
pub fn dnsperf_via(wrapper: &[&str], server: &str, port: u16, queries: &Path, secs: u64) -> Perf {
    Dnsperf {
        wrapper,
        ..Dnsperf::new(server, port, queries, secs)
    }
    .run()
}

/// dnsperf's report; with `-v`, each answer's line `> RCODE name type seconds` gives its
/// latency.
fn parse_dnsperf(text: &str) -> Perf {
    let after = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("dnsperf printed no `{label}`:\n{}", tail(text)))
    };
    let first_number = |s: String| -> f64 {
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let latencies_ms = text
        .lines()
        .filter_map(|l| l.strip_prefix("> "))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|s| s * 1000.0)
        .collect();
    Perf {
        qps: first_number(after("Queries per second:")),
        latency_ms: first_number(after("Average Latency (s):")) * 1000.0,
        lost: after("Queries lost:"),
        completed: first_number(after("Queries completed:")) as u64,
        latencies_ms,
    }
}

/// The last lines of `text` (dnsperf's summary, not its thousands of `-v` lines).
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
