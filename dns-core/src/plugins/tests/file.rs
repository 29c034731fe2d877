//! `file`: the zone file reader (syntax, defaults, includes, every error with its line), the
//! answers of a zone (positive, NXDOMAIN, NODATA, empty non-terminals, CNAMEs, referrals,
//! wildcards), setup and reload, and the plugin in a chain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use super::{ask_as, render_answers, router};
use crate::corefile::parse_str;
use crate::plugins::file::zonefile::{self, ZoneFileError};
use crate::plugins::file::{FileConfig, FileZones, Found, LoadError, Outcome, Zone, parse};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn no_include(_: &Path) -> Result<String, String> {
    Err("no includes here".into())
}

fn read(text: &str) -> Result<Vec<Record>, ZoneFileError> {
    zonefile::parse(
        text,
        Path::new("db.test"),
        &name("example.test."),
        &no_include,
    )
}

fn render(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

const ZONE: &str = r#"; the example zone
$ORIGIN example.test.
$TTL 300
@   IN  SOA ns1 hostmaster (
            2026113001 ; serial
            7200 3600 1209600
            60 )
        IN  NS  ns1
        IN  NS  ns.elsewhere.test.
        IN  MX  10 mail
ns1         A   198.18.1.1
mail    60  A   198.18.1.2
            AAAA 2001:db8::2
www     IN 120 A 198.18.1.10
        A   198.18.1.11
alias       CNAME www
chain       CNAME alias
out         CNAME target.elsewhere.test.
loop1       CNAME loop2
loop2       CNAME loop1
txt         TXT "v=spf1 -all; not a comment" "two"
_sip._tcp   SRV 0 5 5060 mail
caa         CAA 0 issue "ca.example"
a.b.ent     A   198.18.1.20
*.wild      A   198.18.1.30
*.wild      TXT "wildcard"
x.*.wild2   A   198.18.1.31
*.cname     CNAME www
sub         NS  ns1.sub
sub         NS  ns.elsewhere.test.
ns1.sub     A   198.18.1.40
*           A   198.18.1.50
deep.*.ent2 A   198.18.1.51
"#;

#[test]
fn zone_file_syntax() {
    let records = read(ZONE).unwrap();
    let rendered = render(&records);
    let want = [
        "example.test. 300 SOA ns1.example.test. hostmaster.example.test. 2026113001 7200 3600 1209600 60",
        "example.test. 300 NS ns1.example.test.",
        "example.test. 300 NS ns.elsewhere.test.",
        "example.test. 300 MX 10 mail.example.test.",
        "ns1.example.test. 300 A 198.18.1.1",
        "mail.example.test. 60 A 198.18.1.2",
        "mail.example.test. 300 AAAA 2001:db8::2",
        "www.example.test. 120 A 198.18.1.10",
    ];
    assert_eq!(rendered[..want.len()], want);
    assert!(
        rendered.iter().any(
            |r| r.starts_with("txt.example.test. 300 TXT") && r.contains("-all; not a comment")
        ),
        "{rendered:?}"
    );
    assert!(
        rendered
            .contains(&"_sip._tcp.example.test. 300 SRV 0 5 5060 mail.example.test.".to_string())
    );
    assert_eq!(records.len(), 27);
}

/// TTLs as miekg/dns defaults them: `$TTL`, else the last TTL written, else 3600; TTL and
/// class in either order; units.
#[test]
fn zone_file_ttls_and_classes() {
    let cases: &[(&str, &[u32])] = &[
        ("a A 198.18.1.1\n", &[3600]),
        ("a 60 A 198.18.1.1\nb A 198.18.1.2\n", &[60, 60]),
        ("$TTL 1h\na 60 A 198.18.1.1\nb A 198.18.1.2\n", &[60, 3600]),
        ("a IN 70 A 198.18.1.1\nb 80 IN A 198.18.1.2\n", &[70, 80]),
        ("a 1h30m A 198.18.1.1\n", &[5400]),
        ("$ttl 5\na A 198.18.1.1\n", &[5]),
    ];
    for (text, want) in cases {
        let records = read(text).unwrap();
        let ttls: Vec<u32> = records.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, *want, "{text}");
    }
}

