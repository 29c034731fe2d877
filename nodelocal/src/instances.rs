//! Which nodelocal processes are alive on this node. Each holds an abstract unix socket named
//! after its link, pid and start time: abstract sockets belong to the network namespace (the
//! node's, for hostNetwork pods), vanish with the process however it dies, and need no shared
//! directory.
//! An old nodelocal that stops while a new one is alive leaves the link and rules to it.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

const PREFIX: &str = "signpost-nodelocal.";

/// This process's registration; dropping it unregisters.
pub struct Registration {
    _socket: UnixListener,
    name: String,
}

fn prefix(interface: &str) -> String {
    format!("{PREFIX}{interface}.")
}

/// Registers this process as a nodelocal serving `interface`.
pub fn register(interface: &str) -> io::Result<Registration> {
    // The pid alone does not tell two processes apart: in a container each nodelocal is pid 1
    // of its own pid namespace, while the network namespace (the node's) is shared, so the
    // new pod of an upgrade could not register and the old one, seeing no other, removed the
    // link and rules from under it. The start time in nanoseconds makes the name unique.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("{}{}-{nonce:x}", prefix(interface), std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    let socket = UnixListener::bind_addr(&addr)?;
    Ok(Registration {
        _socket: socket,
        name,
    })
}

impl Registration {
    /// Whether another nodelocal for the same link is alive in this network namespace.
    pub fn others_alive(&self) -> io::Result<bool> {
        let table = std::fs::read_to_string("/proc/net/unix")?;
        let interface_prefix = self
            .name
            .rsplit_once('.')
            .map(|(head, _)| format!("{head}."))
            .unwrap_or_default();
        Ok(others_in(&table, &interface_prefix, &self.name))
    }
}

/// Pure: whether `/proc/net/unix` text lists an abstract socket with `prefix` other than `own`.
pub fn others_in(table: &str, prefix: &str, own: &str) -> bool {
    table.lines().skip(1).any(|line| {
        line.split_whitespace()
            .nth(7)
            .and_then(|path| path.strip_prefix('@'))
            .is_some_and(|name| name.starts_with(prefix) && name != own)
    })
}
