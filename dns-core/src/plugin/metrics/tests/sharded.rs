//! The sharded families expose what the prometheus crate's own would, for the same counts.

use prometheus::{Encoder, HistogramOpts, Opts, Registry, TextEncoder};

use super::{CounterVec, HistogramVec};

/// The text exposition of `registry` with every metric name `from` renamed `to`.
fn text(families: &[prometheus::proto::MetricFamily], from: &str, to: &str) -> String {
    let mut out = Vec::new();
    TextEncoder::new().encode(families, &mut out).unwrap();
    String::from_utf8(out).unwrap().replace(from, to)
}

fn ours(name: &str) -> Vec<prometheus::proto::MetricFamily> {
    prometheus::gather()
        .into_iter()
        .filter(|f| f.name().starts_with(name))
        .collect()
}

#[test]
fn histograms_expose_what_prometheus_would() {
    let buckets = vec![0.0, 0.00025, 0.0005, 1.0, 511.0];
    let labels = ["server", "zone", "proto"];
    let help = "Sizes.";
    let sharded = HistogramVec::new(
        HistogramOpts::new("sharded_test_histogram", help).buckets(buckets.clone()),
        &labels,
    );
    let registry = Registry::new();
    let plain = prometheus::HistogramVec::new(
        HistogramOpts::new("plain_test_histogram", help).buckets(buckets),
        &labels,
    )
    .unwrap();
    registry.register(Box::new(plain.clone())).unwrap();
    let cases: [(&[&str; 3], &[f64]); 4] = [
        // Exactly on a bound counts in that bucket.
        (
            &["dns://:53", "cluster.local.", "udp"],
            &[0.0, 0.00025, 1.0, 511.0],
        ),
        // Between bounds, and above the last (only in the count).
        (
            &["dns://:53", "cluster.local.", "tcp"],
            &[0.0003, 2.0, 512.0, 1e9],
        ),
        // Labels sorted by name in the exposition, whatever the order given.
        (&["dns://:53", ".", "udp"], &[-1.0, 7.5]),
        // A series never observed still shows, with zeros.
        (&["dns://127.0.0.1:53", ".", "udp"], &[]),
    ];
    for (values, observations) in cases {
        let (ours, theirs) = (
            sharded.with_label_values(values),
            plain.with_label_values(values),
        );
        for v in observations {
            ours.observe(*v);
            theirs.observe(*v);
        }
        assert_eq!(ours.get_sample_count(), theirs.get_sample_count());
        assert_eq!(ours.get_sample_sum(), theirs.get_sample_sum());
    }
    assert_eq!(
        text(&ours("sharded_test_histogram"), "sharded_", "plain_"),
        text(&registry.gather(), "", "")
    );
}

#[test]
fn counters_expose_what_prometheus_would() {
    let labels = ["server", "zone", "rcode"];
    let sharded = CounterVec::new(Opts::new("sharded_test_counter", "Answers."), &labels);
    let registry = Registry::new();
    let plain =
        prometheus::IntCounterVec::new(Opts::new("plain_test_counter", "Answers."), &labels)
            .unwrap();
    registry.register(Box::new(plain.clone())).unwrap();
    let cases: [(&[&str; 3], u64); 3] = [
        (&["dns://:53", "cluster.local.", "NOERROR"], 3),
        (&["dns://:53", "cluster.local.", "NXDOMAIN"], 1),
        (&["dns://:53", "dropped", "REFUSED"], 0),
    ];
    for (values, n) in cases {
        let (ours, theirs) = (
            sharded.with_label_values(values),
            plain.with_label_values(values),
        );
        ours.inc_by(n);
        theirs.inc_by(n);
    }
    // A second handle to a label set counts into the same series.
    sharded
        .with_label_values(&["dns://:53", "cluster.local.", "NOERROR"])
        .inc();
    plain
        .with_label_values(&["dns://:53", "cluster.local.", "NOERROR"])
        .inc();
    assert_eq!(
        text(&ours("sharded_test_counter"), "sharded_", "plain_"),
        text(&registry.gather(), "", "")
    );
}

#[test]
fn every_thread_counts_and_the_scrape_sums_them() {
    let counters = CounterVec::new(Opts::new("sharded_test_threads", "Threads."), &["zone"]);
    let histograms = HistogramVec::new(
        HistogramOpts::new("sharded_test_threads_seconds", "Threads.").buckets(vec![1.0]),
        &["zone"],
    );
    // More threads than shards, so some share one: still no count lost.
    let threads = 3 * *super::SHARDS;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let (c, h) = (
                    counters.with_label_values(&["z"]),
                    histograms.with_label_values(&["z"]),
                );
                for i in 0..1000 {
                    c.inc();
                    h.observe(f64::from(i % 2) * 2.0);
                }
            });
        }
    });
    let n = threads as u64 * 1000;
    assert_eq!(counters.with_label_values(&["z"]).get(), n);
    let h = histograms.with_label_values(&["z"]);
    assert_eq!(h.get_sample_count(), n);
    assert_eq!(h.get_sample_sum(), n as f64);
}
