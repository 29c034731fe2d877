//! The zone plugins as a client sees them: `file` and `transfer` answered with dig beside
//! CoreDNS 1.15.0 (`$SIGNPOST_COREDNS`) on the same Corefile and zone file, question by question
//! and AXFR by AXFR; a reload with a new serial served and NOTIFY sent; transfers refused to
//! clients not listed; the cluster zone transferred from a snapshot.

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use signpost_tests::baseline::Server;
use signpost_tests::kube_fixtures::{
    TestNamespace, cluster_ip_service_json, create_service_slice, headless_service_json,
};
use signpost_tests::{ClusterDns, ControlPlane, DigResult, TempDir, example_cluster, free_port};

/// The unit tests' zone (dns-core/src/plugins/tests/file.rs) less what would only show the
/// deliberate differences from CoreDNS (D-FILE-WILDCARD-ENT: the apex `*` over empty
/// non-terminals) and the CNAME loop: every question here must get CoreDNS's answer.
const ZONE: &str = r#"$ORIGIN example.test.
$TTL 300
@   IN  SOA ns1 hostmaster (
            2026113001 ; serial
            7200 3600 1209600 60 )
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
txt         TXT "v=spf1 -all; not a comment" "two"
_sip._tcp   SRV 0 5 5060 mail
caa         CAA 0 issue "ca.example"
a.b.ent     A   198.18.1.20
*.wild      A   198.18.1.30
*.cname     CNAME www
sub         NS  ns1.sub
sub         NS  ns.elsewhere.test.
ns1.sub     A   198.18.1.40
"#;

/// Questions whose answers must be CoreDNS's, section by section.
const QUESTIONS: &[(&str, &str)] = &[
    ("example.test", "SOA"),
    ("example.test", "NS"),
    ("example.test", "MX"),
    ("example.test", "A"),
    ("www.example.test", "A"),
    ("WwW.Example.Test", "A"),
    ("www.example.test", "AAAA"),
    ("mail.example.test", "AAAA"),
    ("alias.example.test", "A"),
    ("chain.example.test", "A"),
    ("alias.example.test", "CNAME"),
    ("alias.example.test", "MX"),
    ("out.example.test", "A"),
    ("txt.example.test", "TXT"),
    ("_sip._tcp.example.test", "SRV"),
    ("caa.example.test", "CAA"),
    ("nothing.example.test", "A"),
    ("b.ent.example.test", "A"),
    ("x.b.ent.example.test", "A"),
    ("host.wild.example.test", "A"),
    ("a.b.wild.example.test", "A"),
    ("host.wild.example.test", "AAAA"),
    ("app.cname.example.test", "A"),
    ("sub.example.test", "A"),
    ("deep.sub.example.test", "AAAA"),
    ("ns1.sub.example.test", "A"),
];

const COREFILE: &str = "example.test:{PORT} {
    {BIND}
    ready 127.0.0.1:{READY}
    file {ZONEFILE} {
        reload 1s
    }
    transfer {
        to * 127.0.0.1:{NOTIFY}
    }
}
other.test:{PORT} {
    {BIND}
    file {OTHERFILE}
    transfer {
        to 127.0.0.2:{NOTIFY2}
    }
}
elsewhere.test:{PORT} {
    {BIND}
    hosts {
        198.18.2.1 target.elsewhere.test
    }
}
";

fn sorted(rrs: &[signpost_tests::Rr]) -> Vec<String> {
    let mut v: Vec<String> = rrs
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.name.to_lowercase(),
                r.ttl,
                r.rtype,
                r.rdata
            )
        })
        .collect();
    v.sort();
    v
}

/// What a comparison looks at: status, AA, and the three sections as sorted lines.
fn shape(r: &DigResult) -> (Option<String>, bool, [Vec<String>; 3]) {
    (
        r.status.clone(),
        r.has_flag("aa"),
        [
            sorted(&r.answer),
            sorted(&r.authority),
            sorted(&r.additional),
        ],
    )
}

/// `dig AXFR` (or IXFR=serial) of `zone` as sorted record lines, and dig's own verdict line.
fn transfer(port: u16, zone: &str, kind: &str) -> (Vec<String>, String) {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+nocookie",
            zone,
            kind,
        ])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut records: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .collect();
    records.sort();
    (records, text)
}

fn write_zones(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let zone = dir.path().join("db.example.test");
    std::fs::write(&zone, ZONE).unwrap();
    let other = dir.path().join("db.other.test");
    std::fs::write(
        &other,
        ZONE.replace("$ORIGIN example.test.", "$ORIGIN other.test."),
    )
    .unwrap();
    (zone, other)
}

fn corefile(zone: &Path, other: &Path, notify: u16) -> String {
    COREFILE
        .replace("{ZONEFILE}", &zone.display().to_string())
        .replace("{OTHERFILE}", &other.display().to_string())
        .replace("{NOTIFY}", &notify.to_string())
        // other.test's only secondary: nothing listens there.
        .replace("{NOTIFY2}", &free_port().to_string())
}

