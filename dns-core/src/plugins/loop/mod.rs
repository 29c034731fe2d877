//! `loop`: CoreDNS's loop plugin. At start the server asks itself `<random>.<random>.<zone>
//! HINFO`; if that query comes back to this plugin more than twice, the server forwards to
//! itself (e.g. `forward . /etc/resolv.conf` naming a local stub), and the process exits with
//! CoreDNS's fatal message. Once the probe is answered the plugin steps aside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, args_exact};
use crate::plugin::{Next, Plugin, Serving};
use crate::plugins::forward::upstream::udp_exchange;
use crate::wire::RequestInfo;

const PLUGIN: &str = "loop";
/// How long the probe keeps trying to get an answer at start.
const PROBE_FOR: Duration = Duration::from_secs(30);
/// Times the probe may arrive before it is a loop.
const MAX_SEEN: u32 = 2;

pub fn parse(directive: &Directive) -> Result<(), SetupError> {
    args_exact(PLUGIN, directive, 0)?;
    if let Some(option) = directive.block.first() {
        return Err(SetupError::new(
            PLUGIN,
            &option.location,
            "loop takes no options",
        ));
    }
    Ok(())
}

pub struct LoopPlugin {
    zone: Name,
    qname: Name,
    seen: AtomicU32,
    disabled: AtomicBool,
}

impl LoopPlugin {
    /// `zone`: the server block's first zone.
    pub fn new(zone: Name) -> Self {
        let qname = probe_name(&zone, fastrand::u64(..), fastrand::u64(..));
        Self {
            zone,
            qname,
            seen: AtomicU32::new(0),
            disabled: AtomicBool::new(false),
        }
    }

    pub fn qname(&self) -> &Name {
        &self.qname
    }

    /// Called for every query through the chain: counts the probe; more than twice is fatal.
    pub fn observe(&self, request: &Message, info: &RequestInfo) {
        if self.disabled.load(Ordering::Relaxed) {
            return;
        }
        let Some(q) = request.queries.first() else {
            return;
        };
        if q.query_type() != RecordType::HINFO || *q.name() != self.qname {
            return;
        }
        let seen = self.seen.fetch_add(1, Ordering::AcqRel) + 1;
        if seen > MAX_SEEN {
            crate::coredns_line!(FATAL, "plugin/loop: {}", self.loop_message(info));
            std::process::exit(1);
        }
    }

    /// CoreDNS's message for a detected loop.
    pub fn loop_message(&self, info: &RequestInfo) -> String {
        // A listener on all interfaces is `:port`, as Go prints CoreDNS's.
        let local = if info.local.ip().is_unspecified() {
            format!(":{}", info.local.port())
        } else {
            info.local.to_string()
        };
        format!(
            "Loop ({} -> {local}) detected for zone {:?}, see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
            info.src,
            self.zone.to_string(),
            self.qname
        )
    }

    /// Sends the probe to the server at `listen` until it is answered (at most 30 s), then
    /// steps aside.
    pub async fn probe(self: Arc<Self>, listen: SocketAddr) {
        let target = probe_target(listen);
        let deadline = tokio::time::Instant::now() + PROBE_FOR;
        while tokio::time::Instant::now() < deadline {
            let id = crate::wire::query_id();
            let mut query = Message::new(id, MessageType::Query, OpCode::Query);
            query.metadata.recursion_desired = true;
            query
                .queries
                .push(Query::query(self.qname.clone(), RecordType::HINFO));
            let Ok(wire) = query.to_vec() else {
                break;
            };
            if udp_exchange(None, target, &wire, id, Duration::from_secs(2), 512)
                .await
                .is_ok()
            {
                break;
            }
            self.seen.store(0, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.disabled.store(true, Ordering::Relaxed);
    }
}

impl Plugin for LoopPlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        self.observe(request, next.info);
        next.run(request)
    }
}

/// The probe goes to the block's first zone once the listener is up.
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        parse(d)?;
        let zone = setup.zones.first().cloned().unwrap_or_else(Name::root);
        let plugin = Arc::new(LoopPlugin::new(zone));
        let probe = plugin.clone();
        setup.on_startup(Arc::new(move |listen| {
            tokio::spawn(probe.clone().probe(listen));
        }));
        setup.add(plugin);
    }
    Ok(())
}

/// `<a>.<b>.<zone>`.
pub fn probe_name(zone: &Name, a: u64, b: u64) -> Name {
    let labels = format!("{}.{}", a >> 1, b >> 1);
    Name::from_ascii(&labels)
        .ok()
        .and_then(|n| n.append_domain(zone).ok())
        .unwrap_or_else(|| zone.clone())
}

/// Where to send the probe: the listening address, loopback for an unspecified one.
pub fn probe_target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port())
        }
        _ => listen,
    }
}
