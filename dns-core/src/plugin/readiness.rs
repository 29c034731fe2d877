//! Readiness, the contract behind `GET /ready`: plugins that report readiness (the kubernetes
//! plugin, once its cluster state is synced) and the latch of CoreDNS's ready plugin. The
//! `ready` plugin's setup (address, monitor mode) is in `plugins/ready`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cluster::SnapshotStore;

/// How long a plugin is asked once it said it is ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// Once ready, never asked again (CoreDNS's default).
    #[default]
    UntilReady,
    /// Asked on every request; a plugin can go back to not ready.
    Continuously,
}

/// A plugin's readiness signal.
pub enum ReadyCheck {
    /// `kubernetes`: ready once the cluster state is synced (snapshot loaded, or the API
    /// watches listed).
    Synced(Arc<SnapshotStore>),
    /// A fixed answer (tests).
    Fixed(Arc<AtomicBool>),
}

impl ReadyCheck {
    fn ready(&self) -> bool {
        match self {
            ReadyCheck::Synced(store) => store.is_synced(),
            ReadyCheck::Fixed(flag) => flag.load(Ordering::Acquire),
        }
    }
}

struct Entry {
    name: String,
    check: ReadyCheck,
    /// Said ready once; under `until-ready` it is not asked again.
    latched: AtomicBool,
}

/// The plugins that report readiness, by name (one entry per name, as CoreDNS keeps them).
pub struct Readiness {
    entries: Vec<Entry>,
    monitor: Monitor,
}

impl Readiness {
    pub fn new(monitor: Monitor) -> Self {
        Self {
            entries: Vec::new(),
            monitor,
        }
    }

    /// Adds a plugin; a name already present is replaced (CoreDNS keys them by name).
    pub fn add(&mut self, name: &str, check: ReadyCheck) {
        self.entries.retain(|e| e.name != name);
        self.entries.push(Entry {
            name: name.to_string(),
            check,
            latched: AtomicBool::new(false),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `Ok` when every plugin is ready, else the sorted, comma-separated names of those that
    /// are not (the 503 body CoreDNS sends).
    pub fn check(&self) -> Result<(), String> {
        let mut waiting: Vec<&str> = Vec::new();
        for e in &self.entries {
            if self.monitor == Monitor::UntilReady && e.latched.load(Ordering::Acquire) {
                continue;
            }
            if e.check.ready() {
                e.latched.store(true, Ordering::Release);
            } else {
                waiting.push(&e.name);
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        waiting.sort_unstable();
        Err(waiting.join(","))
    }
}
