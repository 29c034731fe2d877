//! The listeners and the malformed-input table (docs/serving.md), on loopback.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::wire::reply_to;

/// Answers `n.test.` with n A records (to make big answers); sleeps on `slow.test.`.
struct TestHandler;

impl Handler for TestHandler {
    type Tag = ();

    async fn handle(&self, request: &Message, info: &RequestInfo) -> (Message, ()) {
        (Self::answer(request, info).await, ())
    }
}

impl TestHandler {
    async fn answer(request: &Message, _info: &RequestInfo) -> Message {
        let mut response = reply_to(request, ResponseCode::NoError);
        let Some(q) = request.queries.first() else {
            return response;
        };
        let first = q
            .name()
            .iter()
            .next()
            .map(|l| String::from_utf8_lossy(l).to_string())
            .unwrap_or_default();
        if first == "slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let n: u32 = first.parse().unwrap_or(1);
        for i in 0..n {
            let ip =
                std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0)) + i);
            response
                .answers
                .push(Record::from_rdata(q.name().clone(), 5, RData::A(A(ip))));
        }
        response
    }
}

async fn start() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    start_with(|_| {}).await
}

async fn start_with(
    configure: impl FnOnce(&mut ServerConfig),
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.udp_workers = 2;
    config.tcp_read_timeout = Duration::from_millis(300);
    configure(&mut config);
    let bound = BoundServer::bind(config).unwrap();
    let addr = bound.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(bound.run(Arc::new(TestHandler), async move {
        let _ = rx.await;
    }));
    (addr, tx, task)
}

fn query(name: &str, edns: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.edns = Some(e);
    }
    m.to_vec().unwrap()
}

