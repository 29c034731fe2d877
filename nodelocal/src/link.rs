//! The `nodelocaldns` link and its addresses, over rtnetlink. Kind dummy; where the kernel has
//! no dummy driver, an empty bridge (and a log line that says so).
//!
//! Addresses go on as /32 or /128 with global scope, as node-cache adds them, so pods reach
//! them through the node. IPv6 ones carry `nodad`: duplicate address detection would hold an
//! address tentative (unusable) for a second or more, and an empty bridge never finishes it.
//!
//! An address that is already on another link is an error ([`LinkError::AddressElsewhere`]):
//! the kernel would take it twice, and which link answers, and what a later `remove_addrs`
//! leaves behind, would depend on the order of routes. The operator has to choose.

use std::net::IpAddr;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkDummy, LinkUnspec};
use tracing::{info, warn};

const ENOENT: i32 = libc::ENOENT;
const EEXIST: i32 = libc::EEXIST;
const ENODEV: i32 = libc::ENODEV;
const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
const EADDRNOTAVAIL: i32 = libc::EADDRNOTAVAIL;
const EACCES: i32 = libc::EACCES;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No rtnetlink socket (not Linux, or no permission to open one).
    #[error("cannot open an rtnetlink socket: {0}")]
    Socket(std::io::Error),
    /// The kernel can make neither a dummy nor a bridge link.
    #[error(
        "link {name}: the kernel has neither the dummy nor the bridge driver ({detail}); \
         load one (modprobe dummy) or build the kernel with CONFIG_DUMMY"
    )]
    NoLinkDriver { name: String, detail: String },
    #[error(
        "link {name}: address {addr} is already on link {other}; remove it there, or choose \
         another --localip"
    )]
    AddressElsewhere {
        name: String,
        addr: IpAddr,
        other: String,
    },
    #[error(
        "link {name}: cannot add {addr}: IPv6 is disabled here (net.ipv6.conf.*.disable_ipv6); \
         enable it, or leave IPv6 addresses out of --localip"
    )]
    Ipv6Disabled { name: String, addr: IpAddr },
    #[error("link {name}: {op}: {detail}")]
    Netlink {
        name: String,
        op: &'static str,
        detail: String,
    },
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
    /// The link was there but down, and was set up.
    pub set_up: bool,
    pub added_addrs: Vec<IpAddr>,
}

impl LinkChanges {
    pub fn is_empty(&self) -> bool {
        self.created.is_none() && !self.set_up && self.added_addrs.is_empty()
    }
}

/// An rtnetlink handle whose connection task ends with it.
struct Netlink {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Netlink {
    fn open() -> Result<Self, LinkError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        Ok(Self {
            handle,
            task: tokio::spawn(connection),
        })
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The errno of a kernel refusal (positive), if that is what `e` is.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()).filter(|c| *c != 0),
        _ => None,
    }
}

fn netlink_error(name: &str, op: &'static str, e: rtnetlink::Error) -> LinkError {
    let detail = match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    };
    LinkError::Netlink {
        name: name.to_string(),
        op,
        detail,
    }
}

/// The link named `name`, or `None` when there is none.
async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, LinkError> {
    let found = handle
        .link()
        .get()
        .match_name(name)
        .execute()
        .try_next()
        .await;
    match found {
        Ok(link) => Ok(link),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(netlink_error(name, "look up the link", e)),
    }
}

fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// The kind a link was made as, for the log line when an existing link is reused.
fn link_kind(link: &LinkMessage) -> String {
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                LinkInfo::Kind(k) => Some(k.to_string()),
                _ => None,
            }),
            _ => None,
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The address an address message carries (IFA_LOCAL for v4 point-to-point, else IFA_ADDRESS).
fn message_addr(m: &AddressMessage) -> Option<IpAddr> {
    let local = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })
}

async fn all_addrs(handle: &Handle, name: &str) -> Result<Vec<AddressMessage>, LinkError> {
    handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| netlink_error(name, "list addresses", e))
}

async fn create(handle: &Handle, name: &str) -> Result<LinkKind, LinkError> {
    let dummy = handle
        .link()
        .add(LinkDummy::new(name).up().build())
        .execute()
        .await;
    let no_dummy = match dummy {
        Ok(()) => return Ok(LinkKind::Dummy),
        Err(e) if errno(&e) == Some(EOPNOTSUPP) => netlink_error(name, "create dummy", e),
        Err(e) => return Err(netlink_error(name, "create a dummy link", e)),
    };
    let bridge = handle
        .link()
        .add(LinkBridge::new(name).up().build())
        .execute()
        .await;
    match bridge {
        Ok(()) => {
            warn!(
                link = name,
                kind = "bridge",
                "this kernel has no dummy link driver ({no_dummy}); the local addresses sit on \
                 an empty bridge instead, which nothing is attached to"
            );
            Ok(LinkKind::Bridge)
        }
        Err(e) if errno(&e) == Some(EOPNOTSUPP) => Err(LinkError::NoLinkDriver {
            name: name.to_string(),
            detail: format!("{no_dummy}; create bridge: {}", netlink_error(name, "", e)),
        }),
        Err(e) => Err(netlink_error(name, "create a bridge link", e)),
    }
}

