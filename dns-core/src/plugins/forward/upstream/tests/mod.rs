//! Tests of the parent module: the transport against an in-process responder, the pool,
//! health checks and the policies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn query(name: &str) -> Message {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    m
}

fn answer_bytes(bytes: &[u8], rcode: ResponseCode) -> Vec<u8> {
    let request = Message::from_vec(bytes).unwrap();
    let mut response = crate::wire::reply_to(&request, rcode);
    response.metadata.message_type = MessageType::Response;
    response.to_vec().unwrap()
}

/// Answers every UDP query with `rcode` (after a wrong-ID decoy) until dropped.
pub(crate) async fn udp_responder(rcode: ResponseCode) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let mut decoy = answer_bytes(&buf[..n], ResponseCode::ServFail);
            decoy[0] ^= 0xff;
            let _ = socket.send_to(&decoy, from).await;
            let _ = socket.send_to(&answer_bytes(&buf[..n], rcode), from).await;
        }
    });
    addr
}

/// Answers length-prefixed queries on one stream (TCP or TLS) with NOERROR until it closes.
pub(crate) async fn serve_framed<S>(mut stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let out = answer_bytes(&buf, ResponseCode::NoError);
        let mut framed = (out.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// What a DoH client sent: method, path with query, Content-Type, :authority, and the ID of
/// the DNS query inside.
#[derive(Clone, Debug)]
pub(crate) struct DohRequest {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub authority: String,
    pub id: u16,
}

/// Answers DNS over HTTPS (HTTP/2, POST or GET on any path) with NOERROR on one stream,
/// recording each request in `seen`, until the connection closes.
pub(crate) async fn serve_doh<S>(stream: S, seen: Arc<std::sync::Mutex<Vec<DohRequest>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use base64::Engine;
    let Ok(mut connection) = h2::server::handshake(stream).await else {
        return;
    };
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        let (parts, mut body) = request.into_parts();
        let query = if parts.method == http::Method::GET {
            let b64 = parts
                .uri
                .query()
                .and_then(|q| q.strip_prefix("dns="))
                .unwrap_or_default();
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .unwrap_or_default()
        } else {
            let mut wire = Vec::new();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
                wire.extend_from_slice(&chunk);
            }
            wire
        };
        seen.lock().unwrap().push(DohRequest {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            authority: parts
                .uri
                .authority()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            id: query
                .get(..2)
                .map_or(1, |b| u16::from_be_bytes([b[0], b[1]])),
        });
        let answer = answer_bytes(&query, ResponseCode::NoError);
        let response = http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/dns-message")
            .body(())
            .unwrap();
        if let Ok(mut send) = respond.send_response(response, false) {
            let _ = send.send_data(bytes::Bytes::from(answer), true);
        }
    }
}

/// Answers TCP queries on each connection; counts connections.
async fn tcp_responder(connections: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_framed(stream));
        }
    });
    addr
}

fn upstream(addr: SocketAddr, interval_ms: u64) -> Arc<Upstream> {
    let health = HealthCheck {
        interval: Duration::from_millis(interval_ms),
        ..HealthCheck::default()
    };
    Arc::new(Upstream::new(
        addr,
        Duration::from_secs(10),
        health,
        false,
        None,
    ))
}

