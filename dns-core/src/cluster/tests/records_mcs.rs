//! Table tests of the Multi-Cluster Services rules (`R-MCS-*` in docs/records.md): the
//! `clusterset.local` zone answered from the example cluster's ServiceImports.

use hickory_proto::rr::RecordType;

use super::records::{NOERROR, NXDOMAIN, ask_with, check_rows, name, options, snapshot_with};
use crate::cluster::model::{Change, ImportType, ServiceImport};
use crate::cluster::records::RecordOptions;

use RecordType::{A, AAAA, PTR, SOA, SRV, TXT};

fn mcs_options() -> RecordOptions {
    let mut opts = options();
    opts.zones.push(name("clusterset.local."));
    opts.multicluster_zones = vec![name("clusterset.local.")];
    opts
}

fn check(rows: &[super::records::Row]) {
    check_rows(&mcs_options(), rows);
}

#[test]
fn r_mcs_clustersetip_a() {
    check(&[
        (
            "web.prod.svc.clusterset.local.",
            A,
            NOERROR,
            &["web.prod.svc.clusterset.local. 5 A 198.18.5.20"],
        ),
        (
            "web.prod.svc.clusterset.local.",
            AAAA,
            NOERROR,
            &["web.prod.svc.clusterset.local. 5 AAAA 2001:db8::5:20"],
        ),
        // The cluster-local service keeps its own address.
        (
            "web.prod.svc.cluster.local.",
            A,
            NOERROR,
            &["web.prod.svc.cluster.local. 5 A 198.18.0.20"],
        ),
    ]);
}

/// A ClusterSetIP import without ports still has its A record (the spec asks for it whatever
/// the ports); it has no SRV. CoreDNS answers NXDOMAIN here (docs/records.md differences).
#[test]
fn r_mcs_clustersetip_a_without_ports() {
    let snapshot = snapshot_with(vec![Change::UpsertServiceImport(ServiceImport {
        namespace: "prod".into(),
        name: "bare".into(),
        import_type: ImportType::ClusterSetIp,
        ips: vec!["198.18.5.30".parse().unwrap()],
        ports: vec![],
    })]);
    let ask = |qtype| {
        ask_with(
            &snapshot,
            &mcs_options(),
            "bare.prod.svc.clusterset.local.",
            qtype,
        )
        .unwrap()
    };
    let a = ask(A);
    assert_eq!(
        a.answers,
        ["bare.prod.svc.clusterset.local. 5 A 198.18.5.30"]
    );
    let srv = ask(SRV);
    assert_eq!((srv.rcode, srv.answers.len()), (NOERROR, 0));
}

#[test]
fn r_mcs_clustersetip_srv() {
    check(&[
        (
            "_https._tcp.web.prod.svc.clusterset.local.",
            SRV,
            NOERROR,
            &[
                "_https._tcp.web.prod.svc.clusterset.local. 5 SRV 0 50 443 web.prod.svc.clusterset.local.",
            ],
        ),
        (
            "web.prod.svc.clusterset.local.",
            SRV,
            NOERROR,
            &[
                "web.prod.svc.clusterset.local. 5 SRV 0 25 80 web.prod.svc.clusterset.local.",
                "web.prod.svc.clusterset.local. 5 SRV 0 25 443 web.prod.svc.clusterset.local.",
            ],
        ),
        (
            "_http._udp.web.prod.svc.clusterset.local.",
            SRV,
            NXDOMAIN,
            &[],
        ),
    ]);
    let r = ask_with(
        &snapshot_with(vec![]),
        &mcs_options(),
        "_https._tcp.web.prod.svc.clusterset.local.",
        SRV,
    )
    .unwrap();
    assert_eq!(
        r.additionals,
        [
            "web.prod.svc.clusterset.local. 5 A 198.18.5.20",
            "web.prod.svc.clusterset.local. 5 AAAA 2001:db8::5:20",
        ]
    );
}

#[test]
fn r_mcs_headless_a() {
    check(&[
        (
            "db.prod.svc.clusterset.local.",
            A,
            NOERROR,
            &[
                "db.prod.svc.clusterset.local. 5 A 198.19.2.1",
                "db.prod.svc.clusterset.local. 5 A 198.19.4.1",
            ],
        ),
        (
            "db.prod.svc.clusterset.local.",
            AAAA,
            NOERROR,
            &["db.prod.svc.clusterset.local. 5 AAAA 2001:db8:4::1"],
        ),
    ]);
}

