//! The `kubernetes` plugin: answers the cluster zones from the cluster snapshot.
//!
//! `setup` turns Corefile tokens into [`KubernetesConfig`] and owns every error message;
//! record synthesis itself is the pure `crate::cluster::records`.

mod handler;
mod memo;
pub mod metadata;
mod setup;

pub use handler::{KubernetesPlugin, ns_addrs, setup};
pub use setup::parse;

use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::cluster::records::RecordOptions;
use crate::cluster::selector::Selector;
use crate::plugin::fallthrough::Fallthrough;

/// Everything the `kubernetes` directive configures.
#[derive(Clone, Debug, PartialEq)]
pub struct KubernetesConfig {
    /// What record synthesis needs (zones, ttl, pods mode, namespaces, ...).
    pub records: RecordOptions,
    /// `endpoint URL`: the API server, instead of in-cluster config.
    pub endpoint: Option<String>,
    /// `tls CERT KEY CACERT`.
    pub tls: Option<TlsFiles>,
    /// `kubeconfig KUBECONFIG [CONTEXT]`.
    pub kubeconfig: Option<(PathBuf, Option<String>)>,
    /// `labels EXPRESSION`: label selector for Services and EndpointSlices (the API applies it).
    pub labels: Option<Selector>,
    /// `fallthrough [ZONES...]`.
    pub fallthrough: Fallthrough,
    /// `startup_timeout DURATION` (CoreDNS default 5s).
    pub startup_timeout: Duration,
    /// `apiserver_qps`, `apiserver_burst`, `apiserver_max_inflight` (client-side limits).
    pub apiserver_qps: Option<f64>,
    pub apiserver_burst: Option<u32>,
    pub apiserver_max_inflight: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// Every `kubernetes` directive in the Corefile, parsed against its server block's zones: what
/// the process needs to know before serving (which API to watch, which kinds).
pub fn configs(
    corefile: &crate::corefile::Corefile,
) -> Result<Vec<KubernetesConfig>, crate::plugin::setup::SetupError> {
    let mut configs = Vec::new();
    for block in &corefile.blocks {
        let zones: Vec<Name> = block.keys.iter().map(|k| k.zone.clone()).collect();
        for directive in block.directives.iter().filter(|d| d.name == "kubernetes") {
            configs.push(parse(directive, &zones)?);
        }
    }
    Ok(configs)
}

/// The record options of the `kubernetes` plugin of the block being set up, for a plugin that
/// answers from its data (`autopath @kubernetes`, `k8s_external`); `needs` says what asked, in
/// the error when the block has none.
pub fn block_records(
    setup: &crate::plugin::setup::BlockSetup<'_>,
    asking: &crate::corefile::Directive,
    needs: &str,
) -> Result<RecordOptions, crate::plugin::setup::SetupError> {
    let Some(kubernetes) = setup
        .block
        .directives
        .iter()
        .find(|k| k.name == "kubernetes")
    else {
        return Err(crate::plugin::setup::SetupError::new(
            &asking.name,
            &asking.location,
            format!("{needs} a kubernetes plugin in the same server block"),
        ));
    };
    Ok(parse(kubernetes, setup.zones)?.records)
}
