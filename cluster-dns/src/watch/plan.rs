//! The Corefile's `kubernetes` directives -> what to watch and how to reach the API. Pure.
//!
//! Every `kubernetes` block reads one shared cluster snapshot, so the options that decide what
//! the snapshot holds (which API, which labels) must agree between blocks. CoreDNS runs one
//! informer set per block; a deliberate difference documented in docs/plugins.md.

use std::path::PathBuf;
use std::time::Duration;

use dns_core::cluster::records::PodMode;
use dns_core::plugins::kubernetes::{KubernetesConfig, TlsFiles};

/// Where the API server is and how to authenticate, in CoreDNS's order of precedence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiSource {
    /// `kubeconfig PATH [CONTEXT]`.
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    /// `endpoint URL` (with `tls CERT KEY CACERT` when given).
    Endpoint { url: String, tls: Option<TlsFiles> },
    /// Neither: the in-cluster service account, or `$KUBECONFIG` / `~/.kube/config`.
    Infer,
}

pub use dns_core::cluster::Kind;

#[derive(Clone, Debug, PartialEq)]
pub struct WatchPlan {
    pub source: ApiSource,
    /// `labels`: a label selector the API applies to Services and EndpointSlices.
    pub labels: Option<String>,
    /// The kinds to watch: Services, EndpointSlices and Namespaces always, Pods and the MCS
    /// kinds when needed.
    pub kinds: Vec<Kind>,
    /// `startup_timeout`: how long to wait for the first full list before serving anyway.
    pub startup_timeout: Duration,
    /// `apiserver_qps`, `apiserver_burst`, `apiserver_max_inflight`: the smallest any block
    /// gives (one client serves them all).
    pub limits: super::ratelimit::ApiLimits,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "kubernetes blocks disagree on {option}: every kubernetes block shares one cluster cache, so they must name the same {option}"
    )]
    Conflict { option: &'static str },
}

/// The plan for these directives; `None` when the Corefile has no `kubernetes` directive.
pub fn plan(configs: &[KubernetesConfig]) -> Result<Option<WatchPlan>, PlanError> {
    let Some(first) = configs.first() else {
        return Ok(None);
    };
    for other in &configs[1..] {
        if other.kubeconfig != first.kubeconfig
            || other.endpoint != first.endpoint
            || other.tls != first.tls
        {
            return Err(PlanError::Conflict {
                option: "API connection (kubeconfig, endpoint, tls)",
            });
        }
        if other.labels != first.labels {
            return Err(PlanError::Conflict { option: "labels" });
        }
    }
    let source = match (&first.kubeconfig, &first.endpoint) {
        (Some((path, context)), _) => ApiSource::Kubeconfig {
            path: path.clone(),
            context: context.clone(),
        },
        (None, Some(url)) => ApiSource::Endpoint {
            url: url.clone(),
            tls: first.tls.clone(),
        },
        (None, None) => ApiSource::Infer,
    };
    // Namespaces always: a name in a namespace that does not exist is NXDOMAIN (CoreDNS's
    // namespaceExposed), and `namespace_labels` needs their labels. Pods only for `pods
    // verified` (answers only for addresses a pod has; autopath finds the client's pod).
    let mut kinds = vec![Kind::Service, Kind::EndpointSlice, Kind::Namespace];
    if configs.iter().any(|c| c.records.pods == PodMode::Verified) {
        kinds.push(Kind::Pod);
    }
    // ServiceImports and their slices only for `multicluster` zones, as CoreDNS: without the
    // MCS CRDs installed their list would fail for ever.
    if configs
        .iter()
        .any(|c| !c.records.multicluster_zones.is_empty())
    {
        kinds.extend([Kind::ServiceImport, Kind::ImportSlice]);
    }
    Ok(Some(WatchPlan {
        source,
        labels: first.labels.as_ref().map(|s| s.as_str().to_string()),
        kinds,
        startup_timeout: configs
            .iter()
            .map(|c| c.startup_timeout)
            .max()
            .unwrap_or(first.startup_timeout),
        limits: super::ratelimit::ApiLimits {
            qps: configs
                .iter()
                .filter_map(|c| c.apiserver_qps)
                .min_by(f64::total_cmp),
            burst: configs.iter().filter_map(|c| c.apiserver_burst).min(),
            max_inflight: configs
                .iter()
                .filter_map(|c| c.apiserver_max_inflight)
                .min(),
        },
    }))
}
