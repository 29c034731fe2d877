//! The kube-dns ConfigMap (`-kubednscm`, mounted as a directory of files) merged into the
//! Corefile as node-cache merges it (pure): `upstreamNameservers` (a JSON list) replaces the
//! node's resolv.conf as the upstream of `__PILLAR__UPSTREAM__SERVERS__`, over UDP even where
//! the template forced TCP; each `stubDomains` entry (a JSON map of domain to servers) becomes a
//! server block of its own on the local IPs, with `errors`, `cache 30` and `forward`.

use std::collections::BTreeMap;

use super::UPSTREAM_SERVERS;

/// The ConfigMap's keys, one file each in the mounted directory.
pub const STUB_DOMAINS_FILE: &str = "stubDomains";
pub const UPSTREAM_NAMESERVERS_FILE: &str = "upstreamNameservers";
/// node-cache's cache TTL for stub domains.
const STUB_CACHE_TTL: u32 = 30;
/// Where node-cache looks when `-kubednscm` is not given.
pub const DEFAULT_DIR: &str = "/etc/kube-dns";

/// node-cache's TCP upstream block, which custom upstream servers turn into a UDP one.
const UPSTREAM_TCP_BLOCK: &str =
    "\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n";
const UPSTREAM_UDP_BLOCK: &str = "\n    forward . __PILLAR__UPSTREAM__SERVERS__\n";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeDnsConfig {
    /// Sorted by domain, so the Corefile is the same every time.
    pub stub_domains: BTreeMap<String, Vec<String>>,
    pub upstream_nameservers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeDnsError {
    #[error("{file}: not valid JSON of the expected shape: {reason}")]
    Json { file: &'static str, reason: String },
    #[error("invalid nameserver {server:?}{}: an IP address with an optional port, or dns:// or tls:// before one", .domain.as_ref().map(|d| format!(" for the stub domain {d}")).unwrap_or_default())]
    Nameserver {
        server: String,
        domain: Option<String>,
    },
    #[error("invalid stub domain {0:?}")]
    Domain(String),
}

/// The ConfigMap's files as read (`None`: the key is absent).
pub fn parse(
    stub_domains: Option<&str>,
    upstream_nameservers: Option<&str>,
) -> Result<KubeDnsConfig, KubeDnsError> {
    let mut config = KubeDnsConfig::default();
    if let Some(text) = stub_domains.filter(|t| !t.trim().is_empty()) {
        config.stub_domains = serde_json::from_str(text).map_err(|e| KubeDnsError::Json {
            file: STUB_DOMAINS_FILE,
            reason: e.to_string(),
        })?;
    }
    if let Some(text) = upstream_nameservers.filter(|t| !t.trim().is_empty()) {
        config.upstream_nameservers =
            serde_json::from_str(text).map_err(|e| KubeDnsError::Json {
                file: UPSTREAM_NAMESERVERS_FILE,
                reason: e.to_string(),
            })?;
    }
    config.validate()?;
    Ok(config)
}

impl KubeDnsConfig {
    /// node-cache's check: every server is an address `forward` takes over plain DNS or TLS;
    /// every stub domain is a name (it becomes a server block's key).
    fn validate(&self) -> Result<(), KubeDnsError> {
        let server_ok = |s: &str| {
            let (rest, port) = match s.split_once("://") {
                Some(("dns", rest)) => (rest, 53),
                Some(("tls", rest)) => (rest, 853),
                Some(_) => return false,
                None => (s, 53),
            };
            dns_core::plugins::forward::host_port(rest, port).is_some()
        };
        for (domain, servers) in &self.stub_domains {
            let key_ok = !domain.is_empty()
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !key_ok {
                return Err(KubeDnsError::Domain(domain.clone()));
            }
            if let Some(bad) = servers.iter().find(|s| !server_ok(s)) {
                return Err(KubeDnsError::Nameserver {
                    server: bad.clone(),
                    domain: Some(domain.clone()),
                });
            }
        }
        if let Some(bad) = self.upstream_nameservers.iter().find(|s| !server_ok(s)) {
            return Err(KubeDnsError::Nameserver {
                server: bad.clone(),
                domain: None,
            });
        }
        Ok(())
    }

    /// The template with custom upstreams over UDP, and the upstream servers for
    /// `__PILLAR__UPSTREAM__SERVERS__` (`default` when the ConfigMap names none).
    pub fn upstreams(&self, template: &str, default: &str) -> (String, String) {
        if self.upstream_nameservers.is_empty() {
            return (template.to_string(), default.to_string());
        }
        let servers = self.upstream_nameservers.join(" ");
        let template = template.replace(UPSTREAM_TCP_BLOCK, UPSTREAM_UDP_BLOCK);
        debug_assert!(UPSTREAM_UDP_BLOCK.contains(UPSTREAM_SERVERS));
        (template, servers)
    }

    /// A server block per stub domain, listening on `local_ips` (space-separated) at `port`.
    pub fn stub_blocks(&self, local_ips: &str, port: u16) -> String {
        self.stub_domains
            .iter()
            .map(|(domain, servers)| {
                format!(
                    "\n{domain}:{port} {{\n    errors\n    cache {STUB_CACHE_TTL}\n    bind {local_ips}\n    forward . {}\n}}\n",
                    servers.join(" ")
                )
            })
            .collect()
    }
}
