//! The top layer of dns-core: serving a Corefile. DNS listeners (UDP and TCP, one UDP socket
//! per worker with SO_REUSEPORT, graceful stop) in this file; one message in, one response out
//! ([`respond`]); the HTTP listeners of health, ready and metrics ([`http`]); the listeners of
//! a Corefile by address and the swap of what they serve ([`listeners`]); the reload loop
//! ([`reload`]); and [`corefile::CorefileServer`], the one way both binaries serve a Corefile.
//! It knows the plugin contract and the wire, never a plugin.

pub mod cli;
pub mod corefile;
pub mod http;
pub mod limits;
pub mod listeners;
pub mod reload;
mod respond;
pub mod swap;
mod udp;

pub use respond::{Disposition, MAX_UDP_PAYLOAD, respond, respond_stream};

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::wire::{Handler, RequestInfo, Transport};
use limits::Limit;

/// Limits of one listening address.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// UDP sockets (and receive loops) on the address, each bound with SO_REUSEPORT.
    pub udp_workers: usize,
    /// Concurrent TCP connections; more wait in the kernel's accept queue.
    pub max_tcp_connections: usize,
    /// How long a TCP connection's later queries may take to arrive whole, counted from the
    /// last answer (miekg/dns's idle timeout, 8 s).
    pub tcp_idle_timeout: Duration,
    /// How long a TCP connection's first query may take to arrive whole, counted from the
    /// accept (miekg/dns's read timeout, 2 s).
    pub tcp_read_timeout: Duration,
    /// How long a TCP client may take to accept a response.
    pub tcp_write_timeout: Duration,
    /// How long in-flight TCP queries get to finish on stop.
    pub drain_timeout: Duration,
    /// Bind even when the address is not (yet) on this host (IP_FREEBIND).
    pub bind_nonlocal: bool,
    /// Queries answered on one TCP connection before it is closed (miekg/dns's default, 128),
    /// so a client that never lets go still moves between replicas and frees its slot.
    pub max_tcp_queries: usize,
}

impl ServerConfig {
    pub fn new(addr: SocketAddr) -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Self {
            addr,
            udp_workers: workers,
            max_tcp_connections: 1024,
            tcp_idle_timeout: Duration::from_secs(8),
            tcp_read_timeout: Duration::from_secs(2),
            tcp_write_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
            bind_nonlocal: false,
            max_tcp_queries: 128,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} ({proto}): {source}")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        source: std::io::Error,
    },
}

/// Sockets bound and ready: binding errors (address in use) surface before serving starts.
pub struct BoundServer {
    config: ServerConfig,
    /// One per UDP worker thread.
    udp: Vec<std::net::UdpSocket>,
    tcp: TcpListener,
}

