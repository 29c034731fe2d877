//! Every rule of docs/records.md, asked from outside with `dig` over UDP and TCP, against the
//! built `cluster-dns` serving `examples/cluster.yaml`. Rule IDs match the table.

use signpost_tests::{ClusterDns, DigResult, workspace_root};

/// One process, one port, a server block per option set: the option-specific rules use their
/// own zone.
const COREFILE: &str = r#"
cluster.local:{PORT} clusterset.local:{PORT} in-addr.arpa:{PORT} ip6.arpa:{PORT} {
    errors
    kubernetes cluster.local clusterset.local in-addr.arpa ip6.arpa {
        pods insecure
        multicluster clusterset.local
    }
}
example.internal:{PORT} {
    kubernetes
}
verified.test:{PORT} {
    kubernetes {
        pods verified
    }
}
restricted.test:{PORT} {
    kubernetes {
        namespaces default
    }
}
labelled.test:{PORT} {
    kubernetes {
        namespace_labels team in (shop, web)
    }
}
podnames.test:{PORT} {
    kubernetes {
        endpoint_pod_names
    }
}
noep.test:{PORT} {
    kubernetes {
        noendpoints
    }
}
strict.test:{PORT} {
    kubernetes {
        ignore empty_service
    }
}
ttl.test:{PORT} {
    kubernetes {
        ttl 30
    }
}
zonal.test:{PORT} {
    kubernetes {
        zonal
    }
}
other.test:{PORT} {
    kubernetes inner.other.test
}
"#;

/// 120 endpoints over three slices: more than fits a 512-byte UDP answer.
fn big_service() -> String {
    let mut yaml = String::from(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: prod}\nspec: {clusterIP: None, type: ClusterIP}\n",
    );
    for s in 0..3 {
        yaml.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-{s}\n  namespace: prod\n  labels: {{kubernetes.io/service-name: big}}\naddressType: IPv4\nendpoints:\n"
        ));
        for e in 0..40 {
            yaml.push_str(&format!(
                "- addresses: [198.19.{}.{}]\n  conditions: {{ready: true}}\n",
                20 + s,
                e + 1
            ));
        }
    }
    yaml
}

/// A headless service without endpoints, and two ExternalName services naming each other.
const ODD_SERVICES: &str = "---
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: prod}
spec: {clusterIP: None, type: ClusterIP}
---
apiVersion: v1
kind: Service
metadata: {name: ping, namespace: prod}
spec: {type: ExternalName, externalName: pong.prod.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: pong, namespace: prod}
spec: {type: ExternalName, externalName: ping.prod.svc.cluster.local}
";

fn start() -> ClusterDns {
    let example = std::fs::read_to_string(workspace_root().join("examples/cluster.yaml"))
        .expect("example cluster");
    ClusterDns::start(
        COREFILE,
        &format!("{example}\n{}{ODD_SERVICES}", big_service()),
    )
}