/// Sends one datagram and returns the reply, or None after a short wait.
fn udp_exchange(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    socket.send_to(bytes, addr).unwrap();
    let mut buf = [0u8; 65535];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn rcode(bytes: &[u8]) -> u8 {
    bytes[3] & 0x0f
}

fn header(id: u16, flags: u8, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut h = id.to_be_bytes().to_vec();
    h.extend_from_slice(&[flags, 0]);
    for c in [qd, an, ns, ar] {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

/// The question `a.test. A IN`.
fn question() -> Vec<u8> {
    vec![1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_table() {
    let (addr, stop, task) = start().await;
    let with_question = |mut h: Vec<u8>| {
        h.extend(question());
        h
    };
    let mut long_label = header(7, 0, 1, 0, 0, 0);
    long_label.push(64);
    long_label.extend(std::iter::repeat_n(b'a', 64));
    long_label.extend([0, 0, 1, 0, 1]);
    let mut long_name = header(8, 0, 1, 0, 0, 0);
    for _ in 0..5 {
        long_name.push(63);
        long_name.extend(std::iter::repeat_n(b'a', 63));
    }
    long_name.extend([0, 0, 1, 0, 1]);
    let mut compression_loop = header(9, 0, 1, 0, 0, 0);
    compression_loop.extend([0xc0, 12, 0, 1, 0, 1]);
    let mut truncated = header(10, 0, 1, 0, 0, 0);
    truncated.extend([5, b'a', b'b']);
    let mut bad_version = Message::from_vec(&query("a.test.", Some(1232))).unwrap();
    if let Some(e) = bad_version.edns.as_mut() {
        e.set_version(1);
    }
    let bad_version = bad_version.to_vec().unwrap();
    // A well-formed query padded (an EDNS padding option) past a receive slot's 4096 bytes.
    let mut oversized = with_question(header(11, 0, 1, 0, 0, 1));
    oversized.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    oversized.extend(5000u16.to_be_bytes());
    oversized.extend(12u16.to_be_bytes());
    oversized.extend(4996u16.to_be_bytes());
    oversized.extend(std::iter::repeat_n(0u8, 4996));

    // (case, bytes, expected: None = silence, Some(rcode))
    let cases: Vec<(&str, Vec<u8>, Option<u8>)> = vec![
        ("short header", vec![0x12, 0x34, 0, 0, 0], None),
        ("empty", vec![], None),
        (
            "response bit set",
            with_question(header(1, 0x80, 1, 0, 0, 0)),
            None,
        ),
        (
            "opcode 15",
            with_question(header(2, 15 << 3, 1, 0, 0, 0)),
            Some(4),
        ),
        (
            "opcode STATUS",
            with_question(header(2, 2 << 3, 1, 0, 0, 0)),
            Some(4),
        ),
        ("no question", header(3, 0, 0, 0, 0, 0), Some(1)),
        (
            "two questions",
            {
                let mut h = header(4, 0, 2, 0, 0, 0);
                h.extend(question());
                h.extend(question());
                h
            },
            Some(1),
        ),
        (
            "answer records in a query",
            with_question(header(5, 0, 1, 2, 0, 0)),
            Some(1),
        ),
        ("label longer than 63", long_label, Some(1)),
        ("name longer than 255", long_name, Some(1)),
        ("compression loop", compression_loop, Some(1)),
        ("truncated question", truncated, Some(1)),
        ("EDNS version 1", bad_version, Some(0)),
        ("datagram longer than a receive slot", oversized, Some(1)),
    ];
    for (case, bytes, want) in cases {
        let reply = udp_exchange(addr, &bytes);
        match (want, reply) {
            (None, None) => {}
            (Some(code), Some(reply)) => {
                assert!(reply.len() >= 12, "{case}: short reply");
                assert_eq!(rcode(&reply), code, "{case}: rcode");
                assert_eq!(reply[2] & 0x80, 0x80, "{case}: QR set");
                if bytes.len() >= 2 {
                    assert_eq!(reply[..2], bytes[..2], "{case}: ID copied");
                }
                if case == "EDNS version 1" {
                    let m = Message::from_vec(&reply).unwrap();
                    // BADVERS and BADSIG share code 16; hickory decodes it as BADSIG.
                    assert_eq!(u16::from(m.metadata.response_code), 16, "{case}");
                    // The question is echoed (RFC 5452 9.1), as CoreDNS does.
                    assert_eq!(m.queries.len(), 1, "{case}: question echoed");
                }
            }
            (want, got) => panic!("{case}: want {want:?}, got {got:?}"),
        }
    }
    // The server still answers a good query after all that.
    let reply = udp_exchange(addr, &query("1.test.", None)).expect("answer");
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_is_echoed_and_udp_truncates() {
    let (addr, stop, task) = start().await;
    let m = Message::from_vec(&udp_exchange(addr, &query("1.test.", Some(4096))).unwrap()).unwrap();
    let edns = m.edns.expect("OPT in the response");
    assert_eq!(edns.max_payload(), MAX_UDP_PAYLOAD);
    // Without EDNS: no OPT, 512 bytes at most, TC set when records had to go.
    let reply = udp_exchange(addr, &query("100.test.", None)).unwrap();
    assert!(reply.len() <= 512);
    let m = Message::from_vec(&reply).unwrap();
    assert!(m.edns.is_none());
    assert!(m.metadata.truncation);
    assert!(!m.answers.is_empty() && m.answers.len() < 100);
    // With EDNS 1232 more fits, still truncated.
    let m =
        Message::from_vec(&udp_exchange(addr, &query("100.test.", Some(1232))).unwrap()).unwrap();
    assert!(m.metadata.truncation && m.answers.len() > 30);
    // Over TCP the whole answer comes back.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let q = query("100.test.", None);
    stream
        .write_all(&(q.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&q).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.unwrap();
    let m = Message::from_vec(&body).unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 100);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pipelines_and_survives_lying_length() {
    let (addr, stop, task) = start().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Two queries in one write: both answered on the same connection.
    let mut bytes = Vec::new();
    for name in ["1.test.", "2.test."] {
        let q = query(name, None);
        bytes.extend((q.len() as u16).to_be_bytes());
        bytes.extend(q);
    }
    stream.write_all(&bytes).await.unwrap();
    for want in [1, 2] {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).await.unwrap();
        assert_eq!(Message::from_vec(&body).unwrap().answers.len(), want);
    }
    // A length prefix promising 65535 bytes that never come: the connection is closed.
    let mut liar = tokio::net::TcpStream::connect(addr).await.unwrap();
    liar.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), liar.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "connection should close: {read:?}"
    );
    // And the server still answers.
    assert!(udp_exchange(addr, &query("1.test.", None)).is_some());
    let _ = stop.send(());
    task.await.unwrap();
}

/// A first query must arrive whole within the read timeout (300 ms here), length prefix
/// included: a client trickling it a byte at a time is closed. Later queries get the idle
/// timeout from the last answer, so a pause longer than the read timeout is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_deadlines_cover_whole_messages_first_read_then_idle() {
    let (addr, stop, task) = start().await;
    let q = query("1.test.", None);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(q);

    // Half a length prefix, then nothing: closed once the read timeout is over (the prefix
    // itself is under the deadline, not only the body after it).
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(&framed[..1]).await.unwrap();
    let mut one = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), slow.read(&mut one)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "half a length prefix kept its connection past the read timeout: {read:?}"
    );

    let mut patient = tokio::net::TcpStream::connect(addr).await.unwrap();
    for pause in [Duration::ZERO, Duration::from_millis(600)] {
        tokio::time::sleep(pause).await;
        patient.write_all(&framed).await.unwrap();
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(2), patient.read_exact(&mut len))
            .await
            .expect("answered after a pause within the idle timeout")
            .unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        patient.read_exact(&mut body).await.unwrap();
    }
    let _ = stop.send(());
    task.await.unwrap();
}

