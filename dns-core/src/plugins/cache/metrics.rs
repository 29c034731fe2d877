//! The cache's metric families, with CoreDNS's names and labels (plugin/cache/metrics.go), and
//! one cache's label handles, resolved when the chain is built.

use std::sync::LazyLock;

use prometheus::{IntGauge, IntGaugeVec, Opts};

use crate::plugin::metrics::sharded::{Counter, CounterVec};
use crate::plugin::metrics::vars::{register, sharded_counter_vec, unreachable_metric};

const CACHE: &str = "cache";

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let opts = Opts::new(name, help).namespace("coredns").subsystem(CACHE);
    register(IntGaugeVec::new(opts, labels).unwrap_or_else(|e| unreachable_metric(name, e)))
}

const BY_TYPE: &[&str] = &["server", "type", "zones", "view"];
const PLAIN: &[&str] = &["server", "zones", "view"];

static ENTRIES: LazyLock<IntGaugeVec> =
    LazyLock::new(|| gauge_vec("entries", "The number of elements in the cache.", BY_TYPE));
static REQUESTS: LazyLock<CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        CACHE,
        "requests_total",
        "The count of cache requests.",
        PLAIN,
    )
});
static HITS: LazyLock<CounterVec> =
    LazyLock::new(|| sharded_counter_vec(CACHE, "hits_total", "The count of cache hits.", BY_TYPE));
static MISSES: LazyLock<CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        CACHE,
        "misses_total",
        "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
        PLAIN,
    )
});
static PREFETCHES: LazyLock<CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        CACHE,
        "prefetch_total",
        "The number of times the cache has prefetched a cached item.",
        PLAIN,
    )
});
static DROPS: LazyLock<CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        CACHE,
        "drops_total",
        "The number responses that are not cached, because the reply is malformed.",
        PLAIN,
    )
});
static SERVED_STALE: LazyLock<CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        CACHE,
        "served_stale_total",
        "The number of requests served from stale cache entries.",
        PLAIN,
    )
});
static EVICTIONS: LazyLock<CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        CACHE,
        "evictions_total",
        "The count of cache evictions.",
        BY_TYPE,
    )
});

/// Counters of one kind of cache (`success` or `denial`).
#[derive(Clone)]
pub struct TypeMetrics {
    pub entries: IntGauge,
    pub hits: Counter,
    pub evictions: Counter,
}

/// One cache plugin's handles (server, zones, view fixed).
#[derive(Clone)]
pub struct CacheMetrics {
    pub requests: Counter,
    pub misses: Counter,
    pub prefetches: Counter,
    pub drops: Counter,
    pub served_stale: Counter,
    pub success: TypeMetrics,
    pub denial: TypeMetrics,
}

impl CacheMetrics {
    pub fn new(server: &str, zones: &str) -> Self {
        let view = "";
        let plain = [server, zones, view];
        let typed = |t: &str| TypeMetrics {
            entries: ENTRIES.with_label_values(&[server, t, zones, view]),
            hits: HITS.with_label_values(&[server, t, zones, view]),
            evictions: EVICTIONS.with_label_values(&[server, t, zones, view]),
        };
        Self {
            requests: REQUESTS.with_label_values(&plain),
            misses: MISSES.with_label_values(&plain),
            prefetches: PREFETCHES.with_label_values(&plain),
            drops: DROPS.with_label_values(&plain),
            served_stale: SERVED_STALE.with_label_values(&plain),
            success: typed("success"),
            denial: typed("denial"),
        }
    }
}
