//! `forward FROM TO... { options }` -> [`ForwardConfig`]. Every error names the line.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::{ForwardConfig, Target, TlsSettings};
use crate::corefile::{Arg, Directive};
use crate::plugin::setup::{SetupError, args_exact, duration_arg, unknown_property, zone_arg};
use crate::plugins::forward::upstream::{HealthCheck, Policy};

const PLUGIN: &str = "forward";
/// CoreDNS's limit on upstreams per forward directive.
pub const MAX_UPSTREAMS: usize = 15;

impl Default for ForwardConfig {
    fn default() -> Self {
        Self {
            from: hickory_proto::rr::Name::root(),
            to: Vec::new(),
            except: Vec::new(),
            force_tcp: false,
            prefer_udp: false,
            expire: Duration::from_secs(10),
            max_fails: 2,
            policy: Policy::Random,
            health_check: HealthCheck::default(),
            max_concurrent: 0,
            next: Vec::new(),
            failfast_all_unhealthy: false,
            tls: None,
        }
    }
}

pub fn parse(directive: &Directive) -> Result<ForwardConfig, SetupError> {
    let err = |loc, msg: String| SetupError::new(PLUGIN, loc, msg);
    let mut config = ForwardConfig::default();
    let Some((from, to)) = directive.args.split_first() else {
        return Err(err(
            &directive.location,
            "forward needs FROM and at least one TO".into(),
        ));
    };
    if to.is_empty() {
        return Err(err(
            &from.location,
            "forward needs at least one TO address".into(),
        ));
    }
    config.from = zone_arg(PLUGIN, from)?;
    for arg in to {
        config.to.extend(upstreams(arg)?);
    }
    if config.to.len() > MAX_UPSTREAMS {
        return Err(err(
            &directive.location,
            format!(
                "more than {MAX_UPSTREAMS} TOs configured: {}",
                config.to.len()
            ),
        ));
    }
    if config.to.is_empty() {
        return Err(err(&directive.location, "no nameservers found".into()));
    }

    let mut tls_option: Option<&Directive> = None;
    let mut servername = None;
    for option in &directive.block {
        let loc = &option.location;
        match option.name.as_str() {
            "except" => {
                if option.args.is_empty() {
                    return Err(err(loc, "except needs at least one name".into()));
                }
                for a in &option.args {
                    config.except.push(zone_arg(PLUGIN, a)?);
                }
            }
            "force_tcp" => {
                args_exact(PLUGIN, option, 0)?;
                config.force_tcp = true;
            }
            "prefer_udp" => {
                args_exact(PLUGIN, option, 0)?;
                config.prefer_udp = true;
            }
            "failfast_all_unhealthy_upstreams" => {
                args_exact(PLUGIN, option, 0)?;
                config.failfast_all_unhealthy = true;
            }
            "expire" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                config.expire = duration_arg(PLUGIN, a)?;
            }
            "max_fails" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                config.max_fails = a.value.parse().map_err(|_| {
                    err(
                        &a.location,
                        format!(
                            "max_fails must be a non-negative integer, not {:?}",
                            a.value
                        ),
                    )
                })?;
            }
            "max_concurrent" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                config.max_concurrent = match a.value.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(err(
                            &a.location,
                            format!(
                                "max_concurrent must be a positive integer, not {:?}",
                                a.value
                            ),
                        ));
                    }
                };
            }
            "policy" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                config.policy = Policy::parse(&a.value)
                    .ok_or_else(|| err(&a.location, format!("unknown policy {:?}", a.value)))?;
            }
            "health_check" => config.health_check = health_check(option)?,
            "next" => {
                if option.args.is_empty() {
                    return Err(err(loc, "next needs at least one rcode".into()));
                }
                for a in &option.args {
                    let rcode = crate::wire::rcode::from_name(&a.value)
                        .ok_or_else(|| err(&a.location, format!("unknown rcode {:?}", a.value)))?;
                    config.next.push(rcode);
                }
            }
            "tls" => {
                if option.args.len() > 3 {
                    return Err(err(
                        loc,
                        "tls takes at most 3 arguments: [CERT KEY] [CA]".into(),
                    ));
                }
                tls_option = Some(option);
            }
            "tls_servername" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                servername =
                    Some(super::tls::server_name(&a.value).map_err(|e| err(&a.location, e))?);
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    if config.to.iter().any(|t| t.tls) {
        let (files, loc): (Vec<&str>, _) = match tls_option {
            Some(o) => (o.arg_values().collect(), &o.location),
            None => (Vec::new(), &directive.location),
        };
        let client =
            super::tls::client_config(&files).map_err(|e| err(loc, format!("tls: {e}")))?;
        config.tls = Some(TlsSettings { client, servername });
    }
    Ok(config)
}

