//! `file DBFILE [ZONES...] { reload DURATION; reload_by_mtime; fallthrough [ZONES...] }`:
//! serves zones from an RFC 1035 master file, as CoreDNS's file plugin does. Setup and the
//! query side here; the text in [`zonefile`], the answers in [`zone`] (both pure). The file is
//! read again every `reload` and served anew only when its SOA serial changed; a file that no
//! longer parses keeps the zone as it was.

pub mod zone;
pub mod zonefile;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use prometheus::{IntCounterVec, IntGaugeVec, Opts};

use crate::corefile::Directive;
use crate::plugin::fallthrough::{self, Fallthrough};
use crate::plugin::metrics::vars::{register, unreachable_metric};
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg, zones_or_block};
use crate::plugin::transfer::{Transferer, Transfers};
use crate::plugin::upstream::Upstream;
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;
pub use zone::{Found, Outcome, Zone, ZoneError};
pub use zonefile::ZoneFileError;

const PLUGIN: &str = "file";

/// Longest zone file (bytes, each `$INCLUDE` apart) read; more is ignored, so a path such as
/// /dev/zero cannot take the memory.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct FileConfig {
    pub path: PathBuf,
    /// The zones read from the file (the block's when none are given), lowercase.
    pub origins: Vec<Name>,
    /// How often the file is read again; zero: never.
    pub reload: Duration,
    /// Reload when the file's modification time moved on, whatever its serial says.
    pub reload_by_mtime: bool,
    pub fallthrough: Fallthrough,
}

pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<FileConfig, SetupError> {
    let Some((path, origins)) = d.args.split_first() else {
        return Err(SetupError::new(
            PLUGIN,
            &d.location,
            "file needs a zone file: file DBFILE [ZONES...]",
        ));
    };
    let origins = zones_or_block(PLUGIN, origins, block_zones)?;
    let mut config = FileConfig {
        path: PathBuf::from(&path.value),
        origins,
        reload: Duration::from_secs(60),
        reload_by_mtime: false,
        fallthrough: Fallthrough::none(),
    };
    for option in &d.block {
        match option.name.as_str() {
            "fallthrough" => config.fallthrough = fallthrough::parse_option(PLUGIN, option)?,
            "reload" => {
                let [arg] = option.args.as_slice() else {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "reload duration value is expected",
                    ));
                };
                config.reload = duration_arg(PLUGIN, arg)?;
            }
            "reload_by_mtime" => config.reload_by_mtime = true,
            // Deprecated in CoreDNS and ignored there too.
            "upstream" => {}
            _ => return Err(crate::plugin::setup::unknown_property(PLUGIN, option)),
        }
    }
    Ok(config)
}

/// Why a zone could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {reason}")]
    Read { path: String, reason: String },
    #[error(transparent)]
    Syntax(#[from] ZoneFileError),
    #[error("{path}: {source}")]
    Zone { path: String, source: ZoneError },
}

fn read_text(path: &Path) -> Result<String, String> {
    crate::plugin::file::read_capped(path, MAX_FILE_BYTES)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .map_err(|e| e.to_string())
}

/// The zone at `origin` from the file at `path` (and what it includes).
pub fn load(path: &Path, origin: &Name) -> Result<Zone, LoadError> {
    let text = read_text(path).map_err(|reason| LoadError::Read {
        path: path.display().to_string(),
        reason,
    })?;
    let records = zonefile::parse(&text, path, origin, &read_text)?;
    Zone::new(origin, records).map_err(|source| LoadError::Zone {
        path: path.display().to_string(),
        source,
    })
}

/// One zone of a file as it serves: nothing until the file was first read.
struct Served {
    origin: Name,
    zone: ArcSwapOption<Zone>,
}

/// The zones of one `file` line, and what their file looked like when last read.
pub struct FileZones {
    path: PathBuf,
    zones: Vec<Served>,
    by_mtime: bool,
    mtime: Mutex<Option<SystemTime>>,
    /// The block's transfers, told of each zone served anew (NOTIFY), when it has `transfer`.
    transfers: Option<Arc<Transfers>>,
}

