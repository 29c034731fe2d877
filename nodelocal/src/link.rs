//! The `nodelocaldns` link and its addresses, over rtnetlink. Kind dummy; where the kernel has
//! no dummy driver, an empty bridge (and a log line that says so).

use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("netlink: {0}")]
    Netlink(String),
}

/// What the node's link should look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    pub name: String,
    pub addrs: Vec<IpAddr>,
}

/// The kind of link that carries the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Dummy,
    /// The kernel has no dummy driver: an empty bridge stands in.
    Bridge,
}

/// What `ensure` changed (for logs and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkChanges {
    /// The link was created, of this kind.
    pub created: Option<LinkKind>,
    pub added_addrs: Vec<IpAddr>,
}

/// Creates the link if missing (dummy, else bridge), sets it up, and adds any missing address
/// (host-scoped /32 or /128). Idempotent.
pub async fn ensure(config: &LinkConfig) -> Result<LinkChanges, LinkError> {
    let _ = config;
    Err(LinkError::Netlink("not built yet".into()))
}

/// Removes these addresses from the link, where present (the guard's fail-over).
pub async fn remove_addrs(name: &str, addrs: &[IpAddr]) -> Result<(), LinkError> {
    let _ = (name, addrs);
    Err(LinkError::Netlink("not built yet".into()))
}

/// Deletes the link (clean stop). Missing already is fine.
pub async fn remove(name: &str) -> Result<(), LinkError> {
    let _ = name;
    Err(LinkError::Netlink("not built yet".into()))
}
