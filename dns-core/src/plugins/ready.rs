//! `ready [ADDRESS] [{ monitor until-ready|continuously }]`: `GET /ready` -> 200 `OK` once every
//! plugin that reports readiness is ready, else 503 and their names, as CoreDNS's ready plugin.
//! Readiness is the union over every server block that has `ready`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cluster::SnapshotStore;
use crate::corefile::Directive;
use crate::plugins::setup::{HttpAddr, SetupError, args_exact, http_addr_args, unknown_property};

const PLUGIN: &str = "ready";
/// CoreDNS's default ready address.
pub const DEFAULT_ADDR: &str = ":8181";

/// How long a plugin is asked once it said it is ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// Once ready, never asked again (CoreDNS's default).
    #[default]
    UntilReady,
    /// Asked on every request; a plugin can go back to not ready.
    Continuously,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyConfig {
    pub addr: HttpAddr,
    pub monitor: Monitor,
}

pub fn parse(directive: &Directive) -> Result<ReadyConfig, SetupError> {
    let addr = http_addr_args(PLUGIN, directive, DEFAULT_ADDR)?;
    let mut monitor = Monitor::default();
    for option in &directive.block {
        match option.name.as_str() {
            "monitor" => {
                let arg = &args_exact(PLUGIN, option, 1)?[0];
                monitor = match arg.value.as_str() {
                    "until-ready" => Monitor::UntilReady,
                    "continuously" => Monitor::Continuously,
                    other => {
                        return Err(SetupError::new(
                            PLUGIN,
                            &arg.location,
                            format!(
                                "monitor type {other:?} not supported (until-ready or continuously)"
                            ),
                        ));
                    }
                };
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    Ok(ReadyConfig { addr, monitor })
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
