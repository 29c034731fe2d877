//! `loadbalance [round_robin | weighted WEIGHTFILE] { reload DURATION | prefer CIDR... }`:
//! CoreDNS's load balancer. `round_robin` shuffles the A, AAAA and MX records of NOERROR
//! responses (every section), keeping CNAMEs first for stub resolvers that expect the alias
//! before its addresses; `weighted` moves one address, chosen at random by the weights of a
//! file, to the top; `prefer` then moves addresses in the given subnets first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipnet::IpNet;

use crate::corefile::{Arg, Directive};
use crate::plugin::file::read_capped;
use crate::plugin::setup::{BlockSetup, SetupError, duration_arg, unknown_property};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::encoded::Prebuilt;

const PLUGIN: &str = "loadbalance";

/// A weight file larger than this is refused (a device path cannot hang the start).
const MAX_WEIGHT_FILE_BYTES: u64 = 4 << 20;

/// How the addresses are ordered before `prefer` applies.
#[derive(Clone, Debug)]
pub enum Policy {
    /// A uniform shuffle (the default).
    RoundRobin,
    /// The top address chosen by the weights of a file.
    Weighted(Arc<WeightFile>),
}

#[derive(Clone, Debug)]
pub struct LoadBalance {
    pub policy: Policy,
    /// `prefer CIDR...`: addresses in these subnets first, in this order of subnets.
    pub prefer: Vec<IpNet>,
}

/// Weights per owner name (lowercased): `ADDRESS WEIGHT` pairs, weights 1 to 255.
pub type Weights = HashMap<Name, Vec<(IpAddr, u8)>>;

/// The weight file and its last good contents.
#[derive(Debug)]
pub struct WeightFile {
    pub path: PathBuf,
    /// How often the file is checked for a change; zero: never.
    pub reload: Duration,
    state: Mutex<(Vec<u8>, Arc<Weights>)>,
}

/// An IP network as Go's `net.ParseCIDR` reads it: the host bits are masked off.
pub fn parse_cidr(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().map(|net| net.trunc())
}

/// Whether `ip` is in `net`; an IPv4-mapped IPv6 address counts as its IPv4 address, as Go's
/// `IPNet.Contains` takes it.
pub fn cidr_contains(net: &IpNet, ip: IpAddr) -> bool {
    let ip = match (net, ip) {
        (IpNet::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        (_, ip) => ip,
    };
    net.contains(&ip)
}

fn err(location: &crate::corefile::Location, message: impl Into<String>) -> SetupError {
    SetupError::new(PLUGIN, location, message)
}

pub fn parse(directive: &Directive) -> Result<LoadBalance, SetupError> {
    let mut lb = LoadBalance {
        policy: Policy::RoundRobin,
        prefer: Vec::new(),
    };
    match directive.args.as_slice() {
        [] => {}
        [policy] if policy.value == "round_robin" => {}
        [policy, extra, ..] if policy.value == "round_robin" => {
            return Err(err(
                &extra.location,
                format!("unknown property for round_robin: {:?}", extra.value),
            ));
        }
        [policy] if policy.value == "weighted" => {
            return Err(err(&policy.location, "missing weight file argument"));
        }
        [policy, file] if policy.value == "weighted" => {
            let mut reload = Duration::from_secs(30);
            for option in &directive.block {
                match option.name.as_str() {
                    "reload" => match option.args.as_slice() {
                        [] => {
                            return Err(err(&option.location, "reload duration value is missing"));
                        }
                        [d] => {
                            reload = duration_arg(PLUGIN, d).map_err(|_| {
                                err(
                                    &d.location,
                                    format!("invalid reload duration '{}'", d.value),
                                )
                            })?
                        }
                        [_, extra, ..] => return Err(err(&extra.location, "unexpected argument")),
                    },
                    _ => return Err(unknown_property(PLUGIN, option)),
                }
            }
            let weights = WeightFile::open(file, reload)?;
            lb.policy = Policy::Weighted(Arc::new(weights));
            return Ok(lb);
        }
        [policy, _, extra, ..] if policy.value == "weighted" => {
            return Err(err(&extra.location, "unexpected argument(s)"));
        }
        [policy, ..] => {
            return Err(err(
                &policy.location,
                format!("unknown policy: {}", policy.value),
            ));
        }
    }
    for option in &directive.block {
        if option.name != "prefer" {
            return Err(unknown_property(PLUGIN, option));
        }
        for arg in &option.args {
            lb.prefer.push(cidr_arg(arg)?);
        }
    }
    Ok(lb)
}

fn cidr_arg(arg: &Arg) -> Result<IpNet, SetupError> {
    parse_cidr(&arg.value)
        .ok_or_else(|| err(&arg.location, format!("invalid CIDR {:?}", arg.value)))
}

/// Reads a weight file: `# comments`, blank lines, a domain name alone on a line, then its
/// `ADDRESS WEIGHT` lines (weights 1 to 255). Errors name `file:line`.
pub fn parse_weights(text: &str, file: &str) -> Result<Weights, String> {
    let mut domains = Weights::new();
    let mut current: Option<Name> = None;
    for (n, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", n + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [domain] => {
                if domain.parse::<IpAddr>().is_ok() {
                    return Err(format!(
                        "{at}: wrong domain name: {domain:?} (maybe a missing weight value?)"
                    ));
                }
                let name = Name::from_ascii(domain)
                    .map(|mut n| {
                        n.set_fqdn(true);
                        n.to_lowercase()
                    })
                    .map_err(|e| format!("{at}: wrong domain name: {domain:?}: {e}"))?;
                domains.entry(name.clone()).or_default();
                current = Some(name);
            }
            [address, weight] => {
                let ip: IpAddr = address
                    .parse()
                    .map_err(|_| format!("{at}: wrong IP address: {address:?}"))?;
                let weight = match weight.parse::<u8>() {
                    Ok(w) if w > 0 => w,
                    _ => return Err(format!("{at}: wrong weight value: {weight:?}")),
                };
                let Some(name) = &current else {
                    return Err(format!("{at}: missing domain name"));
                };
                domains.entry(name.clone()).or_default().push((ip, weight));
            }
            _ => return Err(format!("{at}: could not parse weight line: {line:?}")),
        }
    }
    Ok(domains)
}

