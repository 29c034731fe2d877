//! Counters and histograms written on the answer path without a cache line shared between
//! threads: each series keeps one slot per shard, a thread always writes the shard it was given
//! when it first counted, and `/metrics` sums the shards when it is scraped. The families
//! register in the default registry like the prometheus crate's vectors, under the same names,
//! help and labels, so what a scrape shows is unchanged; only who writes where is.
//!
//! Shards are cache-line aligned, and a process gets twice as many as it has CPUs, so the
//! threads that answer queries (a UDP worker per CPU, and the runtime's thread per CPU for TCP
//! and upstream answers) each write lines of their own. Threads beyond that (a second listening
//! address's workers) share a shard; their adds are still atomic, so no count is lost, they
//! only bounce that line again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use prometheus::core::{Collector, Desc, Describer};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{HistogramOpts, Opts};

use super::vars::{register, unreachable_metric};

/// One cache line of slots: what a shard writes is never on a line another shard writes.
#[repr(align(64))]
struct Line([AtomicU64; 8]);

const PER_LINE: usize = 8;

impl Line {
    fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// The number of shards: twice the CPUs the process may use, rounded up to a power of two, at
/// least 4.
static SHARDS: LazyLock<usize> = LazyLock::new(|| {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 2)
        .next_power_of_two()
        .clamp(4, 256)
});

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, taken in the order threads first count (the serving threads,
    /// which count first and most, get distinct ones).
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Relaxed) & (*SHARDS - 1);
}

fn shard() -> usize {
    // A thread being torn down no longer has its local: any shard is still a correct count.
    SHARD.try_with(|s| *s).unwrap_or(0)
}

/// `cells` slots per shard, each shard on lines of its own.
struct Cells {
    lines: Box<[Line]>,
    lines_per_shard: usize,
}

impl Cells {
    fn new(cells: usize) -> Self {
        let lines_per_shard = cells.div_ceil(PER_LINE).max(1);
        Self {
            lines: (0..lines_per_shard * *SHARDS)
                .map(|_| Line::new())
                .collect(),
            lines_per_shard,
        }
    }

    fn slot(&self, shard: usize, cell: usize) -> &AtomicU64 {
        &self.lines[shard * self.lines_per_shard + cell / PER_LINE].0[cell % PER_LINE]
    }

    fn add(&self, shard: usize, cell: usize, v: u64) {
        self.slot(shard, cell).fetch_add(v, Relaxed);
    }

    /// Adds to a slot that holds an `f64`'s bits. Only collisions of threads on one shard
    /// make the exchange retry.
    fn add_f64(&self, shard: usize, cell: usize, v: f64) {
        let slot = self.slot(shard, cell);
        let _ = slot.fetch_update(Relaxed, Relaxed, |old| {
            Some((f64::from_bits(old) + v).to_bits())
        });
    }

    fn sum(&self, cell: usize) -> u64 {
        (0..*SHARDS).map(|s| self.slot(s, cell).load(Relaxed)).sum()
    }

    fn sum_f64(&self, cell: usize) -> f64 {
        (0..*SHARDS)
            .map(|s| f64::from_bits(self.slot(s, cell).load(Relaxed)))
            .sum()
    }
}

/// A monotonic counter (the prometheus crate's `IntCounter`, sharded).
#[derive(Clone)]
pub struct Counter(Arc<Cells>);

impl Counter {
    fn new() -> Self {
        Self(Arc::new(Cells::new(1)))
    }

    pub fn inc(&self) {
        self.0.add(shard(), 0, 1);
    }

    pub fn inc_by(&self, v: u64) {
        self.0.add(shard(), 0, v);
    }

    /// The count over every shard.
    pub fn get(&self) -> u64 {
        self.0.sum(0)
    }

    fn proto(&self) -> proto::Metric {
        let mut counter = proto::Counter::default();
        // Counts stay far below 2^53, where an f64 holds every integer (prometheus's own
        // counters convert the same way).
        counter.set_value(self.get() as f64);
        let mut m = proto::Metric::default();
        m.set_counter(counter);
        m
    }
}

/// A histogram with fixed buckets (the prometheus crate's `Histogram`, sharded): a slot per
/// bucket, one for observations above the last bound, one for the sum.
#[derive(Clone)]
pub struct Histogram {
    cells: Arc<Cells>,
    bounds: Arc<[f64]>,
}

