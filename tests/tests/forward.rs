//! forward and loop as an operator sees them: the built binary forwarding to real upstreams on
//! loopback (knotd serving a test zone, and a small responder of our own that drops, delays or
//! refuses), asked with dig; metrics scraped over HTTP.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signpost_tests::baseline::Server;
use signpost_tests::knot::Knot;
use signpost_tests::{
    ClusterDns, TempDir, cluster_dns_binary, example_cluster, free_port, http_get, sample,
};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// How our own responder treats queries.
#[derive(Clone, Copy)]
enum Mode {
    /// Never answers.
    Drop,
    /// REFUSED, no records.
    Refused,
    /// `A <ip>` for any question, after `delay`.
    Answer([u8; 4], Duration),
}

/// A UDP responder on loopback, stopped on drop.
struct Responder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Responder {
    fn start(mode: Mode) -> Responder {
        Self::start_on(
            UdpSocket::bind("127.0.0.1:0").expect("bind responder"),
            mode,
        )
    }

    fn start_on(socket: UdpSocket, mode: Mode) -> Responder {
        let addr = socket.local_addr().expect("addr");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let socket = Arc::new(socket);
            let mut buf = [0u8; 4096];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(reply) = reply(&buf[..n], mode) else {
                    continue;
                };
                let delay = match mode {
                    Mode::Answer(_, d) => d,
                    _ => Duration::ZERO,
                };
                let socket = socket.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let _ = socket.send_to(&reply, from);
                });
            }
        });
        Responder { addr, stop }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The wire reply to one query: header and question copied, QR and RA set.
fn reply(query: &[u8], mode: Mode) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question ends after its name's zero label and type and class.
    let mut i = 12;
    while *query.get(i)? != 0 {
        i += usize::from(query[i]) + 1;
    }
    let question_end = i + 5;
    let mut out = query.get(..question_end)?.to_vec();
    out[2] = 0x80 | (query[2] & 0x01);
    out[3] = 0x80;
    out[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    match mode {
        Mode::Drop => return None,
        Mode::Refused => out[3] |= 5,
        Mode::Answer(ip, _) => {
            out[7] = 1;
            out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
            out.extend_from_slice(&ip);
        }
    }
    Some(out)
}

fn scrape(port: u16) -> String {
    let (status, body) = http_get(port, "/metrics").expect("metrics answer");
    assert_eq!(status, 200);
    body
}

/// A server whose readiness probe (`dns-version.cluster.local TXT`) kubernetes answers, so it
/// starts even when every upstream is silent.
fn start_with_forward(forward: &str, metrics: u16) -> ClusterDns {
    let corefile = format!(
        ".:{{PORT}} {{\n    prometheus 127.0.0.1:{metrics}\n    kubernetes cluster.local {{\n        fallthrough\n    }}\n    {forward}\n}}\n"
    );
    ClusterDns::start(&corefile, &example_cluster())
}

