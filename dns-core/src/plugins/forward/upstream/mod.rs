//! Upstream DNS transport for the `forward` plugin (and the `loop` plugin's probe): one
//! [`Upstream`] per `TO` address with its TCP connection pool, its failure count and its
//! health check; UDP exchanges on a fresh socket per query; the HTTP/2 connection of a DNS over
//! HTTPS upstream; the upstream-selection policies.
//! The forward plugin's I/O; its setup and serving are the rest of `plugins/forward`.

mod doh;
pub mod metrics;
mod policy;
mod transport;

pub use doh::{DohClient, DohMethod};
pub use policy::Policy;
pub use transport::{ExchangeError, TlsClient, udp_exchange};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::wire::Transport;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use self::metrics::UpstreamMetrics;
use self::transport::TcpPool;

/// CoreDNS's read timeout for one upstream exchange.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// CoreDNS's overall deadline for one forwarded query, over all upstreams tried.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(5);
/// Idle TCP connections kept per upstream; more are closed when handed back. CoreDNS keeps
/// every one until it expires; a bound this high only guards memory, while a low one would
/// close and re-dial connections under load (node-local-dns forwards every cluster-zone miss
/// over TCP, hundreds in flight).
const MAX_IDLE_TCP: usize = 4096;

/// How the health check asks (`health_check DURATION [no_rec] [domain FQDN]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub interval: Duration,
    pub recursion_desired: bool,
    pub domain: Name,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            recursion_desired: true,
            domain: Name::root(),
        }
    }
}

/// One upstream server.
pub struct Upstream {
    addr: SocketAddr,
    /// `IP:port` as CoreDNS writes it in the `to` label.
    label: String,
    fails: AtomicU32,
    checking: AtomicBool,
    health: HealthCheck,
    /// Health checks over TCP (`force_tcp`), as CoreDNS does.
    health_tcp: bool,
    tcp: TcpPool,
    /// `https://`: every exchange and health check goes over this HTTP/2 client instead.
    doh: Option<DohClient>,
    pub(crate) metrics: UpstreamMetrics,
}

impl Upstream {
    /// `tls`: DNS over TLS to this upstream (every exchange and health check then goes over
    /// TLS, as CoreDNS's `tcp-tls`).
    pub fn new(
        addr: SocketAddr,
        expire: Duration,
        health: HealthCheck,
        health_tcp: bool,
        tls: Option<TlsClient>,
    ) -> Self {
        let label = addr.to_string();
        Self {
            addr,
            metrics: UpstreamMetrics::new(&label),
            label,
            fails: AtomicU32::new(0),
            checking: AtomicBool::new(false),
            health,
            health_tcp,
            tcp: TcpPool::new(expire, MAX_IDLE_TCP, tls),
            doh: None,
        }
    }

    /// DNS over HTTPS to this upstream.
    pub fn with_doh(mut self, doh: DohClient) -> Self {
        self.doh = Some(doh);
        self
    }

