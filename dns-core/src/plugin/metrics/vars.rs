//! The metric families, with CoreDNS's names, labels and buckets, registered in the default
//! registry the first time they are used. Registration can only fail on a name clash with
//! another collector; the metric then still counts, it is just not exported, and the clash is
//! logged.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts};

use super::sharded;

const NAMESPACE: &str = "coredns";
const DNS: &str = "dns";

/// CoreDNS's `TimeBuckets`: 0.25 ms doubling up to about 8 s.
pub(crate) fn time_buckets() -> Vec<f64> {
    (0..16).map(|i| 0.00025 * f64::from(1u32 << i)).collect()
}

/// CoreDNS's `SlimTimeBuckets`: 0.25 ms to 2.5 s by factors of ten.
fn slim_time_buckets() -> Vec<f64> {
    (0..5).map(|i| 0.00025 * 10f64.powi(i)).collect()
}

/// CoreDNS's message size buckets.
fn size_buckets() -> Vec<f64> {
    vec![
        0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3,
        64e3,
    ]
}

pub(crate) fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    if let Err(e) = prometheus::register(Box::new(collector.clone())) {
        tracing::warn!(error = %e, "a metric could not be registered; it will not be exported");
    }
    collector
}

pub(crate) fn counter_vec(
    subsystem: &str,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    let opts = Opts::new(name, help)
        .namespace(NAMESPACE)
        .subsystem(subsystem);
    register(IntCounterVec::new(opts, labels).unwrap_or_else(|e| unreachable_metric(name, e)))
}

/// A counter family written on the answer path: sharded per thread (`sharded`).
pub(crate) fn sharded_counter_vec(
    subsystem: &str,
    name: &str,
    help: &str,
    labels: &[&str],
) -> sharded::CounterVec {
    let opts = Opts::new(name, help)
        .namespace(NAMESPACE)
        .subsystem(subsystem);
    sharded::CounterVec::new(opts, labels)
}

fn histogram_vec(
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> sharded::HistogramVec {
    let opts = HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .subsystem(DNS)
        .buckets(buckets);
    sharded::HistogramVec::new(opts, labels)
}

/// The definitions above are constants; a failure here is a programming error caught by the
/// tests, never input.
pub(crate) fn unreachable_metric(name: &str, e: prometheus::Error) -> ! {
    panic!("metric {name} is defined wrongly: {e}")
}

/// `coredns_dns_requests_total{server, zone, view, proto, family, type}`.
pub static REQUESTS: LazyLock<sharded::CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        DNS,
        "requests_total",
        "DNS queries per server, zone, transport, address family and query type.",
        &["server", "zone", "view", "proto", "family", "type"],
    )
});

/// `coredns_dns_do_requests_total{server, zone, view}`.
pub static DO_REQUESTS: LazyLock<sharded::CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        DNS,
        "do_requests_total",
        "DNS queries with the DNSSEC OK (DO) bit set.",
        &["server", "zone", "view"],
    )
});

/// `coredns_dns_responses_total{server, zone, view, rcode, plugin}`.
pub static RESPONSES: LazyLock<sharded::CounterVec> = LazyLock::new(|| {
    sharded_counter_vec(
        DNS,
        "responses_total",
        "DNS responses per rcode and the plugin that wrote them (empty: the server).",
        &["server", "zone", "view", "rcode", "plugin"],
    )
});

/// `coredns_dns_request_duration_seconds{server, zone, view}`.
pub static REQUEST_DURATION: LazyLock<sharded::HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "request_duration_seconds",
        "Time to answer a DNS query, in seconds.",
        &["server", "zone", "view"],
        time_buckets(),
    )
});

/// `coredns_dns_request_size_bytes{server, zone, view, proto}`.
pub static REQUEST_SIZE: LazyLock<sharded::HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "request_size_bytes",
        "Size of DNS queries on the wire, in bytes.",
        &["server", "zone", "view", "proto"],
        size_buckets(),
    )
});

/// `coredns_dns_response_size_bytes{server, zone, view, proto}`.
pub static RESPONSE_SIZE: LazyLock<sharded::HistogramVec> = LazyLock::new(|| {
    histogram_vec(
        "response_size_bytes",
        "Size of DNS responses on the wire, in bytes.",
        &["server", "zone", "view", "proto"],
        size_buckets(),
    )
});

/// `coredns_panics_total`.
pub static PANICS: LazyLock<IntCounter> = LazyLock::new(|| {
    let opts =
        Opts::new("panics_total", "Panics caught while answering a query.").namespace(NAMESPACE);
    register(IntCounter::with_opts(opts).unwrap_or_else(|e| unreachable_metric("panics", e)))
});

/// `coredns_plugin_enabled{server, zone, view, name}`.
pub static PLUGIN_ENABLED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "plugin_enabled",
        "1 for each plugin enabled in a server block, per server and zone.",
    )
    .namespace(NAMESPACE);
    register(
        IntGaugeVec::new(opts, &["server", "zone", "view", "name"])
            .unwrap_or_else(|e| unreachable_metric("plugin_enabled", e)),
    )
});

/// `coredns_build_info{version, revision, goversion}`.
pub static BUILD_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "build_info",
        "Always 1; the labels say which build runs (goversion holds the Rust compiler version).",
    )
    .namespace(NAMESPACE);
    register(
        IntGaugeVec::new(opts, &["version", "revision", "goversion"])
            .unwrap_or_else(|e| unreachable_metric("build_info", e)),
    )
});

/// `coredns_health_request_duration_seconds`: the health plugin's self-check, once a second.
pub static HEALTH_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    let opts = HistogramOpts::new(
        "request_duration_seconds",
        "Time the health plugin's own GET /health took, in seconds.",
    )
    .namespace(NAMESPACE)
    .subsystem("health")
    .buckets(slim_time_buckets());
    register(Histogram::with_opts(opts).unwrap_or_else(|e| unreachable_metric("health", e)))
});

/// `coredns_health_request_failures_total`.
pub static HEALTH_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    let opts = Opts::new(
        "request_failures_total",
        "Times the health plugin's own GET /health failed.",
    )
    .namespace(NAMESPACE)
    .subsystem("health");
    register(IntCounter::with_opts(opts).unwrap_or_else(|e| unreachable_metric("health", e)))
});

/// The crate version, the git revision given at build time as `SIGNPOST_REVISION` (empty
/// when unset, as CoreDNS's is without its ldflags), and `rustc X.Y.Z` in place of Go's version.
pub fn build_info_labels() -> [&'static str; 3] {
    [
        env!("CARGO_PKG_VERSION"),
        option_env!("SIGNPOST_REVISION").unwrap_or(""),
        env!("SIGNPOST_RUSTC_VERSION"),
    ]
}

/// Everything the prometheus plugin exports from the start: build info, the panic counter,
/// the health self-check metrics (as CoreDNS registers them at start). Idempotent.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        BUILD_INFO.with_label_values(&build_info_labels()).set(1);
        LazyLock::force(&PANICS);
        // The process collector (process_resident_memory_bytes, ...) comes with the default
        // registry itself on Linux (the crate's `process` feature).
        LazyLock::force(&HEALTH_DURATION);
        LazyLock::force(&HEALTH_FAILURES);
    });
}

/// The default registry in Prometheus's text format: what `/metrics` serves.
pub fn gather_text() -> String {
    let families = prometheus::gather();
    let mut out = String::new();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    out
}