#[test]
fn answers_external_names_from_knotd() {
    let knot = Knot::start(loopback(free_port()));
    let metrics = free_port();
    let server = start_with_forward(&format!("forward . {}", knot.addr), metrics);
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    assert_eq!(r.answers(), ["A 198.18.0.10"]);
    assert!(
        r.has_flag("aa"),
        "the upstream's flags come back: {}",
        r.raw
    );
    let r = server.dig(&["nope.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
    assert_eq!(r.authority.first().map(|a| a.rtype.as_str()), Some("SOA"));
    // The client's casing of the question is kept.
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &server.port.to_string(),
            "+noall",
            "+question",
        ])
        .arg("WwW.ExAmple.TEST")
        .output()
        .expect("dig");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(";WwW.ExAmple.TEST."),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Cluster names still come from the snapshot.
    let r = server.dig(&["web.prod.svc.cluster.local", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"]);

    let m = scrape(metrics);
    let to = format!("to=\"{}\"", knot.addr);
    assert!(
        sample(&m, "coredns_forward_requests_total", &[&to]) >= Some(3.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "coredns_forward_responses_total",
            &[&to, "rcode=\"NOERROR\""]
        ) >= Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "coredns_forward_responses_total",
            &[&to, "rcode=\"NXDOMAIN\""]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "coredns_proxy_request_duration_seconds_count",
            &["proxy_name=\"forward\"", &to, "rcode=\"NOERROR\""]
        ) >= Some(2.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "coredns_forward_request_duration_seconds_count",
            &[&to, "rcode=\"NOERROR\""]
        ) >= Some(2.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "coredns_proxy_conn_cache_misses_total",
            &["proxy_name=\"forward\"", &to, "proto=\"udp\""]
        ) >= Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "coredns_forward_healthcheck_broken_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, "coredns_forward_max_concurrent_rejects_total", &[]),
        Some(0.0)
    );
    assert!(
        sample(&m, "coredns_dns_responses_total", &["plugin=\"forward\""]) >= Some(1.0),
        "{m}"
    );
}

#[test]
fn truncated_answers_are_asked_again_over_tcp() {
    let knot = Knot::start(loopback(free_port()));
    let metrics = free_port();
    let server = start_with_forward(&format!("forward . {}", knot.addr), metrics);
    // UDP without EDNS: knotd truncates, the TC answer reaches dig, dig asks again over TCP,
    // and forward asks knotd over TCP.
    let r = server.dig(&["+noedns", "big.example.test", "TXT"]);
    assert!(
        r.raw.contains("Truncated, retrying in TCP mode"),
        "{}",
        r.raw
    );
    assert_eq!(r.answer.len(), 40, "{}", r.raw);
    // The TCP connection to knotd is reused for the next TCP query.
    let r = server.dig(&["+tcp", "big.example.test", "TXT"]);
    assert_eq!(r.answer.len(), 40, "{}", r.raw);
    let m = scrape(metrics);
    let to = format!("to=\"{}\"", knot.addr);
    let tcp = ["proxy_name=\"forward\"", to.as_str(), "proto=\"tcp\""];
    assert_eq!(
        sample(&m, "coredns_proxy_conn_cache_misses_total", &tcp),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "coredns_proxy_conn_cache_hits_total", &tcp),
        Some(1.0),
        "{m}"
    );

    // prefer_udp: forward itself asks again over TCP when the UDP answer is truncated.
    let metrics = free_port();
    let server = start_with_forward(
        &format!("forward . {} {{\n        prefer_udp\n    }}", knot.addr),
        metrics,
    );
    let r = server.dig(&["+tcp", "+noedns", "big.example.test", "TXT"]);
    assert_eq!(r.answer.len(), 40, "{}", r.raw);
}

#[test]
fn a_silent_upstream_gives_way_to_the_next() {
    let silent = Responder::start(Mode::Drop);
    let good = Responder::start(Mode::Answer([198, 18, 0, 77], Duration::ZERO));
    let metrics = free_port();
    let server = start_with_forward(
        &format!(
            "forward . {} {} {{\n        policy sequential\n    }}",
            silent.addr, good.addr
        ),
        metrics,
    );
    let started = Instant::now();
    let r = server.dig(&["+time=10", "+tries=1", "www.example.test", "A"]);
    let took = started.elapsed();
    assert_eq!(r.answers(), ["A 198.18.0.77"], "{}", r.raw);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "the first upstream is given about 2 s: {took:?}"
    );
    // The failure started health checks; three failed checks (1 s each, every 0.5 s) mark
    // the silent upstream down, and then it is skipped at once.
    let silent_to = format!("to=\"{}\"", silent.addr);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let started = Instant::now();
        let r = server.dig(&["+time=10", "+tries=1", "www.example.test", "A"]);
        assert_eq!(r.answers(), ["A 198.18.0.77"], "{}", r.raw);
        if started.elapsed() < Duration::from_millis(500) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the silent upstream was never marked down"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let m = scrape(metrics);
    assert!(
        sample(
            &m,
            "coredns_forward_healthcheck_failures_total",
            &[&silent_to]
        ) >= Some(3.0),
        "{m}"
    );
    assert!(
        sample(
            &m,
            "coredns_proxy_healthcheck_failures_total",
            &["proxy_name=\"forward\"", &silent_to]
        ) >= Some(3.0),
        "{m}"
    );
}

