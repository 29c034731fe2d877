//! What a bound costs when it is reached: one counter per limit
//! (`signpost_limit_reached_total{limit}`) and a warning, at most one line per limit every
//! [`LOG_EVERY`] so that a flood which keeps a limit reached cannot flood the log too. The
//! binaries count their own limits (the watch applier's queue, the snapshot file's size) here
//! as well, so an operator has one family to alert on.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, Opts};
use tracing::warn;

use crate::plugin::metrics::vars::{register, unreachable_metric};

/// A bound Signpost keeps (docs/operations.md lists them with their defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Concurrent TCP connections of one DNS listener; more wait in the kernel's accept queue.
    TcpConnections,
    /// Queries on one TCP connection; the connection is closed after the last one.
    TcpQueriesPerConnection,
    /// Updates waiting for the watch applier; the watchers wait while it is full.
    ApplierQueue,
    /// The size of the snapshot file; a larger file is not read.
    SnapshotFileSize,
    /// The process's open files (`RLIMIT_NOFILE`); an accept that fails for it waits.
    OpenFiles,
}

const LIMITS: [Limit; 5] = [
    Limit::TcpConnections,
    Limit::TcpQueriesPerConnection,
    Limit::ApplierQueue,
    Limit::SnapshotFileSize,
    Limit::OpenFiles,
];

impl Limit {
    /// The `limit` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::TcpConnections => "tcp_connections",
            Limit::TcpQueriesPerConnection => "tcp_queries_per_connection",
            Limit::ApplierQueue => "applier_queue",
            Limit::SnapshotFileSize => "snapshot_file_size",
            Limit::OpenFiles => "open_files",
        }
    }

    fn index(self) -> usize {
        LIMITS.iter().position(|l| *l == self).unwrap_or(0)
    }
}

/// The least time between two log lines about one limit.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

static REACHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "signpost_limit_reached_total",
        "Times a bound was reached (the log says which, at most every 10 s per limit).",
    );
    register(
        IntCounterVec::new(opts, &["limit"])
            .unwrap_or_else(|e| unreachable_metric("limit_reached", e)),
    )
});

/// When each limit last logged, in milliseconds since [`EPOCH`] (0: never).
static LOGGED_MS: [AtomicU64; LIMITS.len()] = [const { AtomicU64::new(0) }; LIMITS.len()];
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Counts that `limit` was reached and logs `what` (with the limit's value and what happens
/// now) unless this limit logged within [`LOG_EVERY`].
pub fn reached(limit: Limit, what: std::fmt::Arguments<'_>) {
    let total = REACHED.with_label_values(&[limit.as_str()]);
    total.inc();
    // +1 so that the first hit, at 0 ms, differs from "never".
    let now_ms = EPOCH.elapsed().as_millis() as u64 + 1;
    let slot = &LOGGED_MS[limit.index()];
    let last = slot.load(Ordering::Relaxed);
    if should_log(last, now_ms)
        && slot
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn!(
            limit = limit.as_str(),
            reached_total = total.get(),
            "{what}"
        );
    }
}

/// How many times `limit` was reached in this process.
pub fn count(limit: Limit) -> u64 {
    REACHED.with_label_values(&[limit.as_str()]).get()
}

/// Whether a limit that last logged at `last_ms` (0: never) logs again at `now_ms`.
pub fn should_log(last_ms: u64, now_ms: u64) -> bool {
    last_ms == 0 || now_ms.saturating_sub(last_ms) >= LOG_EVERY.as_millis() as u64
}

/// Raises the soft open-files limit to the hard one, as the Go runtime (1.19+) does for
/// CoreDNS: a shell's default soft limit (often 1,024) is below what the TCP listeners allow
/// open at once. Returns the soft limit now in force, or the error if the limit cannot be
/// read or raised (the process keeps the limit it had).
pub fn raise_open_files_limit() -> Result<u64, nix::Error> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(soft.max(hard))
}