impl WeightFile {
    /// Reads the file at setup. As in CoreDNS, a file that cannot be opened is only a warning
    /// when it is reloaded (it may appear later); with `reload 0` it is an error, and so is
    /// every error in its contents.
    fn open(arg: &Arg, reload: Duration) -> Result<Self, SetupError> {
        let wf = Self {
            path: PathBuf::from(&arg.value),
            reload,
            state: Mutex::new((Vec::new(), Arc::new(Weights::new()))),
        };
        match read_capped(&wf.path, MAX_WEIGHT_FILE_BYTES) {
            Err(e) if !reload.is_zero() => {
                tracing::warn!(
                    "plugin/loadbalance: Failed to open weight file {}: {e}. Will try again in {reload:?}",
                    arg.value
                );
            }
            Err(e) => {
                return Err(err(
                    &arg.location,
                    format!("weight file open error: {}: {e}", arg.value),
                ));
            }
            Ok(bytes) => {
                wf.update(bytes).map_err(|e| err(&arg.location, e))?;
            }
        }
        Ok(wf)
    }

    /// Takes new contents in if they changed; a bad file keeps the last good weights.
    fn update(&self, bytes: Vec<u8>) -> Result<bool, String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 == bytes && !bytes.is_empty() {
            return Ok(false);
        }
        let text = String::from_utf8_lossy(&bytes);
        let weights = parse_weights(&text, &self.path.display().to_string())?;
        *state = (bytes, Arc::new(weights));
        Ok(true)
    }

    /// Reads the file again (called every `reload`).
    pub fn refresh(&self) {
        match read_capped(&self.path, MAX_WEIGHT_FILE_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|b| self.update(b))
        {
            Ok(true) => tracing::info!(
                "plugin/loadbalance: Successfully reloaded weight file {}",
                self.path.display()
            ),
            Ok(false) => {}
            Err(e) => tracing::error!("plugin/loadbalance: {e}"),
        }
    }

    pub fn weights(&self) -> Arc<Weights> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }
}

impl LoadBalance {
    /// Starts the weight file's reload task, which ends when the plugin is dropped (a
    /// reloaded Corefile built a new one). Needs a tokio runtime; otherwise nothing runs.
    pub fn watch(&self) {
        if let Policy::Weighted(file) = &self.policy {
            crate::plugin::periodic::every(file, file.reload, WeightFile::refresh);
        }
    }

    /// Whether [`LoadBalance::shuffle`] could change the answer that `header` and `records`
    /// make: encoded records it would leave alone (one address, an error) stay encoded.
    fn reorders(&self, header: &Message, records: &Prebuilt) -> bool {
        let s = &records.sections;
        header.metadata.response_code == ResponseCode::NoError
            && (!matches!(self.policy, Policy::RoundRobin)
                || !self.prefer.is_empty()
                || s.answers.len() > 1
                || s.authorities.len() > 1
                || s.additionals.len() > 1)
    }

    /// Reorders `response` in place: only NOERROR, never zone transfers.
    pub fn shuffle(&self, response: &mut Message) {
        if response.metadata.response_code != ResponseCode::NoError {
            return;
        }
        let qtype = response.queries.first().map(|q| q.query_type());
        if matches!(qtype, Some(RecordType::AXFR | RecordType::IXFR)) {
            return;
        }
        match &self.policy {
            Policy::RoundRobin => {
                round_robin(&mut response.answers, fastrand::shuffle);
                round_robin(&mut response.authorities, fastrand::shuffle);
                round_robin(&mut response.additionals, fastrand::shuffle);
            }
            Policy::Weighted(file) => {
                if matches!(
                    qtype,
                    Some(RecordType::A | RecordType::AAAA | RecordType::SRV)
                ) {
                    let weights = file.weights();
                    weighted(&mut response.answers, &weights, |n| fastrand::u32(..n));
                    weighted(&mut response.additionals, &weights, |n| fastrand::u32(..n));
                }
            }
        }
        if !self.prefer.is_empty() {
            prefer(&mut response.answers, &self.prefer);
            prefer(&mut response.additionals, &self.prefer);
        }
    }
}