/// Every error names its line, and says what is wrong.
#[test]
fn zone_file_errors_name_the_line() {
    let cases: &[(&str, u32, &str)] = &[
        (
            "a A 198.18.1.1\nb BOGUS 1\n",
            2,
            "unknown record type \"BOGUS\"",
        ),
        ("\n\na A 300.1.1.1\n", 3, "invalid A record"),
        ("a TXT \"open\n", 1, "unterminated quoted string"),
        ("@ SOA ns1 host (\n 1 2 3 4\n", 1, "'(' without ')'"),
        ("a A 198.18.1.1 )\n", 1, "')' without '('"),
        ("   A 198.18.1.1\n", 1, "without an owner name"),
        ("$ORIGIN\n", 1, "$ORIGIN needs one domain name"),
        ("$TTL forever\n", 1, "invalid $TTL"),
        (
            "$GENERATE 1-10 host$ A 198.18.1.$\n",
            1,
            "$GENERATE is not supported",
        ),
        ("a A\n", 1, "A record without data"),
        ("a 99999999999 A 198.18.1.1\n", 1, "invalid TTL"),
        ("a\n", 1, "a record without a type"),
        ("$INCLUDE other.db\n", 1, "no includes here"),
        ("a MX ten mail\n", 1, "invalid MX record"),
    ];
    for (text, line, message) in cases {
        let e = read(text).unwrap_err();
        assert_eq!(e.line, *line, "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {e}");
        assert!(
            e.to_string().starts_with(&format!("db.test:{line}: ")),
            "{e}"
        );
    }
}

/// `$INCLUDE FILE [ORIGIN]`: relative to the including file, its own origin, the parent's
/// origin unchanged after it, nesting bounded.
#[test]
fn zone_file_includes() {
    let include = |path: &Path| -> Result<String, String> {
        match path.to_str() {
            Some("/zones/hosts.db") => {
                Ok("host A 198.18.1.1\n$ORIGIN inner.example.test.\nin A 198.18.1.2\n".into())
            }
            Some("/zones/self.db") => Ok("$INCLUDE self.db\n".into()),
            other => Err(format!("no file {other:?}")),
        }
    };
    let records = zonefile::parse(
        "$INCLUDE hosts.db\nafter A 198.18.1.3\n$INCLUDE /zones/hosts.db sub.example.test.\n",
        Path::new("/zones/db.example"),
        &name("example.test."),
        &include,
    )
    .unwrap();
    let names: Vec<String> = records.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "host.example.test.",
            "in.inner.example.test.",
            "after.example.test.",
            "host.sub.example.test.",
            "in.inner.example.test.",
        ]
    );
    let e = zonefile::parse(
        "$INCLUDE self.db\n",
        Path::new("/zones/db.example"),
        &name("example.test."),
        &include,
    )
    .unwrap_err();
    assert!(e.message.contains("nested deeper than 7"), "{e}");
    assert_eq!(e.file, "/zones/self.db");
}

/// A signed zone serves its data; its DNSSEC records are skipped.
#[test]
fn zone_file_skips_dnssec_records() {
    let records = read(
        "a A 198.18.1.1\na RRSIG A 8 3 300 20300101000000 20200101000000 1 example.test. AAAA\n\
         a NSEC b A RRSIG NSEC\n@ DNSKEY 257 3 8 AwEAAa==\n",
    )
    .unwrap();
    assert_eq!(render(&records), ["a.example.test. 3600 A 198.18.1.1"]);
}

fn zone() -> Zone {
    Zone::new(&name("example.test."), read(ZONE).unwrap()).unwrap()
}

fn sections(found: &Found) -> [Vec<String>; 3] {
    let r = |rs: &[Record]| {
        rs.iter()
            .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
            .collect::<Vec<_>>()
    };
    [r(&found.answers), r(&found.authority), r(&found.additional)]
}

const SOA: &str =
    "example.test. SOA ns1.example.test. hostmaster.example.test. 2026113001 7200 3600 1209600 60";
const APEX_NS: [&str; 2] = [
    "example.test. NS ns1.example.test.",
    "example.test. NS ns.elsewhere.test.",
];

