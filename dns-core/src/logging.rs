//! The one logging setup of both binaries. Every line goes through `tracing`: CoreDNS-format
//! lines (`[INFO] plugin/reload: ...`, the `log` and `errors` plugins' lines) are events of
//! target [`COREDNS`] written verbatim to stdout, where CoreDNS prints them and where
//! operators' log pipelines expect them; everything else goes to stderr in tracing's format,
//! at `info` (less kube-client's per-request errors, see [`DEFAULT_FILTER`]) or as `RUST_LOG`
//! says, with colour only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::format::{FmtSpan, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The target of CoreDNS-format lines.
pub const COREDNS: &str = "coredns";

/// The filter when `RUST_LOG` is unset. kube-client's HTTP trace layer logs every failed API
/// request at ERROR: during an API outage a line every two seconds per request, each saying
/// less than the watch's own warning (kind, what happens next, when) and the
/// `signpost_kubernetes_*` metrics already do. `RUST_LOG` brings them back.
const DEFAULT_FILTER: &str = "info,kube_client::client::builder=off";

/// A CoreDNS-format line: `coredns_line!(INFO, "plugin/reload: ...")` prints
/// `[INFO] plugin/reload: ...` on stdout. Levels: INFO, WARNING, ERROR, FATAL;
/// `LINE` writes a line that already has its level.
#[macro_export]
macro_rules! coredns_line {
    (INFO, $($arg:tt)+) => {
        ::tracing::event!(target: "coredns", ::tracing::Level::INFO, "[INFO] {}", format_args!($($arg)+))
    };
    (WARNING, $($arg:tt)+) => {
        ::tracing::event!(target: "coredns", ::tracing::Level::WARN, "[WARNING] {}", format_args!($($arg)+))
    };
    (ERROR, $($arg:tt)+) => {
        ::tracing::event!(target: "coredns", ::tracing::Level::ERROR, "[ERROR] {}", format_args!($($arg)+))
    };
    // A whole line already in CoreDNS's format (the errors plugin's consolidated reports).
    (LINE, $($arg:tt)+) => {
        ::tracing::event!(target: "coredns", ::tracing::Level::INFO, $($arg)+)
    };
    (FATAL, $($arg:tt)+) => {
        ::tracing::event!(target: "coredns", ::tracing::Level::ERROR, "[FATAL] {}", format_args!($($arg)+))
    };
}

/// Installs the process's subscriber; a second call does nothing.
pub fn init() {
    let coredns = tracing_subscriber::fmt::layer()
        .event_format(Verbatim)
        .with_writer(std::io::stdout)
        .with_filter(filter_fn(|meta| meta.target() == COREDNS));
    let rest = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::NONE)
        .with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
        )
        .with_filter(filter_fn(|meta| meta.target() != COREDNS));
    let _ = tracing_subscriber::registry()
        .with(coredns)
        .with(rest)
        .try_init();
}

/// Writes an event's message alone, as CoreDNS prints its lines.
struct Verbatim;

impl<S, N> FormatEvent<S, N> for Verbatim
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