#[tokio::test]
async fn udp_exchange_skips_wrong_ids_and_restores_the_id() {
    let addr = udp_responder(ResponseCode::Refused).await;
    let up = upstream(addr, 500);
    let response = up
        .exchange(&query("a.example.test."), Transport::Udp, READ_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.metadata.id, 4242);
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn tcp_connections_are_reused_until_they_expire() {
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = tcp_responder(connections.clone()).await;
    let up = upstream(addr, 500);
    for _ in 0..3 {
        let r = up
            .exchange(&query("a.example.test."), Transport::Tcp, READ_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(r.metadata.id, 4242);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(up.tcp.idle_len(), 1);

    let short = Arc::new(Upstream::new(
        addr,
        Duration::from_millis(1),
        HealthCheck::default(),
        false,
        None,
    ));
    for _ in 0..2 {
        short
            .exchange(&query("a.example.test."), Transport::Tcp, READ_TIMEOUT)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

/// `max_age`: a connection in constant use is still closed once that old, so a busy pool
/// moves between an upstream Service's backends.
#[tokio::test]
async fn tcp_connections_are_closed_at_max_age_however_busy() {
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = tcp_responder(connections.clone()).await;
    let up = Arc::new(
        Upstream::new(
            addr,
            Duration::from_secs(10),
            HealthCheck::default(),
            false,
            None,
        )
        .with_connections(Duration::from_millis(150), None),
    );
    for _ in 0..8 {
        up.exchange(&query("a.example.test."), Transport::Tcp, READ_TIMEOUT)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Eight exchanges 50 ms apart, never idle near `expire`: a new connection about every
    // 150 ms instead of one for all.
    let opened = connections.load(Ordering::SeqCst);
    assert!((2..=5).contains(&opened), "{opened} connections");
}

#[tokio::test]
async fn silent_upstream_times_out_and_health_checks_mark_it_down() {
    // Bound but never read: queries vanish.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let up = upstream(silent.local_addr().unwrap(), 20);
    let err = up
        .exchange(
            &query("a.example.test."),
            Transport::Udp,
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    // Go's wording, which errors-plugin consolidate rules match.
    let err = err.to_string();
    assert!(
        err.starts_with("read udp 127.0.0.1:")
            && err.ends_with(&format!("->{}: i/o timeout", silent.local_addr().unwrap())),
        "{err}"
    );
    assert!(!up.down(2));
    up.start_health_check();
    // Each check waits 1 s for its answer; three failures mark it down.
    tokio::time::timeout(Duration::from_secs(6), async {
        while !up.down(2) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert!(!up.down(0), "max_fails 0 never marks down");
}

#[tokio::test]
async fn health_check_success_clears_the_failures() {
    let addr = udp_responder(ResponseCode::NoError).await;
    let up = upstream(addr, 20);
    up.fails.store(5, Ordering::Relaxed);
    assert!(up.down(2));
    up.start_health_check();
    tokio::time::timeout(Duration::from_secs(3), async {
        while up.down(2) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(up.fails(), 0);
}

#[test]
fn policies_order_the_upstreams() {
    let turn = AtomicUsize::new(0);
    assert_eq!(Policy::Sequential.order(3, &turn), [0, 1, 2]);
    assert_eq!(Policy::RoundRobin.order(3, &turn), [0, 1, 2]);
    assert_eq!(Policy::RoundRobin.order(3, &turn), [1, 2, 0]);
    assert_eq!(Policy::RoundRobin.order(3, &turn), [2, 0, 1]);
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let mut o = Policy::Random.order(4, &turn);
        firsts.insert(o[0]);
        o.sort();
        assert_eq!(o, [0, 1, 2, 3]);
    }
    assert_eq!(
        firsts.len(),
        4,
        "random puts every upstream first sometimes"
    );
    assert_eq!(Policy::parse("round_robin"), Some(Policy::RoundRobin));
    assert_eq!(Policy::parse("fastest"), None);
}

#[tokio::test]
async fn an_answer_too_big_for_the_client_becomes_an_empty_truncated_one() {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            // 700 bytes without EDNS, as a misbehaving upstream sends them.
            let mut big = answer_bytes(&buf[..n], ResponseCode::NoError);
            big.resize(700, 0);
            let _ = socket.send_to(&big, from).await;
        }
    });
    let up = upstream(addr, 500);
    let r = up
        .exchange(&query("big.example.test."), Transport::Udp, READ_TIMEOUT)
        .await
        .unwrap();
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    assert_eq!(r.metadata.id, 4242);
    // The health check counts it as alive.
    assert!(up.check().await);
}

#[tokio::test]
async fn force_tcp_health_checks_go_over_tcp() {
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = tcp_responder(connections.clone()).await;
    let up = Arc::new(Upstream::new(
        addr,
        Duration::from_secs(10),
        HealthCheck::default(),
        true,
        None,
    ));
    assert!(up.check().await);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