/// Each question's outcome and sections, as CoreDNS's file plugin answers it.
#[test]
fn zone_answers() {
    let z = zone();
    type Case<'a> = (
        &'a str,
        RecordType,
        Outcome,
        &'a [&'a str],
        &'a [&'a str],
        &'a [&'a str],
    );
    let cases: &[Case<'_>] = &[
        // The apex: SOA with the NS in authority; NS with glue in additional.
        (
            "example.test.",
            RecordType::SOA,
            Outcome::Success,
            &[SOA],
            &APEX_NS,
            &[],
        ),
        (
            "example.test.",
            RecordType::NS,
            Outcome::Success,
            &APEX_NS,
            &[],
            &["ns1.example.test. A 198.18.1.1"],
        ),
        // MX at the apex: its in-zone target's addresses in additional.
        (
            "example.test.",
            RecordType::MX,
            Outcome::Success,
            &["example.test. MX 10 mail.example.test."],
            &APEX_NS,
            &[
                "mail.example.test. A 198.18.1.2",
                "mail.example.test. AAAA 2001:db8::2",
            ],
        ),
        (
            "example.test.",
            RecordType::A,
            Outcome::NoData,
            &[],
            &[SOA],
            &[],
        ),
        // A name, case-insensitively, in file order; the zone's spelling.
        (
            "WWW.example.test.",
            RecordType::A,
            Outcome::Success,
            &[
                "www.example.test. A 198.18.1.10",
                "www.example.test. A 198.18.1.11",
            ],
            &APEX_NS,
            &[],
        ),
        (
            "www.example.test.",
            RecordType::AAAA,
            Outcome::NoData,
            &[],
            &[SOA],
            &[],
        ),
        (
            "nope.sub2.example.test.",
            RecordType::A,
            Outcome::Success,
            &["nope.sub2.example.test. A 198.18.1.50"],
            &APEX_NS,
            &[],
        ),
        // An empty non-terminal: NOERROR, no answer, the SOA.
        (
            "b.ent.example.test.",
            RecordType::A,
            Outcome::Success,
            &[],
            &[SOA],
            &[],
        ),
        (
            "ent.example.test.",
            RecordType::TXT,
            Outcome::Success,
            &[],
            &[SOA],
            &[],
        ),
        // SRV: its target's addresses.
        (
            "_sip._tcp.example.test.",
            RecordType::SRV,
            Outcome::Success,
            &["_sip._tcp.example.test. SRV 0 5 5060 mail.example.test."],
            &APEX_NS,
            &[
                "mail.example.test. A 198.18.1.2",
                "mail.example.test. AAAA 2001:db8::2",
            ],
        ),
        // CNAMEs followed through the zone.
        (
            "alias.example.test.",
            RecordType::A,
            Outcome::Success,
            &[
                "alias.example.test. CNAME www.example.test.",
                "www.example.test. A 198.18.1.10",
                "www.example.test. A 198.18.1.11",
            ],
            &APEX_NS,
            &[],
        ),
        (
            "chain.example.test.",
            RecordType::A,
            Outcome::Success,
            &[
                "chain.example.test. CNAME alias.example.test.",
                "alias.example.test. CNAME www.example.test.",
                "www.example.test. A 198.18.1.10",
                "www.example.test. A 198.18.1.11",
            ],
            &APEX_NS,
            &[],
        ),
        // The target has no record of the type: the CNAME alone, still NOERROR with the NS.
        (
            "alias.example.test.",
            RecordType::MX,
            Outcome::Success,
            &["alias.example.test. CNAME www.example.test."],
            &APEX_NS,
            &[],
        ),
        (
            "alias.example.test.",
            RecordType::CNAME,
            Outcome::Success,
            &["alias.example.test. CNAME www.example.test."],
            &APEX_NS,
            &[],
        ),
        // A loop ends after 8 steps.
        (
            "loop1.example.test.",
            RecordType::A,
            Outcome::Success,
            &[
                "loop1.example.test. CNAME loop2.example.test.",
                "loop2.example.test. CNAME loop1.example.test.",
                "loop1.example.test. CNAME loop2.example.test.",
                "loop2.example.test. CNAME loop1.example.test.",
                "loop1.example.test. CNAME loop2.example.test.",
                "loop2.example.test. CNAME loop1.example.test.",
                "loop1.example.test. CNAME loop2.example.test.",
                "loop2.example.test. CNAME loop1.example.test.",
                "loop1.example.test. CNAME loop2.example.test.",
                "loop2.example.test. CNAME loop1.example.test.",
            ],
            &APEX_NS,
            &[],
        ),
        // Wildcards: the owner becomes the question; other types NODATA.
        (
            "host.wild.example.test.",
            RecordType::A,
            Outcome::Success,
            &["host.wild.example.test. A 198.18.1.30"],
            &APEX_NS,
            &[],
        ),
        (
            "a.b.wild.example.test.",
            RecordType::TXT,
            Outcome::Success,
            &["a.b.wild.example.test. TXT wildcard"],
            &APEX_NS,
            &[],
        ),
        (
            "host.wild.example.test.",
            RecordType::AAAA,
            Outcome::NoData,
            &[],
            &[SOA],
            &[],
        ),
        // An empty non-terminal is a name that exists: the apex wildcard does not answer for
        // it (RFC 4592 §2.2.2; CoreDNS synthesises here, docs/differences.md).
        (
            "wild.example.test.",
            RecordType::A,
            Outcome::Success,
            &[],
            &[SOA],
            &[],
        ),
        // A wildcard that is an empty non-terminal: NODATA.
        (
            "y.wild2.example.test.",
            RecordType::A,
            Outcome::NoData,
            &[],
            &[SOA],
            &[],
        ),
        // A closer empty non-terminal blocks the apex wildcard (RFC 4592 §2.2.1).
        (
            "z.ent.example.test.",
            RecordType::A,
            Outcome::NameError,
            &[],
            &[SOA],
            &[],
        ),
        // A wildcard that is itself an empty non-terminal: NODATA.
        (
            "z.ent2.example.test.",
            RecordType::A,
            Outcome::NoData,
            &[],
            &[SOA],
            &[],
        ),
        // A wildcard CNAME, followed.
        (
            "app.cname.example.test.",
            RecordType::A,
            Outcome::Success,
            &[
                "app.cname.example.test. CNAME www.example.test.",
                "www.example.test. A 198.18.1.10",
                "www.example.test. A 198.18.1.11",
            ],
            &APEX_NS,
            &[],
        ),
        // Below a zone cut: a referral with glue.
        (
            "sub.example.test.",
            RecordType::A,
            Outcome::Delegation,
            &[],
            &[
                "sub.example.test. NS ns1.sub.example.test.",
                "sub.example.test. NS ns.elsewhere.test.",
            ],
            &["ns1.sub.example.test. A 198.18.1.40"],
        ),
        (
            "deep.sub.example.test.",
            RecordType::A,
            Outcome::Delegation,
            &[],
            &[
                "sub.example.test. NS ns1.sub.example.test.",
                "sub.example.test. NS ns.elsewhere.test.",
            ],
            &["ns1.sub.example.test. A 198.18.1.40"],
        ),
        (
            "ns1.sub.example.test.",
            RecordType::A,
            Outcome::Delegation,
            &[],
            &[
                "sub.example.test. NS ns1.sub.example.test.",
                "sub.example.test. NS ns.elsewhere.test.",
            ],
            &["ns1.sub.example.test. A 198.18.1.40"],
        ),
        // DS at the cut is this zone's: NODATA (DS records are not served here).
        (
            "sub.example.test.",
            RecordType::DS,
            Outcome::NoData,
            &[],
            &[SOA],
            &[],
        ),
    ];
    for (qname, qtype, outcome, answers, authority, additional) in cases {
        let found = z.lookup(&name(qname).to_lowercase(), *qtype);
        assert_eq!(found.outcome, *outcome, "{qname} {qtype}");
        assert_eq!(found.chase, None, "{qname} {qtype}");
        let [a, ns, extra] = sections(&found);
        assert_eq!(a, *answers, "{qname} {qtype} answers");
        assert_eq!(ns, *authority, "{qname} {qtype} authority");
        assert_eq!(extra, *additional, "{qname} {qtype} additional");
    }
}

