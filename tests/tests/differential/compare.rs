//! Asking both servers and comparing their answers: the question is built and the answers
//! parsed with hickory-proto (no dig in between), each answer becomes a canonical [`Reply`]
//! (sections as sorted multisets, the SOA serial blanked), and two replies differ in named
//! aspects. Differences are grouped by (form, aspects, rcodes) and checked against the
//! allowlist, whose every entry names a row of docs/differences.md.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns as HEdns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record};
use serde::Deserialize;

use super::questions::{Edns, Question};

/// One answer, canonical: what the comparison looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub rcode: String,
    pub flags: String,
    pub question: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    /// `version=0 do=1`, or `none`.
    pub edns: String,
}

/// Asks `port` on loopback. `Err` when nothing (parsable) came back.
pub fn ask(port: u16, id: u16, q: &Question) -> Result<Reply, String> {
    ask_at(Ipv4Addr::LOCALHOST, port, id, q)
}

/// Asks `server:port` (from any local address: in a network namespace, a pod's).
pub fn ask_at(server: Ipv4Addr, port: u16, id: u16, q: &Question) -> Result<Reply, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    // From labels, so `*` and `_*` anywhere go out as written.
    let mut name = Name::from_labels(q.name.split('.').map(str::as_bytes))
        .unwrap_or_else(|e| panic!("bad question name {}: {e}", q.name));
    name.set_fqdn(true);
    msg.add_query(Query::query(name, q.qtype));
    if q.edns != Edns::None {
        let mut edns = HEdns::new();
        edns.set_max_payload(1232);
        edns.set_version(if q.edns == Edns::V1 { 1 } else { 0 });
        edns.set_dnssec_ok(q.edns == Edns::Do);
        msg.set_edns(edns);
    }
    let wire = msg.to_vec().map_err(|e| format!("encode: {e}"))?;
    let addr = SocketAddr::from((server, port));
    let bytes = if q.tcp {
        ask_tcp(addr, &wire)?
    } else {
        let mut last = String::new();
        let mut got = None;
        // Loopback loses nothing: a second try is enough, and a server that never answers
        // a question (CoreDNS does not, for some) costs two seconds, not more.
        for _ in 0..2 {
            match ask_udp(addr, &wire, id) {
                Ok(b) => {
                    got = Some(b);
                    break;
                }
                Err(e) => last = e,
            }
        }
        got.ok_or(last)?
    };
    let reply = Message::from_vec(&bytes).map_err(|e| format!("unparsable reply: {e}"))?;
    if reply.metadata.id != id {
        return Err(format!("reply id {} for query id {id}", reply.metadata.id));
    }
    Ok(canonical(&reply))
}

fn ask_udp(addr: SocketAddr, wire: &[u8], id: u16) -> Result<Vec<u8>, String> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    socket.send_to(wire, addr).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, _) = socket
            .recv_from(&mut buf)
            .map_err(|e| format!("no UDP reply: {e}"))?;
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return Ok(buf[..n].to_vec());
        }
    }
}