/// Writes `names` as pipelined TCP queries and reads answers until the server closes (or
/// `want + 1` arrived); returns how many arrived.
async fn tcp_answers(stream: &mut tokio::net::TcpStream, names: &[&str], want: usize) -> usize {
    let mut bytes = Vec::new();
    for name in names {
        let q = query(name, None);
        bytes.extend((q.len() as u16).to_be_bytes());
        bytes.extend(q);
    }
    stream.write_all(&bytes).await.unwrap();
    let mut answers = 0;
    while answers <= want {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read_exact(&mut len)).await;
        if !matches!(read, Ok(Ok(_))) {
            break;
        }
        let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).await.unwrap();
        answers += 1;
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_closes_a_connection_after_its_last_allowed_query_and_counts_it() {
    let (addr, stop, task) = start_with(|c| c.max_tcp_queries = 3).await;
    let before = limits::count(Limit::TcpQueriesPerConnection);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let names = ["1.test."; 5];
    assert_eq!(tcp_answers(&mut stream, &names, 3).await, 3);
    assert!(limits::count(Limit::TcpQueriesPerConnection) > before);
    // A new connection gets its own three.
    let mut again = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(tcp_answers(&mut again, &names[..2], 2).await, 2);
    let _ = stop.send(());
    task.await.unwrap();
}

/// A client that pipelines more than the limit still gets every answer it is owed and a clean
/// end of stream: a close with its surplus queries unread would reset the connection and drop
/// answers still queued for sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_closes_cleanly_under_a_client_pipelining_past_the_limit() {
    let (addr, stop, task) = start_with(|c| c.max_tcp_queries = 3).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut bytes = Vec::new();
    for _ in 0..200 {
        let q = query("1.test.", None);
        bytes.extend((q.len() as u16).to_be_bytes());
        bytes.extend(q);
    }
    stream.write_all(&bytes).await.unwrap();
    // Let the server answer its three and close before anything is read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut everything = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut everything))
        .await
        .expect("the server closes within its drain time");
    assert!(read.is_ok(), "a clean end of stream, not {read:?}");
    let mut answers = 0;
    let mut rest = everything.as_slice();
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        assert!(tail.len() >= len, "a whole answer");
        rest = &tail[len..];
        answers += 1;
    }
    assert_eq!(answers, 3);
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_beyond_the_limit_wait_until_one_closes_and_are_counted() {
    let (addr, stop, task) = start_with(|c| c.max_tcp_connections = 2).await;
    let before = limits::count(Limit::TcpConnections);
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(tcp_answers(&mut s, &["1.test."], 1).await, 1);
        open.push(s);
    }
    // The kernel accepts the third, but nothing reads it while two are open.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let q = query("1.test.", None);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(q);
    third.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read_exact(&mut len)).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");
    assert!(limits::count(Limit::TcpConnections) > before);
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(3), third.read_exact(&mut len))
        .await
        .expect("served once a slot is free")
        .unwrap();
    let _ = stop.send(());
    task.await.unwrap();
}

