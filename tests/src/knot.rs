//! knotd, a real authoritative DNS server from Debian, serving `example.test` for tests that
//! need an upstream: on loopback, or inside a test network namespace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, dig_via};

/// The zone knotd serves.
pub const ZONE: &str = "$ORIGIN example.test.
$TTL 300
@    SOA ns.example.test. admin.example.test. 1 3600 600 86400 300
@    NS  ns
ns   A   198.18.0.53
www  A   198.18.0.10
";

fn knotd_binary() -> Option<PathBuf> {
    ["/usr/sbin/knotd", "/usr/bin/knotd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// knotd serving example.test (with `big.example.test`, 40 TXT records: more than 512 bytes)
/// on `addr`, killed on drop.
pub struct Knot {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

/// Zones that stand in for the internet's DNS in Kubernetes' DNS e2e tests (the real node's
/// upstream serves them for `tests/tests/conformance.rs`): the forward tests ask the cluster
/// DNS for the PTR of 8.8.8.8 and expect `dns.google.`, and an ExternalName Service names
/// `dns.google`. Only names and data: nothing is sent to these addresses.
pub const INTERNET_ZONES: &[(&str, &str)] = &[
    (
        "8.8.8.in-addr.arpa",
        "$ORIGIN 8.8.8.in-addr.arpa.
$TTL 300
@    SOA ns.example.test. admin.example.test. 1 3600 600 86400 300
@    NS  ns.example.test.
8    PTR dns.google.
",
    ),
    (
        "dns.google",
        "$ORIGIN dns.google.
$TTL 300
@    SOA ns.example.test. admin.example.test. 1 3600 600 86400 300
@    NS  ns.example.test.
@    A   198.18.0.88
",
    ),
];

impl Knot {
    pub fn start(addr: SocketAddr) -> Knot {
        Self::start_via(&[], addr)
    }

    /// Starts knotd through `wrapper` (e.g. `ip netns exec NS`), asking it through the same.
    pub fn start_via(wrapper: &[&str], addr: SocketAddr) -> Knot {
        Self::start_serving(wrapper, addr, &[])
    }

    /// As [`Knot::start_via`], serving `zones` (domain, zone file text) beside example.test.
    pub fn start_serving(wrapper: &[&str], addr: SocketAddr, zones: &[(&str, &str)]) -> Knot {
        let bin = knotd_binary().expect("knotd (scripts/install-deps installs the knot package)");
        let dir = TempDir::new("knot");
        let mut zone = ZONE.to_string();
        for i in 0..40 {
            zone.push_str(&format!(
                "big  TXT \"record number {i:02} of a long answer\"\n"
            ));
        }
        std::fs::write(dir.path().join("example.test.zone"), zone).expect("zone");
        let d = dir.path().display();
        let mut conf = format!(
            "server:\n    listen: {}@{}\n    rundir: {d}\ncontrol:\n    listen: {d}/knot.sock\n\
             database:\n    storage: {d}/db\nlog:\n  - target: stderr\n    any: warning\n\
             template:\n  - id: default\n    storage: {d}\nzone:\n  - domain: example.test\n    file: example.test.zone\n",
            addr.ip(),
            addr.port()
        );
        for (domain, text) in zones {
            std::fs::write(dir.path().join(format!("{domain}.zone")), text).expect("zone");
            conf.push_str(&format!("  - domain: {domain}\n    file: {domain}.zone\n"));
        }
        std::fs::write(dir.path().join("knot.conf"), conf).expect("knot.conf");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = command
            .arg("-c")
            .arg(dir.path().join("knot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("knotd.log")).expect("log"),
            ))
            .spawn()
            .expect("start knotd");
        let mut knot = Knot {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = knot.child.try_wait() {
                panic!("knotd exited ({status}): {}", knot.log());
            }
            let r = dig_via(
                wrapper,
                &addr.ip().to_string(),
                addr.port(),
                &["+time=1", "+tries=1", "www.example.test", "A"],
            );
            if r.answers() == ["A 198.18.0.10"] {
                return knot;
            }
            assert!(
                Instant::now() < deadline,
                "knotd did not answer: {}",
                knot.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// knotd's process id (for CPU time and RSS).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("knotd.log")).unwrap_or_default()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