fn ask_tcp(addr: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("TCP connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("no TCP reply: {e}"))?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("short TCP reply: {e}"))?;
    Ok(buf)
}

fn record_text(r: &Record) -> String {
    let data = match &r.data {
        RData::SOA(soa) => format!(
            "{} {} <serial> {} {} {} {}",
            soa.mname, soa.rname, soa.refresh, soa.retry, soa.expire, soa.minimum
        ),
        other => other.to_string(),
    };
    format!("{} {} {} {}", r.name, r.ttl, r.record_type(), data)
}

fn section(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(record_text).collect();
    v.sort();
    v
}

fn canonical(m: &Message) -> Reply {
    let h = &m.metadata;
    let mut flags = Vec::new();
    for (on, name) in [
        (h.message_type == MessageType::Response, "qr"),
        (h.authoritative, "aa"),
        (h.truncation, "tc"),
        (h.recursion_desired, "rd"),
        (h.recursion_available, "ra"),
        (h.authentic_data, "ad"),
        (h.checking_disabled, "cd"),
    ] {
        if on {
            flags.push(name);
        }
    }
    Reply {
        // 16 is BADSIG to hickory; with an OPT in the reply it is BADVERS.
        rcode: match format!("{:?}", h.response_code).to_uppercase() {
            r if r == "BADSIG" && m.edns.is_some() => "BADVERS".into(),
            r => r,
        },
        flags: flags.join(" "),
        question: m
            .queries
            .iter()
            .map(|q| format!("{} {} {}", q.name(), q.query_class(), q.query_type()))
            .collect(),
        answer: section(&m.answers),
        authority: section(&m.authorities),
        additional: section(&m.additionals),
        edns: match &m.edns {
            None => "none".into(),
            Some(e) => format!(
                "version={} do={} size={}",
                e.version(),
                u8::from(e.flags().dnssec_ok),
                e.max_payload()
            ),
        },
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "      {} flags [{}] edns [{}]",
            self.rcode, self.flags, self.edns
        )?;
        for q in &self.question {
            writeln!(f, "      QUESTION   {q}")?;
        }
        for (label, records) in [
            ("ANSWER    ", &self.answer),
            ("AUTHORITY ", &self.authority),
            ("ADDITIONAL", &self.additional),
        ] {
            for r in records.iter() {
                writeln!(f, "      {label} {r}")?;
            }
        }
        Ok(())
    }
}

/// The aspects in which two replies differ (empty: the same answer).
pub fn aspects(theirs: &Result<Reply, String>, ours: &Result<Reply, String>) -> Vec<&'static str> {
    let (t, o) = match (theirs, ours) {
        (Ok(t), Ok(o)) => (t, o),
        (Err(_), Err(_)) => return Vec::new(),
        _ => return vec!["no-reply"],
    };
    // Both truncated: which records a partial answer keeps is the server's choice, and the
    // client asks again over TCP (RFC 2181 9); only the header and question must agree.
    let truncated = |r: &Reply| r.flags.split(' ').any(|f| f == "tc");
    let both_truncated = truncated(t) && truncated(o);
    let mut v = Vec::new();
    if t.rcode != o.rcode {
        v.push("rcode");
    }
    if t.flags != o.flags {
        v.push("flags");
    }
    if t.question != o.question {
        v.push("question");
    }
    if t.edns != o.edns {
        v.push("edns");
    }
    let strip_ttl = |records: &[String]| {
        let mut v: Vec<String> = records
            .iter()
            .map(|r| {
                let mut parts: Vec<&str> = r.split(' ').collect();
                if parts.len() > 1 {
                    parts.remove(1);
                }
                parts.join(" ")
            })
            .collect();
        v.sort();
        v
    };
    if both_truncated {
        return v;
    }
    let mut ttl = false;
    for (name, a, b) in [
        ("answer", &t.answer, &o.answer),
        ("authority", &t.authority, &o.authority),
        ("additional", &t.additional, &o.additional),
    ] {
        if a != b {
            if strip_ttl(a) == strip_ttl(b) {
                ttl = true;
            } else {
                v.push(name);
            }
        }
    }
    if ttl {
        v.push("ttl");
    }
    v
}

/// One difference found.
pub struct Difference {
    /// Which Corefile the two servers ran (`COREFILES` in differential.rs).
    pub corefile: &'static str,
    pub question: Question,
    pub theirs: Result<Reply, String>,
    pub ours: Result<Reply, String>,
    pub aspects: Vec<&'static str>,
}

impl Difference {
    fn rcode(r: &Result<Reply, String>) -> String {
        match r {
            Ok(r) => r.rcode.clone(),
            Err(_) => "no reply".into(),
        }
    }

    /// The group this difference belongs to.
    pub fn group(&self) -> String {
        // An EDNS version 1 question is answered BADVERS whatever the name: one group.
        let form = if self.question.edns == Edns::V1 {
            "edns-v1 (any name)"
        } else {
            &self.question.form
        };
        format!(
            "[{}] {form}: {} (CoreDNS {}, ours {})",
            self.corefile,
            self.aspects.join("+"),
            Self::rcode(&self.theirs),
            Self::rcode(&self.ours)
        )
    }