fn health_check(option: &Directive) -> Result<HealthCheck, SetupError> {
    let err = |loc, msg: String| SetupError::new(PLUGIN, loc, msg);
    let Some((interval, rest)) = option.args.split_first() else {
        return Err(err(
            &option.location,
            "health_check needs a duration".into(),
        ));
    };
    let mut check = HealthCheck {
        interval: duration_arg(PLUGIN, interval)?,
        ..HealthCheck::default()
    };
    let mut rest = rest.iter();
    while let Some(a) = rest.next() {
        match a.value.as_str() {
            "no_rec" => check.recursion_desired = false,
            "domain" => {
                let Some(domain) = rest.next() else {
                    return Err(err(&a.location, "domain needs a name".into()));
                };
                check.domain = hickory_proto::rr::Name::from_ascii(&domain.value)
                    .ok()
                    .filter(|n| n.is_fqdn() || !domain.value.is_empty())
                    .map(|mut n| {
                        n.set_fqdn(true);
                        n
                    })
                    .ok_or_else(|| {
                        err(
                            &domain.location,
                            format!("invalid domain {:?}", domain.value),
                        )
                    })?;
            }
            other => {
                return Err(err(
                    &a.location,
                    format!("unknown health_check option {other:?}"),
                ));
            }
        }
    }
    Ok(check)
}

/// One `TO`: `IP[:port]`, `dns://IP[:port]`, or the path of a resolv.conf-style file whose
/// `nameserver` lines are the upstreams (port 53).
fn upstreams(arg: &Arg) -> Result<Vec<Target>, SetupError> {
    let err = |msg: String| SetupError::new(PLUGIN, &arg.location, msg);
    let text = arg.value.as_str();
    if let Some(host) = text.strip_prefix("tls://") {
        let addr =
            host_port(host, 853).ok_or_else(|| err(format!("not an IP address: {text:?}")))?;
        return Ok(vec![Target { addr, tls: true }]);
    }
    if let Some(scheme) = text.split_once("://").map(|(s, _)| s)
        && scheme != "dns"
    {
        return Err(err(format!("{text}: unsupported protocol {scheme:?}")));
    }
    let host = text.strip_prefix("dns://").unwrap_or(text);
    if let Some(addr) = host_port(host, 53) {
        return Ok(vec![Target { addr, tls: false }]);
    }
    let path = Path::new(text);
    if path.is_file() {
        // A resolv.conf is small; reading stops at 64 KiB whatever the path names.
        let content = crate::plugin::file::read_capped(path, 64 * 1024)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|e| err(format!("cannot read {text}: {e}")))?;
        let servers = resolv_conf_nameservers(&content);
        if servers.is_empty() {
            return Err(err(format!("{text}: no nameserver lines")));
        }
        return Ok(servers
            .into_iter()
            .map(|addr| Target { addr, tls: false })
            .collect());
    }
    Err(err(format!("not an IP address or file: {text:?}")))
}

/// `IP`, `IP:port`, `[IPv6]:port` (`default_port` when absent).
pub fn host_port(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, default_port));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    None
}

/// The `nameserver` addresses of a resolv.conf (an IPv6 zone suffix is dropped).
pub fn resolv_conf_nameservers(content: &str) -> Vec<SocketAddr> {
    content
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip = words.next()?;
            let ip = ip.split('%').next()?;
            ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}