/// Creates the link if missing (dummy, else bridge), sets it up, and adds any missing address
/// (/32 or /128, global scope; v6 with `nodad`). Idempotent: a link of another kind with that
/// name is used as it is.
pub async fn ensure(config: &LinkConfig) -> Result<LinkChanges, LinkError> {
    let name = config.name.as_str();
    let nl = Netlink::open()?;
    let handle = &nl.handle;
    let mut changes = LinkChanges::default();

    let link = match find_link(handle, name).await? {
        Some(link) => link,
        None => {
            let kind = create(handle, name).await?;
            changes.created = Some(kind);
            info!(link = name, ?kind, "created the link");
            find_link(handle, name)
                .await?
                .ok_or_else(|| LinkError::Netlink {
                    name: name.to_string(),
                    op: "look up the link just created",
                    detail: "gone again".to_string(),
                })?
        }
    };
    let index = link.header.index;
    if !link.header.flags.contains(LinkFlags::Up) {
        handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| netlink_error(name, "set the link up", e))?;
        if changes.created.is_none() {
            changes.set_up = true;
            info!(link = name, kind = link_kind(&link), "set the link up");
        }
    }

    let present = all_addrs(handle, name).await?;
    for &addr in &config.addrs {
        let mut here = false;
        for m in present.iter().filter(|m| message_addr(m) == Some(addr)) {
            if m.header.index == index {
                here = true;
            } else {
                let other = find_link_by_index(handle, m.header.index)
                    .await
                    .unwrap_or_else(|| format!("index {}", m.header.index));
                return Err(LinkError::AddressElsewhere {
                    name: name.to_string(),
                    addr,
                    other,
                });
            }
        }
        if here {
            continue;
        }
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        let mut request = handle.address().add(index, addr, prefix);
        if addr.is_ipv6() {
            let message = request.message_mut();
            message.header.flags |= AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match request.execute().await {
            Ok(()) => {
                info!(link = name, %addr, "added the address");
                changes.added_addrs.push(addr);
            }
            // Someone (an old nodelocal during a hand-over) added it between the list and now.
            Err(e) if errno(&e) == Some(EEXIST) => {}
            // The kernel's answer to an IPv6 address on a link with IPv6 disabled.
            Err(e) if addr.is_ipv6() && errno(&e) == Some(EACCES) => {
                return Err(LinkError::Ipv6Disabled {
                    name: name.to_string(),
                    addr,
                });
            }
            Err(e) => return Err(netlink_error(name, "add an address", e)),
        }
    }
    Ok(changes)
}

async fn find_link_by_index(handle: &Handle, index: u32) -> Option<String> {
    let link = handle
        .link()
        .get()
        .match_index(index)
        .execute()
        .try_next()
        .await
        .ok()??;
    link_name(&link).map(str::to_string)
}

/// Removes these addresses from the link, where present (the guard's fail-over). Returns the
/// addresses it removed; a missing link or address is fine.
pub async fn remove_addrs(name: &str, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, LinkError> {
    let nl = Netlink::open()?;
    let handle = &nl.handle;
    let Some(link) = find_link(handle, name).await? else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for m in all_addrs(handle, name).await? {
        if m.header.index != link.header.index {
            continue;
        }
        let Some(addr) = message_addr(&m).filter(|a| addrs.contains(a)) else {
            continue;
        };
        match handle.address().del(m).execute().await {
            Ok(()) => removed.push(addr),
            Err(e) if matches!(errno(&e), Some(EADDRNOTAVAIL | ENOENT | ENODEV)) => {}
            Err(e) => return Err(netlink_error(name, "remove an address", e)),
        }
    }
    Ok(removed)
}

/// Deletes the link (clean stop). Returns whether there was one to delete.
pub async fn remove(name: &str) -> Result<bool, LinkError> {
    let nl = Netlink::open()?;
    let handle = &nl.handle;
    let Some(link) = find_link(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(link.header.index).execute().await {
        Ok(()) => {
            info!(link = name, "deleted the link");
            Ok(true)
        }
        Err(e) if errno(&e) == Some(ENODEV) => Ok(false),
        Err(e) => Err(netlink_error(name, "delete the link", e)),
    }
}
