//! `reload [INTERVAL] [JITTER]`: the process re-reads its Corefile every interval (± half the
//! jitter, drawn once per configuration as CoreDNS does) and serves the new one when its
//! content changed. Setup and metrics here; the loop that swaps the routers lives at the edge
//! (cluster-dns), the swap itself in [`crate::server::swap`].

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{IntCounter, IntGaugeVec, Opts};

use crate::corefile::{Corefile, Directive};
use crate::plugins::metrics::vars::{register, unreachable_metric};
use crate::plugins::setup::{SetupError, duration_arg};

const PLUGIN: &str = "reload";

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(15);
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
pub const MIN_JITTER: Duration = Duration::from_secs(1);

/// What `reload` asked for: check every `interval`; the jitter is at most half the interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadConfig {
    pub interval: Duration,
    pub jitter: Duration,
}

impl ReloadConfig {
    /// The period actually used: `interval + offset` with `offset` in `[-jitter/2, jitter/2)`,
    /// chosen once from `random` (any u64), so replicas started together spread their checks.
    pub fn period(&self, random: u64) -> Duration {
        let jitter = self.jitter.as_nanos().max(1);
        let offset = u128::from(random) % jitter;
        let total = self.interval.as_nanos() + offset;
        let period = total.saturating_sub(jitter / 2);
        Duration::from_nanos(u64::try_from(period).unwrap_or(u64::MAX))
    }
}

pub fn parse(d: &Directive) -> Result<ReloadConfig, SetupError> {
    if let Some(extra) = d.args.get(2) {
        return Err(SetupError::new(
            PLUGIN,
            &extra.location,
            "reload takes at most an interval and a jitter",
        ));
    }
    if let Some(option) = d.block.first() {
        return Err(SetupError::new(
            PLUGIN,
            &option.location,
            "reload takes no block",
        ));
    }
    let interval = match d.args.first() {
        Some(a) => {
            let interval = duration_arg(PLUGIN, a)?;
            if interval < MIN_INTERVAL {
                return Err(SetupError::new(
                    PLUGIN,
                    &a.location,
                    "interval value must be greater or equal to 2s",
                ));
            }
            interval
        }
        None => DEFAULT_INTERVAL,
    };
    let jitter = match d.args.get(1) {
        Some(a) => {
            let jitter = duration_arg(PLUGIN, a)?;
            if jitter < MIN_JITTER {
                return Err(SetupError::new(
                    PLUGIN,
                    &a.location,
                    "jitter value must be greater or equal to 1s",
                ));
            }
            jitter
        }
        None => DEFAULT_JITTER,
    };
    Ok(ReloadConfig {
        interval,
        jitter: jitter.min(interval / 2),
    })
}

/// The process's reload setting: the last `reload` of the Corefile (CoreDNS keeps one for the
/// process, whichever block names it), or `None` when no block has it.
pub fn config(corefile: &Corefile) -> Result<Option<ReloadConfig>, SetupError> {
    let mut found = None;
    for block in &corefile.blocks {
        for d in block.directives.iter().filter(|d| d.name == PLUGIN) {
            found = Some(parse(d)?);
        }
    }
    Ok(found)
}

/// `coredns_reload_failed_total`: Corefile changes that could not be served.
pub static FAILED: LazyLock<IntCounter> = LazyLock::new(|| {
    let opts = Opts::new(
        "failed_total",
        "Counter of the number of failed reload attempts.",
    )
    .namespace("coredns")
    .subsystem(PLUGIN);
    register(IntCounter::with_opts(opts).unwrap_or_else(|e| unreachable_metric("reload", e)))
});

/// `coredns_reload_version_info{hash, value}`: 1 for the running configuration's hash.
pub static VERSION_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "version_info",
        "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
    )
    .namespace("coredns")
    .subsystem(PLUGIN);
    register(
        IntGaugeVec::new(opts, &["hash", "value"])
            .unwrap_or_else(|e| unreachable_metric("reload", e)),
    )
});

/// Exports `coredns_reload_version_info` for `hex` (the SHA-512 of the Corefile), replacing
/// the one of `previous`.
pub fn set_version(previous: Option<&str>, hex: &str) {
    if let Some(previous) = previous {
        let _ = VERSION_INFO.remove_label_values(&["sha512", previous]);
    }
    VERSION_INFO.with_label_values(&["sha512", hex]).set(1);
    LazyLock::force(&FAILED);
}