    /// Pooled connections are closed once older than `max_age` (zero: no limit), and every
    /// exchange leaves from `source` when given (`max_age`, `source_address`).
    pub fn with_connections(mut self, max_age: Duration, source: Option<std::net::IpAddr>) -> Self {
        self.tcp.max_age = max_age;
        self.tcp.source = source;
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Marked down: more than `max_fails` health checks failed in a row (CoreDNS's `Down`).
    /// `max_fails 0` never marks an upstream down.
    pub fn down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.fails.load(Ordering::Relaxed) > max_fails
    }

    pub fn fails(&self) -> u32 {
        self.fails.load(Ordering::Relaxed)
    }

    /// Sends `request` (its ID is replaced by a fresh one and the answer gets the original
    /// back) over `proto` and waits at most `timeout` for the matching answer.
    pub async fn exchange(
        &self,
        request: &Message,
        proto: Transport,
        timeout: Duration,
    ) -> Result<Message, ExchangeError> {
        let started = Instant::now();
        // RFC 8484 4.1: ID 0 over DoH, so identical queries make identical (cacheable) requests.
        let id = if self.doh.is_some() {
            0
        } else {
            crate::wire::query_id()
        };
        let mut outgoing = request.clone();
        outgoing.metadata.id = id;
        let wire = outgoing
            .to_vec()
            .map_err(|e| ExchangeError::Encode(e.to_string()))?;
        self.metrics.request();
        let proto = if self.tcp.tls().is_some() {
            Transport::Tcp
        } else {
            proto
        };
        let mut response = match (&self.doh, proto) {
            (Some(doh), _) => doh.exchange(&wire, timeout, Some(&self.metrics)).await?,
            (None, Transport::Udp) => {
                self.metrics.conn_miss("udp");
                let bufsize = request.edns.as_ref().map_or(512, |e| e.max_payload());
                match udp_exchange(self.tcp.source, self.addr, &wire, id, timeout, bufsize).await {
                    // Too big for the client: an empty truncated answer, so the client asks
                    // again over TCP (CoreDNS's truncateResponse).
                    Err(ExchangeError::Overflow { rcode }) => {
                        let mut tc = crate::wire::reply_to(
                            request,
                            hickory_proto::op::ResponseCode::from_low(rcode),
                        );
                        tc.metadata.truncation = true;
                        tc
                    }
                    other => other?,
                }
            }
            (None, Transport::Tcp) => {
                self.tcp
                    .exchange(self.addr, &wire, id, timeout, &self.metrics)
                    .await?
            }
        };
        response.metadata.id = request.metadata.id;
        self.metrics
            .response(response.metadata.response_code, started.elapsed());
        Ok(response)
    }

    /// Starts the health check after a failed exchange, unless one runs: every `interval` a
    /// `<domain> IN NS` query until one is answered; each failure counts toward `max_fails`,
    /// the first success clears the count (CoreDNS's probe).
    pub fn start_health_check(self: &Arc<Self>) {
        if self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.checking.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(async move {
            loop {
                let Some(upstream) = weak.upgrade() else {
                    return;
                };
                if upstream.check().await {
                    upstream.fails.store(0, Ordering::Relaxed);
                    upstream.checking.store(false, Ordering::Release);
                    return;
                }
                upstream.metrics.healthcheck_failure();
                upstream.fails.fetch_add(1, Ordering::Relaxed);
                // `health_check 0s` must not spin on an upstream that refuses at once.
                let interval = upstream.health.interval.max(Duration::from_millis(10));
                drop(upstream);
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// One health check: any parseable answer means the upstream is alive.
    async fn check(&self) -> bool {
        let mut ping = Message::new(crate::wire::query_id(), MessageType::Query, OpCode::Query);
        ping.metadata.recursion_desired = self.health.recursion_desired;
        ping.queries
            .push(Query::query(self.health.domain.clone(), RecordType::NS));
        let Ok(wire) = ping.to_vec() else {
            return false;
        };
        let timeout = Duration::from_secs(1);
        let tls = self.tcp.tls();
        let result = if let Some(doh) = &self.doh {
            doh.exchange(&wire, timeout, None).await
        } else if self.health_tcp || tls.is_some() {
            transport::tcp_once(
                self.addr,
                self.tcp.source,
                tls,
                &wire,
                ping.metadata.id,
                timeout,
            )
            .await
        } else {
            udp_exchange(
                self.tcp.source,
                self.addr,
                &wire,
                ping.metadata.id,
                timeout,
                512,
            )
            .await
        };
        // An answer with our ID came back: alive, even if it did not parse or fit (CoreDNS
        // only cares about I/O errors here).
        matches!(
            result,
            Ok(_) | Err(ExchangeError::Overflow { .. } | ExchangeError::Malformed)
        )
    }
}

#[cfg(test)]
pub(crate) mod tests;