    pub fn show(&self) -> String {
        let side = |r: &Result<Reply, String>| match r {
            Ok(r) => r.to_string(),
            Err(e) => format!("      {e}\n"),
        };
        format!(
            "    question: {} [Corefile {}]\n    differs in: {}\n    CoreDNS:\n{}    cluster-dns:\n{}",
            self.question,
            self.corefile,
            self.aspects.join(", "),
            side(&self.theirs),
            side(&self.ours)
        )
    }
}

/// One allowlist entry: which differences it allows and the docs/differences.md row that
/// says why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowed {
    /// The row ID in docs/differences.md (`D-...`).
    pub row: String,
    /// Forms this applies to; a trailing `*` matches a prefix, a leading one a suffix.
    pub forms: Vec<String>,
    /// Query types (all when absent).
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// The differing aspects must all be among these (any when absent).
    #[serde(default)]
    pub aspects: Option<Vec<String>>,
    /// EDNS variants (`no-edns`, `edns`, `edns+do`, `edns-v1`; all when absent).
    #[serde(default)]
    pub edns: Option<Vec<String>>,
    /// Corefiles (`multicluster`, `kubeadm`; all when absent).
    #[serde(default)]
    pub corefiles: Option<Vec<String>>,
    /// Our answer's rcode (any when absent).
    #[serde(default)]
    pub ours: Option<String>,
    /// CoreDNS's answer's rcode (any when absent).
    #[serde(default)]
    pub coredns: Option<String>,
    /// A difference where CoreDNS is right, waiting for a fix in a room this test does not
    /// own (the entry goes when the fix lands).
    #[serde(default)]
    pub pending_fix: bool,
}

impl Allowed {
    pub fn allows(&self, d: &Difference) -> bool {
        let form = &d.question.form;
        let form_ok = self.forms.iter().any(|f| {
            if let Some(prefix) = f.strip_suffix('*') {
                form.starts_with(prefix)
            } else if let Some(suffix) = f.strip_prefix('*') {
                form.ends_with(suffix)
            } else {
                form == f
            }
        });
        let type_ok = self.types.as_ref().is_none_or(|types| {
            types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&d.question.qtype.to_string()))
        });
        let aspects_ok = self
            .aspects
            .as_ref()
            .is_none_or(|allowed| d.aspects.iter().all(|a| allowed.iter().any(|b| b == a)));
        let edns_ok = self
            .edns
            .as_ref()
            .is_none_or(|e| e.iter().any(|v| v == d.question.edns.label()));
        let ours_ok = self
            .ours
            .as_ref()
            .is_none_or(|r| r.eq_ignore_ascii_case(&Difference::rcode(&d.ours)));
        let theirs_ok = self
            .coredns
            .as_ref()
            .is_none_or(|r| r.eq_ignore_ascii_case(&Difference::rcode(&d.theirs)));
        let corefile_ok = self
            .corefiles
            .as_ref()
            .is_none_or(|c| c.iter().any(|v| v == d.corefile));
        form_ok && type_ok && aspects_ok && edns_ok && ours_ok && theirs_ok && corefile_ok
    }
}

/// Reads the allowlist and checks that every entry names a row of `differences_md`.
pub fn load_allowlist(yaml: &str, differences_md: &str) -> Vec<Allowed> {
    let list: Vec<Allowed> = serde_yaml::from_str(yaml).expect("the allowlist parses");
    for entry in &list {
        let row = format!("| {} |", entry.row);
        assert!(
            differences_md.contains(&row),
            "allowlist entry {entry:?} names row {} which docs/differences.md does not have",
            entry.row
        );
    }
    list
}

/// Groups `diffs` by [`Difference::group`], keeping the count and the first example.
pub fn group(diffs: &[Difference]) -> BTreeMap<String, (usize, &Difference)> {
    let mut groups: BTreeMap<String, (usize, &Difference)> = BTreeMap::new();
    for d in diffs {
        groups.entry(d.group()).or_insert((0, d)).0 += 1;
    }
    groups
}