/// A CNAME out of the zone is handed back to be asked of the server; its answer completes it.
#[test]
fn zone_cname_out_of_the_zone() {
    let z = zone();
    let found = z.lookup(&name("out.example.test."), RecordType::A);
    assert_eq!(found.chase, Some(name("target.elsewhere.test.")));
    let target = Record::from_rdata(
        name("target.elsewhere.test."),
        30,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A("198.18.2.1".parse().unwrap())),
    );
    let done = z.chased(found.clone(), Some((Outcome::Success, vec![target])));
    assert_eq!(done.outcome, Outcome::Success);
    assert_eq!(
        sections(&done)[0],
        [
            "out.example.test. CNAME target.elsewhere.test.",
            "target.elsewhere.test. A 198.18.2.1"
        ]
    );
    assert_eq!(sections(&done)[1], APEX_NS);
    let denied = z.chased(found.clone(), Some((Outcome::NameError, Vec::new())));
    assert_eq!(denied.outcome, Outcome::NameError);
    assert_eq!(sections(&denied)[1], [SOA]);
    let nothing = z.chased(found, None);
    assert_eq!(nothing.outcome, Outcome::Success);
    assert_eq!(nothing.answers.len(), 1);
}

#[test]
fn zone_without_soa_is_refused() {
    let records = read("www A 198.18.1.1\n").unwrap();
    let e = Zone::new(&name("example.test."), records).unwrap_err();
    assert_eq!(e.to_string(), "no SOA record for origin example.test.");
}

