//! What every plugin's setup shares: the error type and argument helpers.

use hickory_proto::rr::Name;

use crate::corefile::{Arg, Directive, Location};

/// A directive the plugin cannot use; says where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {plugin}: {message}")]
pub struct SetupError {
    pub location: Location,
    pub plugin: String,
    pub message: String,
}

impl SetupError {
    pub fn new(plugin: &str, location: &Location, message: impl Into<String>) -> Self {
        Self {
            location: location.clone(),
            plugin: plugin.to_string(),
            message: message.into(),
        }
    }
}

/// Exactly `n` arguments of `d`, or an error naming the directive.
pub fn args_exact<'a>(plugin: &str, d: &'a Directive, n: usize) -> Result<&'a [Arg], SetupError> {
    if d.args.len() != n {
        let what = if n == 1 {
            "argument".to_string()
        } else {
            format!("{n} arguments")
        };
        return Err(SetupError::new(
            plugin,
            &d.location,
            format!("{} needs exactly {what}", d.name),
        ));
    }
    Ok(&d.args)
}

/// A zone argument as a lowercase FQDN.
pub fn zone_arg(plugin: &str, arg: &Arg) -> Result<Name, SetupError> {
    let text = arg.value.as_str();
    if let Ok(key) = crate::corefile::ServerKey::parse(text) {
        return Ok(key.zone);
    }
    Err(SetupError::new(
        plugin,
        &arg.location,
        format!("invalid zone {text:?}"),
    ))
}

/// `30s`, `5m`, `1h`, `500ms` (Go duration syntax, the units CoreDNS users write).
pub fn duration_arg(plugin: &str, arg: &Arg) -> Result<std::time::Duration, SetupError> {
    parse_duration(&arg.value).ok_or_else(|| {
        SetupError::new(
            plugin,
            &arg.location,
            format!("invalid duration {:?}", arg.value),
        )
    })
}

pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    // Go takes a bare 0 without a unit.
    if text == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    std::time::Duration::try_from_secs_f64(secs).ok()
}

/// An HTTP listening address as CoreDNS's health, ready and prometheus plugins take it:
/// `HOST:PORT` with an empty host for all interfaces (`:8080`), an IP (`[::1]:8080` for IPv6)
/// or a name resolved at start (`localhost:9153`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpAddr {
    /// Empty for all interfaces.
    pub host: String,
    pub port: u16,
}

impl HttpAddr {
    /// Go's `net.SplitHostPort` rules: a port is required; an IPv6 host is in brackets.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| "missing ']' in address".to_string())?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| "missing port in address".to_string())?;
            (host, port)
        } else {
            let (host, port) = text
                .rsplit_once(':')
                .ok_or_else(|| "missing port in address".to_string())?;
            if host.contains(':') {
                return Err("too many colons in address".into());
            }
            (host, port)
        };
        if host.contains(['[', ']', '/', ' ']) {
            return Err(format!("invalid host {host:?}"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("invalid port {port:?}"))?;
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl std::fmt::Display for HttpAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The optional `[ADDRESS]` argument of health, ready and prometheus: at most one.
pub fn http_addr_args(plugin: &str, d: &Directive, default: &str) -> Result<HttpAddr, SetupError> {
    match d.args.as_slice() {
        [] => HttpAddr::parse(default)
            .map_err(|e| SetupError::new(plugin, &d.location, format!("default address: {e}"))),
        [addr] => HttpAddr::parse(&addr.value).map_err(|e| {
            SetupError::new(
                plugin,
                &addr.location,
                format!("invalid address {:?}: {e}", addr.value),
            )
        }),
        [_, extra, ..] => Err(SetupError::new(
            plugin,
            &extra.location,
            format!("{plugin} takes at most one address"),
        )),
    }
}

/// A block option the plugin does not know.
pub fn unknown_property(plugin: &str, option: &Directive) -> SetupError {
    SetupError::new(
        plugin,
        &option.location,
        format!("unknown property {:?}", option.name),
    )
}