#[test]
fn servfail_in_bounded_time_when_every_upstream_is_silent() {
    let a = Responder::start(Mode::Drop);
    let b = Responder::start(Mode::Drop);
    let metrics = free_port();
    let server = start_with_forward(
        &format!(
            "forward . {} {} {{\n        policy sequential\n    }}",
            a.addr, b.addr
        ),
        metrics,
    );
    let started = Instant::now();
    let r = server.dig(&["+time=15", "+tries=1", "www.example.test", "A"]);
    let took = started.elapsed();
    assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_millis(6500),
        "CoreDNS's 5 s deadline: {took:?}"
    );
    // Once both are marked down, CoreDNS tries a random one anyway and counts it.
    std::thread::sleep(Duration::from_secs(5));
    let r = server.dig(&["+time=15", "+tries=1", "www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
    let m = scrape(metrics);
    assert!(
        sample(&m, "coredns_forward_healthcheck_broken_total", &[]) >= Some(1.0),
        "{m}"
    );

    // failfast_all_unhealthy_upstreams: SERVFAIL at once while all are down.
    let metrics = free_port();
    let server = start_with_forward(
        &format!(
            "forward . {} {{\n        max_fails 1\n        health_check 100ms\n        failfast_all_unhealthy_upstreams\n    }}",
            a.addr
        ),
        metrics,
    );
    let r = server.dig(&["+time=15", "+tries=1", "www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    let r = server.dig(&["+time=15", "+tries=1", "www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn refused_from_the_upstream_is_passed_through() {
    let refusing = Responder::start(Mode::Refused);
    let metrics = free_port();
    let server = start_with_forward(&format!("forward . {}", refusing.addr), metrics);
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("REFUSED"), "{}", r.raw);
    let m = scrape(metrics);
    let to = format!("to=\"{}\"", refusing.addr);
    assert_eq!(
        sample(
            &m,
            "coredns_forward_responses_total",
            &[&to, "rcode=\"REFUSED\""]
        ),
        Some(1.0),
        "{m}"
    );
    // `except` hands the name on: nothing after forward answers, so SERVFAIL.
    let server = start_with_forward(
        &format!(
            "forward . {} {{\n        except example.test\n    }}",
            refusing.addr
        ),
        free_port(),
    );
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
}

#[test]
fn max_concurrent_refuses_the_excess() {
    let slow = Responder::start(Mode::Answer([198, 18, 0, 9], Duration::from_millis(1500)));
    let metrics = free_port();
    let server = start_with_forward(
        &format!(
            "forward . {} {{\n        max_concurrent 2\n    }}",
            slow.addr
        ),
        metrics,
    );
    let port = server.port;
    let digs: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                signpost_tests::dig(
                    port,
                    &["+time=5", "+tries=1", &format!("q{i}.example.test"), "A"],
                )
            })
        })
        .collect();
    let statuses: Vec<String> = digs
        .into_iter()
        .map(|d| d.join().expect("dig thread").status.unwrap_or_default())
        .collect();
    let refused = statuses.iter().filter(|s| *s == "REFUSED").count();
    let ok = statuses.iter().filter(|s| *s == "NOERROR").count();
    assert!(refused >= 1 && (1..=2).contains(&ok), "{statuses:?}");
    let m = scrape(metrics);
    assert_eq!(
        sample(&m, "coredns_forward_max_concurrent_rejects_total", &[]),
        Some(refused as f64),
        "{m}"
    );
}

/// A loopback address of its own with port 53 (resolv.conf has no ports): 127.53.x.y.
fn port_53_address() -> Option<SocketAddr> {
    for _ in 0..20 {
        let n = std::process::id() as u16 ^ (free_port() & 0xfff);
        let addr = SocketAddr::from(([127, 53, (n >> 8) as u8, (n & 0xff) as u8 | 1], 53));
        if let (Ok(_), Ok(_)) = (UdpSocket::bind(addr), std::net::TcpListener::bind(addr)) {
            return Some(addr);
        }
    }
    None
}

fn resolv_conf(dir: &Path, addr: SocketAddr) -> PathBuf {
    let path = dir.join("resolv.conf");
    std::fs::write(
        &path,
        format!(
            "search example.test\nnameserver {}\noptions ndots:5\n",
            addr.ip()
        ),
    )
    .expect("resolv.conf");
    path
}