/// (rule, name, type, status, answers as "TYPE RDATA", sorted)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const ROWS: &[Row] = &[
    (
        "R-SVC-A",
        "web.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.18.0.20"],
    ),
    (
        "R-SVC-AAAA",
        "web.prod.svc.cluster.local",
        "AAAA",
        "NOERROR",
        &["AAAA 2001:db8::20"],
    ),
    (
        "R-SVC-FAMILY-NODATA",
        "api-v6.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &[],
    ),
    (
        "R-SVC-NOPORTS",
        "noports.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.18.0.40"],
    ),
    (
        "R-SVC-NXDOMAIN",
        "nope.prod.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    ("R-NS-NODATA", "prod.svc.cluster.local", "A", "NOERROR", &[]),
    (
        "R-NS-MISSING",
        "nosuchns.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-NS-NOT-EXPOSED",
        "web.prod.svc.restricted.test",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-NS-LABELS",
        "web.prod.svc.labelled.test",
        "A",
        "NOERROR",
        &["A 198.18.0.20"],
    ),
    (
        "R-NS-LABELS",
        "kubernetes.default.svc.labelled.test",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-NS-NOT-EXPOSED",
        "kubernetes.default.svc.restricted.test",
        "A",
        "NOERROR",
        &["A 198.18.0.1"],
    ),
    (
        "R-HEADLESS-A",
        "db.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.19.2.1", "A 198.19.2.2"],
    ),
    (
        "R-HEADLESS-NOTREADY",
        "db-2.db.prod.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-HEADLESS-PUBLISH-NOT-READY",
        "peers.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.19.3.1"],
    ),
    (
        "R-NOENDPOINTS",
        "db.prod.svc.noep.test",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-ENDPOINT-HOSTNAME",
        "db-0.db.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.19.2.1"],
    ),
    (
        "R-ENDPOINT-DASHED",
        "198-19-1-1.web.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.19.1.1"],
    ),
    (
        "R-ENDPOINT-DASHED",
        "2001-db8-1--1.web.prod.svc.cluster.local",
        "AAAA",
        "NOERROR",
        &["AAAA 2001:db8:1::1"],
    ),
    (
        "R-ENDPOINT-POD-NAMES",
        "web-6d4b9c7f5-abcde.web.prod.svc.podnames.test",
        "A",
        "NOERROR",
        &["A 198.19.1.1"],
    ),
    (
        "R-SRV-CLUSTERIP",
        "_https._tcp.web.prod.svc.cluster.local",
        "SRV",
        "NOERROR",
        &["SRV 0 50 443 web.prod.svc.cluster.local."],
    ),
    (
        "R-SRV-ALL-PORTS",
        "web.prod.svc.cluster.local",
        "SRV",
        "NOERROR",
        &[
            "SRV 0 25 443 web.prod.svc.cluster.local.",
            "SRV 0 25 80 web.prod.svc.cluster.local.",
        ],
    ),
    (
        "R-SRV-HEADLESS",
        "_postgres._tcp.db.prod.svc.cluster.local",
        "SRV",
        "NOERROR",
        &[
            "SRV 0 50 5432 db-0.db.prod.svc.cluster.local.",
            "SRV 0 50 5432 db-1.db.prod.svc.cluster.local.",
        ],
    ),
    (
        "R-SRV-MISMATCH",
        "_http._udp.web.prod.svc.cluster.local",
        "SRV",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-SRV-CASE",
        "_HTTPS._TCP.web.prod.svc.cluster.local",
        "SRV",
        "NOERROR",
        &["SRV 0 50 443 web.prod.svc.cluster.local."],
    ),
    (
        "R-EXTERNAL-CNAME",
        "legacy.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["CNAME legacy.example.com."],
    ),
    (
        "R-EXTERNAL-INZONE",
        "alias.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &["A 198.18.0.20", "CNAME web.prod.svc.cluster.local."],
    ),
    (
        "R-EXTERNAL-SRV",
        "legacy.prod.svc.cluster.local",
        "SRV",
        "NOERROR",
        &[],
    ),
    (
        "R-EXTERNAL-ENDPOINT",
        "x.legacy.prod.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-PTR-SERVICE",
        "20.0.18.198.in-addr.arpa",
        "PTR",
        "NOERROR",
        &["PTR web.prod.svc.cluster.local."],
    ),
    (
        "R-PTR-SERVICE",
        "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "PTR",
        "NOERROR",
        &["PTR web.prod.svc.cluster.local."],
    ),
    (
        "R-PTR-ENDPOINT",
        "1.2.19.198.in-addr.arpa",
        "PTR",
        "NOERROR",
        &["PTR db-0.db.prod.svc.cluster.local."],
    ),
    (
        "R-PTR-ENDPOINT",
        "1.1.19.198.in-addr.arpa",
        "PTR",
        "NOERROR",
        &["PTR 198-19-1-1.web.prod.svc.cluster.local."],
    ),
    (
        "R-PTR-NXDOMAIN",
        "99.99.19.198.in-addr.arpa",
        "PTR",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-POD-INSECURE",
        "198-19-1-1.prod.pod.cluster.local",
        "A",
        "NOERROR",
        &["A 198.19.1.1"],
    ),
    (
        "R-POD-INSECURE",
        "198-19-1-1.nope.pod.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-POD-IPV6",
        "2001-db8-1--1.prod.pod.cluster.local",
        "AAAA",
        "NOERROR",
        &["AAAA 2001:db8:1::1"],
    ),
    (
        "R-POD-VERIFIED",
        "198-19-1-1.prod.pod.verified.test",
        "A",
        "NOERROR",
        &["A 198.19.1.1"],
    ),
    (
        "R-POD-VERIFIED",
        "198-19-9-9.prod.pod.verified.test",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-POD-DISABLED",
        "198-19-1-1.prod.pod.example.internal",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-DNS-VERSION",
        "dns-version.cluster.local",
        "TXT",
        "NOERROR",
        &["TXT \"1.1.0\""],
    ),
    (
        "R-TXT-OTHER",
        "web.prod.svc.cluster.local",
        "TXT",
        "NOERROR",
        &[],
    ),
    (
        "R-TXT-OTHER",
        "nope.prod.svc.cluster.local",
        "TXT",
        "NXDOMAIN",
        &[],
    ),
    ("R-APEX-SOA", "cluster.local", "SOA", "NOERROR", &["SOA"]),
    (
        "R-APEX-NS",
        "cluster.local",
        "NS",
        "NOERROR",
        &["NS ns.dns.cluster.local."],
    ),
    (
        "R-APEX-NS",
        "ns.dns.cluster.local",
        "A",
        "NOERROR",
        &["A 127.0.0.1"],
    ),
    ("R-APEX-NODATA", "cluster.local", "A", "NOERROR", &[]),
    (
        "R-SOA-NONAPEX",
        "web.prod.svc.cluster.local",
        "SOA",
        "NOERROR",
        &[],
    ),
    (
        "R-INVALID-NAME",
        "foo.bar.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-INVALID-NAME",
        "a.b.c.web.prod.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-OTHER-QTYPE",
        "web.prod.svc.cluster.local",
        "MX",
        "NOERROR",
        &[],
    ),
    (
        "R-OTHER-QTYPE",
        "nope.prod.svc.cluster.local",
        "MX",
        "NXDOMAIN",
        &[],
    ),
    ("R-AXFR-REFUSED", "cluster.local", "AXFR", "REFUSED", &[]),
    (
        "R-CASE",
        "WEB.Prod.SVC.Cluster.Local",
        "A",
        "NOERROR",
        &["A 198.18.0.20"],
    ),
    (
        "R-TTL",
        "web.prod.svc.ttl.test",
        "A",
        "NOERROR",
        &["A 198.18.0.20"],
    ),
    (
        "R-MULTI-ZONE",
        "web.prod.svc.example.internal",
        "A",
        "NOERROR",
        &["A 198.18.0.20"],
    ),
    (
        "R-IGNORE-EMPTY-SERVICE",
        "noports.prod.svc.strict.test",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-IGNORE-EMPTY-SERVICE",
        "web.prod.svc.strict.test",
        "A",
        "NOERROR",
        &["A 198.18.0.20"],
    ),
    (
        "R-HEADLESS-MANY-SLICES",
        "big.prod.svc.cluster.local",
        "SRV",
        "NOERROR",
        &[],
    ),
    (
        "R-HEADLESS-EMPTY",
        "lonely.prod.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-EXTERNAL-LOOP",
        "ping.prod.svc.cluster.local",
        "A",
        "NOERROR",
        &[],
    ),
    (
        "R-MCS-CLUSTERSETIP-A",
        "web.prod.svc.clusterset.local",
        "A",
        "NOERROR",
        &["A 198.18.5.20"],
    ),
    (
        "R-MCS-CLUSTERSETIP-A",
        "web.prod.svc.clusterset.local",
        "AAAA",
        "NOERROR",
        &["AAAA 2001:db8::5:20"],
    ),
    (
        "R-MCS-CLUSTERSETIP-SRV",
        "_https._tcp.web.prod.svc.clusterset.local",
        "SRV",
        "NOERROR",
        &["SRV 0 50 443 web.prod.svc.clusterset.local."],
    ),
    (
        "R-MCS-CLUSTERSETIP-SRV",
        "_http._udp.web.prod.svc.clusterset.local",
        "SRV",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-HEADLESS-A",
        "db.prod.svc.clusterset.local",
        "A",
        "NOERROR",
        &["A 198.19.2.1", "A 198.19.4.1"],
    ),
    (
        "R-MCS-HEADLESS-A",
        "db.prod.svc.clusterset.local",
        "AAAA",
        "NOERROR",
        &["AAAA 2001:db8:4::1"],
    ),
    (
        "R-MCS-ENDPOINT",
        "db-0.west.db.prod.svc.clusterset.local",
        "A",
        "NOERROR",
        &["A 198.19.4.1"],
    ),
    (
        "R-MCS-ENDPOINT",
        "198-19-6-1.west.web.prod.svc.clusterset.local",
        "A",
        "NOERROR",
        &["A 198.19.6.1"],
    ),
    (
        "R-MCS-ENDPOINT",
        "db-2.east.db.prod.svc.clusterset.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-ENDPOINT",
        "db-0.db.prod.svc.clusterset.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-NO-CLUSTER-TARGETING",
        "west.web.prod.svc.clusterset.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-SRV-HEADLESS",
        "_postgres._tcp.db.prod.svc.clusterset.local",
        "SRV",
        "NOERROR",
        &[
            "SRV 0 33 5432 db-0.east.db.prod.svc.clusterset.local.",
            "SRV 0 33 5432 db-0.west.db.prod.svc.clusterset.local.",
        ],
    ),
    (
        "R-MCS-HEADLESS-EMPTY",
        "lonely.prod.svc.clusterset.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-NO-IPS",
        "pending.prod.svc.clusterset.local",
        "A",
        "NOERROR",
        &[],
    ),
    (
        "R-MCS-ORPHAN-SLICE",
        "gone.prod.svc.clusterset.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-ORPHAN-SLICE",
        "1.9.19.198.in-addr.arpa",
        "PTR",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-PTR",
        "20.5.18.198.in-addr.arpa",
        "PTR",
        "NOERROR",
        &["PTR web.prod.svc.clusterset.local."],
    ),
    (
        "R-MCS-PTR",
        "1.4.19.198.in-addr.arpa",
        "PTR",
        "NOERROR",
        &["PTR db-0.west.db.prod.svc.clusterset.local."],
    ),
    (
        "R-MCS-PTR",
        "1.2.19.198.in-addr.arpa",
        "PTR",
        "NOERROR",
        &["PTR db-0.db.prod.svc.cluster.local."],
    ),
    (
        "R-MCS-DNS-VERSION",
        "dns-version.clusterset.local",
        "TXT",
        "NOERROR",
        &["TXT \"1.0.0\""],
    ),
    (
        "R-MCS-NXDOMAIN",
        "api-v6.prod.svc.clusterset.local",
        "AAAA",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-MCS-NXDOMAIN",
        "prod.svc.clusterset.local",
        "A",
        "NOERROR",
        &[],
    ),
    // Zonal names, the endpoints' zones read from the snapshot file: db-0 (ready) and db-2
    // (not ready) in zone-a, db-1 in zone-b.
    (
        "R-ZONAL-PIN",
        "zone-a.pin._zone.db.prod.svc.zonal.test",
        "A",
        "NOERROR",
        &["A 198.19.2.1"],
    ),
    (
        "R-ZONAL-PIN",
        "zone-c.pin._zone.db.prod.svc.zonal.test",
        "A",
        "NOERROR",
        &[],
    ),
    (
        "R-ZONAL-PREFER",
        "zone-c.prefer._zone.db.prod.svc.zonal.test",
        "A",
        "NOERROR",
        &["A 198.19.2.1", "A 198.19.2.2"],
    ),
    (
        "R-ZONAL-TYPES",
        "zone-b.pin._zone.db.prod.svc.zonal.test",
        "SRV",
        "NOERROR",
        &["SRV 0 100 5432 db-1.db.prod.svc.zonal.test."],
    ),
    (
        "R-ZONAL-TYPES",
        "zone-c.pin._zone.db.prod.svc.zonal.test",
        "TXT",
        "NOERROR",
        &[],
    ),
    (
        "R-ZONAL-NXDOMAIN",
        "zone-a.pin._zone.web.prod.svc.zonal.test",
        "A",
        "NXDOMAIN",
        &[],
    ),
    (
        "R-ZONAL-NXDOMAIN",
        "zone-a.pin._zone.db.prod.svc.cluster.local",
        "A",
        "NXDOMAIN",
        &[],
    ),
    // In the block's zone but outside the plugin's: no plugin answers, SERVFAIL.
    ("R-NOT-OUR-ZONE", "x.other.test", "A", "SERVFAIL", &[]),
];

