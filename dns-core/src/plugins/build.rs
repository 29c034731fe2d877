//! A parsed Corefile -> the routers that serve it, one per listening address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::cluster::SnapshotStore;
use crate::corefile::{Corefile, CorefileError, check_plugins};
use crate::plugins::chain::{PluginChain, Resolver, Router, ServerBlock};
use crate::plugins::setup::SetupError;
use crate::plugins::{errors, kubernetes, log};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Corefile(#[from] CorefileError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{location}: zone {zone} on port {port} is already served by another server block")]
    DuplicateZone {
        location: crate::corefile::Location,
        zone: String,
        port: u16,
    },
    #[error("{location}: plugin {plugin:?} appears twice in one server block")]
    DuplicatePlugin {
        location: crate::corefile::Location,
        plugin: String,
    },
}

/// What the plugins need from the process.
pub struct Dependencies {
    pub store: Arc<SnapshotStore>,
    /// This server's own addresses (e.g. the pod IP): `ns.dns.<zone>` answers with them.
    pub local_ips: Vec<IpAddr>,
    /// The address listeners bind (all interfaces by default, as CoreDNS does).
    pub listen_ip: IpAddr,
}

impl Dependencies {
    pub fn new(store: Arc<SnapshotStore>) -> Self {
        Self {
            store,
            local_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            listen_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// Builds one router per port; blocks sharing a port share its listener, as in CoreDNS.
pub fn build(corefile: &Corefile, deps: &Dependencies) -> Result<Vec<Router>, BuildError> {
    check_plugins(corefile)?;
    let mut by_port: BTreeMap<u16, Vec<ServerBlock>> = BTreeMap::new();
    let mut seen: BTreeMap<(u16, String), ()> = BTreeMap::new();
    for block in &corefile.blocks {
        let mut ports: BTreeMap<u16, Vec<hickory_proto::rr::Name>> = BTreeMap::new();
        for key in &block.keys {
            if seen.insert((key.port, key.zone.to_string()), ()).is_some() {
                return Err(BuildError::DuplicateZone {
                    location: block.location.clone(),
                    zone: key.zone.to_string(),
                    port: key.port,
                });
            }
            ports.entry(key.port).or_default().push(key.zone.clone());
        }
        for (port, zones) in ports {
            let chain = Arc::new(build_chain(block, &zones, deps)?);
            by_port
                .entry(port)
                .or_default()
                .push(ServerBlock { zones, chain });
        }
    }
    Ok(by_port
        .into_iter()
        .map(|(port, blocks)| Router::new(SocketAddr::new(deps.listen_ip, port), blocks))
        .collect())
}

fn build_chain(
    block: &crate::corefile::ServerBlock,
    zones: &[hickory_proto::rr::Name],
    deps: &Dependencies,
) -> Result<PluginChain, BuildError> {
    let mut chain = PluginChain {
        resolvers: Vec::new(),
        log: None,
        errors: None,
    };
    let mut names = std::collections::BTreeSet::new();
    for d in &block.directives {
        // log may repeat (several rules); the rest appear once per block.
        if d.name != "log" && !names.insert(d.name.clone()) {
            return Err(BuildError::DuplicatePlugin {
                location: d.location.clone(),
                plugin: d.name.clone(),
            });
        }
        match d.name.as_str() {
            "kubernetes" => {
                let config = kubernetes::parse(d, zones)?;
                let plugin = kubernetes::KubernetesPlugin::new(
                    config,
                    deps.store.clone(),
                    deps.local_ips.clone(),
                );
                chain.resolvers.push(Resolver::Kubernetes(plugin));
            }
            "log" => {
                let parsed = log::parse(d)?;
                match &mut chain.log {
                    Some(existing) => existing.rules.extend(parsed.rules),
                    None => chain.log = Some(parsed),
                }
            }
            "errors" => chain.errors = Some(errors::parse(d)?),
            // check_plugins let only supported plugins through.
            _ => {}
        }
    }
    Ok(chain)
}
