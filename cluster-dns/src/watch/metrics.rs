//! The watch cache's metrics, in the process-wide Prometheus registry that the `prometheus`
//! plugin serves. CoreDNS's own name where CoreDNS has the metric; `signpost_` otherwise.

use std::sync::LazyLock;

use prometheus::{
    Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    exponential_buckets,
};
use tracing::warn;

pub struct WatchMetrics {
    /// CoreDNS's: from the EndpointSlice's `endpoints.kubernetes.io/last-change-trigger-time`
    /// (the moment the change happened in the cluster) to the moment DNS answers it.
    pub dns_programming: HistogramVec,
    /// From the moment a watch event arrives to the moment DNS answers it.
    pub apply: HistogramVec,
    /// Seconds since the cache was last known to match the API (0 while it does).
    pub snapshot_age: Gauge,
    /// Objects of each kind in the cache.
    pub objects: GaugeVec,
    /// Objects the model cannot use (a slice without its service label, an unknown type ...).
    pub skipped: IntCounterVec,
    /// Objects kept with something dropped or missing (an invalid address, a ClusterSetIP
    /// import without IPs, conflicting import ports ...); the log line says what.
    pub warnings: IntCounterVec,
    /// Failed lists and watches (the API unreachable, forbidden, ...).
    pub watch_errors: IntCounterVec,
    /// Seconds from start to the first complete list of every watched kind.
    pub initial_sync: Gauge,
    /// Lists started, the first and each re-list (a failed watch resumes without one; only
    /// 410 Gone or a failed list lists again).
    pub lists: IntCounterVec,
    /// Publishes that copied the whole cluster state because a reader still held the copy the
    /// one before replaced (see `SnapshotStore::copies`).
    pub snapshot_copies: IntCounter,
}

/// The registered metrics (registered once per process).
pub fn metrics() -> &'static WatchMetrics {
    static METRICS: LazyLock<WatchMetrics> = LazyLock::new(WatchMetrics::register);
    &METRICS
}

fn histogram(name: &str, help: &str, start: f64, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help)
        .buckets(exponential_buckets(start, 2.0, 20).unwrap_or_default());
    HistogramVec::new(opts, labels).unwrap_or_else(|e| unreachable_metric(name, e))
}

fn unreachable_metric<T>(name: &str, e: prometheus::Error) -> T {
    // Only a malformed name or label set fails here: a programming error, caught by tests.
    panic!("metric {name}: {e}") // ok: constant metric definitions, checked by unit tests
}

impl WatchMetrics {
    fn register() -> Self {
        let m = WatchMetrics {
            dns_programming: histogram(
                "coredns_kubernetes_dns_programming_duration_seconds",
                "Histogram of the time (in seconds) it took to program a dns instance.",
                0.001,
                &["service_kind"],
            ),
            apply: histogram(
                "signpost_kubernetes_programming_seconds",
                "Time from a watch event's arrival until DNS answers with it.",
                0.0001,
                &["kind"],
            ),
            snapshot_age: Gauge::with_opts(Opts::new(
                "signpost_kubernetes_snapshot_age_seconds",
                "Seconds since the cluster cache was last known to match the API server (0 while it does).",
            ))
            .unwrap_or_else(|e| unreachable_metric("snapshot_age", e)),
            objects: GaugeVec::new(
                Opts::new("signpost_kubernetes_objects", "Objects in the cluster cache, by kind."),
                &["kind"],
            )
            .unwrap_or_else(|e| unreachable_metric("objects", e)),
            skipped: IntCounterVec::new(
                Opts::new(
                    "signpost_kubernetes_skipped_objects_total",
                    "API objects skipped because DNS cannot use them.",
                ),
                &["kind"],
            )
            .unwrap_or_else(|e| unreachable_metric("skipped", e)),
            warnings: IntCounterVec::new(
                Opts::new(
                    "signpost_kubernetes_object_warnings_total",
                    "API objects kept with a part DNS cannot use or a part missing (logged).",
                ),
                &["kind"],
            )
            .unwrap_or_else(|e| unreachable_metric("warnings", e)),
            watch_errors: IntCounterVec::new(
                Opts::new(
                    "signpost_kubernetes_watch_errors_total",
                    "Failed lists and watches of the Kubernetes API, by kind.",
                ),
                &["kind"],
            )
            .unwrap_or_else(|e| unreachable_metric("watch_errors", e)),
            initial_sync: Gauge::with_opts(Opts::new(
                "signpost_kubernetes_initial_sync_seconds",
                "Seconds from start until every watched kind was listed once.",
            ))
            .unwrap_or_else(|e| unreachable_metric("initial_sync", e)),
            lists: IntCounterVec::new(
                Opts::new(
                    "signpost_kubernetes_lists_total",
                    "Lists of the Kubernetes API started, by kind: the first, then one per re-list (410 Gone, or a failed list).",
                ),
                &["kind"],
            )
            .unwrap_or_else(|e| unreachable_metric("lists", e)),
            snapshot_copies: IntCounter::new(
                "signpost_kubernetes_snapshot_copies_total",
                "Publishes of the cluster cache that copied it whole because a reader still held the spare copy.",
            )
            .unwrap_or_else(|e| unreachable_metric("snapshot_copies", e)),
        };
        let registry = prometheus::default_registry();
        let collectors: [Box<dyn prometheus::core::Collector>; 10] = [
            Box::new(m.dns_programming.clone()),
            Box::new(m.apply.clone()),
            Box::new(m.snapshot_age.clone()),
            Box::new(m.objects.clone()),
            Box::new(m.skipped.clone()),
            Box::new(m.warnings.clone()),
            Box::new(m.watch_errors.clone()),
            Box::new(m.initial_sync.clone()),
            Box::new(m.lists.clone()),
            Box::new(m.snapshot_copies.clone()),
        ];
        for c in collectors {
            if let Err(e) = registry.register(c) {
                warn!("registering a watch-cache metric: {e}");
            }
        }
        m
    }
}
