//! A server block's plugins as they serve (the chain), and the router that picks a block by
//! zone. The chain is data: the block's plugins in the registry's order.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use super::metrics::{ZoneMetrics, server_label, vars};
use super::{OnStartup, Plugin, Serving};
use crate::wire::encoded::Prebuilt;
use crate::wire::{Exchange, Handler, Limits, RequestInfo, reply_to};

/// A response, the index of the plugin that wrote it (`None`: no plugin answered and the chain
/// itself said SERVFAIL), and the error met on the way, if any (what `errors` logs).
pub struct Answered {
    pub response: Message,
    pub plugin: Option<usize>,
    pub error: Option<String>,
    /// Nothing is sent to the client (`acl`'s `drop`): `response` is only what the plugins
    /// before it see.
    pub silent: bool,
    /// The records, already encoded (a cache hit, an answer the kubernetes plugin remembers):
    /// `response` then carries only the header and question. Only where every plugin before the one that answered leaves records
    /// alone ([`Next::may_send_encoded`]).
    pub encoded: Option<Prebuilt>,
}

impl Answered {
    /// Puts records that came encoded ([`Answered::encoded`]) into `response`: for a plugin
    /// that reads or changes them on the way back.
    pub fn materialize(&mut self) {
        if let Some(records) = self.encoded.take() {
            records.fill(&mut self.response);
        }
    }
}

/// The rest of the chain after the plugin that holds it.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    chain: &'a Arc<PluginChain>,
    /// Index of the plugin after the current one.
    index: usize,
    pub info: &'a RequestInfo,
}

impl<'a> Next<'a> {
    /// Runs the rest of the chain on `request`.
    pub fn run<'b>(self, request: &'b Message) -> Serving<'b>
    where
        'a: 'b,
    {
        self.chain.run_from(self.index, request, self.info)
    }

    /// The rest of the chain as an owned value, for work that outlives the query (the cache's
    /// prefetch and stale refresh run it in a task of their own).
    pub fn detach(self) -> Detached {
        Detached {
            chain: self.chain.clone(),
            index: self.index,
            info: *self.info,
        }
    }

    /// `response` when the current plugin has one, else the rest of the chain: the whole
    /// `serve` of a plugin that answers from memory (kubernetes, hosts).
    pub fn answer_or_run(self, request: &'a Message, response: Option<Message>) -> Serving<'a> {
        match response {
            Some(response) => Serving::ready(self.answered_here(response)),
            None => self.run(request),
        }
    }

    /// The current plugin wrote `response`.
    pub fn answered_here(self, response: Message) -> Answered {
        Answered {
            response,
            plugin: self.index.checked_sub(1),
            error: None,
            silent: false,
            encoded: None,
        }
    }

    /// Whether the current plugin may answer with records already encoded: every plugin
    /// before it in the chain passes responses back without looking at their records.
    pub fn may_send_encoded(&self) -> bool {
        self.index.saturating_sub(1) <= self.chain.leaves_records_alone
    }

    /// The current plugin answered with `header` (the header and question) and `records`;
    /// only when [`Next::may_send_encoded`] said so.
    pub fn answered_encoded(self, header: Message, records: Prebuilt) -> Answered {
        Answered {
            encoded: Some(records),
            ..self.answered_here(header)
        }
    }

    /// The current plugin decided that `request` gets no response at all.
    pub fn dropped_here(self, request: &Message) -> Answered {
        Answered {
            silent: true,
            ..self.answered_here(reply_to(request, ResponseCode::Refused))
        }
    }

    /// The current plugin wrote `response` after meeting `error` (logged by `errors`).
    pub fn failed_here(self, response: Message, error: impl std::fmt::Display) -> Answered {
        Answered {
            error: Some(error.to_string()),
            ..self.answered_here(response)
        }
    }
}

/// The rest of a chain, owned: see [`Next::detach`].
pub struct Detached {
    chain: Arc<PluginChain>,
    index: usize,
    pub info: RequestInfo,
}

impl Detached {
    /// Runs the rest of the chain on `request`; the records in the response, never encoded.
    pub async fn run(&self, request: &Message) -> Answered {
        let mut answered = self.chain.run_from(self.index, request, &self.info).await;
        answered.materialize();
        answered
    }
}

/// One plugin in a chain, under its Corefile name.
pub struct Link {
    pub name: &'static str,
    pub plugin: Box<dyn Plugin>,
}