#[test]
fn forwards_to_the_nameservers_of_a_resolv_conf_in_the_kubeadm_chain() {
    let Some(addr) = port_53_address() else {
        eprintln!(
            "skipped: cannot bind port 53 on 127.53.0.0/16 (needs root or CAP_NET_BIND_SERVICE)"
        );
        return;
    };
    let knot = Knot::start(addr);
    let dir = TempDir::new("resolv");
    let resolv = resolv_conf(dir.path(), knot.addr);
    let metrics = free_port();
    // CoreDNS's kubeadm Corefile, with test ports.
    let corefile = format!(
        ".:{{PORT}} {{
    errors
    health 127.0.0.1:{health}
    ready 127.0.0.1:{ready}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus 127.0.0.1:{metrics}
    forward . {resolv} {{
       max_concurrent 1000
    }}
    loop
}}
",
        health = free_port(),
        ready = free_port(),
        resolv = resolv.display()
    );
    let server = ClusterDns::start(&corefile, &example_cluster());
    let r = server.dig(&["web.prod.svc.cluster.local", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"], "{}", r.raw);
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.10"], "{}", r.raw);
    // A reverse name the cluster does not know falls through to the upstream.
    let r = server.dig(&["-x", "198.51.100.1"]);
    assert!(r.status.is_some(), "{}", r.raw);
    let m = scrape(metrics);
    assert!(
        sample(
            &m,
            "coredns_forward_requests_total",
            &[&format!("to=\"{addr}\"")]
        ) >= Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "coredns_plugin_enabled", &["name=\"loop\""]),
        Some(1.0),
        "{m}"
    );
    // The loop probe went through and found no loop: still serving.
    std::thread::sleep(Duration::from_secs(1));
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.10"], "{}", r.raw);
}

#[test]
fn forwarding_to_itself_is_a_fatal_loop() {
    let dir = TempDir::new("loop");
    let port = free_port();
    let corefile = dir.path().join("Corefile");
    std::fs::write(
        &corefile,
        format!(".:{port} {{\n    loop\n    forward . 127.0.0.1:{port}\n}}\n"),
    )
    .expect("Corefile");
    let mut child = Command::new(cluster_dns_binary())
        .arg("--conf")
        .arg(&corefile)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cluster-dns");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cluster-dns forwarding to itself did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut out);
    }
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("[FATAL] plugin/loop: Loop (127.0.0.1:")
            && out.contains(&format!(" -> :{port}) detected for zone \".\""))
            && out.contains("Query: \"HINFO "),
        "{out}"
    );
}

#[test]
fn an_upstream_gone_leaves_cluster_names_answering_and_serve_stale_answering_what_it_had() {
    let upstream = Responder::start(Mode::Answer([198, 18, 7, 7], Duration::ZERO));
    let metrics = free_port();
    // The cache keeps answers for at most 1 s, then serves them stale for up to an hour.
    let server = start_with_forward(
        &format!(
            "cache 1 {{\n        serve_stale 1h immediate 30s\n    }}\n    forward . {}",
            upstream.addr
        ),
        metrics,
    );
    let external = ["+time=15", "+tries=1", "www.example.test", "A"];
    let fresh = server.dig(&external);
    assert_eq!(fresh.answers(), ["A 198.18.7.7"], "{}", fresh.raw);
    drop(upstream);
    std::thread::sleep(Duration::from_millis(1500));

    // Stale: at once, with the response TTL, while the refresh fails in the background.
    let started = Instant::now();
    let stale = server.dig(&external);
    let stale_took = started.elapsed();
    assert_eq!(stale.answers(), ["A 198.18.7.7"], "{}", stale.raw);
    assert_eq!(stale.answer[0].ttl, 30, "{}", stale.raw);
    assert!(
        stale_took < Duration::from_secs(1),
        "stale after {stale_took:?}"
    );

    // A name never asked before: SERVFAIL within the forward deadline.
    let started = Instant::now();
    let unknown = server.dig(&["+time=15", "+tries=1", "other.example.test", "A"]);
    let servfail_took = started.elapsed();
    assert_eq!(
        unknown.status.as_deref(),
        Some("SERVFAIL"),
        "{}",
        unknown.raw
    );
    assert!(
        servfail_took < Duration::from_millis(6500),
        "SERVFAIL after {servfail_took:?}"
    );

    // Cluster names do not go upstream.
    let started = Instant::now();
    let cluster = server.dig(&["+time=2", "+tries=1", "web.prod.svc.cluster.local", "A"]);
    let cluster_took = started.elapsed();
    assert_eq!(
        cluster.status.as_deref(),
        Some("NOERROR"),
        "{}",
        cluster.raw
    );
    assert!(!cluster.answers().is_empty(), "{}", cluster.raw);
    eprintln!(
        "upstream gone: stale answer in {stale_took:.1?}, SERVFAIL for a new name in \
         {servfail_took:.1?}, a cluster name in {cluster_took:.1?}"
    );
}

