//! `forward FROM TO... { options }`: CoreDNS's forward plugin. Setup in `setup.rs`; serving
//! here (which upstream, which transport, what goes back); the sockets, pools and health
//! checks in [`upstream`].

mod setup;
mod tls;
pub mod upstream;

pub use setup::{MAX_UPSTREAMS, host_port, parse, resolv_conf_nameservers};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use self::upstream::{
    DohClient, DohMethod, ExchangeError, HealthCheck, Policy, QUERY_DEADLINE, READ_TIMEOUT,
    TlsClient, Upstream, metrics,
};
use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;
use crate::wire::{RequestInfo, Transport};

/// How an upstream is asked: the scheme before its address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scheme {
    /// None or `dns://`: DNS over UDP and TCP.
    #[default]
    Dns,
    /// `tls://`: DNS over TLS.
    Tls,
    /// `https://`: DNS over HTTPS (HTTP/2).
    Https,
}

impl Scheme {
    /// The port when the address names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Dns => 53,
            Scheme::Tls => 853,
            Scheme::Https => 443,
        }
    }
}

/// One upstream as the Corefile names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub scheme: Scheme,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.scheme {
            Scheme::Dns => write!(f, "{}", self.addr),
            Scheme::Tls => write!(f, "tls://{}", self.addr),
            Scheme::Https => write!(f, "https://{}", self.addr),
        }
    }
}

/// TLS settings for the `tls://` and `https://` upstreams.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub client: Arc<tokio_rustls::rustls::ClientConfig>,
    /// `tls_servername`; without it, the upstream's IP address is what its certificate must
    /// carry.
    pub servername: Option<tokio_rustls::rustls::pki_types::ServerName<'static>>,
}

/// The typed form of one `forward` directive.
#[derive(Clone, Debug)]
pub struct ForwardConfig {
    pub from: Name,
    pub to: Vec<Target>,
    pub except: Vec<Name>,
    pub force_tcp: bool,
    pub prefer_udp: bool,
    pub expire: Duration,
    pub max_fails: u32,
    pub policy: Policy,
    pub health_check: HealthCheck,
    /// 0: no limit.
    pub max_concurrent: u32,
    /// Upstream rcodes that hand the query to the next plugin.
    pub next: Vec<ResponseCode>,
    pub failfast_all_unhealthy: bool,
    pub tls: Option<TlsSettings>,
    /// `max_age`: pooled connections are closed once this old (zero: never).
    pub max_age: Duration,
    /// `source_address`: the local address queries leave from.
    pub source_address: Option<std::net::IpAddr>,
    /// `doh_method`: how `https://` upstreams are asked.
    pub doh_method: DohMethod,
}

/// What the plugin does with one query.
pub enum Outcome {
    Answer(Message),
    /// An error response and the error behind it, for the `errors` plugin's log.
    Failed(Message, String),
    /// Not ours (outside FROM, in `except`, or an rcode listed in `next`).
    Pass,
}

pub struct ForwardPlugin {
    config: ForwardConfig,
    upstreams: Vec<Arc<Upstream>>,
    concurrent: AtomicU32,
    turn: AtomicUsize,
}

