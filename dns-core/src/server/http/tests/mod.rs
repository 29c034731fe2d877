//! The HTTP room: request parsing, routes, and the listeners on loopback.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::plugin::readiness::Readiness;
use crate::plugin::readiness::{Monitor, ReadyCheck};
use crate::plugin::setup::HttpAddr;

fn site(plugins: &[&'static str], ready: Option<Arc<Readiness>>) -> Site {
    Site {
        addr: HttpAddr::parse("127.0.0.1:0").unwrap(),
        plugins: plugins.to_vec(),
        ready,
        tls: None,
    }
}

#[test]
fn request_lines() {
    let head = |t: &str| parse_head(t.as_bytes());
    let ok = [
        ("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/health"),
        ("HEAD /ready HTTP/1.0\r\n\r\n", "HEAD", "/ready"),
        ("GET /metrics?x=1 HTTP/1.1\r\n\r\n", "GET", "/metrics"),
        (
            "GET http://10.0.0.1:8080/health HTTP/1.1\r\n\r\n",
            "GET",
            "/health",
        ),
    ];
    for (text, method, path) in ok {
        let h = head(text).unwrap();
        assert_eq!(
            (h.method.as_str(), h.path.as_str()),
            (method, path),
            "{text:?}"
        );
    }
    for bad in [
        "",
        "GET\r\n\r\n",
        "GET /health\r\n\r\n",
        "GET /health HTTP/2\r\n\r\n",
        "get /health HTTP/1.1\r\n\r\n",
        "GET health HTTP/1.1\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(head(bad), None, "{bad:?}");
    }
    assert_eq!(parse_head(&[0xff, 0xfe, b'\r', b'\n']), None);
}

fn get(path: &str) -> RequestHead {
    RequestHead {
        method: "GET".into(),
        path: path.into(),
    }
}

#[test]
fn routes() {
    let flag = Arc::new(AtomicBool::new(false));
    let mut readiness = Readiness::new(Monitor::UntilReady);
    readiness.add("kubernetes", ReadyCheck::Fixed(flag.clone()));
    let all = site(
        &["health", "ready", "prometheus"],
        Some(Arc::new(readiness)),
    );
    let answer = |s: &Site, path: &str, stopping: bool| {
        let r = route(s, &get(path), stopping);
        (r.status, r.body)
    };
    assert_eq!(answer(&all, "/health", false), (200, "OK".into()));
    assert_eq!(answer(&all, "/ready", false), (503, "kubernetes".into()));
    flag.store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(answer(&all, "/ready", false), (200, "OK".into()));
    assert_eq!(answer(&all, "/ready", true), (503, "Shutting down".into()));
    // /health keeps answering in the lameduck.
    assert_eq!(answer(&all, "/health", true), (200, "OK".into()));
    let metrics = route(&all, &get("/metrics"), false);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4")
    );
    for path in ["/", "/health/", "/healthz", "/READY"] {
        assert_eq!(answer(&all, path, false).0, 404, "{path}");
    }
    // A site answers only for the plugins it serves.
    let health_only = site(&["health"], None);
    assert_eq!(answer(&health_only, "/metrics", false).0, 404);
    assert_eq!(answer(&health_only, "/ready", false).0, 404);
    let bytes = route(&all, &get("/health"), false).to_bytes(true);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
}

async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn listeners_answer_refuse_garbage_and_stop() {
    let plan = HttpPlan {
        sites: vec![site(&["health", "prometheus"], None)],
        lameduck: Duration::from_millis(50),
    };
    let servers = HttpServers::bind(plan).unwrap();
    let (addr, plugins) = servers.local_addrs().remove(0);
    assert_eq!(plugins, ["health", "prometheus"]);
    let lameduck = servers.lameduck();
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(servers.run(crate::server::stop_signal(stop_rx)));

    let health = super::get(addr, "/health").await.unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200 OK\r\n") && health.ends_with("\r\n\r\nOK"),
        "{health}"
    );
    // Metrics another crate registers in the default registry are served too.
    let external = prometheus::IntCounter::new("signpost_test_external_total", "test").unwrap();
    prometheus::register(Box::new(external.clone())).unwrap();
    external.inc();
    let metrics = super::get(addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("\nsignpost_test_external_total 1\n"),
        "{metrics}"
    );
    assert!(
        super::get(addr, "/nope")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 404 ")
    );
    assert!(
        raw(addr, b"\x16\x03\x01garbage\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400 ")
    );
    let huge = vec![b'a'; MAX_HEAD + 10];
    assert!(raw(addr, &huge).await.starts_with("HTTP/1.1 431 "));
    // A client that connects and says nothing does not hold up the others.
    let _idle = TcpStream::connect(addr).await.unwrap();
    assert!(
        super::get(addr, "/health")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    let started = Instant::now();
    lameduck.run().await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(
        super::get(addr, "/health")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    stop_tx.send(true).unwrap();
    running.await.unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn a_taken_port_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut taken = site(&["health", "ready"], None);
    taken.addr = HttpAddr::parse(&format!("127.0.0.1:{port}")).unwrap();
    let err = HttpServers::bind(HttpPlan {
        sites: vec![taken],
        lameduck: Duration::ZERO,
    })
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.starts_with(&format!(
            "health, ready: cannot listen on 127.0.0.1:{port}: "
        )),
        "{err}"
    );
}
