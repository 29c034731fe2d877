//! `trace [ENDPOINT-TYPE] [ENDPOINT] { ... }`: in CoreDNS, sends OpenTracing spans to Zipkin or
//! Datadog. Accepted here with a start-up note: no spans are sent; the `log` plugin and the
//! `coredns_dns_request_duration_seconds` histogram show each query's path and time.

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};

const PLUGIN: &str = "trace";

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        if let [kind, ..] = d.args.as_slice()
            && d.args.len() > 1
            && !matches!(kind.value.as_str(), "zipkin" | "datadog")
        {
            return Err(SetupError::new(
                PLUGIN,
                &kind.location,
                format!("unknown endpoint type {:?} (zipkin or datadog)", kind.value),
            ));
        }
        setup.note(
            &d.location,
            "accepted, no spans sent: there is no trace exporter here; the log plugin and coredns_dns_request_duration_seconds show each query's path and time",
        );
    }
    Ok(())
}
