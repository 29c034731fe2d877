//! `cache [TTL] [ZONES...] { options }` -> [`CacheConfig`]. Every error names the line.

use std::time::Duration;

use hickory_proto::rr::Name;

use super::policy::{
    Bounds, DEFAULT_CAPACITY, DEFAULT_SERVFAIL, MAX_DENIAL_TTL, MAX_TTL, MIN_TTL, Prefetch,
};
use crate::corefile::{Arg, Directive};
use crate::plugin::setup::{
    BlockSetup, SetupError, args_exact, duration_arg, unknown_property, zone_arg,
};

const PLUGIN: &str = "cache";

/// One of the two caches (`success`, `denial`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSection {
    /// Requested capacity (see [`super::policy::effective_capacity`]).
    pub capacity: u64,
    pub bounds: Bounds,
}

/// `serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] | verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeStale {
    pub up_to: Duration,
    /// `verify`: ask the next plugin first and serve the stale entry only if that fails.
    pub verify: bool,
    /// How long `verify` waits for the next plugin before serving the stale entry (the
    /// question then goes on in the background); zero: as long as the next plugin takes.
    pub verify_timeout: Duration,
    /// The TTL of stale answers (default 0).
    pub response_ttl: u32,
    /// After a failed refresh, how long the entry is served stale without asking again; while
    /// a refresh runs, other queries get the stale entry too (zero: ask every time, the default).
    pub failure_recheck: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    pub zones: Vec<Name>,
    pub success: CacheSection,
    pub denial: CacheSection,
    pub servfail: Duration,
    pub prefetch: Option<Prefetch>,
    pub serve_stale: Option<ServeStale>,
    /// `disable success ZONES`: names under these are not stored in the success cache.
    pub disable_success: Vec<Name>,
    pub disable_denial: Vec<Name>,
    pub keepttl: bool,
    /// `serve_stale_policy prefer_positive`: with `serve_stale`, a stale answer is served over
    /// a denial or server error, and a verify that brings no answer keeps it.
    pub prefer_positive: bool,
}

impl CacheConfig {
    /// CoreDNS's defaults for a cache of `zones`.
    pub fn new(zones: Vec<Name>) -> Self {
        Self {
            zones,
            success: CacheSection {
                capacity: DEFAULT_CAPACITY,
                bounds: Bounds {
                    max: MAX_TTL,
                    min: MIN_TTL,
                },
            },
            denial: CacheSection {
                capacity: DEFAULT_CAPACITY,
                bounds: Bounds {
                    max: MAX_DENIAL_TTL,
                    min: MIN_TTL,
                },
            },
            servfail: DEFAULT_SERVFAIL,
            prefetch: None,
            serve_stale: None,
            disable_success: Vec::new(),
            disable_denial: Vec::new(),
            keepttl: false,
            prefer_positive: false,
        }
    }

