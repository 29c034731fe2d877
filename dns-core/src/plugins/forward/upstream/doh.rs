//! DNS over HTTPS (RFC 8484) to one `https://` upstream: one HTTP/2 connection, opened on
//! the first query and shared by every query in flight as concurrent streams, replaced when
//! it breaks, idles past `expire` or outlives `max_age`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use h2::client::SendRequest;
use hickory_proto::op::Message;

use super::metrics::UpstreamMetrics;
use super::transport::{ExchangeError, TlsClient, dial};

/// RFC 8484's media type, sent as both Content-Type and Accept (as CoreDNS sends them).
const MIME: &str = "application/dns-message";
/// CoreDNS's fixed path; a Corefile cannot name another.
const PATH: &str = "/dns-query";
/// Largest answer body read: a DNS message is at most 64 KiB, and an upstream that sends
/// more must not grow our memory.
const MAX_BODY: usize = 65_535;

/// `doh_method GET|POST`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DohMethod {
    /// The query as the request body (CoreDNS's default).
    #[default]
    Post,
    /// The query base64url-encoded in the `dns` URL parameter.
    Get,
}

/// The live connection: a handle that opens streams on it, when it was opened and last used.
struct Connection {
    sender: SendRequest<Bytes>,
    opened: Instant,
    used: Instant,
    /// Tells this connection from the one that replaced it.
    generation: u64,
}

/// The HTTP/2 client of one upstream.
pub struct DohClient {
    addr: SocketAddr,
    tls: TlsClient,
    /// `:authority`: `tls_servername` when given, else `IP:port` (what Go's client puts in
    /// the Host header of CoreDNS's requests).
    authority: String,
    method: DohMethod,
    expire: Duration,
    max_age: Duration,
    source: Option<IpAddr>,
    /// Held while a connection is dialled, so queries arriving meanwhile wait for that one
    /// instead of each opening its own.
    conn: tokio::sync::Mutex<Option<Connection>>,
    /// Connections opened so far.
    dialled: std::sync::atomic::AtomicU64,
}

