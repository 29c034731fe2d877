//! The forward plugin's metrics with CoreDNS's names and labels: the `coredns_forward_*`
//! family and the `coredns_proxy_*` family of CoreDNS's shared proxy package (`proxy_name`
//! is always `forward` here). Label handles are resolved once per upstream.

use std::sync::LazyLock;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::plugin::metrics::vars::{
    counter_vec, register, time_buckets, unreachable_metric as bad_metric,
};
use crate::wire::rcode;

const NAMESPACE: &str = "coredns";
const PROXY_NAME: &str = "forward";

fn counter(subsystem: &str, name: &str, help: &str) -> IntCounter {
    let opts = Opts::new(name, help)
        .namespace(NAMESPACE)
        .subsystem(subsystem);
    register(IntCounter::with_opts(opts).unwrap_or_else(|e| bad_metric(name, e)))
}

fn duration_vec(subsystem: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(
        "request_duration_seconds",
        "Histogram of the time each request to an upstream took.",
    )
    .namespace(NAMESPACE)
    .subsystem(subsystem)
    .buckets(time_buckets());
    register(HistogramVec::new(opts, labels).unwrap_or_else(|e| bad_metric("request_duration", e)))
}

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "forward",
        "requests_total",
        "Counter of requests made per upstream.",
        &["to"],
    )
});
static RESPONSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "forward",
        "responses_total",
        "Counter of responses received per upstream.",
        &["to", "rcode"],
    )
});
static DURATION: LazyLock<HistogramVec> =
    LazyLock::new(|| duration_vec("forward", &["to", "rcode"]));
static HEALTHCHECK_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "forward",
        "healthcheck_failures_total",
        "Counter of the number of failed healthchecks.",
        &["to"],
    )
});
/// `coredns_forward_healthcheck_broken_total`: every upstream was down, one was tried anyway.
pub static HEALTHCHECK_BROKEN: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "forward",
        "healthcheck_broken_total",
        "Counter of the number of complete failures of the healthchecks.",
    )
});
/// `coredns_forward_max_concurrent_rejects_total`.
pub static MAX_CONCURRENT_REJECTS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "forward",
        "max_concurrent_rejects_total",
        "Counter of the number of queries rejected because the concurrent queries were at maximum.",
    )
});
static PROXY_DURATION: LazyLock<HistogramVec> =
    LazyLock::new(|| duration_vec("proxy", &["proxy_name", "to", "rcode"]));
static PROXY_HEALTHCHECK_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "proxy",
        "healthcheck_failures_total",
        "Counter of the number of failed healthchecks.",
        &["proxy_name", "to"],
    )
});
static CONN_HITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "proxy",
        "conn_cache_hits_total",
        "Counter of connection cache hits per upstream and protocol.",
        &["proxy_name", "to", "proto"],
    )
});
static CONN_MISSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "proxy",
        "conn_cache_misses_total",
        "Counter of connection cache misses per upstream and protocol.",
        &["proxy_name", "to", "proto"],
    )
});

/// Registers the families CoreDNS exports from the start (the counters without labels).
pub fn init() {
    LazyLock::force(&HEALTHCHECK_BROKEN);
    LazyLock::force(&MAX_CONCURRENT_REJECTS);
}

/// The handles of one upstream.
pub(crate) struct UpstreamMetrics {
    to: String,
    requests: IntCounter,
    healthcheck_failures: IntCounter,
    proxy_healthcheck_failures: IntCounter,
}

impl UpstreamMetrics {
    pub(crate) fn new(to: &str) -> Self {
        Self {
            to: to.to_string(),
            requests: REQUESTS.with_label_values(&[to]),
            healthcheck_failures: HEALTHCHECK_FAILURES.with_label_values(&[to]),
            proxy_healthcheck_failures: PROXY_HEALTHCHECK_FAILURES
                .with_label_values(&[PROXY_NAME, to]),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.inc();
    }

    pub(crate) fn response(&self, rcode: ResponseCode, took: Duration) {
        let rcode = rcode::name(rcode);
        let to = self.to.as_str();
        RESPONSES.with_label_values(&[to, rcode.as_ref()]).inc();
        let secs = took.as_secs_f64();
        DURATION
            .with_label_values(&[to, rcode.as_ref()])
            .observe(secs);
        PROXY_DURATION
            .with_label_values(&[PROXY_NAME, to, rcode.as_ref()])
            .observe(secs);
    }

    pub(crate) fn healthcheck_failure(&self) {
        self.healthcheck_failures.inc();
        self.proxy_healthcheck_failures.inc();
    }

    pub(crate) fn conn_hit(&self, proto: &str) {
        CONN_HITS
            .with_label_values(&[PROXY_NAME, &self.to, proto])
            .inc();
    }

    pub(crate) fn conn_miss(&self, proto: &str) {
        CONN_MISSES
            .with_label_values(&[PROXY_NAME, &self.to, proto])
            .inc();
    }
}
