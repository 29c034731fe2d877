//! Sockets: a UDP exchange on a fresh socket per query, and TCP exchanges over a pool of
//! connections per upstream that expire after `expire` idle.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::metrics::UpstreamMetrics;

/// Why an exchange with an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Go's wording, which operators' `errors { consolidate ... ".* i/o timeout$" }` rules
    /// match: `read udp 127.0.0.1:40000->127.0.0.1:53: i/o timeout`.
    #[error("{op} {}{remote}: i/o timeout", local.map(|l| format!("{l}->")).unwrap_or_default())]
    Timeout {
        op: &'static str,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the query: {0}")]
    Encode(String),
    /// The answer was larger than the client's UDP size (an upstream that ignores EDNS).
    #[error("dns: overflow unpacking the answer")]
    Overflow { rcode: u8 },
    #[error("malformed answer from the upstream")]
    Malformed,
    #[error("tls: {0}")]
    Tls(String),
    /// DNS over HTTPS: the HTTP/2 connection or stream failed.
    #[error("http2: {0}")]
    Http(String),
    /// DNS over HTTPS: the upstream answered with another status than 200.
    #[error("unexpected HTTP status {0} from the DoH upstream")]
    HttpStatus(u16),
}

/// The local address queries to `addr` leave from: `source` (`source_address`) or any.
fn local_for(addr: SocketAddr, source: Option<IpAddr>) -> SocketAddr {
    match (source, addr) {
        (Some(ip), _) => SocketAddr::new(ip, 0),
        (None, SocketAddr::V4(_)) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        (None, SocketAddr::V6(_)) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// Sends `wire` (whose ID is `id`) over UDP from a fresh socket (on `source` when given,
/// `source_address`) and waits at most `timeout`
/// for the answer with that ID; answers with other IDs are ignored. Answers are read into a
/// buffer of `bufsize` bytes (at least 512; the client's EDNS size, as CoreDNS sizes it), so
/// memory per waiting query stays small; an answer that does not fit is
/// [`ExchangeError::Overflow`].
pub async fn udp_exchange(
    source: Option<IpAddr>,
    addr: SocketAddr,
    wire: &[u8],
    id: u16,
    timeout: Duration,
    bufsize: u16,
) -> Result<Message, ExchangeError> {
    let socket = UdpSocket::bind(local_for(addr, source)).await?;
    socket.connect(addr).await?;
    socket.send(wire).await?;
    let local = socket.local_addr().ok();
    let deadline = tokio::time::Instant::now() + timeout;
    // One byte more than allowed: a datagram that fills the buffer did not fit.
    let mut buf = vec![0u8; usize::from(bufsize.max(512)) + 1];
    loop {
        let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ExchangeError::Timeout {
                    op: "read udp",
                    local,
                    remote: addr,
                });
            }
        };
        if n < 12 || u16::from_be_bytes([buf[0], buf[1]]) != id || buf[2] & 0x80 == 0 {
            continue;
        }
        if n == buf.len() {
            return Err(ExchangeError::Overflow {
                rcode: buf[3] & 0x0f,
            });
        }
        return Message::from_vec(&buf[..n]).map_err(|_| ExchangeError::Malformed);
    }
}

/// A byte stream to an upstream: plain TCP or TLS over TCP (carrying DNS over TCP, DNS over
/// TLS, or HTTP/2 for DNS over HTTPS).
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open connection, its local address (for Go-worded errors) and when it was opened.
pub(super) struct Conn {
    pub(super) io: Box<dyn Stream>,
    pub(super) local: Option<SocketAddr>,
    pub(super) opened: Instant,
}