impl BoundServer {
    pub fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let addr = config.addr;
        let bind = Bind {
            only_v6: true,
            nonlocal: config.bind_nonlocal,
        };
        let tcp = reuseport_socket(addr, Type::STREAM, bind)
            .and_then(|s| {
                s.listen(1024)?;
                TcpListener::from_std(s.into())
            })
            .map_err(|source| ServerError::Bind {
                addr,
                proto: "tcp",
                source,
            })?;
        // Port 0 picks a port for TCP; the UDP sockets take the same one.
        let addr = SocketAddr::new(
            addr.ip(),
            tcp.local_addr().map(|a| a.port()).unwrap_or(addr.port()),
        );
        let mut udp = Vec::new();
        for _ in 0..config.udp_workers.max(1) {
            let socket = reuseport_socket(addr, Type::DGRAM, bind)
                .and_then(blocking_udp)
                .map_err(|source| ServerError::Bind {
                    addr,
                    proto: "udp",
                    source,
                })?;
            udp.push(socket);
        }
        Ok(Self {
            config: ServerConfig { addr, ..config },
            udp,
            tcp,
        })
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.config.addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight TCP queries finish (bounded by
    /// the drain timeout).
    pub async fn run<H: Handler>(self, handler: Arc<H>, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        // The UDP workers' stop: set when the server stops, and when this future is dropped
        // without stopping (its runtime shut down), so no worker outlives its server.
        let udp_stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        let runtime = tokio::runtime::Handle::current();
        let mut udp_finished = Vec::new();
        for (i, socket) in self.udp.into_iter().enumerate() {
            let (finished, on_finish) = tokio::sync::oneshot::channel::<()>();
            let (handler, stop, runtime) = (handler.clone(), udp_stop.0.clone(), runtime.clone());
            let local = self.config.addr;
            let spawned = std::thread::Builder::new()
                .name(format!("dns-udp-{i}"))
                .spawn(move || {
                    // Plugins may spawn tasks and make timers on the ready path.
                    let _inside = runtime.enter();
                    udp_worker(Arc::new(socket), handler, local, &stop, &runtime);
                    drop(finished);
                });
            match spawned {
                Ok(_) => udp_finished.push(on_finish),
                // The socket went with the closure: closed, the kernel's reuseport group
                // hands its share of queries to the others.
                Err(e) => warn!(error = %e, addr = %local, "cannot start a UDP worker thread"),
            }
        }
        if udp_finished.is_empty() {
            warn!(addr = %self.config.addr, "no UDP worker runs: this address answers over TCP only");
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(tcp_accept_loop(
            self.tcp,
            handler,
            self.config.clone(),
            stop_rx,
        ));
        shutdown.await;
        let _ = stop_tx.send(true);
        udp_stop.0.store(true, Ordering::Relaxed);
        let drain = async {
            for finished in udp_finished {
                let _ = finished.await;
            }
            while tasks.join_next().await.is_some() {}
        };
        if tokio::time::timeout(self.config.drain_timeout, drain)
            .await
            .is_err()
        {
            warn!(addr = %self.config.addr, "in-flight queries did not finish within the drain timeout");
        }
    }
}

/// A UDP worker's socket: blocking, so its thread sleeps in the kernel until a datagram comes,
/// and bounded both ways, so an idle worker still sees the stop and a full send buffer does not
/// hold it.
fn blocking_udp(socket: Socket) -> std::io::Result<std::net::UdpSocket> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(STOP_POLL))?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    Ok(socket.into())
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How a listening socket binds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bind {
    /// `false` makes an IPv6 wildcard take IPv4 too.
    pub(crate) only_v6: bool,
    /// Bind an address that is not (yet) on this host.
    pub(crate) nonlocal: bool,
}

/// A bound, non-blocking socket with SO_REUSEPORT.
pub(crate) fn reuseport_socket(addr: SocketAddr, ty: Type, bind: Bind) -> std::io::Result<Socket> {
    let proto = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    socket.set_reuse_address(true)?;
    // One socket per worker, and a new process can bind beside the old one on upgrade.
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(bind.only_v6)?;
    }
    if bind.nonlocal {
        if addr.is_ipv6() {
            socket.set_freebind_v6(true)?;
        } else {
            socket.set_freebind_v4(true)?;
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// SIGTERM (what the kubelet sends) or SIGINT, caught from the moment it is installed. A
/// binary installs it first thing: a signal that arrives while it is still starting is then
/// kept for [`ShutdownSignal::received`], instead of ending the process by the default action
/// before it can undo what it set up (nodelocal's link and rules).
pub struct ShutdownSignal {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// An error if the handlers cannot be installed.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves at the first of the signals since [`install`](Self::install).
    pub async fn received(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// Resolves once `stop` turns true (the process-wide stop). Each loop pins one for its whole life: a fresh
/// `changed()` per query would take the channel's waiter lock (shared by every worker) each time.
pub async fn stop_signal(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// One UDP socket's worker: a thread of its own that blocks in the kernel until datagrams
/// arrive, answers in the thread whatever is ready at once (everything answered from memory)
/// and hands only a query that waits (an upstream) to the runtime. A lone query then costs
/// two system calls (the receive that waited for it and the send) and no wake of the runtime,
/// no poll of a task, no timer: what the runtime cost around a ready answer was most of the
/// gap to knotd's CPU per answer (docs/benchmarks.md, "Where a lone answer's CPU goes").
fn udp_worker<H: Handler>(
    socket: Arc<std::net::UdpSocket>,
    handler: Arc<H>,
    local: SocketAddr,
    stop: &AtomicBool,
    runtime: &tokio::runtime::Handle,
) {
    // Each query's future holds the handler (it may move to a task of its own): through a
    // reference count of this worker's, so the count every worker shares is not written per
    // query.
    let handler = Arc::new(handler);
    // The room of one query's future, reused by every query answered at once; a query that
    // waits takes the room with it into a task of its own and the worker makes another. Its
    // datagram's buffer comes back with the answer, so an answer from memory allocates neither.
    let mut room = Box::pin(None);
    let mut datagram: Vec<u8> = Vec::new();
    let mut batch = udp::Batch::new();
    // Answers ready at once, sent together after each batch.
    let mut ready: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(udp::SLOTS);
    // Held by every query that moved to a task of its own: the drain waits for them.
    let in_flight = Arc::new(());
    let fd = socket.as_raw_fd();
    let mut draining = false;
    loop {
        // Written once, at the stop: reading it shares no line that moves.
        if !draining && stop.load(Ordering::Relaxed) {
            leave_reuseport_group(&socket, local);
            if let Err(e) = socket.set_read_timeout(Some(DRAIN_IDLE)) {
                debug!(error = %e, "udp drain: cannot shorten the receive timeout");
                break;
            }
            draining = true;
        }
        let count = match batch.receive(fd) {
            Ok(count) => count,
            // The receive timeout: nothing arrived (while draining: the queue is empty).
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if draining {
                    break;
                }
                continue;
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; keep serving.
                debug!(error = %e, "udp receive error");
                continue;
            }
        };
        for i in 0..count {
            let Some((bytes, Some(src))) = batch.datagram(i) else {
                continue;
            };
            let info = RequestInfo {
                src,
                local,
                transport: Transport::Udp,
                request_size: bytes.len(),
            };
            datagram.clear();
            datagram.extend_from_slice(bytes);
            let query = answer_datagram(handler.clone(), std::mem::take(&mut datagram), info);
            room.set(Some(query));
            let mut first_poll = Context::from_waker(Waker::noop());
            match room.as_mut().as_pin_mut().map(|q| q.poll(&mut first_poll)) {
                Some(Poll::Ready((reply, bytes))) => {
                    room.set(None);
                    datagram = bytes;
                    if let Some(reply) = reply {
                        ready.push((reply, src));
                    }
                }
                Some(Poll::Pending) => {
                    let mut waiting = std::mem::replace(&mut room, Box::pin(None));
                    let socket = socket.clone();
                    let held = in_flight.clone();
                    runtime.spawn(async move {
                        if let Some(query) = waiting.as_mut().as_pin_mut()
                            && let Some(reply) = query.await.0
                        {
                            send_later(&socket, &reply, src).await;
                        }
                        drop(held);
                    });
                }
                None => {}
            }
        }
        // What one sendmmsg did not take (a full socket buffer, an error) goes one by one,
        // each waiting at most the send timeout for room.
        let sent = batch.send(fd, &ready).unwrap_or(0);
        for (reply, src) in ready.drain(..).skip(sent) {
            if let Err(e) = socket.send_to(&reply, src) {
                debug!(error = %e, %src, "udp send error");
            }
        }
    }
    let waited = std::time::Instant::now();
    while Arc::strong_count(&in_flight) > 1 && waited.elapsed() < DRAIN_IN_FLIGHT {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One datagram's answer, and its buffer back for the next datagram. The handler comes through
/// the worker's own reference count (see `udp_worker`), hence the `Arc` of an `Arc`.
#[allow(clippy::redundant_allocation)]
async fn answer_datagram<H: Handler>(
    handler: Arc<Arc<H>>,
    bytes: Vec<u8>,
    info: RequestInfo,
) -> (Option<Vec<u8>>, Vec<u8>) {
    let reply = respond(handler.as_ref().as_ref(), &bytes, &info).await.0;
    (reply, bytes)
}

/// How long a draining UDP socket waits for one more queued datagram before it closes.
const DRAIN_IDLE: Duration = Duration::from_millis(100);
/// How often an idle UDP worker looks whether the server stopped (a busy one looks after
/// every batch).
const STOP_POLL: Duration = Duration::from_millis(250);
/// How long a UDP worker waits for room in the socket's send buffer for one answer.
const SEND_TIMEOUT: Duration = Duration::from_millis(200);
/// How long a draining UDP socket waits for the answers of queries sent upstream.
const DRAIN_IN_FLIGHT: Duration = Duration::from_secs(5);

/// Stops the kernel from choosing this socket for new datagrams while the ones already queued
/// are answered: the kernel's SO_REUSEPORT selection skips connected sockets, and a connected
/// socket matches only its peer. So on an upgrade the new process's sockets take every new
/// query and none is dropped in a closing socket's queue. The peer (the discard port of this
/// address, or of loopback for a wildcard) never sends DNS queries.
fn leave_reuseport_group(socket: &std::net::UdpSocket, local: SocketAddr) {
    let ip = match local.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    };
    let sock = socket2::SockRef::from(socket);
    if let Err(e) = sock.connect(&SocketAddr::new(ip, 9).into()) {
        debug!(error = %e, %local, "udp drain: could not leave the reuseport group");
    }
}

/// Sends the answer of a query that waited, from the runtime: never blocking its thread, a
/// full send buffer is waited out a few milliseconds at a time (the worker's send timeout in
/// all).
async fn send_later(socket: &std::net::UdpSocket, reply: &[u8], src: SocketAddr) {
    let to = nix::sys::socket::SockaddrStorage::from(src);
    let waited = tokio::time::Instant::now();
    loop {
        let sent = nix::sys::socket::sendto(
            socket.as_raw_fd(),
            reply,
            &to,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        );
        match sent {
            Ok(_) => return,
            Err(nix::errno::Errno::EAGAIN) if waited.elapsed() < SEND_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => {
                debug!(error = %e, %src, "udp send error");
                return;
            }
        }
    }
}

async fn tcp_accept_loop<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    config: ServerConfig,
    stop: watch::Receiver<bool>,
) {
    let max = config.max_tcp_connections;
    let connection_stop = stop.clone();
    accept_loop(listener, max, stop, "tcp", move |stream, src| {
        let handler = handler.clone();
        let config = config.clone();
        let stop = connection_stop.clone();
        async move { tcp_connection(stream, src, handler, &config, stop).await }
    })
    .await;
}

/// How long the accept loop waits after a failed accept.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Accepts until `stop`, serving each connection with `serve` in its own task, at most `max`
/// at once (more wait in the kernel's accept queue). On stop the listener closes and open
/// connections finish what they are on.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max: usize,
    stop: watch::Receiver<bool>,
    what: &'static str,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max.max(1)));
    let mut connections = JoinSet::new();
    let stopped = stop_signal(stop);
    tokio::pin!(stopped);
    loop {
        if permits.available_permits() == 0 {
            limits::reached(
                Limit::TcpConnections,
                format_args!(
                    "{what}: {max} connections open, the most allowed; new ones wait in the kernel's accept queue"
                ),
            );
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = &mut stopped => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stopped => break,
        };
        let (stream, src) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (or memory) the connection stays queued and accept
                // fails again at once: pause rather than spin, as Go's net/http does.
                if matches!(
                    e.raw_os_error().map(nix::errno::Errno::from_raw),
                    Some(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE)
                ) {
                    limits::reached(
                        Limit::OpenFiles,
                        format_args!(
                            "{what}: accept failed, out of file descriptors ({e}); new connections wait in the kernel's accept queue"
                        ),
                    );
                } else {
                    debug!(error = %e, "{what} accept error");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let connection = serve(stream, src);
        connections.spawn(async move {
            connection.await;
            drop(permit);
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Reads one length-prefixed message into `buf`; returns its length.
async fn read_framed(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let len = usize::from(u16::from_be_bytes(len));
    buf.resize(len, 0);
    stream.read_exact(buf).await?;
    Ok(len)
}

async fn tcp_connection<H: Handler>(
    mut stream: TcpStream,
    src: SocketAddr,
    handler: Arc<H>,
    config: &ServerConfig,
    stop: watch::Receiver<bool>,
) {
    use tokio::io::AsyncWriteExt;
    let local = stream.local_addr().unwrap_or(config.addr);
    let mut buf = Vec::with_capacity(512);
    let stopped = stop_signal(stop);
    tokio::pin!(stopped);
    for answered in 1..=config.max_tcp_queries.max(1) {
        // One deadline for a whole message, length prefix included, as miekg/dns reads them:
        // the first query within the read timeout of the accept, each later one within the
        // idle timeout of the last answer. A client trickling bytes holds the connection no
        // longer than a silent one.
        let deadline = if answered == 1 {
            config.tcp_read_timeout
        } else {
            config.tcp_idle_timeout
        };
        let read = tokio::select! {
            r = tokio::time::timeout(deadline, read_framed(&mut stream, &mut buf)) => r,
            _ = &mut stopped => return,
        };
        let len = match read {
            Ok(Ok(len)) => len,
            _ => return,
        };
        let info = RequestInfo {
            src,
            local,
            transport: Transport::Tcp,
            request_size: len,
        };
        let (replies, disposition) = respond_stream(handler.as_ref(), &buf, &info).await;
        if replies.is_empty() {
            if disposition == Disposition::Dropped {
                return;
            }
            continue;
        }
        for reply in replies {
            let Ok(reply_len) = u16::try_from(reply.len()) else {
                return;
            };
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&reply_len.to_be_bytes());
            framed.extend_from_slice(&reply);
            let written =
                tokio::time::timeout(config.tcp_write_timeout, stream.write_all(&framed)).await;
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
        }
        if answered == config.max_tcp_queries {
            limits::reached(
                Limit::TcpQueriesPerConnection,
                format_args!(
                    "tcp: {answered} queries answered on the connection from {src}, the most allowed; closing it"
                ),
            );
            close_after_last_answer(stream, config.tcp_read_timeout).await;
            return;
        }
    }
}

/// The most a closing connection reads and throws away before it gives up on a clean close.
const CLOSE_DRAIN_BYTES: usize = 64 * 1024;

/// Closes a connection whose client may still have queries in flight. A plain close with
/// unread bytes makes the kernel send a reset at once and discard the answers still in the send
/// queue, so a pipelining client would lose answers it was owed. Instead: send FIN after the
/// queued answers, then read and discard until the client closes, `wait` passes, or
/// [`CLOSE_DRAIN_BYTES`] arrive.
async fn close_after_last_answer(mut stream: TcpStream, wait: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < CLOSE_DRAIN_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(wait, drain).await;
}

#[cfg(test)]
mod tests;
