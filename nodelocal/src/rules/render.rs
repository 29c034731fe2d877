//! The rule set as data (pure): node-cache's rules for each local IP, and how each tool
//! spells them. Tests compare the kernel's listing with these strings.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::RuleSpec;

/// Our nftables table: `table inet nodelocaldns`, ours alone.
pub const NFT_FAMILY: &str = "inet";
pub const NFT_TABLE: &str = "nodelocaldns";

/// node-cache's comments, so operators and tools that know node-local-dns recognise the rules.
pub const COMMENT_SKIP_CONNTRACK: &str = "NodeLocal DNS Cache: skip conntrack";
pub const COMMENT_ALLOW: &str = "NodeLocal DNS Cache: allow DNS traffic";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// Before conntrack (iptables `raw`; nftables priority `raw`, -300).
    Raw,
    /// iptables `filter`; nftables priority `filter`, 0.
    Filter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chain {
    Prerouting,
    Input,
    Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Which end of the packet is the local IP and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `-d IP --dport PORT`
    Destination,
    /// `-s IP --sport PORT`
    Source,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Notrack,
    Accept,
}

/// One rule of node-cache's set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub table: Table,
    pub chain: Chain,
    pub proto: Proto,
    pub end: End,
    pub ip: IpAddr,
    pub port: u16,
    pub verdict: Verdict,
}

/// Every rule, in node-cache's order (`initIptables`): per local IP, raw PREROUTING NOTRACK to
/// the DNS port, filter INPUT ACCEPT to it, raw OUTPUT NOTRACK from it, filter OUTPUT ACCEPT
/// from it, raw OUTPUT NOTRACK to it (host-network clients), raw OUTPUT NOTRACK to and from
/// the health port (tcp).
pub fn rules(spec: &RuleSpec) -> Vec<Rule> {
    use {Chain::*, End::*, Proto::*, Table::*, Verdict::*};
    let mut out = Vec::with_capacity(spec.local_ips.len() * 12);
    for &ip in &spec.local_ips {
        let dns = spec.dns_port;
        let health = spec.health_port;
        const BOTH: &[Proto] = &[Tcp, Udp];
        let shapes = [
            (Raw, Prerouting, Destination, dns, Notrack, BOTH),
            (Filter, Input, Destination, dns, Accept, BOTH),
            (Raw, Output, Source, dns, Notrack, BOTH),
            (Filter, Output, Source, dns, Accept, BOTH),
            (Raw, Output, Destination, dns, Notrack, BOTH),
            (Raw, Output, Destination, health, Notrack, &[Tcp]),
            (Raw, Output, Source, health, Notrack, &[Tcp]),
        ];
        for (table, chain, end, port, verdict, protos) in shapes {
            out.extend(protos.iter().map(|&proto| Rule {
                table,
                chain,
                proto,
                end,
                ip,
                port,
                verdict,
            }));
        }
    }
    out
}

impl Table {
    pub fn iptables_name(self) -> &'static str {
        match self {
            Table::Raw => "raw",
            Table::Filter => "filter",
        }
    }
}

impl Chain {
    pub fn iptables_name(self) -> &'static str {
        match self {
            Chain::Prerouting => "PREROUTING",
            Chain::Input => "INPUT",
            Chain::Output => "OUTPUT",
        }
    }
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl End {
    fn iptables_flags(self) -> (&'static str, &'static str) {
        match self {
            End::Destination => ("-d", "--dport"),
            End::Source => ("-s", "--sport"),
        }
    }
}

impl Verdict {
    fn iptables_target(self) -> &'static str {
        match self {
            Verdict::Notrack => "NOTRACK",
            Verdict::Accept => "ACCEPT",
        }
    }
}

