//! `k8s_external [ZONE...] { apex APEX; ttl TTL; headless; fallthrough [ZONE...] }`: services'
//! external IPs and load balancer ingress IPs under an external zone, from the data of the
//! block's `kubernetes` plugin (its namespaces and endpoint naming apply), as CoreDNS's
//! k8s_external. The records are `cluster::records::external_answer`.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};

use crate::cluster::SnapshotStore;
use crate::cluster::records::{ExternalOptions, RecordOptions, external_answer};
use crate::corefile::Directive;
use crate::plugin::fallthrough::{self, Fallthrough};
use crate::plugin::setup::{BlockSetup, SetupError, unknown_property, zones_or_block};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "k8s_external";

#[derive(Clone, Debug, PartialEq)]
pub struct ExternalConfig {
    pub records: ExternalOptions,
    pub fallthrough: Fallthrough,
}

fn err(location: &crate::corefile::Location, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, location, message)
}

pub fn parse(
    d: &Directive,
    block_zones: &[hickory_proto::rr::Name],
) -> Result<ExternalConfig, SetupError> {
    let zones = zones_or_block(PLUGIN, &d.args, block_zones)?;
    let mut config = ExternalConfig {
        records: ExternalOptions {
            zones,
            ..ExternalOptions::default()
        },
        fallthrough: Fallthrough::none(),
    };
    for option in &d.block {
        match option.name.as_str() {
            "apex" => {
                let [apex] = option.args.as_slice() else {
                    return Err(err(&option.location, "apex needs exactly one label"));
                };
                let label = apex.value.trim_end_matches('.').to_ascii_lowercase();
                if label.is_empty() || label.contains('.') {
                    return Err(err(
                        &apex.location,
                        format!("apex must be one label, not {:?}", apex.value),
                    ));
                }
                config.records.apex = label;
            }
            "ttl" => {
                let [ttl] = option.args.as_slice() else {
                    return Err(err(&option.location, "ttl needs exactly one number"));
                };
                config.records.ttl = ttl
                    .value
                    .parse::<u32>()
                    .ok()
                    .filter(|t| *t <= 3600)
                    .ok_or_else(|| {
                        err(
                            &ttl.location,
                            format!("ttl must be an integer from 0 to 3600, not {:?}", ttl.value),
                        )
                    })?;
            }
            "headless" => {
                if let Some(extra) = option.args.first() {
                    return Err(err(&extra.location, "headless takes no arguments"));
                }
                config.records.headless = true;
            }
            "fallthrough" => config.fallthrough = fallthrough::parse_option(PLUGIN, option)?,
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    Ok(config)
}

pub struct K8sExternal {
    config: ExternalConfig,
    /// The block's kubernetes options: which namespaces are exposed, how endpoints are named.
    kubernetes: RecordOptions,
    store: Arc<SnapshotStore>,
    local_ips: Vec<IpAddr>,
}

impl K8sExternal {
    /// The response, or `None` to hand the query on (not our zone, or a name error that
    /// `fallthrough` covers).
    pub fn resolve(&self, request: &Message) -> Option<Message> {
        let query = request.queries.first()?;
        let snapshot = self.store.load();
        let ns_addrs = || super::kubernetes::ns_addrs(&snapshot, &self.local_ips);
        let answer = external_answer(
            &snapshot,
            &self.kubernetes,
            &self.config.records,
            query,
            &ns_addrs,
        )?;
        if answer.rcode == ResponseCode::NXDomain && self.config.fallthrough.through(query.name()) {
            return None;
        }
        Some(answer.into_response(request))
    }
}

impl Plugin for K8sExternal {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.answer_or_run(request, self.resolve(request))
    }
}

/// Needs the block's `kubernetes` plugin, whose data it answers from (as in CoreDNS).
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let config = parse(d, setup.zones)?;
        let kubernetes = super::kubernetes::block_records(setup, d, "needs")?;
        setup.add(K8sExternal {
            config,
            kubernetes,
            store: setup.deps.store.clone(),
            local_ips: setup.deps.local_ips.clone(),
        });
    }
    Ok(())
}
