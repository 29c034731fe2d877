//! `prometheus [ADDRESS]`: CoreDNS's metrics plugin. The blocks that name it have their queries
//! counted (`coredns_dns_*`, recorded by the router once a response is encoded) and the address
//! serves `/metrics`, over HTTPS with `tls` (the web configuration file, in `tls.rs`).

pub mod tls;

use crate::corefile::Directive;
use crate::plugin::build::Endpoint;
use crate::plugin::setup::{BlockSetup, HttpAddr, SetupError, args_exact, http_addr_args};

const PLUGIN: &str = "prometheus";
/// CoreDNS's default metrics address.
pub const DEFAULT_ADDR: &str = "localhost:9153";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrometheusConfig {
    pub addr: HttpAddr,
    /// `tls WEB_CONFIG`: the exporter-toolkit web configuration file.
    pub tls: Option<std::path::PathBuf>,
}

pub fn parse(directive: &Directive) -> Result<PrometheusConfig, SetupError> {
    let addr = http_addr_args(PLUGIN, directive, DEFAULT_ADDR)?;
    let mut tls = None;
    for option in &directive.block {
        match option.name.as_str() {
            // Go runtime metrics: there is no Go runtime; accepted so CoreDNS Corefiles load.
            "runtime_metrics" if option.args.is_empty() => {}
            "tls" => {
                if tls.is_some() {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "tls block already specified",
                    ));
                }
                let file = &args_exact(PLUGIN, option, 1)?[0];
                tls = Some(std::path::PathBuf::from(&file.value));
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
    Ok(PrometheusConfig { addr, tls })
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
        if let Some(path) = &config.tls {
            let location = d
                .block
                .iter()
                .find(|o| o.name == "tls")
                .map_or(&d.location, |o| &o.location);
            let server = tls::load(path)
                .map_err(|e| SetupError::new(PLUGIN, location, format!("tls: {e}")))?;
            if let Some(server) = server {
                setup.serve_https(config.addr.clone(), server);
            }
        }
        setup.serve_http(config.addr, Endpoint::Metrics);
    }
    Ok(())
}
