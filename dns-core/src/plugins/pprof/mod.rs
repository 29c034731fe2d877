//! `pprof [ADDRESS] { block [RATE] }`: in CoreDNS, serves Go's runtime profiles over HTTP.
//! There is no Go runtime here: accepted with a start-up note naming the equivalent (`perf
//! record -g -p PID` for CPU, `/proc/PID/status` and `coredns_*` metrics for memory); nothing
//! listens on ADDRESS.

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, HttpAddr, SetupError, unknown_property};

const PLUGIN: &str = "pprof";

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        match d.args.as_slice() {
            [] => {}
            [addr] => {
                HttpAddr::parse(&addr.value).map_err(|e| {
                    SetupError::new(
                        PLUGIN,
                        &addr.location,
                        format!("invalid address {:?}: {e}", addr.value),
                    )
                })?;
            }
            [_, extra, ..] => {
                return Err(SetupError::new(
                    PLUGIN,
                    &extra.location,
                    "pprof takes at most one address",
                ));
            }
        }
        for option in &d.block {
            if option.name != "block" {
                return Err(unknown_property(PLUGIN, option));
            }
        }
        setup.note(
            &d.location,
            "accepted, nothing served: there is no Go runtime to profile; use `perf record -g -p PID` for CPU and /proc/PID/status with the process metrics for memory",
        );
    }
    Ok(())
}
