//! `errors [{ consolidate DURATION REGEXP [LEVEL] }]`: logs queries that ended in SERVFAIL
//! because a plugin failed.

use std::time::Duration;

use std::sync::Arc;

use hickory_proto::op::Message;

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "errors";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consolidate {
    pub period: Duration,
    pub pattern: String,
    pub level: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorsConfig {
    pub consolidate: Vec<Consolidate>,
    pub stacktrace: bool,
}

pub fn parse(directive: &Directive) -> Result<ErrorsConfig, SetupError> {
    let err = |loc, msg: &str| SetupError::new(PLUGIN, loc, msg);
    if !directive.args.is_empty() {
        return Err(err(&directive.location, "errors takes no arguments"));
    }
    let mut config = ErrorsConfig::default();
    for option in &directive.block {
        match option.name.as_str() {
            "stacktrace" => config.stacktrace = true,
            "consolidate" => {
                let (period, pattern, level) = match option.args.as_slice() {
                    [p, r] => (p, r, "error".to_string()),
                    [p, r, l] => (p, r, l.value.clone()),
                    _ => {
                        return Err(err(
                            &option.location,
                            "consolidate needs DURATION REGEXP [LEVEL]",
                        ));
                    }
                };
                if !matches!(level.as_str(), "warning" | "error" | "info" | "debug") {
                    return Err(err(
                        &option.location,
                        "consolidate level must be warning, error, info or debug",
                    ));
                }
                config.consolidate.push(Consolidate {
                    period: duration_arg(PLUGIN, period)?,
                    pattern: pattern.value.clone(),
                    level,
                });
            }
            other => {
                return Err(err(
                    &option.location,
                    &format!("unknown property {other:?}"),
                ));
            }
        }
    }
    Ok(config)
}

/// `errors` as it serves: each error message is either counted by the first `consolidate`
/// pattern it matches (and reported once per period) or printed at once.
pub struct ErrorsPlugin {
    patterns: Vec<Pattern>,
}

struct Pattern {
    regex: regex::Regex,
    text: String,
    period: Duration,
    level: String,
    count: std::sync::atomic::AtomicU64,
}

impl ErrorsPlugin {
    /// Compiles the patterns; a bad regular expression is a setup error at `location`.
    pub fn new(
        config: &ErrorsConfig,
        location: &crate::corefile::Location,
    ) -> Result<Self, SetupError> {
        let patterns = config
            .consolidate
            .iter()
            .map(|c| {
                let regex = regex::Regex::new(&c.pattern).map_err(|e| {
                    SetupError::new(PLUGIN, location, format!("invalid consolidate regexp: {e}"))
                })?;
                Ok(Pattern {
                    regex,
                    text: c.pattern.clone(),
                    period: c.period,
                    level: c.level.clone(),
                    count: std::sync::atomic::AtomicU64::new(0),
                })
            })
            .collect::<Result<_, SetupError>>()?;
        Ok(Self { patterns })
    }

    /// Logs `error`, met answering `qname`/`qtype` with `rcode` (CoreDNS's
    /// `[ERROR] plugin/errors: RCODE NAME TYPE: ERROR`), unless a pattern consolidates it.
    pub fn report(&self, rcode: u16, qname: &str, qtype: &str, error: &str) {
        use std::sync::atomic::Ordering;
        if let Some(p) = self.patterns.iter().find(|p| p.regex.is_match(error)) {
            p.count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        crate::coredns_line!(ERROR, "plugin/errors: {rcode} {qname} {qtype}: {error}");
    }

    /// Reports each pattern's count once per its period, as CoreDNS does:
    /// `[LEVEL] plugin/errors: N errors like 'REGEXP' occurred in last PERIOD`. Runs until the
    /// plugin is dropped (a reload builds a new one).
    pub fn start_consolidating(self: &std::sync::Arc<Self>) {
        for (index, p) in self.patterns.iter().enumerate() {
            let period = p.period.max(Duration::from_millis(10));
            crate::plugin::periodic::every(self, period, move |plugin: &Self| plugin.flush(index));
        }
    }

    /// The count a pattern has gathered since its last report (for tests).
    #[doc(hidden)]
    pub fn pending(&self, index: usize) -> &std::sync::atomic::AtomicU64 {
        &self.patterns[index].count
    }

    fn flush(&self, index: usize) {
        let p = &self.patterns[index];
        let n = p.count.swap(0, std::sync::atomic::Ordering::Relaxed);
        if n > 0 {
            crate::coredns_line!(
                LINE,
                "{}",
                consolidated_line(&p.level, n, &p.text, p.period)
            );
        }
    }
}

impl Plugin for ErrorsPlugin {
    /// Runs the rest of the chain and logs the error it met, if any.
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.run(request).then(move |answered| {
            if let (Some(error), Some(q)) = (&answered.error, request.queries.first()) {
                self.report(
                    u16::from(answered.response.metadata.response_code),
                    &q.name().to_string(),
                    &q.query_type().to_string(),
                    error,
                );
            }
            answered
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let plugin = Arc::new(ErrorsPlugin::new(&parse(d)?, &d.location)?);
        let consolidating = plugin.clone();
        setup.on_startup(Arc::new(move |_| consolidating.start_consolidating()));
        setup.add(plugin);
    }
    Ok(())
}

/// CoreDNS's consolidated report line.
pub fn consolidated_line(level: &str, count: u64, pattern: &str, period: Duration) -> String {
    format!(
        "[{}] plugin/errors: {count} errors like '{pattern}' occurred in last {}",
        level.to_uppercase(),
        go_duration(period)
    )
}

/// A duration as Go's `time.Duration.String` prints whole seconds and up: `30s`, `1m0s`,
/// `1h30m0s`; under a second, milliseconds (`500ms`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let frac = d.subsec_millis();
    let s = if frac > 0 {
        format!("{s}.{frac:03}").trim_end_matches('0').to_string()
    } else {
        s.to_string()
    };
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}
