//! `--rules iptables`: node-cache's rules, each checked (`-C`) and prepended (`-I`) when
//! missing, through whichever iptables backend the node uses.

use tracing::{debug, warn};

use super::render::{Rule, rules};
use super::{RuleSpec, RulesError, run, tool_error};

/// Which iptables binaries drive the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IptablesBackend {
    /// `iptables-nft` / `ip6tables-nft`.
    Nft,
    /// `iptables-legacy` / `ip6tables-legacy`.
    Legacy,
    /// Neither suffixed binary exists: plain `iptables` / `ip6tables`, whatever it is.
    Plain,
}

impl IptablesBackend {
    pub fn binary(self, v6: bool) -> &'static str {
        match (self, v6) {
            (Self::Nft, false) => "iptables-nft",
            (Self::Nft, true) => "ip6tables-nft",
            (Self::Legacy, false) => "iptables-legacy",
            (Self::Legacy, true) => "ip6tables-legacy",
            (Self::Plain, false) => "iptables",
            (Self::Plain, true) => "ip6tables",
        }
    }
}

/// kube-proxy's question (as its iptables-wrapper asks it): which backend holds the node's
/// rules? Given each backend's `-save` output (`None`: that binary is missing):
/// the one with more `KUBE-` lines (kubelet and kube-proxy write `KUBE-IPTABLES-HINT`,
/// `KUBE-KUBELET-CANARY` and their chains through the backend they use); on a tie, the one
/// with more rules (`-A` lines); on a tie again, nft (the modern default). `Plain` when
/// neither suffixed binary exists.
pub fn choose_backend(nft_save: Option<&str>, legacy_save: Option<&str>) -> IptablesBackend {
    let count = |text: &str, what: &str| text.lines().filter(|l| l.contains(what)).count();
    let score = |save: &str| {
        (
            count(save, "KUBE-"),
            save.lines().filter(|l| l.starts_with("-A ")).count(),
        )
    };
    match (nft_save, legacy_save) {
        (None, None) => IptablesBackend::Plain,
        (Some(_), None) => IptablesBackend::Nft,
        (None, Some(_)) => IptablesBackend::Legacy,
        (Some(nft), Some(legacy)) => {
            if score(legacy) > score(nft) {
                IptablesBackend::Legacy
            } else {
                IptablesBackend::Nft
            }
        }
    }
}

/// `-save` output of one backend, or `None` when its binary is missing or fails (a kernel
/// without that backend's modules).
fn save(binary: &str) -> Result<Option<String>, RulesError> {
    let tool = format!("{binary}-save");
    match run(&tool, &[], None) {
        Ok(out) if out.status.success() => {
            Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
        }
        Ok(out) => {
            debug!(
                tool,
                stderr = %String::from_utf8_lossy(&out.stderr).trim(),
                "iptables backend not usable"
            );
            Ok(None)
        }
        Err(RulesError::ToolMissing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn detect(v6: bool) -> Result<IptablesBackend, RulesError> {
    let nft = save(IptablesBackend::Nft.binary(v6))?;
    let legacy = save(IptablesBackend::Legacy.binary(v6))?;
    let backend = choose_backend(nft.as_deref(), legacy.as_deref());
    debug!(?backend, v6, "iptables backend");
    Ok(backend)
}

/// Where each rule goes: its binary, and the rule.
fn plan(spec: &RuleSpec) -> Result<Vec<(&'static str, Rule)>, RulesError> {
    let all = rules(spec);
    let mut backends = [None, None];
    let mut out = Vec::with_capacity(all.len());
    for rule in all {
        let v6 = rule.ip.is_ipv6();
        let backend = match backends[usize::from(v6)] {
            Some(b) => b,
            None => {
                let b = detect(v6)?;
                backends[usize::from(v6)] = Some(b);
                b
            }
        };
        out.push((backend.binary(v6), rule));
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Check,
    Insert,
    Delete,
}

/// What one run of `iptables -C/-I/-D` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// `-C`, `-D`: no such rule (exit status 1).
    Absent,
    /// Another process holds the xtables lock (iptables-legacy; `-w` ran out).
    Locked,
    Failed,
}

/// Reads an iptables exit status and stderr.
pub fn classify(op: Op, status: Option<i32>, stderr: &str) -> Outcome {
    match status {
        Some(0) => Outcome::Done,
        _ if stderr.contains("xtables lock") => Outcome::Locked,
        Some(1) if op != Op::Insert => Outcome::Absent,
        _ => Outcome::Failed,
    }
}

/// Runs one rule operation. `Ok(false)`: the rule is not there.
fn op(binary: &str, op: Op, rule: &Rule) -> Result<bool, RulesError> {
    let flag = match op {
        Op::Check => "-C",
        Op::Insert => "-I",
        Op::Delete => "-D",
    };
    let rule_args = rule.iptables_args();
    let mut args = vec![
        "-w",
        "5",
        "-t",
        rule.table.iptables_name(),
        flag,
        rule.chain.iptables_name(),
    ];
    args.extend(rule_args.iter().map(String::as_str));
    let out = run(binary, &args, None)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match classify(op, out.status.code(), &stderr) {
        Outcome::Done => Ok(true),
        Outcome::Absent => Ok(false),
        Outcome::Locked => Err(RulesError::Locked {
            tool: binary.to_string(),
            detail: stderr.trim().to_string(),
        }),
        Outcome::Failed => Err(tool_error(binary, &args, &out)),
    }
}

pub(super) fn ensure(spec: &RuleSpec) -> Result<bool, RulesError> {
    let planned = plan(spec)?;
    let mut added: Vec<&(&str, Rule)> = Vec::new();
    let result = planned.iter().try_for_each(|entry| {
        let (binary, rule) = entry;
        if !op(binary, Op::Check, rule)? {
            op(binary, Op::Insert, rule)?;
            added.push(entry);
        }
        Ok(())
    });
    if let Err(e) = result {
        // Leave no half set behind: take back what this call added.
        for (binary, rule) in added.iter().rev() {
            if let Err(undo) = op(binary, Op::Delete, rule) {
                warn!(%undo, "could not take back a rule after a failed install");
            }
        }
        return Err(e);
    }
    Ok(!added.is_empty())
}

/// Each rule is deleted until none is left; a bound stops a tool that says it deleted but did
/// not.
const MAX_COPIES: usize = 64;

pub(super) fn remove(spec: &RuleSpec) -> Result<bool, RulesError> {
    let mut removed = false;
    for (binary, rule) in plan(spec)? {
        for _ in 0..MAX_COPIES {
            if !op(binary, Op::Delete, &rule)? {
                break;
            }
            removed = true;
        }
    }
    Ok(removed)
}
