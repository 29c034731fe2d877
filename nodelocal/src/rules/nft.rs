//! `--rules nftables`: our table, replaced whole in one transaction when it differs.

use super::render::{NFT_FAMILY, NFT_TABLE, nft_remove_transaction, nft_table, nft_transaction};
use super::{RuleSpec, RulesError, run, tool_error};

const NFT: &str = "nft";

/// Our table as the kernel has it (`nft list table`), or `None` when there is none.
fn live_table() -> Result<Option<String>, RulesError> {
    let args = ["list", "table", NFT_FAMILY, NFT_TABLE];
    let out = run(NFT, &args, None)?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    // nft says "No such file or directory" for a missing table.
    if String::from_utf8_lossy(&out.stderr).contains("No such file or directory") {
        return Ok(None);
    }
    Err(tool_error(NFT, &args, &out))
}

fn apply(script: &str) -> Result<(), RulesError> {
    let args = ["-f", "-"];
    let out = run(NFT, &args, Some(script))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(tool_error(NFT, &args, &out))
    }
}

pub(super) fn ensure(spec: &RuleSpec) -> Result<bool, RulesError> {
    let wanted = nft_table(spec);
    if live_table()?.as_deref().map(str::trim_end) == Some(wanted.trim_end()) {
        return Ok(false);
    }
    apply(&nft_transaction(spec))?;
    Ok(true)
}

pub(super) fn remove() -> Result<bool, RulesError> {
    if live_table()?.is_none() {
        return Ok(false);
    }
    apply(&nft_remove_transaction())?;
    Ok(true)
}