/// A transfer: SOA, apex NS, the rest by name in canonical order, SOA.
#[test]
fn zone_transfer_order() {
    let z = Zone::new(
        &name("example.test."),
        read("$TTL 60\n@ SOA ns1 host 7 1 1 1 1\nb A 198.18.1.2\n@ NS ns1\na.b A 198.18.1.3\na A 198.18.1.1\nout.other.test. A 198.18.1.9\n")
            .unwrap(),
    )
    .unwrap();
    let names: Vec<String> = z
        .transfer()
        .iter()
        .map(|r| format!("{} {}", r.name, r.record_type()))
        .collect();
    assert_eq!(
        names,
        [
            "example.test. SOA",
            "example.test. NS",
            "a.example.test. A",
            "b.example.test. A",
            "a.b.example.test. A",
            "example.test. SOA"
        ]
    );
    assert_eq!(z.serial(), 7);
    assert_eq!(z.len(), 5);
}

fn config(directive: &str) -> Result<FileConfig, String> {
    let src = format!("example.test:53 {{\n  {directive}\n}}\n");
    let c = parse_str(&src, "Corefile", &|_| None).map_err(|e| e.to_string())?;
    parse(&c.blocks[0].directives[0], &[name("example.test.")]).map_err(|e| e.to_string())
}

#[test]
fn file_setup_options_and_errors() {
    let c = config("file db.example").unwrap();
    assert_eq!(c.path, PathBuf::from("db.example"));
    assert_eq!(c.origins, [name("example.test.")]);
    assert_eq!(c.reload, Duration::from_secs(60));
    assert!(!c.reload_by_mtime);
    let c = config(
        "file db.example other.test Third.Test {\n reload 0\n reload_by_mtime\n fallthrough\n upstream\n }",
    )
    .unwrap();
    assert_eq!(c.origins, [name("other.test."), name("third.test.")]);
    assert_eq!(c.reload, Duration::ZERO);
    assert!(c.reload_by_mtime);
    assert!(c.fallthrough.through(&name("x.other.test.")));
    let errors: &[(&str, &str)] = &[
        (
            "file",
            "Corefile:2:3: file: file needs a zone file: file DBFILE [ZONES...]",
        ),
        (
            "file db {\n reload\n }",
            "Corefile:3:2: file: reload duration value is expected",
        ),
        (
            "file db {\n reload soon\n }",
            "Corefile:3:9: file: invalid duration \"soon\"",
        ),
        (
            "file db {\n serial 1\n }",
            "Corefile:3:2: file: unknown property \"serial\"",
        ),
        (
            "file db bad..zone",
            "Corefile:2:11: file: invalid zone \"bad..zone\"",
        ),
    ];
    for (directive, want) in errors {
        assert_eq!(config(directive).unwrap_err(), *want, "{directive}");
    }
}

/// A scratch directory of this test process.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("signpost-file-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn soa_zone(serial: u32, address: &str) -> String {
    format!("$ORIGIN example.test.\n$TTL 60\n@ SOA ns1 host {serial} 1 1 1 1\nwww A {address}\n")
}

fn www(zones: &FileZones) -> Vec<String> {
    let zone = zones.zone(&name("example.test.")).unwrap();
    sections(&zone.lookup(&name("www.example.test."), RecordType::A))[0].clone()
}

