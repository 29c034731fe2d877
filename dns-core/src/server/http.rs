//! The HTTP listeners of `health`, `ready` and `prometheus`: a small GET-only HTTP/1.1 server
//! on tokio (one request per connection, then close; over TLS where the site has it), the routes, the health plugin's
//! once-a-second self-check, and the lameduck on stop. What a site serves is decided when the
//! Corefile is built (`plugin::build`, from the plugins' setups); this room only does the I/O.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::Type;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::plugin::build::{HttpPlan, Site};
use crate::plugin::metrics::vars;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{plugins}: cannot listen on {addr}: {source}")]
    Bind {
        plugins: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("{plugins}: cannot resolve {addr}: {reason}")]
    Resolve {
        plugins: String,
        addr: String,
        reason: String,
    },
}

/// How long a client gets to send its request line and headers.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open HTTP connections get to finish on stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Request line and headers larger than this are refused (431).
const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once per address; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;

/// A request line, as far as the routes need it.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The path without the query string.
    pub path: String,
}

/// Parses the request line of an HTTP/1.x request head (everything up to the blank line).
pub fn parse_head(head: &[u8]) -> Option<RequestHead> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.split("\r\n").next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !version.starts_with("HTTP/1.")
    {
        return None;
    }
    // Origin form, or absolute form (`http://host/path`).
    let path = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None if target.starts_with('/') => target,
        None => return None,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    Some(RequestHead {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// An HTTP response before it is written.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

const TEXT: &str = "text/plain; charset=utf-8";

impl HttpResponse {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: TEXT,
            body: body.into(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "",
        }
    }

    /// The response on the wire; `HEAD` gets the headers only.
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// What a site answers for `head`: `/health`, `/ready` and `/metrics` for the plugins it
/// serves, as CoreDNS's handlers answer (any method); anything else 404 like Go's mux.
/// `stopping`: the process is in its lameduck, so `/ready` says so.
pub fn route(site: &Site, head: &RequestHead, stopping: bool) -> HttpResponse {
    match head.path.as_str() {
        "/health" if site.serves("health") => HttpResponse::text(200, "OK"),
        "/ready" if site.serves("ready") => {
            if stopping {
                return HttpResponse::text(503, "Shutting down");
            }
            match site.ready.as_ref().map_or(Ok(()), |r| r.check()) {
                Ok(()) => HttpResponse::text(200, "OK"),
                Err(waiting) => {
                    info!("plugins not ready: {waiting:?}");
                    HttpResponse::text(503, waiting)
                }
            }
        }
        "/metrics" if site.serves("prometheus") => HttpResponse {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: vars::gather_text(),
        },
        _ => HttpResponse::text(404, "404 page not found\n"),
    }
}

struct Bound {
    site: Arc<Site>,
    listener: TcpListener,
    local: SocketAddr,
}

/// Listeners bound and ready: address errors surface before anything serves.
pub struct HttpServers {
    bound: Vec<Bound>,
    lameduck: Lameduck,
}

/// The stop hook: [`Lameduck::run`] is what main awaits between the stop signal and stopping
/// the listeners.
#[derive(Clone)]
pub struct Lameduck {
    duration: Duration,
    stopping: Arc<AtomicBool>,
}

impl Lameduck {
    /// `/ready` answers 503 from now on; DNS and `/health` keep answering for the lameduck
    /// duration (zero without `lameduck`), then this returns.
    pub async fn run(&self) {
        self.stopping.store(true, Ordering::Release);
        if !self.duration.is_zero() {
            info!("going into lameduck mode for {:?}", self.duration);
            tokio::time::sleep(self.duration).await;
        }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }
}

impl HttpServers {
    /// Binds every site of `plan` (must run inside a tokio runtime).
    pub fn bind(plan: HttpPlan) -> Result<Self, HttpError> {
        let mut bound = Vec::new();
        for site in plan.sites {
            let listener = bind_site(&site)?;
            let local = listener.local_addr().map_err(|source| HttpError::Bind {
                plugins: site.plugins.join(", "),
                addr: site.addr.to_string(),
                source,
            })?;
            info!(addr = %local, plugins = %site.plugins.join(", "), "listening (http)");
            bound.push(Bound {
                site: Arc::new(site),
                listener,
                local,
            });
        }
        Ok(Self {
            bound,
            lameduck: Lameduck {
                duration: plan.lameduck,
                stopping: Arc::new(AtomicBool::new(false)),
            },
        })
    }

    /// The addresses actually bound (real ports for `:0`), with the plugins served there.
    pub fn local_addrs(&self) -> Vec<(SocketAddr, Vec<&'static str>)> {
        self.bound
            .iter()
            .map(|b| (b.local, b.site.plugins.clone()))
            .collect()
    }

    /// The hook main runs on a stop signal, before stopping the listeners.
    pub fn lameduck(&self) -> Lameduck {
        self.lameduck.clone()
    }

    /// Serves until `shutdown` resolves; then closes the listeners and lets requests in
    /// flight finish (for at most a second).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for b in self.bound {
            if b.site.serves("health") {
                tasks.spawn(self_check(b.local, stop_rx.clone()));
            }
            tasks.spawn(accept_loop(
                b.listener,
                b.site,
                self.lameduck.stopping.clone(),
                stop_rx.clone(),
            ));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        // Answers take milliseconds; what is left after the drain time is a client that
        // connected and said nothing, and is cut off (dropping the set aborts its tasks).
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            debug!("http connections still open after {DRAIN_TIMEOUT:?}; closing them");
        }
    }
}

