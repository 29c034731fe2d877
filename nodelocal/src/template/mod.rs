//! node-cache's Corefile template variables -> a Corefile (pure). The node-local-dns ConfigMap
//! that operators run today names these variables; nodelocal fills them from the same sources
//! node-cache does, so that ConfigMap works unchanged.

pub mod kubedns;

use std::net::IpAddr;

/// The listen addresses (`--localip`, space-separated).
pub const LOCAL_DNS: &str = "__PILLAR__LOCAL__DNS__";
/// node-cache empties it: every listen address is already in `__PILLAR__LOCAL__DNS__`.
pub const DNS_SERVER: &str = "__PILLAR__DNS__SERVER__";
/// The ClusterIP of the upstream Service (`--upstreamsvc`), from its service env variable.
pub const CLUSTER_DNS: &str = "__PILLAR__CLUSTER__DNS__";
/// The node's resolvers: `/etc/resolv.conf`, read by the forward plugin.
pub const UPSTREAM_SERVERS: &str = "__PILLAR__UPSTREAM__SERVERS__";
/// The cluster domain (`--dns-domain`); node-local-dns's manifests have it filled in at
/// install time, nodelocal fills it too when it is left.
pub const DNS_DOMAIN: &str = "__PILLAR__DNS__DOMAIN__";

/// What fills the variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateValues {
    pub local_ips: Vec<IpAddr>,
    /// `None` when the upstream Service's env variable is missing or not an IP.
    pub cluster_dns: Option<IpAddr>,
    /// Named in errors when `cluster_dns` is missing.
    pub cluster_dns_env: String,
    pub upstream_servers: String,
    pub dns_domain: String,
}

impl TemplateValues {
    /// The listen addresses space-separated, as `bind` takes them.
    pub fn local_list(&self) -> String {
        self.local_ips
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "the Corefile names {CLUSTER_DNS} but ${env} is not set to an IP address (is the upstream Service created, and --upstreamsvc its name?)"
    )]
    MissingClusterDns { env: String },
    #[error(
        "line {line}: unknown template variable {name} (known: {CLUSTER_DNS}, {LOCAL_DNS}, {DNS_SERVER}, {UPSTREAM_SERVERS}, {DNS_DOMAIN})"
    )]
    UnknownVariable { name: String, line: usize },
}

/// `ENV_NAME` of a Service's ClusterIP, as the kubelet sets it in every pod:
/// `kube-dns-upstream` -> `KUBE_DNS_UPSTREAM_SERVICE_HOST`.
pub fn service_host_env(service: &str) -> String {
    format!("{}_SERVICE_HOST", service.replace('-', "_").to_uppercase())
}

/// Fills every variable of `template`. A variable that cannot be filled, or one node-cache
/// does not know, is an error: a Corefile with a hole in it never reaches the server.
pub fn render(template: &str, values: &TemplateValues) -> Result<String, TemplateError> {
    let local = values.local_list();
    // `health __PILLAR__LOCAL__DNS__:8080` takes one address: the first local IP. node-cache
    // would write every address there, which the health plugin refuses.
    let first_with_port = match values.local_ips.first() {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:"),
        Some(ip) => format!("{ip}:"),
        None => String::new(),
    };
    let mut text = template
        .replace(&format!("{LOCAL_DNS}:"), &first_with_port)
        .replace(LOCAL_DNS, &local)
        .replace(DNS_SERVER, "")
        .replace(UPSTREAM_SERVERS, &values.upstream_servers)
        .replace(DNS_DOMAIN, &values.dns_domain);
    if text.contains(CLUSTER_DNS) {
        let Some(ip) = values.cluster_dns else {
            return Err(TemplateError::MissingClusterDns {
                env: values.cluster_dns_env.clone(),
            });
        };
        text = text.replace(CLUSTER_DNS, &ip.to_string());
    }
    if let Some((line, name)) = leftover_variable(&text) {
        return Err(TemplateError::UnknownVariable { name, line });
    }
    Ok(text)
}

/// The first `__PILLAR__...__` left, with its 1-based line.
fn leftover_variable(text: &str) -> Option<(usize, String)> {
    for (n, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        if let Some(start) = code.find("__PILLAR__") {
            let rest = &code[start..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            return Some((n + 1, rest[..end].to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests;