/// The plugins of one server block, in the registry's order.
#[derive(Default)]
pub struct PluginChain {
    pub plugins: Vec<Link>,
    /// How many plugins at the head of the chain pass responses back without reading or
    /// changing their records ([`passes_records_through`]): a plugin after them may answer
    /// with records already encoded.
    pub leaves_records_alone: usize,
    /// `prometheus`: the block's queries are counted.
    pub counted: bool,
    /// What `coredns_plugin_enabled` lists: the block's plugins that handle queries.
    pub enabled: Vec<&'static str>,
    /// Started once the block's listener is up.
    pub on_startup: Vec<OnStartup>,
    /// What the block's plugins ask of the server around the chain (`chaos`, `bufsize`).
    pub limits: Limits,
    /// The listener's TCP timeouts the block sets (`timeouts`).
    pub timeouts: TcpTimeouts,
}

/// A listener's TCP timeouts from the Corefile (`timeouts`); `None` keeps the server's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpTimeouts {
    /// For the rest of a message once its first bytes came.
    pub read: Option<std::time::Duration>,
    /// For a response to be taken by the client.
    pub write: Option<std::time::Duration>,
    /// Between two queries on one connection.
    pub idle: Option<std::time::Duration>,
}

impl PluginChain {
    pub(crate) fn run_from<'b>(
        self: &'b Arc<Self>,
        index: usize,
        request: &'b Message,
        info: &'b RequestInfo,
    ) -> Serving<'b> {
        let Some(link) = self.plugins.get(index) else {
            // No plugin answered: CoreDNS's NextOrFailure, SERVFAIL.
            return Serving::ready(Answered {
                response: reply_to(request, ResponseCode::ServFail),
                plugin: None,
                error: Some("no next plugin found".to_string()),
                silent: false,
                encoded: None,
            });
        };
        let next = Next {
            chain: self,
            index: index + 1,
            info,
        };
        link.plugin.serve(request, next)
    }

    /// The names of the chain's plugins, in chain order (the `plugin` label of responses).
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|l| l.name).collect()
    }
}

/// Plugins that may sit before a plugin answering with encoded records: on the way back they
/// read at most the rcode and the error, or put the records into the message first
/// ([`Answered::materialize`]) when they need them (`cache` storing a miss, `loadbalance`
/// with records to shuffle). Behind any other plugin (log, dns64, nsid, autopath and the
/// rest), answers are whole messages.
pub fn passes_records_through(name: &str) -> bool {
    matches!(
        name,
        "errors"
            | "reload"
            | "loop"
            | "bind"
            | "health"
            | "ready"
            | "prometheus"
            | "debug"
            | "cancel"
            | "timeouts"
            | "cache"
            | "loadbalance"
    )
}

/// One server block as it serves: the zones it answers and its chain.
pub struct ServerBlock {
    pub zones: Vec<Name>,
    pub chain: Arc<PluginChain>,
}

struct Route {
    zone: Name,
    chain: Arc<PluginChain>,
    /// Present when the block has `prometheus`.
    metrics: Option<ZoneMetrics>,
}

/// Which way a query went, for the metrics once its response is encoded.
pub enum Served {
    /// Into the chain of route `route`; `plugin` is the plugin that answered.
    Block { route: usize, plugin: Option<usize> },
    /// No server block took it (REFUSED), or the chain panicked: CoreDNS's zone `dropped`.
    Dropped,
    /// A plugin chose to send nothing (`acl`'s `drop`); counted by that plugin only.
    Silent,
}

/// Everything that listens on one address: queries go to the block with the longest zone
/// that contains the name; a name no block serves is REFUSED, as CoreDNS does.
pub struct Router {
    pub addr: SocketAddr,
    routes: Vec<Route>,
    /// Counts what no block took, when any block here has `prometheus`.
    dropped: Option<ZoneMetrics>,
    /// Some block here has limits (`chaos`, `bufsize`): only then is a query routed for them,
    /// so the common listener pays one branch per query.
    limited: bool,
}

impl Router {
    /// How many zones this listener serves (over all its blocks).
    pub fn zone_count(&self) -> usize {
        self.routes.len()
    }

