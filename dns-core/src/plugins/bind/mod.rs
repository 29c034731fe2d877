//! `bind ADDRESS|IFACE... [{ except ADDRESS|IFACE... }]`: CoreDNS's bind plugin. A server block with
//! `bind` listens only on those addresses instead of every interface; blocks on one port that
//! bind the same address share its listener. Interface names stand for every address the
//! interface has when the server starts.

use std::net::IpAddr;

use crate::corefile::Directive;
use crate::plugin::setup::SetupError;

const PLUGIN: &str = "bind";

/// The addresses of every directive `bind` of one block (CoreDNS merges repeated lines), minus
/// `except`. `interfaces` resolves an interface name to its addresses.
pub fn parse(
    directives: &[&Directive],
    interfaces: &dyn Fn(&str) -> Option<Vec<IpAddr>>,
) -> Result<Vec<IpAddr>, SetupError> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    for d in directives {
        if d.args.is_empty() {
            return Err(SetupError::new(
                PLUGIN,
                &d.location,
                "needs at least one address or interface",
            ));
        }
        let mut mine = Vec::new();
        for arg in &d.args {
            mine.extend(resolve(arg, interfaces)?);
        }
        // `except` applies to its own directive only, as in CoreDNS.
        for option in &d.block {
            if option.name != "except" || option.args.is_empty() {
                return Err(SetupError::new(
                    PLUGIN,
                    &option.location,
                    format!(
                        "unknown option {:?} (only `except ADDRESS|IFACE...`)",
                        option.name
                    ),
                ));
            }
            for arg in &option.args {
                let excluded = resolve(arg, interfaces)?;
                mine.retain(|ip| !excluded.contains(ip));
            }
        }
        addrs.extend(mine);
    }
    let mut unique = Vec::with_capacity(addrs.len());
    for ip in addrs {
        if !unique.contains(&ip) {
            unique.push(ip);
        }
    }
    if let (true, Some(first)) = (unique.is_empty(), directives.first()) {
        return Err(SetupError::new(
            PLUGIN,
            &first.location,
            "no address left to listen on",
        ));
    }
    Ok(unique)
}

/// The block's listening addresses (the registry's listen role), interface names resolved on
/// this host.
pub fn listen(lines: &[&Directive]) -> Result<Vec<IpAddr>, SetupError> {
    parse(lines, &interface_addrs)
}

/// An IP address, or the addresses of the interface of that name.
fn resolve(
    arg: &crate::corefile::Arg,
    interfaces: &dyn Fn(&str) -> Option<Vec<IpAddr>>,
) -> Result<Vec<IpAddr>, SetupError> {
    if let Ok(ip) = arg.value.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    interfaces(&arg.value).ok_or_else(|| {
        SetupError::new(
            PLUGIN,
            &arg.location,
            format!("{:?} is neither an IP address nor an interface", arg.value),
        )
    })
}

/// The addresses of the interface `name` (getifaddrs), or `None` when there is no such
/// interface.
pub fn interface_addrs(name: &str) -> Option<Vec<IpAddr>> {
    let mut found = None;
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we walk read-only and free once.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) };
        if ifname.to_bytes() != name.as_bytes() {
            continue;
        }
        let addrs = found.get_or_insert_with(Vec::new);
        if entry.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points at a sockaddr whose family says which struct it is.
        let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
        if family == libc::AF_INET {
            // SAFETY: family AF_INET means a sockaddr_in.
            let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
            addrs.push(IpAddr::from(
                u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
            ));
        } else if family == libc::AF_INET6 {
            // SAFETY: family AF_INET6 means a sockaddr_in6.
            let sin6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            // A link-local address needs its scope to bind; CoreDNS skips them too.
            if !ip.is_unicast_link_local() {
                addrs.push(IpAddr::V6(ip));
            }
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}
