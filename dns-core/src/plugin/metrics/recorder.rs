//! Per-zone metric handles for the query path. Each label combination is resolved once, the
//! first time it occurs (so the exported series are the ones CoreDNS would show), and is an
//! add to the counting thread's own shard from then on (`sharded`): no label formatting or
//! hashing per query, and no cache line written by two workers.

use std::sync::OnceLock;

use super::sharded::{Counter, Histogram};
use super::vars::{
    DO_REQUESTS, REQUEST_DURATION, REQUEST_SIZE, REQUESTS, RESPONSE_SIZE, RESPONSES,
};
use super::{QTYPE_NAMES, family_label, qtype_index};
use crate::wire::{Exchange, Transport, rcode};

const PROTOS: [&str; 2] = ["udp", "tcp"];
const FAMILIES: [&str; 2] = ["1", "2"];
/// Rcodes 0..=23 get a resolved handle; rarer ones resolve per response.
const RCODES: usize = rcode::NAMED;

/// The metrics of one zone label on one server label (`dropped` for queries no block took).
pub struct ZoneMetrics {
    server: String,
    zone: String,
    /// `plugin` label values: index 0 is the server itself (empty), then the chain's plugins.
    plugins: Vec<&'static str>,
    requests: Vec<OnceLock<Counter>>,
    do_requests: OnceLock<Counter>,
    duration: OnceLock<Histogram>,
    request_size: [OnceLock<Histogram>; 2],
    response_size: [OnceLock<Histogram>; 2],
    responses: Vec<OnceLock<Counter>>,
}

fn slots<T>(n: usize) -> Vec<OnceLock<T>> {
    (0..n).map(|_| OnceLock::new()).collect()
}

impl ZoneMetrics {
    /// `plugins`: the names of the chain's answering plugins, in chain order.
    pub fn new(server: &str, zone: &str, plugins: &[&'static str]) -> Self {
        let mut names = vec![""];
        names.extend_from_slice(plugins);
        Self {
            server: server.to_string(),
            zone: zone.to_string(),
            requests: slots(PROTOS.len() * FAMILIES.len() * QTYPE_NAMES.len()),
            responses: slots(RCODES * names.len()),
            plugins: names,
            do_requests: OnceLock::new(),
            duration: OnceLock::new(),
            request_size: [OnceLock::new(), OnceLock::new()],
            response_size: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// Counts one exchange. `plugin`: 0 when the server wrote the response, else 1 + the index
    /// of the chain plugin that did.
    pub fn record(&self, exchange: &Exchange<'_>, plugin: usize) {
        let (server, zone) = (self.server.as_str(), self.zone.as_str());
        let proto = match exchange.info.transport {
            Transport::Udp => 0,
            Transport::Tcp => 1,
        };
        let family = usize::from(family_label(exchange.info.src.ip()) == "2");
        let qtype = exchange
            .request
            .queries
            .first()
            .map(|q| qtype_index(q.query_type()))
            .unwrap_or(QTYPE_NAMES.len() - 1);
        let slot = (proto * FAMILIES.len() + family) * QTYPE_NAMES.len() + qtype;
        if let Some(counter) = self.requests.get(slot) {
            counter
                .get_or_init(|| {
                    REQUESTS.with_label_values(&[
                        server,
                        zone,
                        "",
                        PROTOS[proto],
                        FAMILIES[family],
                        QTYPE_NAMES[qtype],
                    ])
                })
                .inc();
        }
        if exchange
            .request
            .edns
            .as_ref()
            .is_some_and(|e| e.flags().dnssec_ok)
        {
            self.do_requests
                .get_or_init(|| DO_REQUESTS.with_label_values(&[server, zone, ""]))
                .inc();
        }
        self.duration
            .get_or_init(|| REQUEST_DURATION.with_label_values(&[server, zone, ""]))
            .observe(exchange.started.elapsed().as_secs_f64());
        self.request_size[proto]
            .get_or_init(|| REQUEST_SIZE.with_label_values(&[server, zone, "", PROTOS[proto]]))
            .observe(exchange.info.request_size as f64);
        self.response_size[proto]
            .get_or_init(|| RESPONSE_SIZE.with_label_values(&[server, zone, "", PROTOS[proto]]))
            .observe(exchange.response_size as f64);

        let plugin = plugin.min(self.plugins.len() - 1);
        let name = self.plugins[plugin];
        let code = usize::from(u16::from(exchange.rcode));
        let resolved = (code < RCODES)
            .then(|| self.responses.get(code * self.plugins.len() + plugin))
            .flatten();
        let labels = || [server, zone, "", &rcode::name(exchange.rcode), name].map(String::from);
        match resolved {
            Some(counter) => counter
                .get_or_init(|| RESPONSES.with_label_values(&labels()))
                .inc(),
            None => RESPONSES.with_label_values(&labels()).inc(),
        }
    }
}
