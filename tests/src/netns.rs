//! Network namespaces the tests make: a namespace joined to the host by a veth pair, so a test
//! can send from a pod's address (198.18.0.0/15) on the real kernel. Removed on drop.

use std::process::Command;

use crate::{DigResult, dig_via};

/// Runs `cmd args` and returns its stdout; panics on failure.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    run("ip", args);
}

/// A namespace `sp-<tag>-<pid>`, with `ns_ip/30` on its end of a veth pair and `host_ip/30`
/// on the host's end (or only its own loopback: [`NetNs::isolated`]).
pub struct NetNs {
    pub name: String,
    host_link: String,
    pub host_ip: String,
    pub ns_ip: String,
}

impl NetNs {
    /// A namespace with only its own loopback: its ports and its `/etc/resolv.conf` (see
    /// [`NetNs::set_resolv_conf`]) are its own.
    pub fn isolated(tag: &str) -> Self {
        crate::host_lock::hold();
        let name = format!("sp-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        NetNs {
            name,
            host_link: String::new(),
            host_ip: String::new(),
            ns_ip: String::new(),
        }
    }

    /// `ip netns exec NAME`: runs a command inside.
    pub fn wrapper(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.name]
    }

    /// What processes inside see as `/etc/resolv.conf` (`ip netns exec` mounts
    /// `/etc/netns/NAME/resolv.conf` over it).
    pub fn set_resolv_conf(&self, text: &str) {
        let dir = std::path::Path::new("/etc/netns").join(&self.name);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME");
        std::fs::write(dir.join("resolv.conf"), text).expect("write the namespace's resolv.conf");
    }

    pub fn new(tag: &str, host_ip: &str, ns_ip: &str) -> Self {
        crate::host_lock::hold();
        let pid = std::process::id();
        let name = format!("sp-{tag}-{pid}");
        // Link names are at most 15 bytes.
        let host_link = format!("sph{}", pid % 100_000_000);
        let ns_link = format!("spn{}", pid % 100_000_000);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &host_link])
            .output();
        ip(&["netns", "add", &name]);
        let ns = NetNs {
            name: name.clone(),
            host_link: host_link.clone(),
            host_ip: host_ip.to_string(),
            ns_ip: ns_ip.to_string(),
        };
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &ns_link,
        ]);
        ip(&["link", "set", &ns_link, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &ns_link,
        ]);
        ip(&["-n", &name, "link", "set", &ns_link, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a thread of its own that has joined this namespace (`setns`), so sockets it
    /// opens (rtnetlink, UDP) and processes it spawns (`nft`, `iptables`) are inside.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(&path);
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// [`NetNs::run_in`] in the background: `f` runs inside on a thread that outlives this call.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = self.path();
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// A veth pair from this namespace (`my_ip/30`) to `other` (`other_ip/30`); removed with
    /// the namespaces.
    pub fn link_to(&self, other: &NetNs, my_ip: &str, other_ip: &str) {
        let pid = std::process::id() % 1_000_000;
        let n = LINKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mine = format!("spa{pid}x{n}");
        let theirs = format!("spb{pid}x{n}");
        ip(&[
            "-n", &self.name, "link", "add", &mine, "type", "veth", "peer", "name", &theirs,
        ]);
        ip(&[
            "-n",
            &self.name,
            "link",
            "set",
            &theirs,
            "netns",
            &other.name,
        ]);
        ip(&[
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{my_ip}/30"),
            "dev",
            &mine,
        ]);
        ip(&[
            "-n",
            &other.name,
            "addr",
            "add",
            &format!("{other_ip}/30"),
            "dev",
            &theirs,
        ]);
        ip(&["-n", &self.name, "link", "set", &mine, "up"]);
        ip(&["-n", &other.name, "link", "set", &theirs, "up"]);
    }

    /// [`NetNs::run_in`] with a current-thread tokio runtime inside.
    pub fn block_on<F: std::future::Future>(&self, f: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        self.run_in(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(f())
        })
    }

    /// Runs `cmd args` inside the namespace and returns its stdout; panics on failure.
    pub fn output(&self, cmd: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name, cmd];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `dig @<host_ip> -p <port> <args...>` from inside the namespace.
    pub fn dig(&self, port: u16, args: &[&str]) -> DigResult {
        let mut all = vec!["+time=1", "+tries=1"];
        all.extend_from_slice(args);
        dig_via(
            &["ip", "netns", "exec", &self.name],
            &self.host_ip,
            port,
            &all,
        )
    }
}

static LINKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Moves the calling thread into the namespace at `path`.
fn enter(path: &str) {
    let ns = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: a plain syscall on an fd this thread owns; CLONE_NEWNET affects only the calling
    // thread.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
