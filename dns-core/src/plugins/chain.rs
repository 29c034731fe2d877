//! The plugin chain built from a parsed Corefile, and the router that picks a server block by
//! zone. The chain is data: an ordered list of plugins, run in CoreDNS's plugin order.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use crate::plugins::kubernetes::KubernetesPlugin;
use crate::plugins::reply_to;
use crate::server::{Handler, RequestInfo};

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
}

/// The plugins of one server block.
pub struct PluginChain {
    pub resolvers: Vec<Resolver>,
    pub log: Option<crate::plugins::log::LogPlugin>,
    pub errors: Option<crate::plugins::errors::ErrorsConfig>,
}

impl PluginChain {
    fn serve(&self, request: &Message, info: &RequestInfo) -> Message {
        let started = std::time::Instant::now();
        let response = match self.resolvers.iter().find_map(|r| r.resolve(request)) {
            Some(response) => response,
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
                reply_to(request, ResponseCode::ServFail)
            }
        };
        if let Some(log) = &self.log {
            log.emit(request, &response, info, started.elapsed());
        }
        response
    }
}

/// One server block as it serves: the zones it answers and its chain.
pub struct ServerBlock {
    pub zones: Vec<Name>,
    pub chain: Arc<PluginChain>,
}

/// Everything that listens on one address: queries go to the block with the longest zone
/// that contains the name; a name no block serves is REFUSED, as CoreDNS does.
pub struct Router {
    pub addr: SocketAddr,
    zones: Vec<(Name, Arc<PluginChain>)>,
}

impl Router {
    pub fn new(addr: SocketAddr, blocks: Vec<ServerBlock>) -> Self {
        let mut zones: Vec<(Name, Arc<PluginChain>)> = blocks
            .into_iter()
            .flat_map(|b| {
                let chain = b.chain;
                b.zones
                    .into_iter()
                    .map(move |z| (z.to_lowercase(), chain.clone()))
            })
            .collect();
        // Longest zone first, so the first match is the most specific.
        zones.sort_by_key(|(z, _)| std::cmp::Reverse(z.num_labels()));
        Self { addr, zones }
    }

    fn chain_for(&self, qname: &Name) -> Option<&PluginChain> {
        self.zones
            .iter()
            .find(|(z, _)| z.zone_of(qname))
            .map(|(_, c)| c.as_ref())
    }
}

impl Handler for Router {
    async fn handle(&self, request: &Message, info: &RequestInfo) -> Message {
        let Some(query) = request.queries.first() else {
            return reply_to(request, ResponseCode::FormErr);
        };
        match self.chain_for(query.name()) {
            Some(chain) => chain.serve(request, info),
            None => reply_to(request, ResponseCode::Refused),
        }
    }
}
