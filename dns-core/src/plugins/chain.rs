//! The plugin chain built from a parsed Corefile, and the router that picks a server block by
//! zone. The chain is data: an ordered list of plugins, run in CoreDNS's plugin order.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use crate::plugins::kubernetes::KubernetesPlugin;
use crate::plugins::metrics::{PrometheusConfig, ZoneMetrics, server_label, vars};
use crate::plugins::reply_to;
use crate::server::{Exchange, Handler, RequestInfo};

/// A plugin that can answer a query, or pass it on.
pub enum Resolver {
    Kubernetes(KubernetesPlugin),
}

impl Resolver {
    fn resolve(&self, request: &Message) -> Option<Message> {
        match self {
            Resolver::Kubernetes(k) => k.resolve(request),
        }
    }

    /// The plugin's Corefile name (the `plugin` label of `coredns_dns_responses_total`).
    pub fn name(&self) -> &'static str {
        match self {
            Resolver::Kubernetes(_) => "kubernetes",
        }
    }
}

/// The plugins of one server block.
pub struct PluginChain {
    pub resolvers: Vec<Resolver>,
    pub log: Option<crate::plugins::log::LogPlugin>,
    pub errors: Option<crate::plugins::errors::ErrorsConfig>,
    /// `prometheus`: the block's queries are counted.
    pub prometheus: Option<PrometheusConfig>,
}

impl PluginChain {
    /// The response, and the index of the resolver that wrote it (`None`: no plugin answered
    /// and the chain itself said SERVFAIL).
    fn serve(&self, request: &Message, info: &RequestInfo) -> (Message, Option<usize>) {
        let started = std::time::Instant::now();
        let answered = self
            .resolvers
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.resolve(request).map(|m| (m, i)));
        let (response, plugin) = match answered {
            Some((response, i)) => (response, Some(i)),
            None => {
                // No plugin answered: CoreDNS's NextOrFailure, SERVFAIL.
                if self.errors.is_some()
                    && let Some(q) = request.queries.first()
                {
                    println!(
                        "[ERROR] plugin/errors: 2 {} {}: no next plugin found",
                        q.name(),
                        q.query_type()
                    );
                }
                (reply_to(request, ResponseCode::ServFail), None)
            }
        };
        if let Some(log) = &self.log {
            log.emit(request, &response, info, started.elapsed());
        }
        (response, plugin)
    }

    /// The plugins of this block that handle queries, in chain order: what CoreDNS lists in
    /// `coredns_plugin_enabled` (health and ready are listeners, not handlers).
    pub fn handler_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.prometheus.is_some() {
            names.push("prometheus");
        }
        if self.errors.is_some() {
            names.push("errors");
        }
        if self.log.is_some() {
            names.push("log");
        }
        names.extend(self.resolvers.iter().map(Resolver::name));
        names
    }
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
    /// Into the chain of route `route`; `plugin` is the resolver that answered.
    Block { route: usize, plugin: Option<usize> },
    /// No server block took it (REFUSED), or the chain panicked: CoreDNS's zone `dropped`.
    Dropped,
}

/// Everything that listens on one address: queries go to the block with the longest zone
/// that contains the name; a name no block serves is REFUSED, as CoreDNS does.
pub struct Router {
    pub addr: SocketAddr,
    routes: Vec<Route>,
    /// Counts what no block took, when any block here has `prometheus`.
    dropped: Option<ZoneMetrics>,
}

impl Router {
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
                metrics: chain.prometheus.as_ref().map(|_| {
                    let names: Vec<&'static str> =
                        chain.resolvers.iter().map(Resolver::name).collect();
                    ZoneMetrics::new(&server, &zone.to_string(), &names)
                }),
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
        Self {
            addr,
            routes,
            dropped,
        }
    }

    fn route_for(&self, qname: &Name) -> Option<usize> {
        self.routes.iter().position(|r| r.zone.zone_of(qname))
    }
}

impl Handler for Router {
    type Tag = Served;

    async fn handle(&self, request: &Message, info: &RequestInfo) -> (Message, Served) {
        let Some(query) = request.queries.first() else {
            return (reply_to(request, ResponseCode::FormErr), Served::Dropped);
        };
        let Some(route) = self.route_for(query.name()) else {
            return (reply_to(request, ResponseCode::Refused), Served::Dropped);
        };
        let chain = &self.routes[route].chain;
        // A bug in a plugin costs one query (SERVFAIL), not a serving loop, as CoreDNS
        // recovers and counts panics.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.serve(request, info)))
        {
            Ok((response, plugin)) => (response, Served::Block { route, plugin }),
            Err(_) => {
                vars::PANICS.inc();
                tracing::error!(server = %self.addr, "recovered from a panic while answering a query");
                (reply_to(request, ResponseCode::ServFail), Served::Dropped)
            }
        }
    }

    fn served(&self, tag: Option<Served>, exchange: &Exchange<'_>) {
        match tag {
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
