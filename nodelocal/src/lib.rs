//! `nodelocal`: the node-local DNS cache (a node-local-dns / node-cache replacement).
//!
//! Rooms: `template` (pure: node-cache's Corefile variables), `rules` (the NOTRACK rule set:
//! rendering is pure, applying runs `nft`/`iptables`), `link` (rtnetlink: the `nodelocaldns`
//! link and its addresses), `guard` (the sidecar that fails over when the cache dies),
//! `instances` (which nodelocal processes are alive on this node, for hand-over on upgrade).

pub mod changes;
pub mod guard;
pub mod instances;
pub mod link;
pub mod metrics;
pub mod rules;
pub mod template;