impl Histogram {
    fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            cells: Arc::new(Cells::new(bounds.len() + 2)),
            bounds,
        }
    }

    pub fn observe(&self, v: f64) {
        // Bounds are inclusive upper limits, as prometheus's are.
        let bucket = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        let shard = shard();
        self.cells.add(shard, bucket, 1);
        self.cells.add_f64(shard, self.bounds.len() + 1, v);
    }

    /// The number of observations over every shard.
    pub fn get_sample_count(&self) -> u64 {
        (0..=self.bounds.len()).map(|b| self.cells.sum(b)).sum()
    }

    /// The sum of the observations over every shard.
    pub fn get_sample_sum(&self) -> f64 {
        self.cells.sum_f64(self.bounds.len() + 1)
    }

    fn proto(&self) -> proto::Metric {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .enumerate()
            .map(|(i, bound)| {
                cumulative += self.cells.sum(i);
                let mut b = proto::Bucket::default();
                b.set_cumulative_count(cumulative);
                b.set_upper_bound(*bound);
                b
            })
            .collect();
        let mut h = proto::Histogram::default();
        // The count is the buckets' own total, so a scrape never shows more in the buckets
        // than in the count while workers write.
        h.set_sample_count(cumulative + self.cells.sum(self.bounds.len()));
        h.set_sample_sum(self.get_sample_sum());
        h.set_bucket(buckets);
        let mut m = proto::Metric::default();
        m.set_histogram(h);
        m
    }
}

/// What a family holds per label set.
pub trait Series: Clone + Send + Sync + 'static {
    const TYPE: MetricType;
    fn proto(&self) -> proto::Metric;
}

impl Series for Counter {
    const TYPE: MetricType = MetricType::COUNTER;
    fn proto(&self) -> proto::Metric {
        Counter::proto(self)
    }
}

impl Series for Histogram {
    const TYPE: MetricType = MetricType::HISTOGRAM;
    fn proto(&self) -> proto::Metric {
        Histogram::proto(self)
    }
}

struct FamilyInner<S> {
    desc: Desc,
    /// The buckets' upper bounds (histograms only).
    bounds: Arc<[f64]>,
    series: Mutex<HashMap<Vec<String>, S>>,
}

/// A metric family of sharded series by label values (the prometheus crate's `*Vec`).
pub struct Family<S>(Arc<FamilyInner<S>>);

impl<S> Clone for Family<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

pub type CounterVec = Family<Counter>;
pub type HistogramVec = Family<Histogram>;

impl<S: Series> Family<S> {
    fn with_desc(desc: Desc, bounds: Arc<[f64]>) -> Self {
        register(Self(Arc::new(FamilyInner {
            desc,
            bounds,
            series: Mutex::new(HashMap::new()),
        })))
    }

    /// The series of these label values (in the family's label order), created at first use;
    /// every handle to one label set counts into the same series.
    fn series<V: AsRef<str>>(&self, values: &[V], make: impl FnOnce() -> S) -> S {
        let key: Vec<String> = values.iter().map(|v| v.as_ref().to_string()).collect();
        // A panic while holding the lock leaves the map whole (one insert), so keep using it.
        let mut series = self.0.series.lock().unwrap_or_else(PoisonError::into_inner);
        series.entry(key).or_insert_with(make).clone()
    }
}

impl CounterVec {
    /// Registered in the default registry; `labels` are the variable label names.
    pub fn new(opts: Opts, labels: &[&str]) -> Self {
        let name = opts.name.clone();
        let desc = opts
            .variable_labels(labels.iter().map(|l| l.to_string()).collect())
            .describe()
            .unwrap_or_else(|e| unreachable_metric(&name, e));
        Self::with_desc(desc, Arc::new([]))
    }

    pub fn with_label_values<V: AsRef<str>>(&self, values: &[V]) -> Counter {
        self.series(values, Counter::new)
    }
}

impl HistogramVec {
    /// Registered in the default registry; `labels` are the variable label names.
    pub fn new(opts: HistogramOpts, labels: &[&str]) -> Self {
        let name = opts.common_opts.name.clone();
        let bounds: Arc<[f64]> = opts.buckets.clone().into();
        let desc = opts
            .variable_labels(labels.iter().map(|l| l.to_string()).collect())
            .describe()
            .unwrap_or_else(|e| unreachable_metric(&name, e));
        Self::with_desc(desc, bounds)
    }

    pub fn with_label_values<V: AsRef<str>>(&self, values: &[V]) -> Histogram {
        self.series(values, || Histogram::new(self.0.bounds.clone()))
    }
}

impl<S: Series> Collector for Family<S> {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.0.series.lock().unwrap_or_else(PoisonError::into_inner);
        let metrics = series
            .iter()
            .map(|(values, s)| {
                let mut m = s.proto();
                m.set_label(label_pairs(&self.0.desc, values));
                m
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(self.0.desc.fq_name.clone());
        family.set_help(self.0.desc.help.clone());
        family.set_field_type(S::TYPE);
        family.set_metric(metrics);
        vec![family]
    }
}

/// The label pairs of a series, sorted by name as the prometheus crate sorts its own.
fn label_pairs(desc: &Desc, values: &[String]) -> Vec<LabelPair> {
    let mut pairs: Vec<LabelPair> = desc
        .variable_labels
        .iter()
        .zip(values)
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name(name.clone());
            pair.set_value(value.clone());
            pair
        })
        .chain(desc.const_label_pairs.iter().cloned())
        .collect();
    pairs.sort();
    pairs
}

#[cfg(test)]
#[path = "tests/sharded.rs"]
mod tests;
