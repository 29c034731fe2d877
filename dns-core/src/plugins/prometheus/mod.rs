//! `prometheus [ADDRESS]`: CoreDNS's metrics plugin. The blocks that name it have their queries
//! counted (`coredns_dns_*`, recorded by the router once a response is encoded) and the address
//! serves `/metrics`.

use crate::corefile::Directive;
use crate::plugin::build::Endpoint;
use crate::plugin::setup::{BlockSetup, HttpAddr, SetupError, http_addr_args};

const PLUGIN: &str = "prometheus";
/// CoreDNS's default metrics address.
pub const DEFAULT_ADDR: &str = "localhost:9153";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
    pub addr: HttpAddr,
}

pub fn parse(directive: &Directive) -> Result<PrometheusConfig, SetupError> {
    let addr = http_addr_args(PLUGIN, directive, DEFAULT_ADDR)?;
    for option in &directive.block {
        match option.name.as_str() {
            // Go runtime metrics: there is no Go runtime; accepted so CoreDNS Corefiles load.
            "runtime_metrics" if option.args.is_empty() => {}
            "tls" => {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    "tls is not supported yet by Signpost",
                ));
            }
            other => {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    format!("unknown option {other:?}"),
                ));
            }
        }
    }
    Ok(PrometheusConfig { addr })
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d)?;
        for option in d.block.iter().filter(|o| o.name == "runtime_metrics") {
            setup.note(
                &option.location,
                "runtime_metrics: no Go runtime here; the process's own metrics are always exported",
            );
        }
        setup.count_queries();
        setup.serve_http(config.addr, Endpoint::Metrics);
    }
    Ok(())
}
