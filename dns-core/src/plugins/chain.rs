//! The plugin chain built from a parsed Corefile, and the router that picks a server block by
//! zone. The chain is data: an ordered list of plugins, run in CoreDNS's plugin order.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use crate::plugins::autopath::AutopathPlugin;
use crate::plugins::cache::CachePlugin;
use crate::plugins::forward::{ForwardPlugin, Outcome};
use crate::plugins::hosts::HostsPlugin;
use crate::plugins::kubernetes::KubernetesPlugin;
use crate::plugins::loadbalance::LoadBalance;
use crate::plugins::loop_detect::LoopPlugin;
use crate::plugins::metrics::{PrometheusConfig, ZoneMetrics, server_label, vars};
use crate::plugins::reply_to;
use crate::plugins::rewrite::Rules;
use crate::server::{Exchange, Handler, RequestInfo};

/// A plugin that handles queries, in chain order. Each either answers or hands the query to
/// the rest of the chain through [`Next`] (CoreDNS's `NextOrFailure`); a plugin that wraps the
/// rest (cache, rewrite, loadbalance) calls `next` and works on what comes back.
// Built once per chain and never moved on the query path: variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Plugin {
    Autopath(AutopathPlugin),
    Kubernetes(Box<KubernetesPlugin>),
    Hosts(HostsPlugin),
    Rewrite(Rules),
    Cache(CachePlugin),
    LoadBalance(LoadBalance),
    Loop(Arc<LoopPlugin>),
    Forward(ForwardPlugin),
}

impl Plugin {
    /// The plugin's Corefile name (the `plugin` label of `coredns_dns_responses_total`).
    pub fn name(&self) -> &'static str {
        match self {
            Plugin::Autopath(_) => "autopath",
            Plugin::Kubernetes(_) => "kubernetes",
            Plugin::Hosts(_) => "hosts",
            Plugin::Rewrite(_) => "rewrite",
            Plugin::Cache(_) => "cache",
            Plugin::LoadBalance(_) => "loadbalance",
            Plugin::Loop(_) => "loop",
            Plugin::Forward(_) => "forward",
        }
    }

    async fn serve(&self, request: &Message, next: Next<'_>) -> Answered {
        match self {
            Plugin::Autopath(a) => a.serve(request, next).await,
            Plugin::Kubernetes(k) => match k.resolve(request) {
                Some(response) => next.answered_here(response),
                None => next.run(request).await,
            },
            Plugin::Hosts(h) => match h.resolve(request) {
                Some(response) => next.answered_here(response),
                None => next.run(request).await,
            },
            Plugin::Rewrite(rules) => match rules.apply_from(request, next.info.src.ip()) {
                Some(applied) => {
                    let mut answered = next.run(&applied.request).await;
                    rules.revert(&applied, &mut answered.response);
                    if let Some(target) = rules.rewrite_cnames(&applied, &mut answered.response) {
                        let lookup = Rules::cname_lookup(&applied, &target);
                        let found = next.run(&lookup).await;
                        crate::plugins::rewrite::splice_cname_answers(
                            &mut answered.response,
                            &target,
                            &found.response,
                        );
                    }
                    answered
                }
                None => next.run(request).await,
            },
            Plugin::Cache(c) => c.serve(request, next).await,
            Plugin::LoadBalance(lb) => {
                let mut answered = next.run(request).await;
                lb.shuffle(&mut answered.response);
                answered
            }
            Plugin::Loop(l) => {
                l.observe(request, next.info);
                next.run(request).await
            }
            Plugin::Forward(f) => match f.forward(request, next.info).await {
                Outcome::Answer(response) => next.answered_here(response),
                Outcome::Failed(response, error) => {
                    next.log_error(request, &error);
                    next.answered_here(response)
                }
                Outcome::Pass => next.run(request).await,
            },
        }
    }
}

/// A response and the index of the plugin that wrote it (`None`: no plugin answered and the
/// chain itself said SERVFAIL).
pub struct Answered {
    pub response: Message,
    pub plugin: Option<usize>,
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
    pub fn run<'b>(
        self,
        request: &'b Message,
    ) -> Pin<Box<dyn Future<Output = Answered> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(self.chain.run_from(self.index, request, self.info))
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

    /// The current plugin met `error` answering `request`: logged when the block has `errors`.
    pub fn log_error(&self, request: &Message, error: &dyn std::fmt::Display) {
        self.chain.log_error(request, error);
    }

    /// The current plugin wrote `response`.
    pub fn answered_here(self, response: Message) -> Answered {
        Answered {
            response,
            plugin: self.index.checked_sub(1),
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
    /// Runs the rest of the chain on `request`.
    pub async fn run(&self, request: &Message) -> Answered {
        self.chain.run_from(self.index, request, &self.info).await
    }
}

/// The plugins of one server block.
pub struct PluginChain {
    pub plugins: Vec<Plugin>,
    pub log: Option<crate::plugins::log::LogPlugin>,
    pub errors: Option<Arc<crate::plugins::errors::ErrorsPlugin>>,
    /// `prometheus`: the block's queries are counted.
    pub prometheus: Option<PrometheusConfig>,
}

impl PluginChain {
    async fn serve(self: &Arc<Self>, request: &Message, info: &RequestInfo) -> Answered {
        let started = std::time::Instant::now();
        let answered = self.run_from(0, request, info).await;
        if let Some(log) = &self.log {
            log.emit(request, &answered.response, info, started.elapsed());
        }
        answered
    }

    async fn run_from(
        self: &Arc<Self>,
        index: usize,
        request: &Message,
        info: &RequestInfo,
    ) -> Answered {
        let Some(plugin) = self.plugins.get(index) else {
            // No plugin answered: CoreDNS's NextOrFailure, SERVFAIL.
            self.log_error(request, &"no next plugin found");
            return Answered {
                response: reply_to(request, ResponseCode::ServFail),
                plugin: None,
            };
        };
        let next = Next {
            chain: self,
            index: index + 1,
            info,
        };
        plugin.serve(request, next).await
    }

    /// The `errors` plugin's line for an error met answering `request`, when the block has
    /// `errors` (CoreDNS: `[ERROR] plugin/errors: 2 NAME. TYPE: ERROR`).
    fn log_error(&self, request: &Message, error: &dyn std::fmt::Display) {
        if let (Some(errors), Some(q)) = (&self.errors, request.queries.first()) {
            errors.report(
                2,
                &q.name().to_string(),
                &q.query_type().to_string(),
                &error.to_string(),
            );
        }
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
        names.extend(self.plugins.iter().map(Plugin::name));
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
                metrics: chain.prometheus.as_ref().map(|_| {
                    let names: Vec<&'static str> = chain.plugins.iter().map(Plugin::name).collect();
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

    /// Starts what plugins do once the listener is up (the `loop` probe, `errors`
    /// consolidation), given the address the listener got.
    pub fn on_startup(&self, local: SocketAddr) {
        let mut seen: Vec<&Arc<PluginChain>> = Vec::new();
        for route in &self.routes {
            if seen.iter().any(|c| Arc::ptr_eq(c, &route.chain)) {
                continue;
            }
            seen.push(&route.chain);
            if let Some(errors) = &route.chain.errors {
                errors.start_consolidating();
            }
            for plugin in &route.chain.plugins {
                if let Plugin::Loop(l) = plugin {
                    tokio::spawn(l.clone().probe(local));
                }
            }
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
        match AssertUnwindSafe(chain.serve(request, info))
            .catch_unwind()
            .await
        {
            Ok(answered) => (
                answered.response,
                Served::Block {
                    route,
                    plugin: answered.plugin,
                },
            ),
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