fn bind_site(site: &Site) -> Result<TcpListener, HttpError> {
    let plugins = site.plugins.join(", ");
    let addr_text = site.addr.to_string();
    let bind_err = |source| HttpError::Bind {
        plugins: plugins.clone(),
        addr: addr_text.clone(),
        source,
    };
    let port = site.addr.port;
    let addr = if site.addr.host.is_empty() {
        // Every interface, IPv6 and IPv4 as Go's `:PORT` listens; IPv4 alone where the
        // kernel has no IPv6.
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        match listen(any6, false) {
            Ok(l) => return Ok(l),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(bind_err(e));
            }
            Err(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        }
    } else if let Ok(ip) = site.addr.host.parse::<IpAddr>() {
        SocketAddr::new(ip, port)
    } else {
        resolve(&site.addr.host, port).map_err(|reason| HttpError::Resolve {
            plugins: plugins.clone(),
            addr: addr_text.clone(),
            reason,
        })?
    };
    listen(addr, addr.is_ipv6()).map_err(bind_err)
}

/// A name (`localhost`) to one address, IPv4 first as Go's listener picks it.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| "no address".to_string())
}

fn listen(addr: SocketAddr, only_v6: bool) -> std::io::Result<TcpListener> {
    // SO_REUSEPORT as CoreDNS's listeners: a new process can bind beside the old one.
    let bind = super::Bind {
        only_v6,
        nonlocal: false,
    };
    let socket = super::reuseport_socket(addr, Type::STREAM, bind)?;
    socket.listen(128)?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(
    listener: TcpListener,
    site: Arc<Site>,
    stopping: Arc<AtomicBool>,
    stop: watch::Receiver<bool>,
) {
    let acceptor = site.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    super::accept_loop(listener, MAX_CONNECTIONS, stop, "http", move |stream, _| {
        let site = site.clone();
        let stopping = stopping.clone();
        let acceptor = acceptor.clone();
        async move {
            let Some(acceptor) = acceptor else {
                return serve_connection(stream, &site, &stopping).await;
            };
            // The handshake gets the time the request head gets.
            match tokio::time::timeout(READ_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, &site, &stopping).await,
                Ok(Err(e)) => debug!("https: handshake failed: {e}"),
                Err(_) => debug!("https: handshake timed out"),
            }
        }
    })
    .await;
}

/// Reads one request head, answers it, closes. Malformed input gets a 400, never a panic.
async fn serve_connection<S>(mut stream: S, site: &Site, stopping: &AtomicBool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await;
    let response = match read {
        Ok(Ok(head)) => match parse_head(&head) {
            Some(request) => {
                let response = route(site, &request, stopping.load(Ordering::Acquire));
                let bytes = response.to_bytes(request.method == "HEAD");
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
            None => HttpResponse::text(400, "400 Bad Request"),
        },
        Ok(Err(HeadError::TooLarge)) => {
            HttpResponse::text(431, "431 Request Header Fields Too Large")
        }
        // Closed early or timed out: nothing to answer.
        Ok(Err(HeadError::Io)) | Err(_) => return,
    };
    let _ = stream.write_all(&response.to_bytes(false)).await;
    let _ = stream.shutdown().await;
}

enum HeadError {
    TooLarge,
    Io,
}

/// Bytes up to and including the blank line that ends the head.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end + 4);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// The health plugin's self-check: `GET /health` on its own listener once a second, timed
/// into `coredns_health_request_duration_seconds`; failures counted and logged.
async fn self_check(local: SocketAddr, stop: watch::Receiver<bool>) {
    let target = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port())
        }
        _ => local,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let stopped = super::stop_signal(stop);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stopped => return,
        }
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(3), get(target, "/health")).await;
        let elapsed = started.elapsed();
        vars::HEALTH_DURATION.observe(elapsed.as_secs_f64());
        match result {
            Ok(Ok(_)) if elapsed > Duration::from_secs(1) => {
                warn!("local health request to {target} took more than 1s: {elapsed:?}");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                vars::HEALTH_FAILURES.inc();
                warn!("local health request to {target} failed: {e}");
            }
            Err(_) => {
                vars::HEALTH_FAILURES.inc();
                warn!("local health request to {target} failed: timed out");
            }
        }
    }
}

/// A minimal `GET` on loopback: the whole response (status line, headers, body).
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests;