    /// The `zones` label of the cache metrics: the zones joined by commas, as CoreDNS writes it.
    pub fn zones_label(&self) -> String {
        self.zones
            .iter()
            .map(|z| z.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn err(location: &crate::corefile::Location, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, location, message)
}

/// A whole number as Go's `strconv.Atoi` reads it.
fn int(arg: &Arg, what: &str) -> Result<i64, SetupError> {
    arg.value.parse::<i64>().map_err(|_| {
        err(
            &arg.location,
            format!("{what} must be an integer, not {:?}", arg.value),
        )
    })
}

/// A maximum TTL: a positive number of seconds.
fn max_ttl(arg: &Arg) -> Result<u32, SetupError> {
    let n = int(arg, "TTL")?;
    if n <= 0 {
        return Err(err(
            &arg.location,
            format!("cache TTL can not be zero or negative: {n}"),
        ));
    }
    u32::try_from(n).map_err(|_| err(&arg.location, format!("cache TTL {n} is too large")))
}

/// `success|denial CAPACITY [TTL [MINTTL]]`.
fn section(option: &Directive, section: &mut CacheSection) -> Result<(), SetupError> {
    let args = &option.args;
    if args.is_empty() || args.len() > 3 {
        return Err(err(
            &option.location,
            format!("{} needs CAPACITY [TTL [MINTTL]]", option.name),
        ));
    }
    let capacity = int(&args[0], "capacity")?;
    section.capacity = u64::try_from(capacity).map_err(|_| {
        err(
            &args[0].location,
            format!("capacity can not be negative: {capacity}"),
        )
    })?;
    if let Some(ttl) = args.get(1) {
        section.bounds.max = max_ttl(ttl)?;
    }
    if let Some(min) = args.get(2) {
        let n = int(min, "minimum TTL")?;
        section.bounds.min = u32::try_from(n).map_err(|_| {
            err(
                &min.location,
                format!("cache min TTL can not be negative: {n}"),
            )
        })?;
    }
    Ok(())
}

fn prefetch(option: &Directive) -> Result<Prefetch, SetupError> {
    let args = &option.args;
    if args.is_empty() || args.len() > 3 {
        return Err(err(
            &option.location,
            "prefetch needs AMOUNT [[DURATION] [PERCENTAGE%]]",
        ));
    }
    let amount = int(&args[0], "prefetch amount")?;
    let amount = u32::try_from(amount).map_err(|_| {
        err(
            &args[0].location,
            format!("prefetch amount should be positive: {amount}"),
        )
    })?;
    let window = match args.get(1) {
        Some(d) => duration_arg(PLUGIN, d)?,
        None => Duration::from_secs(60),
    };
    let percentage = match args.get(2) {
        Some(p) => {
            let Some(number) = p.value.strip_suffix('%') else {
                return Err(err(
                    &p.location,
                    format!("percentage must end in '%', not {:?}", p.value),
                ));
            };
            match number.parse::<u8>() {
                Ok(n) if (10..=90).contains(&n) => n,
                _ => {
                    return Err(err(
                        &p.location,
                        format!("percentage should fall in range [10, 90]: {:?}", p.value),
                    ));
                }
            }
        }
        None => 10,
    };
    Ok(Prefetch {
        amount,
        window,
        percentage,
    })
}

fn serve_stale(option: &Directive) -> Result<ServeStale, SetupError> {
    let args = &option.args;
    if let Some(extra) = args.get(5) {
        return Err(err(
            &extra.location,
            "serve_stale takes at most 5 arguments",
        ));
    }
    let up_to = match args.first() {
        Some(d) => duration_arg(PLUGIN, d)?,
        None => Duration::from_secs(3600),
    };
    let verify = match args.get(1) {
        None => false,
        Some(mode) => match mode.value.to_ascii_lowercase().as_str() {
            "immediate" => false,
            "verify" => true,
            other => {
                return Err(err(
                    &mode.location,
                    format!("invalid value for serve_stale refresh mode: {other}"),
                ));
            }
        },
    };
    let mut stale = ServeStale {
        up_to,
        verify,
        verify_timeout: Duration::ZERO,
        response_ttl: 0,
        failure_recheck: Duration::ZERO,
    };
    // immediate: RESPONSE_TTL FAILURE_RECHECK; verify: VERIFY_TIMEOUT RESPONSE_TTL FAILURE_RECHECK.
    let mut rest = args.get(2..).unwrap_or_default();
    if verify && let Some((timeout, tail)) = rest.split_first() {
        stale.verify_timeout = duration_arg(PLUGIN, timeout).map_err(|_| {
            err(
                &timeout.location,
                format!("invalid serve_stale verify timeout: {:?}", timeout.value),
            )
        })?;
        rest = tail;
    } else if !verify && rest.len() > 2 {
        return Err(err(
            &rest[2].location,
            "serve_stale immediate takes at most RESPONSE_TTL and FAILURE_RECHECK",
        ));
    }
    if let Some((ttl, tail)) = rest.split_first() {
        stale.response_ttl = response_ttl(ttl)?;
        rest = tail;
    }
    if let Some(recheck) = rest.first() {
        let d = duration_arg(PLUGIN, recheck).map_err(|_| {
            err(
                &recheck.location,
                format!("invalid serve_stale failure recheck: {:?}", recheck.value),
            )
        })?;
        if d > Duration::from_secs(300) {
            return Err(err(
                &recheck.location,
                "serve_stale failure recheck cannot exceed 5 minutes",
            ));
        }
        stale.failure_recheck = d;
    }
    Ok(stale)
}

/// RESPONSE_TTL: a duration of whole seconds that fits a DNS TTL.
fn response_ttl(arg: &Arg) -> Result<u32, SetupError> {
    let d = duration_arg(PLUGIN, arg).map_err(|_| {
        err(
            &arg.location,
            format!("invalid serve_stale response TTL: {:?}", arg.value),
        )
    })?;
    if d.subsec_nanos() != 0 {
        return Err(err(
            &arg.location,
            "serve_stale response TTL must be a whole number of seconds",
        ));
    }
    u32::try_from(d.as_secs()).map_err(|_| {
        err(
            &arg.location,
            "serve_stale response TTL exceeds the DNS TTL range",
        )
    })
}

/// Parses the directive; `block_zones` are the server block's zones, the default when the
/// directive names none.
pub fn parse(directive: &Directive, block_zones: &[Name]) -> Result<CacheConfig, SetupError> {
    let mut args = directive.args.as_slice();
    let mut ttl = None;
    if let Some(first) = args.first()
        && first.value.parse::<i64>().is_ok()
    {
        ttl = Some(max_ttl(first)?);
        args = &args[1..];
    }
    let zones = if args.is_empty() {
        block_zones.iter().map(Name::to_lowercase).collect()
    } else {
        args.iter()
            .map(|a| zone_arg(PLUGIN, a))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut config = CacheConfig::new(zones);
    if let Some(ttl) = ttl {
        config.success.bounds.max = ttl;
        config.denial.bounds.max = ttl;
    }
    for option in &directive.block {
        match option.name.as_str() {
            "success" => section(option, &mut config.success)?,
            "denial" => section(option, &mut config.denial)?,
            "prefetch" => config.prefetch = Some(prefetch(option)?).filter(|p| p.amount > 0),
            "serve_stale" => config.serve_stale = Some(serve_stale(option)?),
            "servfail" => {
                let d = duration_arg(PLUGIN, &args_exact(PLUGIN, option, 1)?[0])?;
                if d > Duration::from_secs(300) {
                    return Err(err(
                        &option.args[0].location,
                        "caching SERVFAIL responses over 5 minutes is not permitted",
                    ));
                }
                config.servfail = d;
            }
            "disable" => {
                let Some((which, zone_args)) = option.args.split_first() else {
                    return Err(err(
                        &option.location,
                        "disable needs success|denial [ZONES...]",
                    ));
                };
                let zones = if zone_args.is_empty() {
                    vec![Name::root()]
                } else {
                    zone_args
                        .iter()
                        .map(|a| zone_arg(PLUGIN, a))
                        .collect::<Result<Vec<_>, _>>()?
                };
                match which.value.as_str() {
                    "success" => config.disable_success = zones,
                    "denial" => config.disable_denial = zones,
                    other => {
                        return Err(err(
                            &which.location,
                            format!(
                                "cache type for disable must be \"success\" or \"denial\", not {other:?}"
                            ),
                        ));
                    }
                }
            }
            "keepttl" => {
                args_exact(PLUGIN, option, 0)?;
                config.keepttl = true;
            }
            "serve_stale_policy" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                if a.value != "prefer_positive" {
                    return Err(err(
                        &a.location,
                        format!(
                            "invalid serve_stale_policy {:?}: prefer_positive is the one policy",
                            a.value
                        ),
                    ));
                }
                config.prefer_positive = true;
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    Ok(config)
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d, setup.zones)?;
        setup.add(super::CachePlugin::new(config, setup.server));
    }
    Ok(())
}
