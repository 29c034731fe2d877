//! `transfer [ZONES...] { to ADDRESS...; source ADDRESS }`: answers AXFR (and IXFR, with a full
//! transfer unless the client already has the serial) over TCP for the zones the block's
//! other plugins offer (`file`), to the listed clients only, and sends NOTIFY to the listed
//! addresses when a zone changes ([`notify`]), as CoreDNS's transfer plugin does.

pub mod notify;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::corefile::{Arg, Directive};
use crate::plugin::setup::{BlockSetup, SetupError, unknown_property, zones_or_block};
use crate::plugin::transfer::Transfers;
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::{Transport, reply_to};

const PLUGIN: &str = "transfer";

/// The port NOTIFY goes to when an address names none.
const DNS_PORT: u16 = 53;

/// Who may transfer, and who hears of changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// `*`: any client may transfer; nobody is notified.
    Any,
    /// A client allowed by its IP; NOTIFY goes to this address and port.
    Addr(SocketAddr),
}

/// One `transfer` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xfr {
    /// Lowercase.
    pub zones: Vec<Name>,
    pub to: Vec<Peer>,
    /// The local address NOTIFY is sent from.
    pub source: Option<IpAddr>,
}

impl Xfr {
    /// Whether a client at `ip` may transfer.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        self.to.iter().any(|peer| match peer {
            Peer::Any => true,
            Peer::Addr(addr) => addr.ip() == ip,
        })
    }
}

/// The line whose zone is the longest one containing `name` (CoreDNS's `longestMatch`).
pub fn longest_match<'x>(xfrs: &'x [Xfr], name: &Name) -> Option<&'x Xfr> {
    xfrs.iter()
        .filter_map(|x| {
            x.zones
                .iter()
                .filter(|z| z.zone_of(name))
                .map(|z| z.iter().count())
                .max()
                .map(|labels| (labels, x))
        })
        .max_by_key(|(labels, _)| *labels)
        .map(|(_, x)| x)
}

/// `ADDRESS` of `to`: an IP, or an IP and port (`198.18.0.1:5300`, `[2001:db8::1]:5300`).
fn peer(plugin: &str, arg: &Arg) -> Result<Peer, SetupError> {
    let text = arg.value.as_str();
    if text == "*" {
        return Ok(Peer::Any);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Peer::Addr(SocketAddr::new(ip, DNS_PORT)));
    }
    text.parse::<SocketAddr>().map(Peer::Addr).map_err(|_| {
        SetupError::new(
            plugin,
            &arg.location,
            format!("not an IP address or IP:port: {text:?}"),
        )
    })
}

pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<Xfr, SetupError> {
    let mut xfr = Xfr {
        zones: zones_or_block(PLUGIN, &d.args, block_zones)?,
        to: Vec::new(),
        source: None,
    };
    for option in &d.block {
        match option.name.as_str() {
            "to" => {
                if option.args.is_empty() {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "to needs at least one address",
                    ));
                }
                for arg in &option.args {
                    xfr.to.push(peer(PLUGIN, arg)?);
                }
            }
            "source" => {
                let [arg] = option.args.as_slice() else {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "source needs exactly one address",
                    ));
                };
                if xfr.source.is_some() {
                    return Err(SetupError::new(
                        PLUGIN,
                        &option.location,
                        "source already specified",
                    ));
                }
                xfr.source = Some(arg.value.parse().map_err(|_| {
                    SetupError::new(
                        PLUGIN,
                        &arg.location,
                        format!("invalid source address {:?}", arg.value),
                    )
                })?);
            }
            _ => return Err(unknown_property(PLUGIN, option)),
        }
    }
    if xfr.to.is_empty() {
        return Err(SetupError::new(PLUGIN, &d.location, "'to' is required"));
    }
    Ok(xfr)
}

pub struct TransferPlugin {
    xfrs: Vec<Xfr>,
    transfers: Arc<Transfers>,
}

fn soa_serial(record: &Record) -> Option<u32> {
    match &record.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

impl TransferPlugin {
    /// The response to a transfer question, or `None` to hand it on.
    fn answer(
        &self,
        request: &Message,
        qname: &Name,
        qtype: RecordType,
        next: &Next<'_>,
    ) -> Option<Message> {
        let refused = || Some(reply_to(request, ResponseCode::Refused));
        // A transfer is a stream of messages: TCP only (RFC 5936 §4.2).
        if next.info.transport != Transport::Tcp {
            return refused();
        }
        let xfr = longest_match(&self.xfrs, qname)?;
        let client = next.info.src.ip();
        if !xfr.allowed(client) {
            return refused();
        }
        // IXFR carries the client's SOA in the authority section (RFC 1995 §3).
        let known = if qtype == RecordType::IXFR {
            match request.authorities.as_slice() {
                [record] => match soa_serial(record) {
                    Some(serial) => Some(serial),
                    None => return Some(reply_to(request, ResponseCode::ServFail)),
                },
                _ => return Some(reply_to(request, ResponseCode::ServFail)),
            }
        } else {
            None
        };
        let records = self.transfers.zone(qname)?;
        let serial = records.first().and_then(soa_serial);
        let mut response = reply_to(request, ResponseCode::NoError);
        // The client is up to date: its SOA back, nothing more (CoreDNS's IXFR fallback).
        if known.is_some_and(|k| k != 0 && Some(k) == serial) {
            response.answers = records.into_iter().take(1).collect();
            crate::coredns_line!(
                INFO,
                "plugin/transfer: Outgoing noop, incremental transfer for up to date zone {:?} to {} for {} SOA serial",
                qname.to_string(),
                client,
                serial.unwrap_or(0)
            );
            return Some(response);
        }
        crate::coredns_line!(
            INFO,
            "plugin/transfer: Outgoing transfer of {} records of zone {:?} to {} for {} SOA serial",
            records.len(),
            qname.to_string(),
            client,
            serial.unwrap_or(0)
        );
        response.metadata.authoritative = true;
        response.answers = records;
        Some(response)
    }
}

impl Plugin for TransferPlugin {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let Some(query) = request.queries.first() else {
            return next.run(request);
        };
        let qtype = query.query_type();
        if !matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return next.run(request);
        }
        let qname = query.name().to_lowercase();
        let answer = self.answer(request, &qname, qtype, &next);
        next.answer_or_run(request, answer)
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    let xfrs = lines
        .iter()
        .map(|d| parse(d, setup.zones))
        .collect::<Result<Vec<_>, _>>()?;
    let transfers = setup.transfers();
    let peers = xfrs.clone();
    transfers.on_change(Box::new(move |zone| notify::send(&peers, zone)));
    setup.add(TransferPlugin { xfrs, transfers });
    Ok(())
}
