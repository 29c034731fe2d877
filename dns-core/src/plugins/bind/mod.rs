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
/// interface. IPv6 link-local addresses are left out: they need a scope to bind, and CoreDNS
/// skips them too.
pub fn interface_addrs(name: &str) -> Option<Vec<IpAddr>> {
    let mut found = None;
    for entry in nix::ifaddrs::getifaddrs().ok()? {
        if entry.interface_name != name {
            continue;
        }
        let addrs = found.get_or_insert_with(Vec::new);
        let Some(address) = entry.address else {
            continue;
        };
        if let Some(v4) = address.as_sockaddr_in() {
            addrs.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = address.as_sockaddr_in6()
            && !v6.ip().is_unicast_link_local()
        {
            addrs.push(IpAddr::V6(v6.ip()));
        }
    }
    found
}