/// Reload serves the file anew only when the serial changed; a broken file keeps the zone.
#[test]
fn reload_follows_the_serial() {
    let dir = scratch("reload");
    let path = dir.join("db.example");
    std::fs::write(&path, soa_zone(1, "198.18.1.1")).unwrap();
    let mut c = config(&format!("file {}", path.display())).unwrap();
    let zones = FileZones::load(&c).unwrap();
    assert_eq!(www(&zones), ["www.example.test. A 198.18.1.1"]);
    // Same serial: not served anew.
    std::fs::write(&path, soa_zone(1, "198.18.1.2")).unwrap();
    assert!(zones.refresh().is_empty());
    assert_eq!(www(&zones), ["www.example.test. A 198.18.1.1"]);
    // A new serial: served.
    std::fs::write(&path, soa_zone(2, "198.18.1.2")).unwrap();
    assert_eq!(zones.refresh(), [name("example.test.")]);
    assert_eq!(www(&zones), ["www.example.test. A 198.18.1.2"]);
    // Broken: kept, and counted.
    let failed = || {
        crate::plugins::file::RELOAD_FAILED
            .with_label_values(&["example.test."])
            .get()
    };
    let before = failed();
    std::fs::write(
        &path,
        "$ORIGIN example.test.\n@ SOA ns1 host 3 1 1 1 1\nwww A not-an-address\n",
    )
    .unwrap();
    assert!(zones.refresh().is_empty());
    assert_eq!(failed(), before + 1);
    assert_eq!(www(&zones), ["www.example.test. A 198.18.1.2"]);
    // reload_by_mtime: a new modification time is enough.
    c.reload_by_mtime = true;
    std::fs::write(&path, soa_zone(5, "198.18.1.5")).unwrap();
    let zones = FileZones::load(&c).unwrap();
    std::fs::write(&path, soa_zone(5, "198.18.1.6")).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(zones.refresh(), [name("example.test.")]);
    assert_eq!(www(&zones), ["www.example.test. A 198.18.1.6"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// At start: a broken file stops it with file and line; a missing one too under `reload 0`,
/// else its zones answer SERVFAIL until it appears.
#[test]
fn load_errors_at_start() {
    let dir = scratch("start");
    let path = dir.join("db.example");
    std::fs::write(
        &path,
        "$ORIGIN example.test.\n@ SOA ns1 host 1 1 1 1 1\nwww A 1.2.3\n",
    )
    .unwrap();
    let c = config(&format!("file {}", path.display())).unwrap();
    match FileZones::load(&c) {
        Err(LoadError::Syntax(e)) => {
            assert_eq!(e.line, 3);
            assert_eq!(e.file, path.display().to_string());
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let missing = dir.join("absent");
    let c = config(&format!("file {} {{\n reload 0\n }}", missing.display())).unwrap();
    assert!(matches!(FileZones::load(&c), Err(LoadError::Read { .. })));
    let c = config(&format!("file {}", missing.display())).unwrap();
    let zones = FileZones::load(&c).unwrap();
    assert!(zones.zone(&name("example.test.")).is_none());
    std::fs::write(&missing, soa_zone(1, "198.18.1.1")).unwrap();
    assert_eq!(zones.refresh(), [name("example.test.")]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// In a chain: AA set, NXDOMAIN, referrals without AA, fallthrough, transfers refused, a
/// missing zone SERVFAIL, and a CNAME to another block's name answered through the server.
#[tokio::test]
async fn file_in_a_chain() {
    let dir = scratch("chain");
    let path = dir.join("db.example");
    std::fs::write(&path, ZONE).unwrap();
    let corefile = format!(
        "example.test:53 {{\n file {path} {{\n  fallthrough b.ent.example.test\n }}\n whoami\n}}\n\
         elsewhere.test:53 {{\n hosts {{\n  198.18.2.1 target.elsewhere.test\n }}\n}}\n\
         missing.test:53 {{\n file {dir}/absent\n}}\n",
        path = path.display(),
        dir = dir.display()
    );
    let r = router(&corefile);
    let ask = |qname: &'static str, qtype| {
        let r = &r;
        async move { ask_as(r, "127.0.0.1", qname, qtype).await }
    };
    let m = ask("www.example.test.", RecordType::A).await;
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 2);
    assert_eq!(m.authorities.len(), 2);
    let m = ask("nothing.ent.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert_eq!(m.authorities.len(), 1);
    let m = ask("deep.sub.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.authoritative);
    assert_eq!(m.authorities.len(), 2);
    assert_eq!(m.additionals.len(), 1);
    // A name error under `fallthrough` goes on to whoami.
    let m = ask("q.b.ent.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.additionals.len(), 2);
    let m = ask("example.test.", RecordType::AXFR).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = ask("out.example.test.", RecordType::A).await;
    assert!(m.metadata.authoritative);
    assert_eq!(
        render_answers(&m),
        [
            "out.example.test. CNAME target.elsewhere.test.",
            "target.elsewhere.test. A 198.18.2.1"
        ]
    );
    let m = ask("www.missing.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let _ = std::fs::remove_dir_all(&dir);
}
