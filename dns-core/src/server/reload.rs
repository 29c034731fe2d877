//! The reload loop (`reload` plugin): re-reads the Corefile every period; on a change, builds
//! and serves the new one, or keeps the old one, says why in CoreDNS's words and counts
//! `coredns_reload_failed_total`. SIGUSR1 rebuilds at once, with or without `reload`, as it
//! restarts CoreDNS (imported files are read again too). What is compared is the Corefile as
//! parsed, imports expanded, as CoreDNS 1.7+ does: an edit of an imported file alone (a k3s or
//! AKS `coredns-custom` override) reloads.

use std::sync::LazyLock;

use prometheus::{IntCounter, IntGaugeVec, Opts};
use tokio::sync::watch;

use super::corefile::{Loaded, ServeError};
use super::listeners::Listeners;
use super::stop_signal;
use crate::plugin::build::ReloadPolicy;
use crate::plugin::metrics::vars::{register, unreachable_metric};

/// Checks the Corefile every period of `policy` (when the Corefile has `reload`) and on
/// SIGUSR1, until the stop; a changed file (any file, on SIGUSR1) is built and served by
/// `listeners`. Then waits for the listeners to finish.
pub(crate) async fn run(
    mut loaded: Loaded,
    mut policy: Option<ReloadPolicy>,
    mut listeners: Listeners,
    stop: watch::Receiver<bool>,
) {
    let mut running = parsed_hash(&loaded.path).unwrap_or_default();
    if policy.is_some() {
        crate::coredns_line!(
            INFO,
            "plugin/reload: Running configuration SHA512 = {running}"
        );
        set_version(None, &running);
    }
    let mut usr1 =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    let stopped = stop_signal(stop);
    tokio::pin!(stopped);
    loop {
        let period = policy.map(|p| p.period(fastrand::u64(..)));
        let signalled = tokio::select! {
            _ = sleep_or_never(period) => false,
            Some(()) = recv_or_never(&mut usr1) => true,
            _ = &mut stopped => break,
        };
        // An unreadable file (mid-rewrite, say) is tried again next time, as CoreDNS does;
        // one that does not parse is reported and tried again too.
        let path = loaded.path.clone();
        let new = match tokio::task::spawn_blocking(move || parsed_hash(&path)).await {
            Ok(Ok(hex)) => hex,
            Ok(Err(crate::corefile::CorefileError::Read { .. })) | Err(_) => continue,
            Ok(Err(e)) if !signalled => {
                crate::coredns_line!(WARNING, "plugin/reload: Corefile parse failed: {e}");
                continue;
            }
            // SIGUSR1 asks for a rebuild whatever the file holds: the build says what is wrong.
            Ok(Err(_)) => running.clone(),
        };
        if new == running && !signalled {
            continue;
        }
        // A broken file is not retried until it changes again.
        set_version(Some(&running), &new);
        running = new;
        crate::coredns_line!(INFO, "Reloading");
        match rebuild(&mut loaded, &mut listeners) {
            Ok(next) => {
                crate::coredns_line!(
                    INFO,
                    "plugin/reload: Running configuration SHA512 = {running}"
                );
                crate::coredns_line!(INFO, "Reloading complete");
                policy = next;
            }
            Err(e) => {
                crate::coredns_line!(
                    ERROR,
                    "plugin/reload: Corefile changed but reload failed: {e}"
                );
                FAILED.inc();
            }
        }
    }
    listeners.wait().await;
}

async fn sleep_or_never(period: Option<std::time::Duration>) {
    match period {
        Some(period) => tokio::time::sleep(period).await,
        None => std::future::pending().await,
    }
}

async fn recv_or_never(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

/// Builds the Corefile again and serves it; the new reload policy, if any.
fn rebuild(
    loaded: &mut Loaded,
    listeners: &mut Listeners,
) -> Result<Option<ReloadPolicy>, ServeError> {
    let built = loaded.build()?;
    listeners.apply(built.routers)?;
    Ok(built.reload)
}

/// SHA-512 of the Corefile at `path` as parsed, imports expanded, in hex: the file's own
/// bytes and those of every file it imports, as far as they reach the configuration.
fn parsed_hash(path: &std::path::Path) -> Result<String, crate::corefile::CorefileError> {
    let corefile = crate::corefile::load(path)?;
    Ok(hash(format!("{corefile:?}").as_bytes()))
}

/// SHA-512 of `content`, in hex.
pub fn hash(content: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, content);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `coredns_reload_failed_total`: Corefile changes that could not be served.
pub static FAILED: LazyLock<IntCounter> = LazyLock::new(|| {
    let opts = Opts::new(
        "failed_total",
        "Counter of the number of failed reload attempts.",
    )
    .namespace("coredns")
    .subsystem("reload");
    register(IntCounter::with_opts(opts).unwrap_or_else(|e| unreachable_metric("reload", e)))
});

/// `coredns_reload_version_info{hash, value}`: 1 for the running configuration's hash.
pub static VERSION_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "version_info",
        "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
    )
    .namespace("coredns")
    .subsystem("reload");
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
