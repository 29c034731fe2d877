//! Server block keys: `[dns://]ZONE[:PORT]`, and reverse CIDRs as zones.

use std::net::IpAddr;

use hickory_proto::rr::Name;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Dns,
}

/// One key of a server block: the zone it serves and the port it listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKey {
    pub scheme: Scheme,
    /// Lowercase FQDN (`.` for the root).
    pub zone: Name,
    pub port: u16,
}

pub const DEFAULT_PORT: u16 = 53;

/// `zone:port`, as CoreDNS names a server block in its logs.
impl std::fmt::Display for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.zone, self.port)
    }
}

impl ServerKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = match text.split_once("://") {
            Some(("dns", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!("scheme {scheme}:// is not supported (only dns://)"));
            }
            None => text,
        };
        let (host, port) = split_port(rest)?;
        let zone = if let Some((ip, bits)) = host.split_once('/') {
            reverse_zone(ip, bits)?
        } else {
            let mut name = Name::from_ascii(if host.is_empty() { "." } else { host })
                .map_err(|e| format!("not a domain name: {e}"))?;
            name.set_fqdn(true);
            name.to_lowercase()
        };
        Ok(Self {
            scheme: Scheme::Dns,
            zone,
            port,
        })
    }
}

fn split_port(text: &str) -> Result<(&str, u16), String> {
    // A bare IPv6 CIDR has colons but no port.
    if text.contains('/') && text.matches(':').count() > 1 {
        return Ok((text, DEFAULT_PORT));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("invalid port {port:?}"))?;
            Ok((host, port))
        }
        None => Ok((text, DEFAULT_PORT)),
    }
}

/// `198.18.0.0/16` -> `18.198.in-addr.arpa.`: CIDRs on octet (v4) or nibble (v6) boundaries.
fn reverse_zone(ip: &str, bits: &str) -> Result<Name, String> {
    let bits: u8 = bits
        .parse()
        .map_err(|_| format!("invalid prefix length {bits:?}"))?;
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| format!("invalid network address {ip:?}"))?;
    let text = match addr {
        IpAddr::V4(v4) => {
            if bits > 32 || !bits.is_multiple_of(8) {
                return Err("IPv4 reverse zones need a prefix of 0, 8, 16, 24 or 32 bits".into());
            }
            let octets = v4.octets();
            let mut labels: Vec<String> = octets[..usize::from(bits / 8)]
                .iter()
                .map(u8::to_string)
                .collect();
            labels.reverse();
            labels.push("in-addr.arpa.".into());
            labels.join(".")
        }
        IpAddr::V6(v6) => {
            if bits > 128 || !bits.is_multiple_of(4) {
                return Err("IPv6 reverse zones need a prefix that is a multiple of 4 bits".into());
            }
            let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
            let mut labels: Vec<String> = hex
                .chars()
                .take(usize::from(bits / 4))
                .map(String::from)
                .collect();
            labels.reverse();
            labels.push("ip6.arpa.".into());
            labels.join(".")
        }
    };
    Name::from_ascii(text).map_err(|e| e.to_string())
}
