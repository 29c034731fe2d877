//! The binary as an operator runs it: reloads, bad input files, malformed packets, SIGTERM.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use signpost_tests::{ClusterDns, TempDir, cluster_dns_binary};

const COREFILE: &str = ".:{PORT} {\n    errors\n    log\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n        pods insecure\n    }\n}\n";

fn example() -> String {
    signpost_tests::example_cluster()
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn snapshot_edits_are_served_and_broken_edits_keep_the_last_good_state() {
    let server = ClusterDns::start(COREFILE, &example());
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );

    let changed = example().replace("198.18.0.20", "198.18.0.21");
    std::fs::write(&server.snapshot, changed).unwrap();
    wait_until("the new address", || {
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers() == ["A 198.18.0.21"]
    });

    std::fs::write(&server.snapshot, "apiVersion: v1\nkind: List\nitems: [\n").unwrap();
    wait_until("the broken edit to be reported", || {
        server.log().contains("keeping the last good cluster state")
    });
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.21"]
    );
    assert!(
        server.log().contains("cluster.yaml:"),
        "error names the file:\n{}",
        server.log()
    );
}

#[test]
fn malformed_packets_get_coredns_answers_and_the_server_keeps_serving() {
    let server = ClusterDns::start(COREFILE, &example());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let send = |bytes: &[u8]| -> Option<Vec<u8>> {
        socket.send_to(bytes, ("127.0.0.1", server.port)).unwrap();
        let mut buf = [0u8; 4096];
        socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    };
    // Short header: silence. Two questions: FORMERR. Opcode 5 (UPDATE): NOTIMP.
    assert_eq!(send(&[1, 2, 3]), None);
    let two_questions = [
        0xab, 0xcd, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1,
    ];
    let r = send(&two_questions).expect("FORMERR");
    assert_eq!((r[0], r[1], r[3] & 0xf), (0xab, 0xcd, 1));
    let update = [0, 9, 5 << 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1];
    assert_eq!(send(&update).expect("NOTIMP")[3] & 0xf, 4);
    // A CHAOS query is refused.
    let chaos = server.dig(&["version.bind", "TXT", "CH"]);
    assert_eq!(chaos.status.as_deref(), Some("REFUSED"));
    // A name outside every zone of the block, with no plugin after kubernetes: SERVFAIL.
    assert_eq!(
        server.dig(&["example.com", "A"]).status.as_deref(),
        Some("SERVFAIL")
    );
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );
}

#[test]
fn logs_in_coredns_format() {
    let dir = TempDir::new("log");
    let port = signpost_tests::free_port();
    std::fs::write(
        dir.path().join("Corefile"),
        COREFILE.replace("{PORT}", &port.to_string()),
    )
    .unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), example()).unwrap();
    let stdout = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
    let mut child = Command::new(cluster_dns_binary())
        .arg("--conf")
        .arg(dir.path().join("Corefile"))
        .arg("--snapshot")
        .arg(dir.path().join("cluster.yaml"))
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("an answer", || {
        signpost_tests::dig(port, &["web.prod.svc.cluster.local", "A"])
            .status
            .is_some()
    });
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("web.prod.svc.cluster.local."))
        .expect("a log line");
    // [INFO] 127.0.0.1:PORT - ID "A IN web.prod.svc.cluster.local. udp SIZE false 1232" NOERROR qr,aa,rd SIZE DURATIONs
    assert!(line.starts_with("[INFO] 127.0.0.1:"), "{line}");
    assert!(
        line.contains("\"A IN web.prod.svc.cluster.local. udp "),
        "{line}"
    );
    assert!(line.contains("\" NOERROR qr,aa,rd "), "{line}");
    assert!(line.ends_with('s'), "{line}");
}

#[test]
fn sigterm_stops_cleanly() {
    let server = ClusterDns::start(COREFILE, &example());
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
}

fn run_and_fail(corefile: &str, snapshot: &str) -> String {
    let dir = TempDir::new("bad");
    std::fs::write(dir.path().join("Corefile"), corefile).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), snapshot).unwrap();
    let out = Command::new(cluster_dns_binary())
        .current_dir(dir.path())
        .args(["--conf", "Corefile", "--snapshot", "cluster.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn broken_inputs_fail_at_start_and_say_where() {
    let port = signpost_tests::free_port();
    let err = run_and_fail(
        &format!(
            ".:{port} {{\n    kubernetes cluster.local {{\n        pods sometimes\n    }}\n}}\n"
        ),
        "",
    );
    assert!(
        err.contains("Corefile:3:14: kubernetes: invalid pods mode \"sometimes\""),
        "{err}"
    );
    let err = run_and_fail(&format!(".:{port} {{\n    etcd\n    frob\n}}\n"), "");
    assert!(
        err.contains("Corefile:2:5: plugin \"etcd\" is not supported yet"),
        "{err}"
    );
    let err = run_and_fail(&format!(".:{port} {{\n    kubernetes\n"), "");
    assert!(err.contains("Corefile:1:"), "{err}");
    let err = run_and_fail(
        &format!(".:{port} {{\n    kubernetes cluster.local\n}}\n"),
        "items: [\n",
    );
    assert!(err.contains("cluster.yaml:"), "{err}");
    // The port is taken: a clear error, not a panic.
    let holder = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    let err = run_and_fail(
        &format!(".:{port} {{\n    kubernetes cluster.local\n}}\n"),
        &example(),
    );
    assert!(
        err.contains(&format!("cannot listen on 0.0.0.0:{port}")),
        "{err}"
    );
    drop(holder);
    // So is the health plugin's port, named with the plugin.
    let health = signpost_tests::free_port();
    let holder = std::net::TcpListener::bind(("127.0.0.1", health)).unwrap();
    let err = run_and_fail(
        &format!(".:{port} {{\n    health 127.0.0.1:{health}\n    kubernetes cluster.local\n}}\n"),
        &example(),
    );
    assert!(
        err.contains(&format!("health: cannot listen on 127.0.0.1:{health}")),
        "{err}"
    );
    drop(holder);
}