/// Connects a TCP socket to `addr` from `source` (any local address when `None`).
async fn connect_from(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// DNS over TLS: the client settings and the name the upstream's certificate must carry.
#[derive(Clone)]
pub struct TlsClient {
    pub config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// Connects to `addr` (and does the TLS handshake with `tls`) before `deadline`.
pub(super) async fn dial(
    addr: SocketAddr,
    source: Option<IpAddr>,
    tls: Option<&TlsClient>,
    deadline: tokio::time::Instant,
) -> Result<Conn, ExchangeError> {
    let opened = Instant::now();
    let stream = match tokio::time::timeout_at(deadline, connect_from(addr, source)).await {
        Ok(s) => s?,
        Err(_) => {
            return Err(ExchangeError::Timeout {
                op: "dial tcp",
                local: None,
                remote: addr,
            });
        }
    };
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let Some(tls) = tls else {
        return Ok(Conn {
            io: Box::new(stream),
            local,
            opened,
        });
    };
    let connector = TlsConnector::from(tls.config.clone());
    match tokio::time::timeout_at(deadline, connector.connect(tls.server_name.clone(), stream))
        .await
    {
        Ok(Ok(stream)) => Ok(Conn {
            io: Box::new(stream),
            local,
            opened,
        }),
        Ok(Err(e)) => Err(ExchangeError::Tls(e.to_string())),
        Err(_) => Err(ExchangeError::Timeout {
            op: "tls handshake",
            local,
            remote: addr,
        }),
    }
}

/// Writes one length-prefixed message and reads answers until the one with `id`.
async fn roundtrip(
    conn: &mut Conn,
    addr: SocketAddr,
    wire: &[u8],
    id: u16,
    deadline: tokio::time::Instant,
) -> Result<Message, ExchangeError> {
    let len = u16::try_from(wire.len()).map_err(|_| ExchangeError::Encode("too long".into()))?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    let stream = &mut conn.io;
    let io = async {
        stream.write_all(&framed).await?;
        stream.flush().await?;
        loop {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut buf).await?;
            if buf.len() >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return Message::from_vec(&buf).map_err(|_| ExchangeError::Malformed);
            }
        }
    };
    match tokio::time::timeout_at(deadline, io).await {
        Ok(result) => result,
        Err(_) => Err(ExchangeError::Timeout {
            op: "read tcp",
            local: conn.local,
            remote: addr,
        }),
    }
}

/// One exchange on a new connection (health checks).
pub async fn tcp_once(
    addr: SocketAddr,
    source: Option<IpAddr>,
    tls: Option<&TlsClient>,
    wire: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Message, ExchangeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut conn = dial(addr, source, tls, deadline).await?;
    roundtrip(&mut conn, addr, wire, id, deadline).await
}

/// Idle connections to one upstream, oldest first, each with when it was last used.
pub(super) struct TcpPool {
    idle: Mutex<VecDeque<(Conn, Instant)>>,
    expire: Duration,
    max_idle: usize,
    tls: Option<TlsClient>,
    /// `max_age`: a connection older than this is closed, however busy (zero: no limit).
    pub(super) max_age: Duration,
    /// `source_address`: the local address connections are opened from.
    pub(super) source: Option<IpAddr>,
}

impl TcpPool {
    pub(super) fn new(expire: Duration, max_idle: usize, tls: Option<TlsClient>) -> Self {
        Self {
            idle: Mutex::new(VecDeque::new()),
            expire,
            max_idle,
            tls,
            max_age: Duration::ZERO,
            source: None,
        }
    }

    /// Past `max_age` (CoreDNS's absolute lifetime, so a busy pool still moves between an
    /// upstream Service's backends).
    fn too_old(&self, conn: &Conn) -> bool {
        !self.max_age.is_zero() && conn.opened.elapsed() > self.max_age
    }

    pub(super) fn tls(&self) -> Option<&TlsClient> {
        self.tls.as_ref()
    }

    /// The `proto` label of the connection cache metrics.
    fn proto(&self) -> &'static str {
        if self.tls.is_some() { "tcp-tls" } else { "tcp" }
    }

    /// A connection used within `expire`, oldest first (CoreDNS's FIFO); expired ones are
    /// closed on the way.
    fn take(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((conn, used)) = idle.pop_front() {
            if used.elapsed() <= self.expire && !self.too_old(&conn) {
                return Some(conn);
            }
        }
        None
    }

    fn give_back(&self, conn: Conn) {
        if self.too_old(&conn) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push_back((conn, Instant::now()));
        }
    }

    #[cfg(test)]
    pub(super) fn idle_len(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    pub(super) async fn exchange(
        &self,
        addr: SocketAddr,
        wire: &[u8],
        id: u16,
        timeout: Duration,
        metrics: &UpstreamMetrics,
    ) -> Result<Message, ExchangeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // A cached connection the upstream closed meanwhile: try the next one, then a new one.
        loop {
            let (mut conn, cached) = match self.take() {
                Some(conn) => {
                    metrics.conn_hit(self.proto());
                    (conn, true)
                }
                None => {
                    metrics.conn_miss(self.proto());
                    (
                        dial(addr, self.source, self.tls.as_ref(), deadline).await?,
                        false,
                    )
                }
            };
            match roundtrip(&mut conn, addr, wire, id, deadline).await {
                Ok(response) => {
                    self.give_back(conn);
                    return Ok(response);
                }
                Err(ExchangeError::Io(e))
                    if cached
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::UnexpectedEof
                                | std::io::ErrorKind::ConnectionReset
                                | std::io::ErrorKind::BrokenPipe
                        ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