fn check(server: &ClusterDns, transport: &[&str]) {
    let mut failures = Vec::new();
    for (rule, qname, qtype, status, want) in ROWS {
        let mut args = vec![*qname, *qtype];
        args.extend_from_slice(transport);
        let r: DigResult = server.dig(&args);
        let mut got = r.answers();
        if *qtype == "SOA" {
            got = got
                .iter()
                .map(|a| a.split(' ').next().unwrap_or("").to_string())
                .collect();
        }
        let ok = r.status.as_deref() == Some(*status)
            && got == want.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            && (r.has_flag("aa") || matches!(*status, "REFUSED" | "SERVFAIL"))
            && (!r.answer.is_empty()
                || matches!(*status, "REFUSED" | "SERVFAIL")
                || r.authority.iter().any(|a| a.rtype == "SOA"));
        if !ok {
            failures.push(format!("{rule}: {qname} {qtype} {transport:?}: want {status} {want:?}, got {:?} {got:?}\n{}", r.status, r.raw));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_over_udp_and_tcp() {
    let server = start();
    check(&server, &[]);
    check(&server, &["+tcp"]);

    // R-TTL and R-APEX-SOA details dig shows.
    let r = server.dig(&["web.prod.svc.ttl.test", "A"]);
    assert_eq!(r.answer.first().map(|a| a.ttl), Some(30), "{}", r.raw);
    let r = server.dig(&["cluster.local", "SOA"]);
    assert!(
        r.answer.first().is_some_and(|a| a
            .rdata
            .starts_with("ns.dns.cluster.local. hostmaster.cluster.local. ")),
        "{}",
        r.raw
    );
    // R-CASE: the answer keeps the question's spelling.
    let r = server.dig(&["WEB.Prod.SVC.Cluster.Local", "A"]);
    let names: Vec<&str> = r.answer.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["WEB.Prod.SVC.Cluster.Local."],
        "{}\nserver log:\n{}",
        r.raw,
        server.log()
    );
    // R-SRV-HEADLESS: targets get their addresses in the additional section.
    let r = server.dig(&["_postgres._tcp.db.prod.svc.cluster.local", "SRV"]);
    assert_eq!(
        r.additional.iter().filter(|a| a.rtype == "A").count(),
        2,
        "{}",
        r.raw
    );
}

#[test]
fn large_answer_truncates_over_udp_and_completes_over_tcp() {
    let server = start();
    // R-HEADLESS-MANY-SLICES: 120 endpoints over three slices.
    let udp = server.dig(&["big.prod.svc.cluster.local", "A", "+ignore", "+bufsize=512"]);
    assert_eq!(udp.status.as_deref(), Some("NOERROR"));
    assert!(udp.has_flag("tc"), "TC expected over UDP:\n{}", udp.raw);
    assert!(udp.answer.len() < 120);
    let tcp = server.dig(&["big.prod.svc.cluster.local", "A", "+tcp"]);
    assert!(!tcp.has_flag("tc"));
    assert_eq!(tcp.answer.len(), 120);
    // dig's default behaviour: retry over TCP on TC and print the full answer.
    let retried = server.dig(&["big.prod.svc.cluster.local", "A", "+bufsize=512"]);
    assert_eq!(retried.answer.len(), 120);
}

#[test]
fn kdig_agrees() {
    let server = start();
    let out = std::process::Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &server.port.to_string(),
            "+short",
            "web.prod.svc.cluster.local",
            "AAAA",
        ])
        .output()
        .expect("kdig (scripts/install-deps installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2001:db8::20");
}
