//! The NOTRACK rule set that makes pod DNS to the local IPs skip conntrack (and so kube-proxy's
//! DNAT), with the filter ACCEPTs node-cache installs. Rendering (`render`, pure) and applying
//! (`nft`, `iptables`: they run the tools) live apart.
//!
//! `ensure` and `remove` run child processes and wait for them: call them from
//! `spawn_blocking` in async code.

use std::net::IpAddr;
use std::process::{Command, Output, Stdio};

mod iptables;
mod nft;
pub mod render;

pub use iptables::{IptablesBackend, Op, Outcome, choose_backend, classify};

/// Which rule tool nodelocal drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
/// Returns whether anything was (re)added. On an error nothing of what this call added stays.
pub fn ensure(mode: RuleMode, spec: &RuleSpec) -> Result<bool, RulesError> {
    match mode {
        RuleMode::Nftables => nft::ensure(spec),
        RuleMode::Iptables => iptables::ensure(spec),
        RuleMode::None => Ok(false),
    }
}

/// Removes every rule of `spec` (all copies), and nothing else. Returns whether there was
/// anything to remove.
pub fn remove(mode: RuleMode, spec: &RuleSpec) -> Result<bool, RulesError> {
    match mode {
        RuleMode::Nftables => nft::remove(),
        RuleMode::Iptables => iptables::remove(spec),
        RuleMode::None => Ok(false),
    }
}

/// The rule tool `mode` drives, checked before anything is installed: a missing tool is an
/// error at start, not a half-set-up node.
pub fn check_tool(mode: RuleMode) -> Result<(), RulesError> {
    let candidates: &[&str] = match mode {
        RuleMode::Nftables => &["nft"],
        RuleMode::Iptables => &["iptables-nft", "iptables-legacy", "iptables"],
        RuleMode::None => return Ok(()),
    };
    let mut last = None;
    for tool in candidates {
        match run(tool, &["--version"], None) {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => last = Some(tool_error(tool, &["--version"], &out)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RulesError::ToolMissing {
        tool: candidates.join(", "),
        detail: "not found".into(),
    }))
}

/// Runs `tool args` (with `stdin` fed to it) and returns its output, whatever its status; an
/// absent tool is [`RulesError::ToolMissing`].
fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, RulesError> {
    let missing = |e: std::io::Error| RulesError::ToolMissing {
        tool: tool.to_string(),
        detail: format!(
            "{e} (PATH={}); install it, or choose another --rules mode",
            std::env::var("PATH").unwrap_or_default()
        ),
    };
    let failed = |e: std::io::Error| RulesError::Tool {
        tool: tool.to_string(),
        detail: e.to_string(),
    };
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(e),
        _ => failed(e),
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).map_err(failed)?;
    }
    child.wait_with_output().map_err(failed)
}

/// A failed run as an error: the tool's own words.
fn tool_error(tool: &str, args: &[&str], out: &Output) -> RulesError {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    RulesError::Tool {
        tool: tool.to_string(),
        detail: format!("{} ({}): {stderr}", args.join(" "), out.status),
    }
}

#[cfg(test)]
mod tests;
