//! `hosts [FILE [ZONES...]] { [INLINE...] ttl SECONDS; no_reverse; reload DURATION;
//! fallthrough [ZONES...] }`: answers A, AAAA and PTR from a hosts file and inline entries.
//! Setup and the query side here, the table in [`table`]; the file is re-read by a task the
//! plugin's owner starts ([`HostsPlugin::watch`]).

pub mod table;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;
use prometheus::{Gauge, IntGauge, Opts};

use crate::corefile::Directive;
use crate::plugin::fallthrough::{self, Fallthrough};
use crate::plugin::metrics::vars::{register, unreachable_metric};
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg, zones_or_block};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;
pub use table::{HostsTable, Lookup, lookup};

const PLUGIN: &str = "hosts";

#[derive(Clone, Debug, PartialEq)]
pub struct HostsConfig {
    pub path: PathBuf,
    /// Names outside these zones are neither read nor answered (PTR aside).
    pub origins: Vec<Name>,
    pub inline: HostsTable,
    pub ttl: u32,
    pub reverse: bool,
    /// How often the file is checked; zero: read once.
    pub reload: Duration,
    pub fallthrough: Fallthrough,
}

pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<HostsConfig, SetupError> {
    let mut args = d.args.iter();
    let path = args
        .next()
        .map_or_else(|| PathBuf::from("/etc/hosts"), |a| PathBuf::from(&a.value));
    let origins = zones_or_block(PLUGIN, args, block_zones)?;
    let mut config = HostsConfig {
        path,
        origins,
        inline: HostsTable::default(),
        ttl: 3600,
        reverse: true,
        reload: Duration::from_secs(5),
        fallthrough: Fallthrough::none(),
    };
    let mut inline = String::new();
    for option in &d.block {
        match option.name.as_str() {
            "fallthrough" => config.fallthrough = fallthrough::parse_option(PLUGIN, option)?,
            "no_reverse" => config.reverse = false,
            "ttl" => {
                let Some(arg) = option.args.first() else {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "ttl needs a time in second",
                    ));
                };
                let ttl: i64 = arg.value.parse().map_err(|_| {
                    SetupError::new(PLUGIN, &arg.location, "ttl needs a number of second")
                })?;
                config.ttl = u32::try_from(ttl)
                    .ok()
                    .filter(|t| (1..=65535).contains(t))
                    .ok_or_else(|| {
                        SetupError::new(PLUGIN, &arg.location, "ttl provided is invalid")
                    })?;
            }
            "reload" => {
                let [arg] = option.args.as_slice() else {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "reload needs a duration (zero seconds to disable)",
                    ));
                };
                config.reload = duration_arg(PLUGIN, arg).map_err(|_| {
                    SetupError::new(
                        PLUGIN,
                        &arg.location,
                        format!("invalid duration for reload '{}'", arg.value),
                    )
                })?;
            }
            // Anything else is a hosts line (`ADDRESS NAME...`), as CoreDNS reads it.
            _ => {
                inline.push_str(&option.name);
                for a in &option.args {
                    inline.push(' ');
                    inline.push_str(&a.value);
                }
                inline.push('\n');
            }
        }
    }
    config.inline = HostsTable::parse(&inline, &config.origins, config.reverse);
    Ok(config)
}

/// The hosts file as last read, and what it looked like then.
struct HostsFile {
    path: PathBuf,
    origins: Vec<Name>,
    reverse: bool,
    inline_len: usize,
    table: ArcSwap<HostsTable>,
    /// Modification time and size at the last read: unchanged means not re-read.
    seen: Mutex<Option<(SystemTime, u64)>>,
}

