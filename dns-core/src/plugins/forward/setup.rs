//! `forward FROM TO... { options }` -> [`ForwardConfig`]. Every error names the line.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::{ForwardConfig, Scheme, Target, TlsSettings};
use crate::corefile::{Arg, Directive};
use crate::plugin::setup::{SetupError, args_exact, duration_arg, unknown_property, zone_arg};
use crate::plugins::forward::upstream::{DohMethod, HealthCheck, Policy};

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
            max_age: Duration::ZERO,
            source_address: None,
            doh_method: DohMethod::Post,
        }
    }
}

/// `resolve_hosts`: upstreams given by host name are resolved (else refused, see
/// `Dependencies::resolve_hosts`).
pub fn parse(directive: &Directive, resolve_hosts: bool) -> Result<ForwardConfig, SetupError> {
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
    // Host names are resolved once every option is read (`resolver` says how).
    let mut hosts = Vec::new();
    for arg in to {
        match upstreams(arg)? {
            Upstreams::Targets(targets) => config.to.extend(targets),
            Upstreams::Host(host, port, scheme) => hosts.push((arg, host, port, scheme)),
        }
    }

    let mut tls_option: Option<&Directive> = None;
    let mut servername = None;
    let mut resolvers = Vec::new();
    for option in &directive.block {
        let loc = &option.location;
        match option.name.as_str() {
            "resolver" => {
                if option.args.is_empty() {
                    return Err(err(loc, "resolver needs at least one IP[:PORT]".into()));
                }
                for a in &option.args {
                    resolvers.push(host_port(&a.value, 53).ok_or_else(|| {
                        err(
                            &a.location,
                            format!("invalid resolver {:?}: IP[:PORT]", a.value),
                        )
                    })?);
                }
            }
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
            "max_age" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                config.max_age = duration_arg(PLUGIN, a)?;
            }
            "source_address" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                let ip = a.value.parse::<IpAddr>().map_err(|_| {
                    err(
                        &a.location,
                        format!("invalid source address {:?}: an IP address", a.value),
                    )
                })?;
                config.source_address = Some(ip);
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
            "doh_method" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                config.doh_method = match a.value.as_str() {
                    "POST" => DohMethod::Post,
                    "GET" => DohMethod::Get,
                    _ => {
                        return Err(err(
                            &a.location,
                            format!("doh_method must be either POST or GET, not {:?}", a.value),
                        ));
                    }
                };
            }
            "tls_servername" => {
                let a = &args_exact(PLUGIN, option, 1)?[0];
                servername =
                    Some(super::tls::server_name(&a.value).map_err(|e| err(&a.location, e))?);
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    for (arg, host, port, scheme) in hosts {
        if !resolve_hosts {
            return Err(err(
                &arg.location,
                format!(
                    "the upstream {:?} is a host name, and host names are not resolved here",
                    arg.value
                ),
            ));
        }
        let found = resolve(&host, port, &resolvers).map_err(|e| {
            err(
                &arg.location,
                format!("cannot resolve the upstream {:?}: {e}", arg.value),
            )
        })?;
        config
            .to
            .extend(found.into_iter().map(|addr| Target { addr, scheme }));
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
    if let Some(source) = config.source_address
        && let Some(other) = config
            .to
            .iter()
            .find(|t| t.addr.is_ipv4() != source.is_ipv4())
    {
        return Err(err(
            &directive.location,
            format!(
                "source_address {source} cannot reach {}: another address family",
                other.addr
            ),
        ));
    }
    if config.to.iter().any(|t| t.scheme != Scheme::Dns) {
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

/// What one `TO` names.
enum Upstreams {
    Targets(Vec<Target>),
    /// A host name and port, resolved once the options are read.
    Host(String, u16, Scheme),
}

/// The scheme of a `TO` and the rest of it (`None`: a scheme forward does not speak).
fn scheme(text: &str) -> Option<(Scheme, &str)> {
    match text.split_once("://") {
        None => Some((Scheme::Dns, text)),
        Some(("dns", rest)) => Some((Scheme::Dns, rest)),
        Some(("tls", rest)) => Some((Scheme::Tls, rest)),
        Some(("https", rest)) => Some((Scheme::Https, rest)),
        Some(_) => None,
    }
}

/// One `TO`: `[dns://]IP[:port]`, `tls://IP[:port]`, `https://IP[:port]`, the path of a
/// resolv.conf-style file whose `nameserver` lines are the upstreams (port 53), or a host
/// name (`[SCHEME://]HOST[:port]`).
fn upstreams(arg: &Arg) -> Result<Upstreams, SetupError> {
    let text = arg.value.as_str();
    if let Some((scheme, host)) = scheme(text)
        && host_port(host, scheme.default_port()).is_none()
        && !Path::new(text).is_file()
        && let Some((name, port)) = host_name(host, scheme.default_port())
    {
        return Ok(Upstreams::Host(name, port, scheme));
    }
    addresses(arg).map(Upstreams::Targets)
}

/// `HOST[:PORT]` when HOST is a DNS name (letters, digits, hyphens, dots).
fn host_name(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok()?),
        None => (text, default_port),
    };
    let host = host.trim_end_matches('.');
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.contains(|c: char| c.is_ascii_alphabetic())
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid.then(|| (host.to_string(), port))
}

/// The addresses of `host` (with `port`): from the system resolver (the host's files and
/// resolv.conf), or asked of `resolvers` (A and AAAA, over UDP) when given, as CoreDNS's
/// `resolver` option does. Once, at start.
fn resolve(host: &str, port: u16, resolvers: &[SocketAddr]) -> Result<Vec<SocketAddr>, String> {
    if resolvers.is_empty() {
        use std::net::ToSocketAddrs;
        let mut found: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .collect();
        found.dedup();
        return Ok(found);
    }
    let mut last = String::from("no resolver answered");
    for resolver in resolvers {
        match ask_addresses(*resolver, host) {
            Ok(ips) if !ips.is_empty() => {
                return Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect());
            }
            Ok(_) => last = format!("{resolver}: no addresses"),
            Err(e) => last = format!("{resolver}: {e}"),
        }
    }
    Err(last)
}

/// The A and AAAA records `resolver` has for `host`.
fn ask_addresses(resolver: SocketAddr, host: &str) -> Result<Vec<IpAddr>, String> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    const WAIT: Duration = Duration::from_secs(2);
    let name = Name::from_ascii(format!("{host}.")).map_err(|e| e.to_string())?;
    let local = if resolver.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = std::net::UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(resolver).map_err(|e| e.to_string())?;
    let mut ips = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        let id = crate::wire::query_id();
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = true;
        query.queries.push(Query::query(name.clone(), rtype));
        let wire = query.to_vec().map_err(|e| e.to_string())?;
        socket.send(&wire).map_err(|e| e.to_string())?;
        let deadline = std::time::Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        let answer = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err("i/o timeout".into());
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
            match Message::from_vec(&buf[..n]) {
                Ok(m) if m.metadata.id == id => break m,
                // Not our answer: keep waiting for it.
                _ => continue,
            }
        };
        ips.extend(answer.answers.iter().filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        }));
    }
    Ok(ips)
}

/// One `TO` that is an address or a file.
fn addresses(arg: &Arg) -> Result<Vec<Target>, SetupError> {
    let err = |msg: String| SetupError::new(PLUGIN, &arg.location, msg);
    let text = arg.value.as_str();
    let Some((scheme, host)) = scheme(text) else {
        let name = text.split_once("://").map_or("", |(s, _)| s);
        return Err(err(format!("{text}: unsupported protocol {name:?}")));
    };
    if scheme == Scheme::Https && host.contains('/') {
        return Err(err(format!(
            "paths are not allowed in HTTPS upstream addresses (the /dns-query path is used by default): {text}"
        )));
    }
    if let Some(addr) = host_port(host, scheme.default_port()) {
        return Ok(vec![Target { addr, scheme }]);
    }
    if scheme != Scheme::Dns {
        return Err(err(format!("not an IP address or host name: {text:?}")));
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
            .map(|addr| Target {
                addr,
                scheme: Scheme::Dns,
            })
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