impl FileZones {
    /// Reads every zone of `config` once. A file that does not parse is an error; one that
    /// cannot be opened is too when it will not be read again (`reload 0`), else it is warned
    /// about and its zones answer SERVFAIL until it can be read, as in CoreDNS.
    pub fn load(config: &FileConfig) -> Result<Self, LoadError> {
        let zones = Self {
            path: config.path.clone(),
            zones: config
                .origins
                .iter()
                .map(|origin| Served {
                    origin: origin.to_lowercase(),
                    zone: ArcSwapOption::empty(),
                })
                .collect(),
            by_mtime: config.reload_by_mtime,
            mtime: Mutex::new(modified(&config.path)),
            transfers: None,
        };
        for served in &zones.zones {
            match load(&config.path, &served.origin) {
                Ok(zone) => zones.publish(served, zone),
                Err(e @ LoadError::Read { .. }) if !config.reload.is_zero() => {
                    crate::coredns_line!(
                        WARNING,
                        "plugin/file: Failed to open {:?}: trying again in {:?}",
                        e.to_string(),
                        config.reload
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(zones)
    }

    fn publish(&self, served: &Served, zone: Zone) {
        SERIAL
            .with_label_values(&[&served.origin.to_string()])
            .set(i64::from(zone.serial()));
        served.zone.store(Some(Arc::new(zone)));
    }

    /// The zone serving `qname` (the longest origin containing it), if any.
    fn zone_for(&self, qname: &Name) -> Option<&Served> {
        self.zones
            .iter()
            .filter(|s| s.origin.zone_of(qname))
            .max_by_key(|s| s.origin.iter().count())
    }

    /// The zones' origins.
    pub fn origins(&self) -> impl Iterator<Item = &Name> {
        self.zones.iter().map(|s| &s.origin)
    }

    /// The zone at exactly `origin` as it serves now.
    pub fn zone(&self, origin: &Name) -> Option<Arc<Zone>> {
        self.zones
            .iter()
            .find(|s| s.origin == *origin)
            .and_then(|s| s.zone.load_full())
    }

    /// Reads the file again and serves each zone whose SOA serial changed (or, with
    /// `reload_by_mtime`, each zone when the file's modification time moved on). A file that
    /// cannot be read or does not parse leaves the zones as they were, logged and counted.
    /// Returns the origins served anew.
    pub fn refresh(&self) -> Vec<Name> {
        if self.by_mtime {
            let now = modified(&self.path);
            let mut seen = self.mtime.lock().unwrap_or_else(|p| p.into_inner());
            if now.is_none() || now <= *seen {
                return Vec::new();
            }
            *seen = now;
        }
        let mut changed = Vec::new();
        for served in &self.zones {
            let zone = match load(&self.path, &served.origin) {
                Ok(zone) => zone,
                Err(e) => {
                    crate::coredns_line!(
                        ERROR,
                        "plugin/file: Parsing zone {:?}: {e}",
                        served.origin.to_string()
                    );
                    RELOAD_FAILED
                        .with_label_values(&[&served.origin.to_string()])
                        .inc();
                    continue;
                }
            };
            let before = served.zone.load_full().map(|z| z.serial());
            if !self.by_mtime && before == Some(zone.serial()) {
                continue;
            }
            crate::coredns_line!(
                INFO,
                "plugin/file: Successfully reloaded zone {:?} in {:?} with {} SOA serial",
                served.origin.to_string(),
                self.path.display().to_string(),
                zone.serial()
            );
            self.publish(served, zone);
            changed.push(served.origin.clone());
        }
        changed
    }

    /// [`FileZones::refresh`], then the block's `transfer` is told which zones changed.
    fn refresh_and_notify(&self) {
        let changed = self.refresh();
        if let Some(transfers) = &self.transfers {
            for origin in &changed {
                transfers.changed(origin);
            }
        }
    }
}

impl Transferer for FileZones {
    fn transfer(&self, zone: &Name) -> Option<Vec<Record>> {
        self.zone(&zone.to_lowercase()).map(|z| z.transfer())
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

pub struct FilePlugin {
    zones: Arc<FileZones>,
    fallthrough: Fallthrough,
    upstream: Arc<Upstream>,
}

impl FilePlugin {
    pub fn zones(&self) -> &Arc<FileZones> {
        &self.zones
    }

    /// `found` as a response to `request`, or the rest of the chain under `fallthrough`.
    fn respond<'a>(
        &self,
        request: &'a Message,
        next: Next<'a>,
        qname: &Name,
        found: Found,
    ) -> Serving<'a> {
        if found.answers.is_empty()
            && matches!(found.outcome, Outcome::NameError | Outcome::Success)
            && self.fallthrough.through(qname)
        {
            return next.run(request);
        }
        if found.outcome == Outcome::ServerFailure && found.answers.is_empty() {
            return Serving::ready(next.answered_here(reply_to(request, ResponseCode::ServFail)));
        }
        let mut response = reply_to(request, ResponseCode::NoError);
        response.metadata.authoritative = true;
        match found.outcome {
            Outcome::NameError => response.metadata.response_code = ResponseCode::NXDomain,
            // A referral is not authoritative; an alias in the answer still is.
            Outcome::Delegation => response.metadata.authoritative = !found.answers.is_empty(),
            // The CNAME is ours, its target's failure is not: both go out (RFC 6604 §3).
            Outcome::ServerFailure => response.metadata.response_code = ResponseCode::ServFail,
            Outcome::Success | Outcome::NoData => {}
        }
        response.answers = found.answers;
        response.authorities = found.authority;
        response.additionals = found.additional;
        Serving::ready(next.answered_here(response))
    }
}

/// What the server's answer to a CNAME's target makes of the whole answer (CoreDNS's
/// `doLookup`).
fn outcome_of(reply: &Message) -> Outcome {
    match reply.metadata.response_code {
        ResponseCode::NXDomain => Outcome::NameError,
        ResponseCode::ServFail => Outcome::ServerFailure,
        ResponseCode::NoError if reply.answers.is_empty() => Outcome::NoData,
        _ => Outcome::Success,
    }
}

impl Plugin for FilePlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let Some(query) = request.queries.first() else {
            return next.run(request);
        };
        let qname = query.name().to_lowercase();
        let Some(served) = self.zones.zone_for(&qname) else {
            return next.run(request);
        };
        let qtype = query.query_type();
        // Transfers are the transfer plugin's, before this one in the chain.
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Serving::ready(next.answered_here(reply_to(request, ResponseCode::Refused)));
        }
        let Some(zone) = served.zone.load_full() else {
            return Serving::ready(next.answered_here(reply_to(request, ResponseCode::ServFail)));
        };
        let found = zone.lookup(&qname, qtype);
        let Some(target) = found.chase.clone() else {
            return self.respond(request, next, &qname, found);
        };
        Serving::pending(async move {
            let reply = self
                .upstream
                .lookup(&target, qtype, next.info)
                .await
                .map(|m| (outcome_of(&m), m.answers));
            let found = zone.chased(found, reply);
            self.respond(request, next, &qname, found).await
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d, setup.zones)?;
        let mut zones = FileZones::load(&config)
            .map_err(|e| SetupError::new(PLUGIN, &d.location, e.to_string()))?;
        let transfers = setup
            .block
            .directives
            .iter()
            .any(|d| d.name == "transfer")
            .then(|| setup.transfers());
        zones.transfers = transfers.clone();
        let zones = Arc::new(zones);
        if let Some(transfers) = transfers {
            let source: Weak<FileZones> = Arc::downgrade(&zones);
            transfers.offer(source);
            // Secondaries hear of every zone once the server is up, as CoreDNS tells them.
            let origins: Vec<Name> = zones.origins().cloned().collect();
            setup.on_startup(Arc::new(move |_| {
                for origin in &origins {
                    transfers.changed(origin);
                }
            }));
        }
        crate::plugin::periodic::every(&zones, config.reload, FileZones::refresh_and_notify);
        let upstream = setup.upstream();
        setup.add(FilePlugin {
            zones,
            fallthrough: config.fallthrough,
            upstream,
        });
    }
    Ok(())
}

/// `signpost_file_zone_serial{zone}`: the SOA serial of the zone being served.
pub static SERIAL: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "signpost_file_zone_serial",
        "The SOA serial of each zone the file plugin serves.",
    );
    register(IntGaugeVec::new(opts, &["zone"]).unwrap_or_else(|e| unreachable_metric(PLUGIN, e)))
});

/// `signpost_file_reload_failed_total{zone}`: reloads whose file could not be read or parsed
/// (the zone kept serving what it had).
pub static RELOAD_FAILED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let opts = Opts::new(
        "signpost_file_reload_failed_total",
        "Zone file reloads that failed; the zone kept serving what it had.",
    );
    register(IntCounterVec::new(opts, &["zone"]).unwrap_or_else(|e| unreachable_metric(PLUGIN, e)))
});
