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

/// ZONES arguments as lowercase FQDNs, or the block's zones when there are none (CoreDNS's
/// `OriginsFromArgsOrServerBlock`).
pub fn zones_or_block<'a>(
    plugin: &str,
    args: impl IntoIterator<Item = &'a Arg>,
    block_zones: &[Name],
) -> Result<Vec<Name>, SetupError> {
    let zones: Vec<Name> = args
        .into_iter()
        .map(|a| zone_arg(plugin, a))
        .collect::<Result<_, _>>()?;
    if zones.is_empty() {
        return Ok(block_zones.iter().map(Name::to_lowercase).collect());
    }
    Ok(zones)
}

/// `30s`, `5m`, `1h`, `500ms` (Go duration syntax, the units CoreDNS users write).
pub fn duration_arg(plugin: &str, arg: &Arg) -> Result<std::time::Duration, SetupError> {
    crate::corefile::parse_duration(&arg.value).map_err(|_| {
        SetupError::new(
            plugin,
            &arg.location,
            format!("invalid duration {:?}", arg.value),
        )
    })
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

/// A directive written bare, as `whoami` or `debug`: no arguments, no block.
pub fn bare(plugin: &str, d: &Directive) -> Result<(), SetupError> {
    if let Some(arg) = d.args.first() {
        return Err(SetupError::new(
            plugin,
            &arg.location,
            format!("{} takes no arguments", d.name),
        ));
    }
    match d.block.first() {
        Some(option) => Err(unknown_property(plugin, option)),
        None => Ok(()),
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

/// What a plugin's setup is given, and what it gives back, for one server block: CoreDNS's
/// `dnsserver.Config` and `caddy.Controller` in one. The setup adds the plugin's handler to
/// the block's chain ([`BlockSetup::add`]), and whatever else the plugin does for the block
/// or the process: HTTP endpoints, readiness, start-up work, the reload policy.
pub struct BlockSetup<'a> {
    /// The whole block (a plugin that reads another's directive finds it here).
    pub block: &'a crate::corefile::ServerBlock,
    /// The zones this chain serves: the block's keys on one port.
    pub zones: &'a [Name],
    /// The listener's metrics label (`dns://:53`).
    pub server: &'a str,
    pub deps: &'a super::build::Dependencies,
    /// The plugin being set up: its registry name and place.
    pub(crate) current: (&'static str, usize),
    pub(crate) chain: Vec<(usize, super::chain::Link)>,
    pub(crate) enabled: Vec<(usize, &'static str)>,
    pub(crate) counted: bool,
    pub(crate) on_startup: Vec<super::OnStartup>,
    pub(crate) ready_checks: Vec<(&'static str, super::readiness::ReadyCheck)>,
    /// The block has `ready`: its plugins' readiness counts.
    pub(crate) serves_ready: bool,
    pub(crate) process: &'a mut super::build::ProcessPlan,
    pub(crate) notes: Vec<Note>,
    pub(crate) limits: crate::wire::Limits,
    pub(crate) timeouts: super::chain::TcpTimeouts,
    /// The block's metadata providers, and where the `metadata` plugin reads them.
    pub(crate) metadata_providers: Vec<super::metadata::Provider>,
    pub(crate) metadata: Option<super::metadata::Providers>,
    /// Made by the first plugin that asks this server questions; `build` fills it.
    pub(crate) upstream: Option<std::sync::Arc<super::upstream::Upstream>>,
    /// Made by the first plugin that offers or transfers zones.
    pub(crate) transfers: Option<std::sync::Arc<super::transfer::Transfers>>,
}

/// Something a plugin accepts but does differently here, or not at all (a Go runtime to
/// profile, a trace collector): logged at start and listed by `check`, so a Corefile that
/// names it starts and its operator knows what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub location: Location,
    pub plugin: &'static str,
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.plugin, self.message)
    }
}

impl BlockSetup<'_> {
    /// The plugin's handler, placed in the chain at the plugin's registry position.
    pub fn add(&mut self, plugin: impl super::Plugin) {
        let (name, order) = self.current;
        self.chain.push((
            order,
            super::chain::Link {
                name,
                plugin: Box::new(plugin),
            },
        ));
        self.enabled.push((order, name));
    }

    /// The block's queries are counted in CoreDNS's `coredns_dns_*` metrics (`prometheus`).
    pub fn count_queries(&mut self) {
        self.counted = true;
        let (name, order) = self.current;
        self.enabled.push((order, name));
    }

    /// `start` runs once the block's listener is up, with the address it got.
    pub fn on_startup(&mut self, start: super::OnStartup) {
        self.on_startup.push(start);
    }

    /// The plugin reports readiness (counted when the block has `ready`).
    pub fn ready_check(&mut self, check: super::readiness::ReadyCheck) {
        let name = self.current.0;
        self.ready_checks.push((name, check));
    }

    /// The plugin serves `endpoint` over HTTP at `addr` (blocks naming one address share it).
    pub fn serve_http(&mut self, addr: HttpAddr, endpoint: super::build::Endpoint) {
        self.serves_ready |= matches!(endpoint, super::build::Endpoint::Ready { .. });
        self.process.add_http(addr, self.current.0, endpoint);
    }

    /// The HTTP address `addr` is served over TLS with `config` (`prometheus`'s `tls`).
    pub fn serve_https(
        &mut self,
        addr: HttpAddr,
        config: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    ) {
        self.process.add_https(addr, config);
    }

    /// The plugin accepted something at `location` that does not do here what it does in
    /// CoreDNS: `message` says what happens instead.
    pub fn note(&mut self, location: &Location, message: impl Into<String>) {
        self.notes.push(Note {
            location: location.clone(),
            plugin: self.current.0,
            message: message.into(),
        });
    }

    /// Queries of `class` (not only IN) reach the block's chain (`chaos`).
    pub fn serve_class(&mut self, class: hickory_proto::rr::DNSClass) {
        self.limits.class = Some(class);
    }

    /// The block's UDP responses are at most `size` bytes, and say so (`bufsize`).
    pub fn cap_udp_size(&mut self, size: u16) {
        self.limits.udp_size = self.limits.udp_size.min(size);
    }

    /// The block's listener uses `timeouts` for TCP where they are set (`timeouts`).
    pub fn tcp_timeouts(&mut self, timeouts: super::chain::TcpTimeouts) {
        self.timeouts = timeouts;
    }

    /// The plugin publishes metadata about queries (read only when the block has `metadata`).
    pub fn provide_metadata(&mut self, provider: super::metadata::Provider) {
        self.metadata_providers.push(provider);
    }

    /// The block's metadata providers, filled once every plugin of the block is set up.
    pub fn metadata_providers(&mut self) -> super::metadata::Providers {
        self.metadata.get_or_insert_with(Default::default).clone()
    }

    /// A handle for asking this block's listener questions (CoreDNS's `upstream.New()`).
    pub fn upstream(&mut self) -> std::sync::Arc<super::upstream::Upstream> {
        self.upstream
            .get_or_insert_with(super::upstream::Upstream::new)
            .clone()
    }

    /// The block's zone transfers: where plugins holding zones offer them and the `transfer`
    /// plugin finds them (CoreDNS's `transfer.Transferer` handlers of a block).
    pub fn transfers(&mut self) -> std::sync::Arc<super::transfer::Transfers> {
        self.transfers
            .get_or_insert_with(super::transfer::Transfers::new)
            .clone()
    }

    /// The process re-reads its Corefile by `policy` (`reload`; the last one wins).
    pub fn reload(&mut self, policy: super::build::ReloadPolicy) {
        self.process.reload = Some(policy);
    }
}