impl DohClient {
    /// `tls` must offer ALPN `h2`. `authority` as for the field.
    pub fn new(
        addr: SocketAddr,
        tls: TlsClient,
        authority: String,
        method: DohMethod,
        expire: Duration,
        max_age: Duration,
        source: Option<IpAddr>,
    ) -> Self {
        Self {
            addr,
            tls,
            authority,
            method,
            expire,
            max_age,
            source,
            conn: tokio::sync::Mutex::new(None),
            dialled: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn usable(&self, conn: &Connection) -> bool {
        conn.used.elapsed() <= self.expire
            && (self.max_age.is_zero() || conn.opened.elapsed() <= self.max_age)
    }

    /// A stream handle on the live connection, its generation, and whether it was reused;
    /// a connection is dialled when there is none or it can no longer be used.
    async fn sender(
        &self,
        deadline: tokio::time::Instant,
        metrics: Option<&UpstreamMetrics>,
    ) -> Result<(SendRequest<Bytes>, u64, bool), ExchangeError> {
        let mut slot = match tokio::time::timeout_at(deadline, self.conn.lock()).await {
            Ok(slot) => slot,
            Err(_) => return Err(self.timeout(None)),
        };
        if let Some(conn) = slot.as_mut()
            && self.usable(conn)
        {
            conn.used = Instant::now();
            if let Some(m) = metrics {
                m.conn_hit("https");
            }
            return Ok((conn.sender.clone(), conn.generation, true));
        }
        *slot = None;
        if let Some(m) = metrics {
            m.conn_miss("https");
        }
        let stream = dial(self.addr, self.source, Some(&self.tls), deadline).await?;
        let local = stream.local;
        let handshake = h2::client::handshake(stream.io);
        let (sender, connection) = match tokio::time::timeout_at(deadline, handshake).await {
            Ok(result) => result.map_err(http2)?,
            Err(_) => return Err(self.timeout(local)),
        };
        // The connection's I/O runs on its own; it ends once every handle is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let generation = self
            .dialled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *slot = Some(Connection {
            sender: sender.clone(),
            opened: stream.opened,
            used: Instant::now(),
            generation,
        });
        Ok((sender, generation, false))
    }

    /// Forgets the live connection if it is still the one that failed (another query may
    /// have replaced it already).
    async fn drop_connection(&self, generation: u64) {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_some_and(|c| c.generation == generation) {
            *slot = None;
        }
    }

    fn timeout(&self, local: Option<SocketAddr>) -> ExchangeError {
        ExchangeError::Timeout {
            op: "read https",
            local,
            remote: self.addr,
        }
    }

    /// The request for the query `wire` (whose ID should be 0, RFC 8484 section 4.1).
    fn request(&self, wire: &[u8]) -> Result<(http::Request<()>, Option<Bytes>), ExchangeError> {
        let (method, path, body) = match self.method {
            DohMethod::Post => (
                http::Method::POST,
                PATH.to_string(),
                Some(Bytes::copy_from_slice(wire)),
            ),
            DohMethod::Get => (
                http::Method::GET,
                format!(
                    "{PATH}?dns={}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(wire)
                ),
                None,
            ),
        };
        let uri = format!("https://{}{path}", self.authority);
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::CONTENT_TYPE, MIME)
            .header(http::header::ACCEPT, MIME)
            .body(())
            .map(|r| (r, body))
            .map_err(|e| ExchangeError::Http(e.to_string()))
    }

    /// One query and its answer, within `timeout`. A reused connection that turns out to be
    /// gone is replaced once.
    pub(super) async fn exchange(
        &self,
        wire: &[u8],
        timeout: Duration,
        metrics: Option<&UpstreamMetrics>,
    ) -> Result<Message, ExchangeError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (sender, generation, reused) = self.sender(deadline, metrics).await?;
            match tokio::time::timeout_at(deadline, self.roundtrip(sender, wire)).await {
                Err(_) => return Err(self.timeout(None)),
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(Failure::Connection(e))) => {
                    self.drop_connection(generation).await;
                    if !reused {
                        return Err(e);
                    }
                }
                Ok(Err(Failure::Answer(e))) => return Err(e),
            }
        }
    }

    async fn roundtrip(&self, sender: SendRequest<Bytes>, wire: &[u8]) -> Result<Message, Failure> {
        let (request, body) = self.request(wire).map_err(Failure::Answer)?;
        let mut sender = sender.ready().await.map_err(connection)?;
        let (response, mut stream) = sender
            .send_request(request, body.is_none())
            .map_err(connection)?;
        if let Some(body) = body {
            stream.send_data(body, true).map_err(connection)?;
        }
        let response = response.await.map_err(failure)?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(Failure::Answer(ExchangeError::HttpStatus(status.as_u16())));
        }
        let mut body = response.into_body();
        let mut answer = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| Failure::Answer(http2(e)))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if answer.len() + chunk.len() > MAX_BODY {
                return Err(Failure::Answer(ExchangeError::Malformed));
            }
            answer.extend_from_slice(&chunk);
        }
        Message::from_vec(&answer).map_err(|_| Failure::Answer(ExchangeError::Malformed))
    }
}

/// Whether the connection is what failed (try a new one) or this one exchange.
enum Failure {
    Connection(ExchangeError),
    Answer(ExchangeError),
}

fn http2(e: h2::Error) -> ExchangeError {
    let text = e.to_string();
    e.into_io()
        .map_or(ExchangeError::Http(text), ExchangeError::Io)
}

fn connection(e: h2::Error) -> Failure {
    Failure::Connection(http2(e))
}

/// A connection the upstream closed or is closing fails the stream too: then a new
/// connection may succeed where this one could not.
fn failure(e: h2::Error) -> Failure {
    if e.is_io() || e.is_go_away() {
        connection(e)
    } else {
        Failure::Answer(http2(e))
    }
}