/// CoreDNS 1.15.0 serving DNS over HTTPS (its `https://` server block) on loopback with a
/// certificate for `localhost` and 127.0.0.1 from the test's own CA, forwarding to `knot`.
/// Returns it and the directory holding `ca.crt`.
fn coredns_doh(knot: SocketAddr) -> (Server, TempDir) {
    let certs = TempDir::new("doh-certs");
    signpost_tests::control_plane::make_certificates(certs.path()).expect("certificates");
    let corefile = format!(
        "https://.:{{PORT}} {{\n    {{BIND}}\n    tls {dir}/server.crt {dir}/server.key\n    \
         ready 127.0.0.1:{{READY}}\n    forward . {knot}\n}}\n",
        dir = certs.path().display()
    );
    let mut server = Server::coredns(&corefile, Path::new("/nonexistent"));
    server.wait_ready(Duration::from_secs(20));
    (server, certs)
}

/// `forward . https://...` as `tls://` is written: the test's CA, `tls_servername`, options.
fn doh_forward(port: u16, ca: &Path, servername: &str, options: &str) -> String {
    format!(
        "forward . https://127.0.0.1:{port} {{\n        tls {}\n        tls_servername {servername}\n{options}    }}",
        ca.display()
    )
}

#[test]
fn forwards_over_https_to_a_coredns_doh_server() {
    let knot = Knot::start(loopback(free_port()));
    let (doh, certs) = coredns_doh(knot.addr);
    let ca = certs.path().join("ca.crt");
    let metrics = free_port();
    let server = start_with_forward(&doh_forward(doh.port, &ca, "localhost", ""), metrics);
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    assert_eq!(r.answers(), ["A 198.18.0.10"]);
    let r = server.dig(&["+tcp", "nope.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
    assert_eq!(r.authority.first().map(|a| a.rtype.as_str()), Some("SOA"));
    let r = server.dig(&["big.example.test", "TXT"]);
    assert_eq!(r.answer.len(), 40, "{}", r.raw);

    let m = scrape(metrics);
    let to = format!("to=\"127.0.0.1:{}\"", doh.port);
    let https = ["proxy_name=\"forward\"", to.as_str(), "proto=\"https\""];
    // One HTTP/2 connection for every query.
    assert_eq!(
        sample(&m, "coredns_proxy_conn_cache_misses_total", &https),
        Some(1.0),
        "{m}"
    );
    assert!(
        sample(&m, "coredns_proxy_conn_cache_hits_total", &https) >= Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "coredns_proxy_request_duration_seconds_count",
            &["proxy_name=\"forward\"", &to, "rcode=\"NXDOMAIN\""]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        sample(&m, "coredns_forward_requests_total", &[&to]) >= Some(3.0),
        "{m}"
    );

    // GET, as `doh_method GET` asks.
    let server = start_with_forward(
        &doh_forward(doh.port, &ca, "localhost", "        doh_method GET\n"),
        free_port(),
    );
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.10"], "{}", r.raw);
}

#[test]
fn an_unreachable_or_untrusted_doh_upstream_is_servfail_within_the_deadline() {
    let knot = Knot::start(loopback(free_port()));
    let (doh, certs) = coredns_doh(knot.addr);
    let ca = certs.path().join("ca.crt");
    // A certificate that is not for the name asked for; then a port nothing listens on.
    for (port, servername) in [(doh.port, "other.example.test"), (free_port(), "localhost")] {
        let metrics = free_port();
        let server = start_with_forward(&doh_forward(port, &ca, servername, ""), metrics);
        let started = Instant::now();
        let r = server.dig(&["+time=10", "+tries=1", "www.example.test", "A"]);
        let took = started.elapsed();
        assert_eq!(r.status.as_deref(), Some("SERVFAIL"), "{}", r.raw);
        assert!(
            took < Duration::from_secs(7),
            "forward's 5 s deadline: {took:?}"
        );
        // The failures started health checks over DoH, which fail too.
        let to = format!("to=\"127.0.0.1:{port}\"");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = scrape(metrics);
            let failures = sample(
                &m,
                "coredns_proxy_healthcheck_failures_total",
                &["proxy_name=\"forward\"", &to],
            );
            if failures >= Some(1.0) {
                assert!(
                    sample(
                        &m,
                        "coredns_dns_responses_total",
                        &["rcode=\"SERVFAIL\"", "plugin=\"forward\""]
                    ) >= Some(1.0),
                    "{m}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no failed health check: {m}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