impl HostsFile {
    /// Re-reads the file if its modification time or size changed. A file that cannot be
    /// read keeps the last table (CoreDNS warns once, at start).
    fn refresh(&self) {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        let Ok(mtime) = meta.modified() else { return };
        let stamp = (mtime, meta.len());
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == Some(stamp) {
            return;
        }
        let Ok(bytes) = crate::plugin::file::read_capped(&self.path, table::MAX_FILE_BYTES as u64)
        else {
            return;
        };
        let table = HostsTable::parse(
            &String::from_utf8_lossy(&bytes),
            &self.origins,
            self.reverse,
        );
        tracing::debug!(entries = table.len(), path = %self.path.display(), "parsed hosts file");
        ENTRIES.set(i64::try_from(table.len() + self.inline_len).unwrap_or(i64::MAX));
        RELOAD_TIMESTAMP.set(
            mtime
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        self.table.store(Arc::new(table));
        *seen = Some(stamp);
    }
}

pub struct HostsPlugin {
    config: HostsConfig,
    file: Arc<HostsFile>,
}

impl HostsPlugin {
    /// Reads the file once (a missing one is warned about and served as empty).
    pub fn new(config: HostsConfig) -> Self {
        match std::fs::metadata(&config.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::coredns_line!(
                    WARNING,
                    "plugin/hosts: File does not exist: {}",
                    config.path.display()
                );
            }
            Ok(meta) if meta.is_dir() => crate::coredns_line!(
                WARNING,
                "plugin/hosts: Hosts file {:?} is a directory",
                config.path.display().to_string()
            ),
            _ => {}
        }
        let file = Arc::new(HostsFile {
            path: config.path.clone(),
            origins: config.origins.clone(),
            reverse: config.reverse,
            inline_len: config.inline.len(),
            table: ArcSwap::from_pointee(HostsTable::default()),
            seen: Mutex::new(None),
        });
        ENTRIES.set(i64::try_from(config.inline.len()).unwrap_or(i64::MAX));
        file.refresh();
        Self { config, file }
    }

    /// Checks the file every `reload` until the plugin is dropped (a reloaded Corefile built
    /// a new one). Needs a tokio runtime; without one (or with `reload 0`) nothing runs.
    pub fn watch(&self) {
        crate::plugin::periodic::every(&self.file, self.config.reload, HostsFile::refresh);
    }

    /// The response, or `None` to hand the query on.
    pub fn resolve(&self, request: &Message) -> Option<Message> {
        let query = request.queries.first()?;
        let file = self.file.table.load();
        let found = lookup(
            [&file, &self.config.inline],
            &self.config.origins,
            query.name(),
            query.query_type(),
            self.config.ttl,
        );
        match found {
            Lookup::Pass => None,
            Lookup::NoName if self.config.fallthrough.through(query.name()) => None,
            // No SOA to deny with: CoreDNS answers SERVFAIL.
            Lookup::NoName => Some(reply_to(request, ResponseCode::ServFail)),
            Lookup::Answer(answers) => {
                let mut response = reply_to(request, ResponseCode::NoError);
                response.metadata.authoritative = true;
                response.answers = answers;
                Some(response)
            }
        }
    }
}

impl Plugin for HostsPlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.answer_or_run(request, self.resolve(request))
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let plugin = HostsPlugin::new(parse(d, setup.zones)?);
        plugin.watch();
        setup.add(plugin);
    }
    Ok(())
}

/// `coredns_hosts_entries{}`: entries in the hosts file and inline.
pub static ENTRIES: LazyLock<IntGauge> = LazyLock::new(|| {
    let opts = Opts::new(
        "entries",
        "The combined number of entries in hosts and Corefile.",
    )
    .namespace("coredns")
    .subsystem(PLUGIN);
    register(IntGauge::with_opts(opts).unwrap_or_else(|e| unreachable_metric("hosts", e)))
});

/// `coredns_hosts_reload_timestamp_seconds{}`: the modification time of the file last read.
pub static RELOAD_TIMESTAMP: LazyLock<Gauge> = LazyLock::new(|| {
    let opts = Opts::new(
        "reload_timestamp_seconds",
        "The timestamp of the last reload of hosts file.",
    )
    .namespace("coredns")
    .subsystem(PLUGIN);
    register(Gauge::with_opts(opts).unwrap_or_else(|e| unreachable_metric("hosts", e)))
});
