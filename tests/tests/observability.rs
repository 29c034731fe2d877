//! health, ready and prometheus as an operator's probes and scraper see them: the built binary
//! on loopback, asked over HTTP after some dig queries.

use std::time::{Duration, Instant};

use std::path::Path;

use signpost_tests::{ClusterDns, TempDir, example_cluster, free_port, http_get, sample};

struct Ports {
    health: u16,
    ready: u16,
    metrics: u16,
}

fn start(lameduck: &str) -> (ClusterDns, Ports) {
    let ports = Ports {
        health: free_port(),
        ready: free_port(),
        metrics: free_port(),
    };
    let corefile = format!(
        ".:{{PORT}} {{\n    errors\n    health 127.0.0.1:{} {{\n        lameduck {lameduck}\n    }}\n    ready 127.0.0.1:{}\n    prometheus 127.0.0.1:{}\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n}}\n",
        ports.health, ports.ready, ports.metrics
    );
    (ClusterDns::start(&corefile, &example_cluster()), ports)
}

#[test]
fn probes_and_metrics_answer_like_coredns() {
    let (server, ports) = start("0s");
    assert_eq!(http_get(ports.health, "/health"), Some((200, "OK".into())));
    // Snapshot mode is synced once the file loaded, before the listeners serve.
    assert_eq!(http_get(ports.ready, "/ready"), Some((200, "OK".into())));
    // Each listener serves its own path only; anything else is 404, as Go's mux answers.
    assert_eq!(http_get(ports.health, "/ready").map(|r| r.0), Some(404));
    assert_eq!(http_get(ports.ready, "/metrics").map(|r| r.0), Some(404));

    for _ in 0..3 {
        assert_eq!(
            server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
            ["A 198.18.0.20"]
        );
    }
    let nx = server.dig(&["nope.prod.svc.cluster.local", "AAAA", "+tcp"]);
    assert_eq!(nx.status.as_deref(), Some("NXDOMAIN"));
    server.dig(&["web.prod.svc.cluster.local", "CAA"]);

    let (status, metrics) = http_get(ports.metrics, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let s = format!("server=\"dns://:{}\"", server.port);
    let root = "zone=\".\"";
    let requests = "coredns_dns_requests_total";
    let a = [
        s.as_str(),
        root,
        "view=\"\"",
        "proto=\"udp\"",
        "family=\"1\"",
        "type=\"A\"",
    ];
    assert!(sample(&metrics, requests, &a) >= Some(3.0), "{metrics}");
    let aaaa = [s.as_str(), root, "proto=\"tcp\"", "type=\"AAAA\""];
    assert_eq!(sample(&metrics, requests, &aaaa), Some(1.0), "{metrics}");
    let caa = [s.as_str(), root, "type=\"other\""];
    assert_eq!(sample(&metrics, requests, &caa), Some(1.0), "{metrics}");
    let responses = "coredns_dns_responses_total";
    let ok = [
        s.as_str(),
        root,
        "rcode=\"NOERROR\"",
        "plugin=\"kubernetes\"",
    ];
    assert!(sample(&metrics, responses, &ok) >= Some(4.0), "{metrics}");
    let nx = [
        s.as_str(),
        root,
        "rcode=\"NXDOMAIN\"",
        "plugin=\"kubernetes\"",
    ];
    assert_eq!(sample(&metrics, responses, &nx), Some(1.0), "{metrics}");
    let duration = "coredns_dns_request_duration_seconds_count";
    assert!(
        sample(&metrics, duration, &[s.as_str(), root]) >= Some(5.0),
        "{metrics}"
    );
    for family in [
        "coredns_dns_request_size_bytes_bucket",
        "coredns_dns_response_size_bytes_bucket",
        "coredns_plugin_enabled",
        "coredns_build_info",
        "coredns_panics_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(
            sample(&metrics, family, &[]).is_some(),
            "{family}:\n{metrics}"
        );
    }
    let enabled = [s.as_str(), root, "name=\"kubernetes\""];
    assert_eq!(
        sample(&metrics, "coredns_plugin_enabled", &enabled),
        Some(1.0)
    );
}

#[test]
fn lameduck_keeps_health_and_dns_answering_after_sigterm() {
    let (server, ports) = start("2s");
    let sent = Instant::now();
    server.signal_term();
    std::thread::sleep(Duration::from_millis(300));
    // In the lameduck: /health and DNS still answer; /ready says the server is going.
    assert_eq!(http_get(ports.health, "/health"), Some((200, "OK".into())));
    assert_eq!(
        http_get(ports.ready, "/ready"),
        Some((503, "Shutting down".into()))
    );
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );
    assert!(
        sent.elapsed() < Duration::from_millis(1800),
        "checks took too long"
    );
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "stopped after {took:?}, before the lameduck ended"
    );
    assert_eq!(http_get(ports.health, "/health"), None);
}

/// `GET /metrics` over TLS to 127.0.0.1:`port`, trusting only the CA in `ca`: the status and
/// body, or why TLS failed.
fn https_get(port: u16, ca: &Path) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    write!(
        tls,
        "GET /metrics HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    // The server closes without close_notify after the body; what was read is the answer.
    if let Err(e) = tls.read_to_string(&mut text)
        && text.is_empty()
    {
        return Err(e.to_string());
    }
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP head")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, body.to_string()))
}

/// `prometheus ADDRESS { tls WEB_CONFIG }`: /metrics over HTTPS with the certificate the
/// exporter-toolkit web configuration names (paths relative to it), as CoreDNS 1.15.0 serves.
#[test]
fn metrics_over_tls_with_a_web_configuration() {
    let certs = TempDir::new("metrics-tls");
    signpost_tests::control_plane::make_certificates(certs.path()).expect("certificates");
    let web = certs.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .expect("web.yml");
    let metrics = free_port();
    let corefile = format!(
        ".:{{PORT}} {{\n    prometheus 127.0.0.1:{metrics} {{\n        tls {}\n    }}\n    kubernetes cluster.local\n}}\n",
        web.display()
    );
    let server = ClusterDns::start(&corefile, &example_cluster());
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );
    let (status, body) = https_get(metrics, &certs.path().join("ca.crt")).expect("https");
    assert_eq!(status, 200);
    assert!(
        sample(&body, "coredns_dns_requests_total", &["type=\"A\""]) >= Some(1.0),
        "{body}"
    );
    // Plain HTTP gets nothing, and a client that trusts another CA refuses the server.
    assert_eq!(http_get(metrics, "/metrics"), None);
    let other = TempDir::new("metrics-tls-other");
    signpost_tests::control_plane::make_certificates(other.path()).expect("certificates");
    let err = https_get(metrics, &other.path().join("ca.crt")).unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}
