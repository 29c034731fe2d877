//! /etc/hosts text -> a lookup table, and the answer to a question from it. Pure.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Longest hosts file (bytes) read; more is ignored, so a runaway file cannot take the memory.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Names to addresses and addresses to names, in the order the text lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsTable {
    v4: HashMap<Name, Vec<IpAddr>>,
    v6: HashMap<Name, Vec<IpAddr>>,
    /// Empty under `no_reverse`.
    names: HashMap<IpAddr, Vec<Name>>,
}

impl HostsTable {
    /// Parses hosts-file text: `ADDRESS NAME...` per line, `#` starts a comment; lines with
    /// an address that does not parse are skipped, as are names outside `origins`.
    pub fn parse(text: &str, origins: &[Name], reverse: bool) -> Self {
        let mut table = Self::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_whitespace();
            let Some(addr) = fields.next() else { continue };
            // A scope (fe80::1%eth0) is dropped, as CoreDNS does.
            let addr = addr.split('%').next().unwrap_or(addr);
            let Ok(ip) = addr.parse::<IpAddr>() else {
                continue;
            };
            for field in fields {
                let Ok(mut name) = Name::from_ascii(field) else {
                    continue;
                };
                name.set_fqdn(true);
                let name = name.to_lowercase();
                if !origins.iter().any(|o| o.zone_of(&name)) {
                    continue;
                }
                let by_name = match ip {
                    IpAddr::V4(_) => &mut table.v4,
                    IpAddr::V6(_) => &mut table.v6,
                };
                by_name.entry(name.clone()).or_default().push(ip);
                if reverse {
                    table.names.entry(ip).or_default().push(name);
                }
            }
        }
        table
    }

    /// Address entries (one per name and address), CoreDNS's `coredns_hosts_entries`.
    pub fn len(&self) -> usize {
        self.v4.values().chain(self.v6.values()).map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn addrs(&self, qtype: RecordType, name: &Name) -> &[IpAddr] {
        let map = if qtype == RecordType::A {
            &self.v4
        } else {
            &self.v6
        };
        map.get(name).map_or(&[], Vec::as_slice)
    }

    fn has_name(&self, name: &Name) -> bool {
        self.v4.contains_key(name) || self.v6.contains_key(name)
    }
}

/// What the hosts plugin does with a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// NOERROR, authoritative, with these answers (none: the name exists, not this type).
    Answer(Vec<Record>),
    /// The name is not in the tables: NXDOMAIN territory (SERVFAIL or fall through).
    NoName,
    /// Not ours: outside the zones, or a PTR for an address we do not know.
    Pass,
}

/// Looks `qname`/`qtype` up in the file's table then the inline one (CoreDNS's order).
pub fn lookup(
    tables: [&HostsTable; 2],
    origins: &[Name],
    qname: &Name,
    qtype: RecordType,
    ttl: u32,
) -> Lookup {
    let name = qname.to_lowercase();
    if qtype == RecordType::PTR {
        let Some(ip) = crate::cluster::records::ip_from_reverse(&name) else {
            return Lookup::Pass;
        };
        let targets: Vec<&Name> = tables
            .iter()
            .flat_map(|t| t.names.get(&ip).into_iter().flatten())
            .collect();
        if targets.is_empty() {
            return Lookup::Pass;
        }
        return Lookup::Answer(
            targets
                .into_iter()
                .map(|t| Record::from_rdata(qname.clone(), ttl, RData::PTR(PTR(t.clone()))))
                .collect(),
        );
    }
    if !origins.iter().any(|o| o.zone_of(&name)) {
        return Lookup::Pass;
    }
    let answers: Vec<Record> = match qtype {
        RecordType::A | RecordType::AAAA => tables
            .iter()
            .flat_map(|t| t.addrs(qtype, &name).iter())
            .map(|ip| {
                let rdata = match ip {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                };
                Record::from_rdata(qname.clone(), ttl, rdata)
            })
            .collect(),
        _ => Vec::new(),
    };
    if answers.is_empty() && !tables.iter().any(|t| t.has_name(&name)) {
        return Lookup::NoName;
    }
    Lookup::Answer(answers)
}