    pub fn new(addr: SocketAddr, blocks: Vec<ServerBlock>) -> Self {
        let server = server_label(addr);
        let mut routes: Vec<Route> = blocks
            .into_iter()
            .flat_map(|b| {
                let chain = b.chain;
                b.zones
                    .into_iter()
                    .map(move |z| (z.to_lowercase(), chain.clone()))
            })
            .map(|(zone, chain)| Route {
                metrics: chain
                    .counted
                    .then(|| ZoneMetrics::new(&server, &zone.to_string(), &chain.names())),
                zone,
                chain,
            })
            .collect();
        // Longest zone first, so the first match is the most specific.
        routes.sort_by_key(|r| std::cmp::Reverse(r.zone.num_labels()));
        let dropped = routes
            .iter()
            .any(|r| r.metrics.is_some())
            .then(|| ZoneMetrics::new(&server, "dropped", &[]));
        let limited = routes.iter().any(|r| r.chain.limits != Limits::default());
        Self {
            addr,
            routes,
            dropped,
            limited,
        }
    }

    /// Starts what plugins do once the listener is up (the `loop` probe, `errors`
    /// consolidation), given the address the listener got.
    pub fn on_startup(&self, local: SocketAddr) {
        let mut seen: Vec<&Arc<PluginChain>> = Vec::new();
        for route in &self.routes {
            if seen.iter().any(|c| Arc::ptr_eq(c, &route.chain)) {
                continue;
            }
            seen.push(&route.chain);
            for start in &route.chain.on_startup {
                start(local);
            }
        }
    }

    /// The TCP timeouts the listener's blocks set; where two blocks set one, the block of the
    /// longest zone wins.
    pub fn tcp_timeouts(&self) -> TcpTimeouts {
        let mut out = TcpTimeouts::default();
        for t in self.routes.iter().map(|r| r.chain.timeouts) {
            out.read = out.read.or(t.read);
            out.write = out.write.or(t.write);
            out.idle = out.idle.or(t.idle);
        }
        out
    }

    fn route_for(&self, qname: &Name) -> Option<usize> {
        self.routes.iter().position(|r| r.zone.zone_of(qname))
    }
}

impl Handler for Router {
    type Tag = Served;

    async fn handle(&self, request: &Message, info: &RequestInfo) -> (Message, Served) {
        let (mut response, encoded, tag) = self.handle_encoded(request, info).await;
        if let Some(records) = encoded {
            records.fill(&mut response);
        }
        (response, tag)
    }

    async fn handle_encoded(
        &self,
        request: &Message,
        info: &RequestInfo,
    ) -> (Message, Option<Prebuilt>, Served) {
        let Some(query) = request.queries.first() else {
            return (
                reply_to(request, ResponseCode::FormErr),
                None,
                Served::Dropped,
            );
        };
        let Some(route) = self.route_for(query.name()) else {
            return (
                reply_to(request, ResponseCode::Refused),
                None,
                Served::Dropped,
            );
        };
        let chain = &self.routes[route].chain;
        // A bug in a plugin costs one query (SERVFAIL), not a serving loop, as CoreDNS
        // recovers and counts panics.
        // (The first plugin runs inside the async block, so a panic before its first await is
        // caught too.)
        match AssertUnwindSafe(async { chain.run_from(0, request, info).await })
            .catch_unwind()
            .await
        {
            Ok(answered) if answered.silent => (answered.response, None, Served::Silent),
            Ok(answered) => (
                answered.response,
                answered.encoded,
                Served::Block {
                    route,
                    plugin: answered.plugin,
                },
            ),
            Err(_) => {
                vars::PANICS.inc();
                tracing::error!(server = %self.addr, "recovered from a panic while answering a query");
                (
                    reply_to(request, ResponseCode::ServFail),
                    None,
                    Served::Dropped,
                )
            }
        }
    }

    fn limits(&self, query: &hickory_proto::op::Query) -> Limits {
        if !self.limited {
            return Limits::default();
        }
        self.route_for(query.name())
            .map_or_else(Limits::default, |r| self.routes[r].chain.limits)
    }

    fn silent(&self, tag: &Served) -> bool {
        matches!(tag, Served::Silent)
    }

    fn served(&self, tag: Option<Served>, exchange: &Exchange<'_>) {
        match tag {
            Some(Served::Silent) => {}
            Some(Served::Block { route, plugin }) => {
                if let Some(metrics) = self.routes.get(route).and_then(|r| r.metrics.as_ref()) {
                    metrics.record(exchange, plugin.map_or(0, |p| p + 1));
                }
            }
            Some(Served::Dropped) | None => {
                if let Some(metrics) = &self.dropped {
                    metrics.record(exchange, 0);
                }
            }
        }
    }
}