/// Every question, AXFR and an up-to-date IXFR answered as CoreDNS answers them.
#[test]
fn file_and_transfer_answer_as_coredns() {
    let dir = TempDir::new("zones");
    let (zone, other) = write_zones(&dir);
    // Each server notifies a socket of its own, so neither's NOTIFY is refused by a port in use.
    let ours_notify = UdpSocket::bind("127.0.0.1:0").unwrap();
    let theirs_notify = UdpSocket::bind("127.0.0.1:0").unwrap();
    let nowhere = dir.path().join("no-kubeconfig");
    let mut ours = Server::cluster_dns(
        &corefile(&zone, &other, ours_notify.local_addr().unwrap().port()),
        &nowhere,
    );
    let mut theirs = Server::coredns(
        &corefile(&zone, &other, theirs_notify.local_addr().unwrap().port()),
        &nowhere,
    );
    for server in [&mut ours, &mut theirs] {
        server.wait_ready(Duration::from_secs(30));
        server.wait_serving(Duration::from_secs(10));
    }
    let mut differences = Vec::new();
    for (name, qtype) in QUESTIONS {
        let a = ours.dig(&[name, qtype]);
        let b = theirs.dig(&[name, qtype]);
        if shape(&a) != shape(&b) {
            differences.push(format!(
                "{name} {qtype}:\nours:\n{}\nCoreDNS:\n{}",
                a.raw, b.raw
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    let (axfr, raw) = transfer(ours.port, "example.test", "AXFR");
    let (coredns_axfr, coredns_raw) = transfer(theirs.port, "example.test", "AXFR");
    assert_eq!(axfr, coredns_axfr, "ours:\n{raw}\nCoreDNS:\n{coredns_raw}");
    // SOA first and last, every record of the file between.
    assert_eq!(axfr.len(), 22, "{raw}");
    let (ixfr, raw) = transfer(ours.port, "example.test", "IXFR=2026113001");
    let (coredns_ixfr, coredns_raw) = transfer(theirs.port, "example.test", "IXFR=2026113001");
    assert_eq!(ixfr, coredns_ixfr, "ours:\n{raw}\nCoreDNS:\n{coredns_raw}");
    // other.test transfers to 127.0.0.2 only: refused to us.
    let (_, raw) = transfer(ours.port, "other.test", "AXFR");
    assert!(raw.contains("Transfer failed"), "{raw}");
    let (_, coredns_raw) = transfer(theirs.port, "other.test", "AXFR");
    assert!(coredns_raw.contains("Transfer failed"), "{coredns_raw}");
}

/// A NOTIFY at start, the zone served anew on a new serial with a NOTIFY, an unchanged serial
/// not served, a broken file keeping the zone (logged, counted).
#[test]
fn reload_serves_a_new_serial_and_notifies() {
    let dir = TempDir::new("zones-reload");
    let (zone, other) = write_zones(&dir);
    let notified = UdpSocket::bind("127.0.0.1:0").unwrap();
    notified
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let metrics = free_port();
    let text = corefile(&zone, &other, notified.local_addr().unwrap().port())
        .replace("{BIND}", &format!("prometheus 127.0.0.1:{metrics}"))
        .replace("ready 127.0.0.1:{READY}", "");
    let server = ClusterDns::start(&text, &example_cluster());
    assert_eq!(
        notify_for(&notified, Duration::from_secs(10)),
        "example.test."
    );

    // Same serial, new data: not served.
    std::fs::write(&zone, ZONE.replace("198.18.1.10", "198.18.1.12")).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        server
            .dig(&["www.example.test", "A"])
            .answers()
            .contains(&"A 198.18.1.10".to_string())
    );
    // A new serial: served, and the secondary told.
    std::fs::write(
        &zone,
        ZONE.replace("198.18.1.10", "198.18.1.12")
            .replace("2026113001", "2026113002"),
    )
    .unwrap();
    server.expect_answers(
        "www.example.test",
        "A",
        &["A 198.18.1.11", "A 198.18.1.12"],
        Duration::from_secs(10),
    );
    assert_eq!(
        notify_for(&notified, Duration::from_secs(10)),
        "example.test."
    );
    // Broken: the zone stays, the failure is logged and counted.
    std::fs::write(
        &zone,
        ZONE.replace("198.18.1.11", "198.18.1")
            .replace("2026113001", "2026113003"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .stdout()
        .contains("plugin/file: Parsing zone \"example.test.\"")
    {
        assert!(
            Instant::now() < deadline,
            "no error logged:\n{}",
            server.stdout()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        server.dig(&["www.example.test", "A"]).answers(),
        ["A 198.18.1.11", "A 198.18.1.12"]
    );
    let (_, body) = signpost_tests::http_get(metrics, "/metrics").unwrap();
    assert!(
        body.contains("signpost_file_reload_failed_total{zone=\"example.test.\"}"),
        "{body}"
    );
    assert!(body.contains("signpost_file_zone_serial{zone=\"example.test.\"} 2026113002"));
}

/// The next NOTIFY's zone, answered NOERROR as a secondary would.
fn notify_for(socket: &UdpSocket, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let message = &buf[..len];
        // Opcode NOTIFY (4), a query.
        if len < 12 || message[2] & 0x80 != 0 || (message[2] >> 3) & 0x0f != 4 {
            continue;
        }
        let mut reply = message.to_vec();
        reply[2] |= 0x80;
        let _ = socket.send_to(&reply, from);
        return question(message);
    }
    panic!("no NOTIFY within {within:?}");
}

/// The question name of a message, as text.
fn question(message: &[u8]) -> String {
    let mut name = String::new();
    let mut at = 12;
    while let Some(&len) = message.get(at) {
        if len == 0 {
            break;
        }
        let label = message
            .get(at + 1..at + 1 + usize::from(len))
            .unwrap_or(&[]);
        name.push_str(&String::from_utf8_lossy(label));
        name.push('.');
        at += 1 + usize::from(len);
    }
    name
}

/// The cluster zone by AXFR from a snapshot: the SOA around it, services' addresses and SRV,
/// headless endpoints by name; over UDP refused.
#[test]
fn kubernetes_zone_transfer() {
    let server = ClusterDns::start(
        "cluster.local:{PORT} {\n    kubernetes cluster.local\n    transfer {\n        to *\n    }\n}\n",
        &example_cluster(),
    );
    let (records, raw) = transfer(server.port, "cluster.local", "AXFR");
    let soas = records.iter().filter(|r| r.contains(" soa ")).count();
    assert_eq!(soas, 2, "{raw}");
    assert!(
        records.contains(&"web.prod.svc.cluster.local. 5 in a 198.18.0.20".to_string()),
        "{raw}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.starts_with("_https._tcp.web.prod.svc.cluster.local. 5 in srv 0 100 443 ")),
        "{raw}"
    );
    // dig sends AXFR over TCP whatever it is told; IXFR can go over UDP.
    let r = server.dig(&["cluster.local", "IXFR=1", "+notcp"]);
    assert_eq!(r.status.as_deref(), Some("REFUSED"), "{}", r.raw);
}

/// The cluster zone by AXFR from the real API, beside CoreDNS: a ClusterIP service, a headless
/// one with two endpoints, an ExternalName. The SOA serial (each server's own clock) is masked;
/// the apex NS and `ns.dns` addresses are left out, as CoreDNS finds no address of its own on
/// loopback (D-NS-SELF-ADDRESS).
#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_zone_transfer_as_coredns() {
    let ns = TestNamespace::new("xfr").await;
    ns.service(cluster_ip_service_json("web")).await;
    ns.service(headless_service_json("db", &[])).await;
    create_service_slice(
        &ns.client,
        &ns.name,
        "db",
        "db-1",
        &["198.19.40.1", "198.19.40.2"],
    )
    .await;
    ns.service(json!({
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "target.example.test"},
    }))
    .await;
    let corefile = format!(
        ".:{{PORT}} {{\n    {{BIND}}\n    ready 127.0.0.1:{{READY}}\n    kubernetes cluster.local {{\n        kubeconfig {{KUBECONFIG}}\n        namespaces {}\n    }}\n    transfer {{\n        to *\n    }}\n}}\n",
        ns.name
    );
    let cp = ControlPlane::shared();
    let mut ours = Server::cluster_dns(&corefile, cp.kubeconfig());
    let mut theirs = Server::coredns(&corefile, cp.kubeconfig());
    for server in [&mut ours, &mut theirs] {
        server.wait_serving(Duration::from_secs(60));
        server.wait_ready(Duration::from_secs(60));
    }
    let masked = |port: u16| {
        let (records, raw) = transfer(port, "cluster.local", "AXFR");
        let records: Vec<String> = records
            .into_iter()
            .filter(|r| !r.contains(" ns ") && !r.starts_with("ns.dns.cluster.local."))
            .map(|r| {
                let mut fields: Vec<&str> = r.split(' ').collect();
                if fields.get(3) == Some(&"soa") && fields.len() > 6 {
                    fields[6] = "SERIAL";
                }
                fields.join(" ")
            })
            .collect();
        (records, raw)
    };
    let (ours_records, ours_raw) = masked(ours.port);
    let (theirs_records, theirs_raw) = masked(theirs.port);
    assert_eq!(
        ours_records, theirs_records,
        "ours:\n{ours_raw}\nCoreDNS:\n{theirs_raw}"
    );
    let web = format!("web.{}.svc.cluster.local.", ns.name);
    assert!(
        ours_records.iter().any(|r| r.starts_with(&web)),
        "{ours_raw}"
    );
}
