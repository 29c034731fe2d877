//! forward and loop setup (every option, errors with file:line:col) and the pure pieces.

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::corefile::parse_str;
use crate::plugins::forward::upstream::Policy;
use crate::plugins::forward::*;
use crate::plugins::loop_detect;

fn no_env(_: &str) -> Option<String> {
    None
}

fn forward(line: &str) -> Result<ForwardConfig, String> {
    forward_resolving(line, false)
}

/// `forward LINE`, resolving host names when `resolve` (only loopback names and resolvers in
/// the tests).
fn forward_resolving(line: &str, resolve: bool) -> Result<ForwardConfig, String> {
    let src = format!(".:53 {{\n  forward {line}\n}}\n");
    let c = parse_str(&src, "Corefile", &no_env).map_err(|e| e.to_string())?;
    parse(&c.blocks[0].directives[0], resolve).map_err(|e| e.to_string())
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

#[test]
fn forward_defaults() {
    let f = forward(". 127.0.0.1 [::1]:5353 dns://127.0.0.2:1053").unwrap();
    assert_eq!(f.from, Name::root());
    let to: Vec<String> = f.to.iter().map(|a| a.to_string()).collect();
    assert_eq!(to, ["127.0.0.1:53", "[::1]:5353", "127.0.0.2:1053"]);
    assert_eq!(f.expire, Duration::from_secs(10));
    assert_eq!(f.max_fails, 2);
    assert_eq!(f.policy, Policy::Random);
    assert_eq!(f.health_check.interval, Duration::from_millis(500));
    assert!(f.health_check.recursion_desired);
    assert_eq!(f.max_concurrent, 0);
    assert!(!f.force_tcp && !f.prefer_udp && !f.failfast_all_unhealthy);
}

#[test]
fn forward_every_option() {
    let f = forward(
        "example.test 127.0.0.1:1053 {\n except a.example.test b.example.test\n force_tcp\n prefer_udp\n \
         expire 30s\n max_fails 0\n policy sequential\n health_check 2s no_rec domain example.test\n \
         max_concurrent 100\n next NXDOMAIN servfail\n failfast_all_unhealthy_upstreams\n \
         max_age 1m\n source_address 127.0.0.2\n }",
    )
    .unwrap();
    assert_eq!(f.max_age, Duration::from_secs(60));
    assert_eq!(f.source_address, Some("127.0.0.2".parse().unwrap()));
    assert_eq!(f.from, name("example.test."));
    assert_eq!(f.except, [name("a.example.test."), name("b.example.test.")]);
    assert!(f.force_tcp && f.prefer_udp && f.failfast_all_unhealthy);
    assert_eq!(f.expire, Duration::from_secs(30));
    assert_eq!(f.max_fails, 0);
    assert_eq!(f.policy, Policy::Sequential);
    assert_eq!(f.health_check.interval, Duration::from_secs(2));
    assert!(!f.health_check.recursion_desired);
    assert_eq!(f.health_check.domain, name("example.test."));
    assert_eq!(f.max_concurrent, 100);
    assert_eq!(f.next, [ResponseCode::NXDomain, ResponseCode::ServFail]);
}

#[test]
fn forward_https_upstreams() {
    // The test names its own CA (without `tls`, the machine's CAs would be needed).
    let dir = std::env::temp_dir().join(format!("signpost-fwd-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, _) = self_signed(&dir);
    let f = forward(&format!(
        ". https://127.0.0.1 https://[::1]:8443 127.0.0.2 {{\n tls {}\n }}",
        cert.display()
    ))
    .unwrap();
    let to: Vec<String> = f.to.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        to,
        [
            "https://127.0.0.1:443",
            "https://[::1]:8443",
            "127.0.0.2:53"
        ]
    );
    assert_eq!(f.to[0].scheme, Scheme::Https);
    assert_eq!(f.doh_method, upstream::DohMethod::Post);
    assert!(f.tls.is_some());
    let f = forward(&format!(
        ". https://127.0.0.1 {{\n doh_method GET\n tls {}\n }}",
        cert.display()
    ))
    .unwrap();
    assert_eq!(f.doh_method, upstream::DohMethod::Get);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forward_reads_resolv_conf() {
    let dir = std::env::temp_dir().join(format!("signpost-fwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resolv.conf");
    std::fs::write(
        &path,
        "# test\nsearch example.test\nnameserver 127.0.0.1\nnameserver ::1\nnameserver fe80::1%eth0\noptions ndots:5\n",
    )
    .unwrap();
    let f = forward(&format!(". {}", path.display())).unwrap();
    let to: Vec<String> = f.to.iter().map(|a| a.to_string()).collect();
    assert_eq!(to, ["127.0.0.1:53", "[::1]:53", "[fe80::1]:53"]);
    std::fs::write(&path, "search example.test\n").unwrap();
    let e = forward(&format!(". {}", path.display())).unwrap_err();
    assert!(
        e.starts_with("Corefile:2:13: forward:") && e.contains("no nameserver lines"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forward_errors_name_the_line() {
    let sixteen = (1..=16)
        .map(|i| format!("127.0.0.{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let cases = [
        (
            "",
            "Corefile:2:3: forward: forward needs FROM and at least one TO",
        ),
        (
            ".",
            "Corefile:2:11: forward: forward needs at least one TO address",
        ),
        (
            ". not_an_address",
            "Corefile:2:13: forward: not an IP address or file",
        ),
        (
            ". 127.0.0.1 {\n resolver dns.example.test\n }",
            "Corefile:3:11: forward: invalid resolver \"dns.example.test\": IP[:PORT]",
        ),
        (
            ". 127.0.0.1 {\n resolver\n }",
            "Corefile:3:2: forward: resolver needs at least one IP[:PORT]",
        ),
        (
            ". tls://dns.example.test",
            "Corefile:2:13: forward: the upstream \"tls://dns.example.test\" is a host name",
        ),
        (
            ". tls://127.0.0.1 {\n tls /nonexistent/ca.pem\n }",
            "Corefile:3:2: forward: tls: file /nonexistent/ca.pem:",
        ),
        (
            ". tls://127.0.0.1 {\n tls /dev/zero\n }",
            "Corefile:3:2: forward: tls: certificate file /dev/zero: no certificates",
        ),
        (
            ". tls://127.0.0.1 {\n tls a b c d\n }",
            "Corefile:3:2: forward: tls takes at most 3 arguments",
        ),
        (
            ". quic://127.0.0.1",
            "Corefile:2:13: forward: quic://127.0.0.1: unsupported protocol \"quic\"",
        ),
        (
            ". https://127.0.0.1/custom",
            "Corefile:2:13: forward: paths are not allowed in HTTPS upstream addresses (the /dns-query path is used by default): https://127.0.0.1/custom",
        ),
        (
            ". https://127.0.0.1 {\n doh_method PUT\n }",
            "Corefile:3:13: forward: doh_method must be either POST or GET, not \"PUT\"",
        ),
        (
            ". https://127.0.0.1 {\n doh_method\n }",
            "Corefile:3:2: forward: doh_method needs exactly",
        ),
        (
            ". https://dns.example.test",
            "Corefile:2:13: forward: the upstream \"https://dns.example.test\" is a host name",
        ),
        (
            ". 127.0.0.1 {\n tls_servername\n }",
            "Corefile:3:2: forward: tls_servername needs exactly",
        ),
        (
            ". 127.0.0.1 {\n tls_servername bad_name!\n }",
            "Corefile:3:17: forward: invalid server name",
        ),
        (
            ". 127.0.0.1 {\n policy fastest\n }",
            "Corefile:3:9: forward: unknown policy \"fastest\"",
        ),
        (
            ". 127.0.0.1 {\n max_fails -1\n }",
            "Corefile:3:12: forward: max_fails must be a non-negative integer",
        ),
        (
            ". 127.0.0.1 {\n max_concurrent 0\n }",
            "Corefile:3:17: forward: max_concurrent must be a positive integer",
        ),
        (
            ". 127.0.0.1 {\n expire soon\n }",
            "Corefile:3:9: forward: invalid duration \"soon\"",
        ),
        (
            ". 127.0.0.1 {\n health_check\n }",
            "Corefile:3:2: forward: health_check needs a duration",
        ),
        (
            ". 127.0.0.1 {\n health_check 1s often\n }",
            "Corefile:3:18: forward: unknown health_check option \"often\"",
        ),
        (
            ". 127.0.0.1 {\n health_check 1s domain\n }",
            "Corefile:3:18: forward: domain needs a name",
        ),
        (
            ". 127.0.0.1 {\n next MAYBE\n }",
            "Corefile:3:7: forward: unknown rcode \"MAYBE\"",
        ),
        (
            ". 127.0.0.1 {\n next\n }",
            "Corefile:3:2: forward: next needs at least one rcode",
        ),
        (
            ". 127.0.0.1 {\n except\n }",
            "Corefile:3:2: forward: except needs at least one name",
        ),
        (
            ". 127.0.0.1 {\n force_tcp yes\n }",
            "Corefile:3:2: forward: force_tcp needs exactly",
        ),
        (
            ". 127.0.0.1 {\n frobnicate\n }",
            "Corefile:3:2: forward: unknown property \"frobnicate\"",
        ),
        (
            ". 127.0.0.1 {\n max_age soon\n }",
            "Corefile:3:10: forward: invalid duration \"soon\"",
        ),
        (
            ". 127.0.0.1 {\n source_address eth0\n }",
            "Corefile:3:17: forward: invalid source address \"eth0\": an IP address",
        ),
        (
            ". 127.0.0.1 [::1]:53 {\n source_address 127.0.0.2\n }",
            "Corefile:2:3: forward: source_address 127.0.0.2 cannot reach [::1]:53: another address family",
        ),
        (
            &format!(". {sixteen}"),
            "Corefile:2:3: forward: more than 15 TOs configured: 16",
        ),
    ];
    for (line, want) in cases {
        let got = forward(line).unwrap_err();
        assert!(got.starts_with(want), "{line:?}: {got}");
    }
    assert_eq!(
        forward(&format!(". {}", &sixteen[..sixteen.rfind(' ').unwrap()]))
            .unwrap()
            .to
            .len(),
        15
    );
}

#[test]
fn forward_matches_from_and_except() {
    let f = ForwardPlugin::new(
        forward("example.test 127.0.0.1 {\n except skip.example.test\n }").unwrap(),
    );
    assert!(f.matches(&name("www.EXAMPLE.test.")));
    assert!(f.matches(&name("example.test.")));
    assert!(!f.matches(&name("other.test.")));
    assert!(!f.matches(&name("a.skip.example.test.")));
    assert!(!f.matches(&name("skip.example.test.")));
    // FROM itself is forwarded even when excepted.
    let f =
        ForwardPlugin::new(forward("example.test 127.0.0.1 {\n except example.test\n }").unwrap());
    assert!(f.matches(&name("example.test.")));
    assert!(!f.matches(&name("a.example.test.")));
}

#[test]
fn answers_must_match_the_question() {
    let mut request = Message::new(1, MessageType::Query, OpCode::Query);
    request
        .queries
        .push(Query::query(name("WWW.example.test."), RecordType::A));
    let mut response = crate::wire::reply_to(&request, ResponseCode::NoError);
    response.metadata.message_type = MessageType::Response;
    response.queries[0].set_name(name("www.example.test."));
    assert!(question_matches(&request, &response));
    response.queries[0].set_query_type(RecordType::AAAA);
    assert!(!question_matches(&request, &response));
    response.queries.clear();
    assert!(!question_matches(&request, &response));
}

#[test]
fn loop_setup_and_probe_name() {
    let c = parse_str(
        ".:53 {\n loop\n loop x\n loop {\n  y\n }\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let d = &c.blocks[0].directives;
    assert!(loop_detect::parse(&d[0]).is_ok());
    assert!(
        loop_detect::parse(&d[1])
            .unwrap_err()
            .to_string()
            .starts_with("Corefile:3:2: loop:")
    );
    assert!(
        loop_detect::parse(&d[2])
            .unwrap_err()
            .to_string()
            .starts_with("Corefile:5:3: loop: loop takes no options")
    );
    assert_eq!(
        loop_detect::probe_name(&name("cluster.local."), 12, 34).to_string(),
        "6.17.cluster.local."
    );
    let l = loop_detect::LoopPlugin::new(Name::root());
    assert_eq!(l.qname().num_labels(), 2);
    let info = crate::wire::RequestInfo {
        src: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: crate::wire::Transport::Udp,
        request_size: 0,
    };
    assert_eq!(
        l.loop_message(&info),
        format!(
            "Loop (127.0.0.1:40000 -> 127.0.0.1:53) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
            l.qname()
        )
    );
    let any = crate::wire::RequestInfo {
        local: "0.0.0.0:1053".parse().unwrap(),
        ..info
    };
    assert!(
        l.loop_message(&any)
            .starts_with("Loop (127.0.0.1:40000 -> :1053) detected")
    );
    assert_eq!(
        loop_detect::probe_target("0.0.0.0:1053".parse().unwrap()).to_string(),
        "127.0.0.1:1053"
    );
}

async fn ask_router(router: &crate::plugin::Router, name: &str) -> Message {
    use crate::wire::Handler;
    let mut request = Message::new(7, MessageType::Query, OpCode::Query);
    request.metadata.recursion_desired = true;
    request
        .queries
        .push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let info = crate::wire::RequestInfo {
        src: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: crate::wire::Transport::Udp,
        request_size: 0,
    };
    router.handle(&request, &info).await.0
}

fn build_one(corefile: &str) -> crate::plugin::Router {
    let store = std::sync::Arc::new(crate::cluster::SnapshotStore::new());
    let c = parse_str(corefile, "Corefile", &no_env).unwrap();
    crate::plugins::build(&c, &crate::plugin::build::Dependencies::new(store))
        .unwrap()
        .routers
        .remove(0)
}

#[tokio::test]
async fn the_upstream_answer_comes_back_with_the_clients_id_and_question() {
    let addr = crate::plugins::forward::upstream::tests::udp_responder(ResponseCode::Refused).await;
    let r = build_one(&format!(".:53 {{\n forward . {addr}\n}}\n"));
    let response = ask_router(&r, "WwW.Example.TEST.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
    assert_eq!(response.metadata.id, 7);
    assert!(
        response.queries[0]
            .name()
            .eq_case(&name("WwW.Example.TEST."))
    );
    // `next REFUSED` hands it on; nothing follows, so SERVFAIL.
    let r = build_one(&format!(
        ".:53 {{\n forward . {addr} {{\n  next REFUSED\n }}\n}}\n"
    ));
    assert_eq!(
        ask_router(&r, "www.example.test.")
            .await
            .metadata
            .response_code,
        ResponseCode::ServFail
    );
    // Outside FROM: handed on.
    let r = build_one(&format!(".:53 {{\n forward example.test {addr}\n}}\n"));
    assert_eq!(
        ask_router(&r, "www.example.org.")
            .await
            .metadata
            .response_code,
        ResponseCode::ServFail
    );
}

#[tokio::test]
async fn the_chain_runs_in_coredns_order() {
    // forward listed first still runs after kubernetes (plugin.cfg order).
    let addr = crate::plugins::forward::upstream::tests::udp_responder(ResponseCode::Refused).await;
    let store = std::sync::Arc::new(crate::cluster::SnapshotStore::new());
    store.replace(crate::cluster::testdata::example_cluster(), 1);
    let c = parse_str(
        &format!(".:53 {{\n forward . {addr}\n loop\n kubernetes cluster.local\n}}\n"),
        "Corefile",
        &no_env,
    )
    .unwrap();
    let r = crate::plugins::build(&c, &crate::plugin::build::Dependencies::new(store))
        .unwrap()
        .routers
        .remove(0);
    let response = ask_router(&r, "web.prod.svc.cluster.local.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(response.answers.len(), 1);
    assert_eq!(
        ask_router(&r, "www.example.test.")
            .await
            .metadata
            .response_code,
        ResponseCode::Refused
    );
}

/// A fresh self-signed certificate for `dns.example.test` and its key in `dir` (made with the
/// openssl command).
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=dns.example.test"])
        .args(["-addext", "subjectAltName=DNS:dns.example.test"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (scripts/install-deps installs it)");
    assert!(status.success());
    (cert, key)
}

/// What a TLS responder speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Speaks {
    /// DNS over TLS (length-prefixed messages).
    Dot,
    /// DNS over HTTPS (HTTP/2, ALPN h2).
    Doh,
}

/// A DNS-over-TLS or DNS-over-HTTPS responder on loopback with a fresh self-signed certificate
/// for `dns.example.test` (made with the openssl command); answers NOERROR; counts
/// connections; records DoH requests.
async fn tls_responder(
    dir: &std::path::Path,
    speaks: Speaks,
) -> (
    std::net::SocketAddr,
    std::path::PathBuf,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::Mutex<Vec<crate::plugins::forward::upstream::tests::DohRequest>>>,
) {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = self_signed(dir);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, PrivateKeyDer::from_pem_file(&key).unwrap())
        .unwrap();
    if speaks == Speaks::Doh {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (counted, recorded) = (connections.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = counted.clone();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match speaks {
                    Speaks::Dot => {
                        crate::plugins::forward::upstream::tests::serve_framed(stream).await
                    }
                    Speaks::Doh => {
                        crate::plugins::forward::upstream::tests::serve_doh(stream, recorded).await
                    }
                }
            });
        }
    });
    (addr, cert, connections, seen)
}

#[tokio::test]
async fn dns_over_tls_upstreams() {
    let dir = std::env::temp_dir().join(format!("signpost-dot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (addr, cert, connections, _) = tls_responder(&dir, Speaks::Dot).await;
    let corefile = |servername: &str| {
        format!(
            ".:53 {{\n forward . tls://{addr} {{\n  tls {}\n  tls_servername {servername}\n }}\n}}\n",
            cert.display()
        )
    };
    let r = build_one(&corefile("dns.example.test"));
    for _ in 0..2 {
        let response = ask_router(&r, "www.example.test.").await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
        assert_eq!(response.metadata.id, 7);
    }
    // One TLS connection, reused.
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A certificate for another name is not accepted: SERVFAIL.
    let r = build_one(&corefile("other.example.test"));
    let response = ask_router(&r, "www.example.test.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `forward . https://ADDR` trusting `ca`, with `tls_servername` and more `options` lines.
fn doh_corefile(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    servername: &str,
    options: &str,
) -> String {
    format!(
        ".:53 {{\n forward . https://{addr} {{\n  tls {}\n  tls_servername {servername}\n{options} }}\n}}\n",
        ca.display()
    )
}

/// `https://`: RFC 8484 POST (or GET with `doh_method GET`) to /dns-query with query ID 0,
/// `tls_servername` as the authority, every query on one HTTP/2 connection; the client gets
/// its own ID back.
#[tokio::test]
async fn dns_over_https_upstreams() {
    let dir = std::env::temp_dir().join(format!("signpost-doh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (addr, cert, connections, seen) = tls_responder(&dir, Speaks::Doh).await;
    let corefile = |servername: &str, options: &str| doh_corefile(addr, &cert, servername, options);
    let r = build_one(&corefile("dns.example.test", ""));
    let response = ask_router(&r, "www.example.test.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(response.metadata.id, 7);
    // Queries in flight together share the connection as streams.
    let answers =
        futures_util::future::join_all((0..8).map(|_| ask_router(&r, "www.example.test."))).await;
    assert!(
        answers
            .iter()
            .all(|a| a.metadata.response_code == ResponseCode::NoError)
    );
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 9);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/dns-query");
        assert_eq!(request.content_type, "application/dns-message");
        assert_eq!(request.authority, "dns.example.test");
        assert_eq!(request.id, 0);
    }

    let r = build_one(&corefile("dns.example.test", "  doh_method GET\n"));
    let response = ask_router(&r, "www.example.test.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let get = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(get.method, "GET");
    assert!(get.path.starts_with("/dns-query?dns="), "{}", get.path);

    // A certificate for another name is not accepted: SERVFAIL.
    let r = build_one(&corefile("other.example.test", ""));
    let response = ask_router(&r, "www.example.test.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    let _ = std::fs::remove_dir_all(&dir);
}

/// DoH is HTTP/2 only (docs/differences.md): a TLS server that does not speak it gets no
/// query through, and the client SERVFAIL.
#[tokio::test]
async fn a_doh_upstream_without_http2_is_servfail() {
    let dir = std::env::temp_dir().join(format!("signpost-doh-h1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (addr, cert, _, _) = tls_responder(&dir, Speaks::Dot).await;
    let r = build_one(&doh_corefile(addr, &cert, "dns.example.test", ""));
    let response = ask_router(&r, "www.example.test.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DoH connection idle past `expire` is replaced, as every pooled upstream connection is
/// (docs/differences.md: Go's HTTP client would keep it 90 s whatever `expire` says).
#[tokio::test]
async fn the_doh_connection_expires_like_the_other_pooled_connections() {
    let dir = std::env::temp_dir().join(format!("signpost-doh-expire-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (addr, cert, connections, _) = tls_responder(&dir, Speaks::Doh).await;
    let r = build_one(&doh_corefile(
        addr,
        &cert,
        "dns.example.test",
        "  expire 200ms\n",
    ));
    for _ in 0..2 {
        let response = ask_router(&r, "www.example.test.").await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let response = ask_router(&r, "www.example.test.").await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Where `r`'s query for `www.example.test.` came from, as `seen` (the upstream, which never
/// answers) reports it.
async fn asked_from(
    r: &crate::plugin::Router,
    seen: tokio::task::JoinHandle<std::net::SocketAddr>,
) -> std::net::SocketAddr {
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        ask_router(r, "www.example.test."),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(2), seen)
        .await
        .unwrap()
        .unwrap()
}

/// `source_address`: queries leave from that address, over UDP and TCP.
#[tokio::test]
async fn queries_leave_from_the_source_address() {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let r = build_one(&format!(
        ".:53 {{\n forward . {addr} {{\n  source_address 127.0.0.2\n }}\n}}\n"
    ));
    let seen = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        udp.recv_from(&mut buf).await.unwrap().1
    });
    assert_eq!(asked_from(&r, seen).await.ip().to_string(), "127.0.0.2");

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let r = build_one(&format!(
        ".:53 {{\n forward . {addr} {{\n  force_tcp\n  source_address 127.0.0.2\n }}\n}}\n"
    ));
    let seen = tokio::spawn(async move { tcp.accept().await.unwrap().1 });
    assert_eq!(asked_from(&r, seen).await.ip().to_string(), "127.0.0.2");
}

/// A resolver on loopback for the host-name tests: `upstream.example.test` has A 127.0.0.7
/// and AAAA ::7; every other name has nothing.
fn test_resolver() -> std::net::SocketAddr {
    use hickory_proto::rr::rdata::{A, AAAA};
    use hickory_proto::rr::{RData, Record};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = crate::wire::reply_to(&query, ResponseCode::NoError);
            let q = &query.queries[0];
            if q.name().to_ascii() == "upstream.example.test." {
                let data = match q.query_type() {
                    RecordType::A => RData::A(A("127.0.0.7".parse().unwrap())),
                    _ => RData::AAAA(AAAA("::7".parse().unwrap())),
                };
                reply
                    .answers
                    .push(Record::from_rdata(q.name().clone(), 60, data));
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), from);
        }
    });
    addr
}

/// Host names as upstreams, resolved once at setup: by the system resolver (`localhost` from
/// the host's files), or by `resolver` (A and AAAA).
#[test]
fn forward_resolves_host_names_at_start() {
    // Off (tests, fuzzing): refused, nothing asked.
    assert!(
        forward(". localhost:5353")
            .unwrap_err()
            .starts_with("Corefile:2:13: forward: the upstream \"localhost:5353\" is a host name")
    );
    let forward = |line: &str| forward_resolving(line, true);
    let f = forward(". localhost:5353").unwrap();
    assert!(
        f.to.iter().any(|t| t.to_string() == "127.0.0.1:5353"),
        "{:?}",
        f.to
    );
    let resolver = test_resolver();
    let dir = std::env::temp_dir().join(format!("signpost-fwd-hosts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, _) = self_signed(&dir);
    let f = forward(&format!(
        ". upstream.example.test:5353 198.18.0.53 {{\n resolver 127.0.0.1:1 {resolver}\n }}"
    ))
    .unwrap();
    let to: Vec<String> = f.to.iter().map(|t| t.to_string()).collect();
    assert_eq!(to, ["198.18.0.53:53", "127.0.0.7:5353", "[::7]:5353"]);
    // A scheme keeps its default port and its transport (CoreDNS's parseAsHostEntry).
    let f = forward(&format!(
        ". https://upstream.example.test tls://upstream.example.test:8853 {{\n resolver {resolver}\n tls {}\n }}",
        cert.display()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let to: Vec<String> = match &f {
        Ok(f) => f.to.iter().map(|t| t.to_string()).collect(),
        Err(e) => vec![e.clone()],
    };
    assert_eq!(
        to[..2],
        ["https://127.0.0.7:443", "https://[::7]:443"],
        "{to:?}"
    );
    assert_eq!(to[2], "tls://127.0.0.7:8853");
    let e = forward(&format!(
        ". missing.example.test {{\n resolver {resolver}\n }}"
    ))
    .unwrap_err();
    assert!(
        e.starts_with(
            "Corefile:2:13: forward: cannot resolve the upstream \"missing.example.test\": "
        ) && e.contains("no addresses"),
        "{e}"
    );
}