#[test]
fn a_reached_limit_logs_at_most_once_per_period() {
    let every = limits::LOG_EVERY.as_millis() as u64;
    let cases = [
        ("never logged", 0, 1, true),
        ("just logged", 1000, 1001, false),
        (
            "a moment before the period ends",
            1000,
            1000 + every - 1,
            false,
        ),
        ("the period is over", 1000, 1000 + every, true),
        ("a clock that went back", 5000, 10, false),
    ];
    for (what, last, now, want) in cases {
        assert_eq!(limits::should_log(last, now), want, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_drains_in_flight_tcp_queries() {
    let (addr, stop, task) = start().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let q = query("slow.test.", None);
    stream
        .write_all(&(q.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&q).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop.send(());
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .expect("the slow answer still arrives");
    task.await.unwrap();
}

#[tokio::test]
async fn second_bind_on_same_port_works_with_reuseport() {
    let first = BoundServer::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
    let second = BoundServer::bind(ServerConfig::new(first.local_addr()));
    assert!(
        second.is_ok(),
        "SO_REUSEPORT lets a new process bind beside the old one"
    );
}

/// A server whose future is dropped without a stop (its runtime shut down, its task aborted)
/// takes its UDP worker threads with it: the port stops answering within the workers' stop
/// poll, instead of a thread serving on for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_server_stops_its_udp_workers() {
    let (addr, _stop, task) = start().await;
    let q = query("1.test.", None);
    let answered = tokio::task::spawn_blocking(move || udp_exchange(addr, &q))
        .await
        .unwrap();
    assert!(answered.is_some(), "served before the drop");
    task.abort();
    let _ = task.await;
    let q = query("1.test.", None);
    let silent = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if udp_exchange(addr, &q).is_none() {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(
        silent,
        "a UDP worker still answered 3 s after its server was dropped"
    );
}

/// An upgrade: a second server binds beside the first, the first stops while a client keeps
/// asking from ever new source ports, and every query is answered (the stopping server leaves
/// the reuseport group, answers what it had queued and what it had sent upstream, then closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_server_hands_over_to_its_reuseport_successor_without_loss() {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.udp_workers = 2;
    let old = BoundServer::bind(config.clone()).unwrap();
    let addr = old.local_addr();
    config.addr = addr;
    let new = BoundServer::bind(config).unwrap();
    let (stop_old, old_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_new, new_stopped) = tokio::sync::oneshot::channel::<()>();
    let old_task = tokio::spawn(old.run(Arc::new(TestHandler), async {
        let _ = old_stopped.await;
    }));
    let new_task = tokio::spawn(new.run(Arc::new(TestHandler), async {
        let _ = new_stopped.await;
    }));

    // Bursts keep datagrams queued in both servers' sockets at the moment of the stop.
    let client = std::thread::spawn(move || {
        let mut lost = Vec::new();
        for burst in 0..40u16 {
            let mut sent = Vec::new();
            for j in 0..64u16 {
                let i = burst * 64 + j;
                // Some wait upstream-style, so a few are in flight at the stop.
                let name = if i % 50 == 0 { "slow.test." } else { "1.test." };
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut q = Message::new(i, MessageType::Query, OpCode::Query);
                q.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
                socket.send_to(&q.to_vec().unwrap(), addr).unwrap();
                sent.push((i, socket));
            }
            for (i, socket) in sent {
                let mut buf = [0u8; 512];
                match socket.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        assert_eq!(Message::from_vec(&buf[..n]).unwrap().metadata.id, i)
                    }
                    Err(_) => lost.push(i),
                }
            }
        }
        lost
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_old.send(());
    old_task.await.unwrap();
    let lost = tokio::task::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap();
    let _ = stop_new.send(());
    new_task.await.unwrap();
    assert_eq!(lost, Vec::<u16>::new(), "queries lost across the hand-over");
}

/// A block's limits (`bufsize`, `chaos`) as the server applies them around the chain.
struct Limited(crate::wire::Limits);

impl Handler for Limited {
    type Tag = ();

    async fn handle(&self, request: &Message, info: &RequestInfo) -> (Message, ()) {
        (TestHandler::answer(request, info).await, ())
    }

    fn limits(&self, _query: &Query) -> crate::wire::Limits {
        self.0
    }
}

#[tokio::test]
async fn block_limits_cap_udp_and_admit_a_class() {
    use hickory_proto::rr::DNSClass;
    let info = RequestInfo {
        src: "127.0.0.1:4000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    };
    let capped = Limited(crate::wire::Limits {
        class: Some(DNSClass::CH),
        udp_size: 600,
    });
    // bufsize 600: at most 600 bytes, and 600 advertised, whatever the client offers.
    let (reply, _) = super::respond::respond(&capped, &query("100.test.", Some(4096)), &info).await;
    let reply = reply.unwrap();
    assert!(reply.len() <= 600, "{}", reply.len());
    let m = Message::from_vec(&reply).unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.edns.unwrap().max_payload(), 600);
    // A smaller client size still wins.
    let (reply, _) = super::respond::respond(&capped, &query("100.test.", Some(512)), &info).await;
    assert!(reply.unwrap().len() <= 512);
    // CH reaches the handler of a block that admits it; elsewhere it is REFUSED.
    let mut ch = Message::from_vec(&query("1.test.", None)).unwrap();
    ch.queries[0].set_query_class(DNSClass::CH);
    let ch = ch.to_vec().unwrap();
    let (reply, _) = super::respond::respond(&capped, &ch, &info).await;
    assert_eq!(rcode(&reply.unwrap()), 0);
    let plain = Limited(crate::wire::Limits::default());
    let (reply, _) = super::respond::respond(&plain, &ch, &info).await;
    assert_eq!(rcode(&reply.unwrap()), ResponseCode::Refused.low());
}

/// A SIGTERM that arrives after the handler is installed but before anyone waits for it (a
/// binary still starting) is kept, not lost, and does not end the process.
#[tokio::test]
async fn a_shutdown_signal_during_the_start_is_kept_for_later() {
    let shutdown = crate::server::ShutdownSignal::install().expect("install");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), shutdown.received())
        .await
        .expect("the early SIGTERM is received");
}

/// A query in flight holds the handler it started on without adding to the reference count
/// every worker shares (no shared write per answer), and finishes on it after a reload.
#[tokio::test]
async fn a_query_holds_its_handler_without_writing_the_shared_count() {
    let swap = swap::Swap::new(TestHandler);
    let Ok(request) = Message::from_vec(&query("slow.test.", None)) else {
        panic!("the test query parses");
    };
    let info = RequestInfo {
        src: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    };
    let in_flight = swap.handle(&request, &info);
    tokio::pin!(in_flight);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(in_flight.as_mut().poll(&mut context).is_pending());
    // The swap's own reference and this call's.
    assert_eq!(Arc::strong_count(&swap.current()), 2);
    swap.replace(TestHandler);
    let (response, _) = in_flight.await;
    assert_eq!(response.answers.len(), 1);
}