impl Plugin for LoadBalance {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.run(request).then(move |mut answered| {
            if answered
                .encoded
                .as_ref()
                .is_some_and(|e| self.reorders(&answered.response, e))
            {
                answered.materialize();
            }
            if answered.encoded.is_none() {
                self.shuffle(&mut answered.response);
            }
            answered
        })
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let plugin = parse(d)?;
        plugin.watch();
        setup.add(plugin);
    }
    Ok(())
}

/// CoreDNS's order for a shuffled section: CNAMEs, the other records, then the shuffled
/// addresses, then the shuffled MX records. A section of addresses of one type (the usual
/// case) is shuffled as it is. `shuffle` is the permutation (random when serving).
pub fn round_robin(records: &mut Vec<Record>, shuffle: impl Fn(&mut [Record])) {
    if records.len() <= 1 {
        return;
    }
    let first = records[0].record_type();
    if matches!(first, RecordType::A | RecordType::AAAA)
        && records.iter().all(|r| r.record_type() == first)
    {
        shuffle(records);
        return;
    }
    let mut split = Split::of(records);
    shuffle(&mut split.address);
    shuffle(&mut split.mx);
    records.extend(split.cname);
    records.extend(split.rest);
    records.extend(split.address);
    records.extend(split.mx);
}

/// A section taken apart by record type.
struct Split {
    cname: Vec<Record>,
    address: Vec<Record>,
    mx: Vec<Record>,
    rest: Vec<Record>,
}

impl Split {
    /// Drains `records`.
    fn of(records: &mut Vec<Record>) -> Self {
        let mut s = Self {
            cname: Vec::new(),
            address: Vec::new(),
            mx: Vec::new(),
            rest: Vec::new(),
        };
        for r in records.drain(..) {
            match r.record_type() {
                RecordType::CNAME => s.cname.push(r),
                RecordType::A | RecordType::AAAA => s.address.push(r),
                RecordType::MX => s.mx.push(r),
                _ => s.rest.push(r),
            }
        }
        s
    }
}

fn address_of(record: &Record) -> Option<IpAddr> {
    match &record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
        _ => None,
    }
}

/// The index of the address to put on top: a weighted random choice among `addresses` (weight
/// 1 for an address the file does not list for its owner name). `below(n)` is a random
/// number in `0..n`.
pub fn top_index(addresses: &[Record], weights: &Weights, below: impl FnOnce(u32) -> u32) -> usize {
    let mut weighted: Vec<(usize, u32)> = addresses
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let owner = r.name.to_lowercase();
            let weight = address_of(r)
                .and_then(|ip| {
                    weights
                        .get(&owner)?
                        .iter()
                        .find(|(a, _)| *a == ip)
                        .map(|(_, w)| *w)
                })
                .unwrap_or(1);
            (i, u32::from(weight))
        })
        .collect();
    // Heaviest first (stable, so equal weights keep the answer's order).
    weighted.sort_by_key(|w| std::cmp::Reverse(w.1));
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return 0;
    }
    let v = below(total);
    let mut sum = 0;
    for (i, w) in &weighted {
        sum += w;
        if v < sum {
            return *i;
        }
    }
    0
}

/// The `weighted` policy on one section: CNAMEs, the other records, the addresses with the
/// chosen one first (swapped with the first), then MX, as CoreDNS orders them. A section
/// without addresses is left as it is.
pub fn weighted(records: &mut Vec<Record>, weights: &Weights, below: impl FnOnce(u32) -> u32) {
    if !records
        .iter()
        .any(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
    {
        return;
    }
    let mut split = Split::of(records);
    let top = top_index(&split.address, weights, below);
    split.address.swap(0, top);
    records.extend(split.cname);
    records.extend(split.rest);
    records.extend(split.address);
    records.extend(split.mx);
}

/// `prefer` on one section: CNAMEs, the addresses in the first subnet, then the second and so
/// on, then the other addresses, then MX, then the other records, as CoreDNS orders them.
pub fn prefer(records: &mut Vec<Record>, subnets: &[IpNet]) {
    let split = Split::of(records);
    let mut address: Vec<Option<Record>> = split.address.into_iter().map(Some).collect();
    records.extend(split.cname);
    for subnet in subnets {
        for slot in address.iter_mut() {
            if slot
                .as_ref()
                .and_then(address_of)
                .is_some_and(|ip| cidr_contains(subnet, ip))
            {
                records.extend(slot.take());
            }
        }
    }
    records.extend(address.into_iter().flatten());
    records.extend(split.mx);
    records.extend(split.rest);
}