#[test]
fn r_mcs_endpoint() {
    check(&[
        (
            "db-0.east.db.prod.svc.clusterset.local.",
            A,
            NOERROR,
            &["db-0.east.db.prod.svc.clusterset.local. 5 A 198.19.2.1"],
        ),
        (
            "db-0.west.db.prod.svc.clusterset.local.",
            A,
            NOERROR,
            &["db-0.west.db.prod.svc.clusterset.local. 5 A 198.19.4.1"],
        ),
        (
            "db-0.west.db.prod.svc.clusterset.local.",
            AAAA,
            NOERROR,
            &["db-0.west.db.prod.svc.clusterset.local. 5 AAAA 2001:db8:4::1"],
        ),
        // Names keep the question's case; cluster IDs compare case-insensitively.
        (
            "DB-0.West.db.prod.svc.clusterset.local.",
            A,
            NOERROR,
            &["DB-0.West.db.prod.svc.clusterset.local. 5 A 198.19.4.1"],
        ),
        // A ClusterSetIP import's endpoints have names too (dashed address, no hostname).
        (
            "198-19-6-1.west.web.prod.svc.clusterset.local.",
            A,
            NOERROR,
            &["198-19-6-1.west.web.prod.svc.clusterset.local. 5 A 198.19.6.1"],
        ),
        (
            "198-19-6-1.east.web.prod.svc.clusterset.local.",
            A,
            NXDOMAIN,
            &[],
        ),
        // Not ready; no cluster ID; an unknown cluster.
        ("db-2.east.db.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
        ("db-0.db.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
        ("db-0.north.db.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
    ]);
}

#[test]
fn r_mcs_no_cluster_targeting() {
    check(&[
        ("west.web.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
        ("east.db.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
    ]);
}

#[test]
fn r_mcs_srv_headless() {
    let r = ask_with(
        &snapshot_with(vec![]),
        &mcs_options(),
        "_postgres._tcp.db.prod.svc.clusterset.local.",
        SRV,
    )
    .unwrap();
    assert_eq!(r.rcode, NOERROR);
    // Three addresses (two in west) under two names: weight 100/3 for each entry.
    assert_eq!(
        r.answers,
        [
            "_postgres._tcp.db.prod.svc.clusterset.local. 5 SRV 0 33 5432 db-0.east.db.prod.svc.clusterset.local.",
            "_postgres._tcp.db.prod.svc.clusterset.local. 5 SRV 0 33 5432 db-0.west.db.prod.svc.clusterset.local.",
        ]
    );
    assert_eq!(
        r.additionals,
        [
            "db-0.east.db.prod.svc.clusterset.local. 5 A 198.19.2.1",
            "db-0.west.db.prod.svc.clusterset.local. 5 A 198.19.4.1",
            "db-0.west.db.prod.svc.clusterset.local. 5 AAAA 2001:db8:4::1",
        ]
    );
}

#[test]
fn r_mcs_headless_empty() {
    check(&[
        ("lonely.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
        ("lonely.prod.svc.clusterset.local.", SRV, NXDOMAIN, &[]),
    ]);
}

#[test]
fn r_mcs_no_ips() {
    check(&[
        ("pending.prod.svc.clusterset.local.", A, NOERROR, &[]),
        ("pending.prod.svc.clusterset.local.", AAAA, NOERROR, &[]),
        (
            "_http._tcp.pending.prod.svc.clusterset.local.",
            SRV,
            NOERROR,
            &[],
        ),
    ]);
}

#[test]
fn r_mcs_orphan_slice() {
    check(&[
        ("gone.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
        (
            "198-19-9-1.west.gone.prod.svc.clusterset.local.",
            A,
            NXDOMAIN,
            &[],
        ),
        ("1.9.19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
    ]);
}

#[test]
fn r_mcs_ptr() {
    check(&[
        (
            "20.5.18.198.in-addr.arpa.",
            PTR,
            NOERROR,
            &["20.5.18.198.in-addr.arpa. 5 PTR web.prod.svc.clusterset.local."],
        ),
        (
            "0.2.0.0.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
            PTR,
            NOERROR,
            &[
                "0.2.0.0.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 5 PTR web.prod.svc.clusterset.local.",
            ],
        ),
        (
            "1.6.19.198.in-addr.arpa.",
            PTR,
            NOERROR,
            &["1.6.19.198.in-addr.arpa. 5 PTR 198-19-6-1.west.web.prod.svc.clusterset.local."],
        ),
        (
            "1.4.19.198.in-addr.arpa.",
            PTR,
            NOERROR,
            &["1.4.19.198.in-addr.arpa. 5 PTR db-0.west.db.prod.svc.clusterset.local."],
        ),
        // The address has a cluster-local PTR already: that one alone (spec 2.4.3).
        (
            "1.2.19.198.in-addr.arpa.",
            PTR,
            NOERROR,
            &["1.2.19.198.in-addr.arpa. 5 PTR db-0.db.prod.svc.cluster.local."],
        ),
        // Not ready in its cluster.
        ("3.2.19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
    ]);
    // Without `multicluster`, imports give no PTR.
    check_rows(
        &options(),
        &[("20.5.18.198.in-addr.arpa.", PTR, NXDOMAIN, &[])],
    );
}

#[test]
fn r_mcs_dns_version() {
    check(&[
        (
            "dns-version.clusterset.local.",
            TXT,
            NOERROR,
            &["dns-version.clusterset.local. 28800 TXT 1.0.0"],
        ),
        (
            "dns-version.cluster.local.",
            TXT,
            NOERROR,
            &["dns-version.cluster.local. 28800 TXT 1.1.0"],
        ),
    ]);
}

#[test]
fn r_mcs_nxdomain() {
    check(&[
        ("nope.prod.svc.clusterset.local.", A, NXDOMAIN, &[]),
        ("web.nosuchns.svc.clusterset.local.", A, NXDOMAIN, &[]),
        // A service that is not imported, and an import that is no service.
        ("api-v6.prod.svc.clusterset.local.", AAAA, NXDOMAIN, &[]),
        ("pending.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
        // Names that exist without records.
        ("prod.svc.clusterset.local.", A, NOERROR, &[]),
        ("clusterset.local.", A, NOERROR, &[]),
        (
            "clusterset.local.",
            SOA,
            NOERROR,
            &[
                "clusterset.local. 5 SOA ns.dns.clusterset.local. hostmaster.clusterset.local. 1700000000 7200 1800 86400 5",
            ],
        ),
    ]);
}