/// Decrements the in-flight count when the query is done, however it ends.
struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ForwardPlugin {
    pub fn new(config: ForwardConfig) -> Self {
        metrics::init();
        // DoH speaks HTTP/2 only, so it asks for it in the TLS handshake (ALPN).
        let h2_config = config.tls.as_ref().map(|settings| {
            let mut h2 = (*settings.client).clone();
            h2.alpn_protocols = vec![b"h2".to_vec()];
            Arc::new(h2)
        });
        let upstreams = config
            .to
            .iter()
            .map(|target| {
                let client = |client_config: &Arc<tokio_rustls::rustls::ClientConfig>| {
                    let settings = config.tls.as_ref();
                    TlsClient {
                        config: client_config.clone(),
                        server_name: settings.and_then(|s| s.servername.clone()).unwrap_or_else(
                            || {
                                tokio_rustls::rustls::pki_types::ServerName::IpAddress(
                                    target.addr.ip().into(),
                                )
                            },
                        ),
                    }
                };
                let tls = match (&config.tls, target.scheme) {
                    (Some(settings), Scheme::Tls) => Some(client(&settings.client)),
                    _ => None,
                };
                let upstream = Upstream::new(
                    target.addr,
                    config.expire,
                    config.health_check.clone(),
                    config.force_tcp,
                    tls,
                )
                .with_connections(config.max_age, config.source_address);
                let upstream = match (&h2_config, target.scheme) {
                    (Some(h2), Scheme::Https) => {
                        let tls = client(h2);
                        // Go's client sends `tls_servername` as the Host, else the address.
                        let authority = match &tls.server_name {
                            tokio_rustls::rustls::pki_types::ServerName::DnsName(name) => {
                                name.as_ref().to_string()
                            }
                            _ => target.addr.to_string(),
                        };
                        upstream.with_doh(DohClient::new(
                            target.addr,
                            tls,
                            authority,
                            config.doh_method,
                            config.expire,
                            config.max_age,
                            config.source_address,
                        ))
                    }
                    _ => upstream,
                };
                Arc::new(upstream)
            })
            .collect();
        Self {
            config,
            upstreams,
            concurrent: AtomicU32::new(0),
            turn: AtomicUsize::new(0),
        }
    }

    pub fn config(&self) -> &ForwardConfig {
        &self.config
    }

    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// FROM contains the name and no `except` zone does (FROM itself is always forwarded).
    pub fn matches(&self, qname: &Name) -> bool {
        if !self.config.from.zone_of(qname) {
            return false;
        }
        if *qname == self.config.from {
            return true;
        }
        !self.config.except.iter().any(|e| e.zone_of(qname))
    }

    fn proto_for(&self, info: &RequestInfo) -> Transport {
        if self.config.force_tcp {
            Transport::Tcp
        } else if self.config.prefer_udp {
            Transport::Udp
        } else {
            info.transport
        }
    }

    pub async fn forward(&self, request: &Message, info: &RequestInfo) -> Outcome {
        let Some(query) = request.queries.first() else {
            return Outcome::Pass;
        };
        if !self.matches(query.name()) {
            return Outcome::Pass;
        }
        let _in_flight = if self.config.max_concurrent > 0 {
            let count = self.concurrent.fetch_add(1, Ordering::AcqRel) + 1;
            let guard = InFlight(&self.concurrent);
            if count > self.config.max_concurrent {
                metrics::MAX_CONCURRENT_REJECTS.inc();
                return Outcome::Failed(
                    reply_to(request, ResponseCode::Refused),
                    format!(
                        "concurrent queries exceeded maximum {}",
                        self.config.max_concurrent
                    ),
                );
            }
            Some(guard)
        } else {
            None
        };
        let servfail = |error: Option<ExchangeError>| {
            let error = error.map_or_else(|| "no healthy proxies".to_string(), |e| e.to_string());
            Outcome::Failed(reply_to(request, ResponseCode::ServFail), error)
        };
        let n = self.upstreams.len();
        if n == 0 {
            return servfail(None);
        }
        let mut last_error = None;
        let order = self.config.policy.order(n, &self.turn);
        let deadline = tokio::time::Instant::now() + QUERY_DEADLINE;
        let (mut i, mut fails) = (0usize, 0usize);
        let mut round_failed = false;
        while tokio::time::Instant::now() < deadline {
            if i >= n {
                i = 0;
                fails = 0;
                // Every upstream failed this round: a short pause, so upstreams that refuse
                // at once are not asked in a tight loop until the deadline.
                if round_failed {
                    tokio::time::sleep_until(
                        deadline.min(tokio::time::Instant::now() + Duration::from_millis(100)),
                    )
                    .await;
                }
            }
            let mut upstream = &self.upstreams[order[i]];
            i += 1;
            if upstream.down(self.config.max_fails) {
                fails += 1;
                if fails < n {
                    continue;
                }
                if self.config.failfast_all_unhealthy {
                    break;
                }
                // Every upstream is down: the health checks may be what is broken; ask a
                // random one anyway, as CoreDNS does.
                metrics::HEALTHCHECK_BROKEN.inc();
                upstream = &self.upstreams[fastrand::usize(..n)];
            }
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let timeout = READ_TIMEOUT.min(remaining);
            let mut proto = self.proto_for(info);
            let mut result = upstream.exchange(request, proto, timeout).await;
            // prefer_udp: a truncated answer is asked again over TCP.
            if proto == Transport::Udp
                && self.config.prefer_udp
                && matches!(&result, Ok(r) if r.metadata.truncation)
            {
                proto = Transport::Tcp;
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                result = upstream
                    .exchange(request, proto, READ_TIMEOUT.min(remaining))
                    .await;
            }
            match result {
                Err(e) => {
                    self.failed(upstream, query, &e);
                    last_error = Some(e);
                    round_failed = true;
                    if fails < n {
                        continue;
                    }
                    break;
                }
                Ok(response) => return self.answer(request, response),
            }
        }
        servfail(last_error)
    }

    fn failed(
        &self,
        upstream: &Arc<Upstream>,
        query: &hickory_proto::op::Query,
        e: &ExchangeError,
    ) {
        tracing::debug!(upstream = %upstream.label(), name = %query.name(), error = %e, "forward: upstream failed");
        if self.config.max_fails != 0 {
            upstream.start_health_check();
        }
    }

    fn answer(&self, request: &Message, mut response: Message) -> Outcome {
        if !question_matches(request, &response) {
            return Outcome::Answer(reply_to(request, ResponseCode::FormErr));
        }
        if self.config.next.contains(&response.metadata.response_code) {
            return Outcome::Pass;
        }
        // The client's question as it asked it (its casing), the client's ID.
        response.queries = request.queries.clone();
        response.metadata.id = request.metadata.id;
        Outcome::Answer(response)
    }
}

impl Plugin for ForwardPlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let ours = request
            .queries
            .first()
            .is_some_and(|q| self.matches(q.name()));
        if !ours {
            return next.run(request);
        }
        Serving::pending(async move {
            match self.forward(request, next.info).await {
                Outcome::Answer(response) => next.answered_here(response),
                Outcome::Failed(response, error) => next.failed_here(response, error),
                Outcome::Pass => next.run(request).await,
            }
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.add(ForwardPlugin::new(parse(d, setup.deps.resolve_hosts)?));
    }
    Ok(())
}

/// CoreDNS's `Match`: one question, same name (any case), type and class; QR set.
pub fn question_matches(request: &Message, response: &Message) -> bool {
    let (Some(asked), [answered]) = (request.queries.first(), response.queries.as_slice()) else {
        return false;
    };
    response.metadata.message_type == hickory_proto::op::MessageType::Response
        && asked.name() == answered.name()
        && asked.query_type() == answered.query_type()
        && asked.query_class() == answered.query_class()
}