impl Rule {
    pub fn comment(&self) -> &'static str {
        match self.verdict {
            Verdict::Notrack => COMMENT_SKIP_CONNTRACK,
            Verdict::Accept => COMMENT_ALLOW,
        }
    }

    /// The rule's arguments after `-t TABLE -I CHAIN`, as node-cache passes them.
    pub fn iptables_args(&self) -> Vec<String> {
        let (addr_flag, port_flag) = self.end.iptables_flags();
        let target = self.verdict.iptables_target();
        [
            "-p",
            self.proto.name(),
            addr_flag,
            &self.ip.to_string(),
            port_flag,
            &self.port.to_string(),
            "-j",
            target,
            "-m",
            "comment",
            "--comment",
            self.comment(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// The line `iptables-save` prints for this rule.
    pub fn iptables_save_line(&self) -> String {
        let (addr_flag, port_flag) = self.end.iptables_flags();
        let prefix = if self.ip.is_ipv4() { 32 } else { 128 };
        let target = self.verdict.iptables_target();
        let proto = self.proto.name();
        format!(
            "-A {} {addr_flag} {}/{prefix} -p {proto} -m {proto} {port_flag} {} -m comment \
             --comment \"{}\" -j {target}",
            self.chain.iptables_name(),
            self.ip,
            self.port,
            self.comment()
        )
    }

    /// The rule inside its nftables chain, as `nft list` prints it.
    pub fn nft_line(&self) -> String {
        let family = if self.ip.is_ipv4() { "ip" } else { "ip6" };
        let (addr, port) = match self.end {
            End::Destination => ("daddr", "dport"),
            End::Source => ("saddr", "sport"),
        };
        let verdict = match self.verdict {
            Verdict::Notrack => "notrack",
            Verdict::Accept => "accept",
        };
        format!(
            "{family} {addr} {} {} {port} {} {verdict} comment \"{}\"",
            self.ip,
            self.proto.name(),
            self.port,
            self.comment()
        )
    }
}

/// Our base chains: name, hook, priority. A chain of our own per hook and priority, so the
/// NOTRACKs run before conntrack (-200) and nothing of anyone else's is touched.
const NFT_CHAINS: [(&str, Table, Chain); 4] = [
    ("raw-prerouting", Table::Raw, Chain::Prerouting),
    ("raw-output", Table::Raw, Chain::Output),
    ("filter-input", Table::Filter, Chain::Input),
    ("filter-output", Table::Filter, Chain::Output),
];

/// Our whole table, exactly as `nft list table inet nodelocaldns` prints it.
pub fn nft_table(spec: &RuleSpec) -> String {
    let all = rules(spec);
    let mut out = format!("table {NFT_FAMILY} {NFT_TABLE} {{\n");
    for (i, (name, table, chain)) in NFT_CHAINS.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let hook = match chain {
            Chain::Prerouting => "prerouting",
            Chain::Input => "input",
            Chain::Output => "output",
        };
        let priority = match table {
            Table::Raw => "raw",
            Table::Filter => "filter",
        };
        let _ = writeln!(out, "\tchain {name} {{");
        let _ = writeln!(
            out,
            "\t\ttype filter hook {hook} priority {priority}; policy accept;"
        );
        for rule in all
            .iter()
            .filter(|r| r.table == *table && r.chain == *chain)
        {
            let _ = writeln!(out, "\t\t{}", rule.nft_line());
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    out
}

/// One `nft -f -` transaction that replaces our table whole (the `add` makes the `delete` safe
/// when the table is missing) and touches nothing else.
pub fn nft_transaction(spec: &RuleSpec) -> String {
    format!(
        "add table {NFT_FAMILY} {NFT_TABLE}\ndelete table {NFT_FAMILY} {NFT_TABLE}\n{}",
        nft_table(spec)
    )
}

/// The transaction that removes our table, present or not.
pub fn nft_remove_transaction() -> String {
    format!("add table {NFT_FAMILY} {NFT_TABLE}\ndelete table {NFT_FAMILY} {NFT_TABLE}\n")
}
