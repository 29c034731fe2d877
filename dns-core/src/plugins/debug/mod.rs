//! `debug`: in CoreDNS, stops recovering from panics and logs each query's messages in hex.
//! Accepted here with a start-up note: Signpost always recovers from a plugin's panic (one
//! SERVFAIL, counted in `coredns_panics_total`, and logged), and `RUST_LOG=debug` is the verbose
//! log; queries are logged by `log`.

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};

const PLUGIN: &str = "debug";

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        crate::plugin::setup::bare(PLUGIN, d)?;
        setup.note(
            &d.location,
            "accepted, no effect: Signpost always recovers from a panic (SERVFAIL, coredns_panics_total, logged); for verbose logs set RUST_LOG=debug",
        );
    }
    Ok(())
}
