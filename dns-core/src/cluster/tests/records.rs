//! Table tests of record synthesis. Each test is named after the docs/records.md rule it
//! checks (`R-SVC-A` -> `r_svc_a`), against the example cluster (`testdata`).

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};

use crate::cluster::model::*;
use crate::cluster::records::{PodMode, RecordOptions, answer};
use crate::cluster::snapshot::{Snapshot, SnapshotStore};
use crate::cluster::testdata::example_cluster;

pub(super) const NXDOMAIN: ResponseCode = ResponseCode::NXDomain;
pub(super) const NOERROR: ResponseCode = ResponseCode::NoError;

pub(super) fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

pub(super) fn options() -> RecordOptions {
    RecordOptions {
        zones: vec![
            name("cluster.local."),
            name("in-addr.arpa."),
            name("ip6.arpa."),
        ],
        pods: PodMode::Insecure,
        ..Default::default()
    }
}

pub(super) fn snapshot_with(extra: Vec<Change>) -> Arc<Snapshot> {
    let store = SnapshotStore::new();
    store.replace(example_cluster().into_iter().chain(extra), 1_700_000_000);
    store.load()
}

pub(super) struct Reply {
    pub(super) rcode: ResponseCode,
    pub(super) answers: Vec<String>,
    pub(super) authorities: Vec<String>,
    pub(super) additionals: Vec<String>,
}

fn render(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

pub(super) fn ask_with(
    snapshot: &Snapshot,
    opts: &RecordOptions,
    qname: &str,
    qtype: RecordType,
) -> Option<Reply> {
    let ns_addrs: Vec<IpAddr> = vec!["198.18.0.10".parse().unwrap()];
    let a = answer(snapshot, opts, &Query::query(name(qname), qtype), &|| {
        ns_addrs.clone()
    })?;
    Some(Reply {
        rcode: a.rcode,
        answers: render(&a.answers),
        authorities: render(&a.authorities),
        additionals: render(&a.additionals),
    })
}

fn ask(qname: &str, qtype: RecordType) -> Reply {
    ask_opts(&options(), qname, qtype)
}

fn ask_opts(opts: &RecordOptions, qname: &str, qtype: RecordType) -> Reply {
    ask_with(&snapshot_with(vec![]), opts, qname, qtype).expect("name is in a zone")
}

/// A table row: question, expected rcode, expected answer records (any order).
pub(super) type Row = (
    &'static str,
    RecordType,
    ResponseCode,
    &'static [&'static str],
);

pub(super) fn check_rows(opts: &RecordOptions, rows: &[Row]) {
    check_rows_in(&snapshot_with(vec![]), opts, rows);
}

/// [`check_rows`] against `snapshot`.
pub(super) fn check_rows_in(snapshot: &Snapshot, opts: &RecordOptions, rows: &[Row]) {
    for (qname, qtype, rcode, want) in rows {
        let r = ask_with(snapshot, opts, qname, *qtype).expect("in zone");
        let mut got = r.answers.clone();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!((r.rcode, &got), (*rcode, &want), "{qname} {qtype}");
        // Every negative answer carries the zone's SOA, and only negative ones do.
        let negative = r.answers.is_empty();
        assert_eq!(
            r.authorities.iter().any(|a| a.contains(" SOA ")),
            negative && *rcode != ResponseCode::Refused,
            "SOA in authority for {qname} {qtype}: {:?}",
            r.authorities
        );
    }
}

use RecordType::{A, AAAA, AXFR, CNAME, IXFR, MX, NS, PTR, SOA, SRV, TXT};

#[test]
fn r_svc_a() {
    check_rows(
        &options(),
        &[
            (
                "web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["web.prod.svc.cluster.local. 5 A 198.18.0.20"],
            ),
            (
                "kubernetes.default.svc.cluster.local.",
                A,
                NOERROR,
                &["kubernetes.default.svc.cluster.local. 5 A 198.18.0.1"],
            ),
        ],
    );
}

#[test]
fn r_svc_aaaa() {
    check_rows(
        &options(),
        &[
            (
                "web.prod.svc.cluster.local.",
                AAAA,
                NOERROR,
                &["web.prod.svc.cluster.local. 5 AAAA 2001:db8::20"],
            ),
            (
                "api-v6.prod.svc.cluster.local.",
                AAAA,
                NOERROR,
                &["api-v6.prod.svc.cluster.local. 5 AAAA 2001:db8::30"],
            ),
        ],
    );
}

#[test]
fn r_svc_family_nodata() {
    check_rows(
        &options(),
        &[
            ("api-v6.prod.svc.cluster.local.", A, NOERROR, &[]),
            ("kubernetes.default.svc.cluster.local.", AAAA, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_svc_noports() {
    check_rows(
        &options(),
        &[
            (
                "noports.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["noports.prod.svc.cluster.local. 5 A 198.18.0.40"],
            ),
            ("noports.prod.svc.cluster.local.", SRV, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_svc_nxdomain() {
    check_rows(
        &options(),
        &[
            ("nope.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("web.nope.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("nope.prod.svc.cluster.local.", AAAA, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_ns_nodata() {
    check_rows(
        &options(),
        &[
            ("prod.svc.cluster.local.", A, NOERROR, &[]),
            ("svc.cluster.local.", A, NOERROR, &[]),
            ("pod.cluster.local.", A, NOERROR, &[]),
            ("prod.pod.cluster.local.", A, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_ns_not_exposed() {
    let mut opts = options();
    opts.namespaces.insert("default".into());
    check_rows(
        &opts,
        &[
            ("web.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("20.0.18.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            (
                "kubernetes.default.svc.cluster.local.",
                A,
                NOERROR,
                &["kubernetes.default.svc.cluster.local. 5 A 198.18.0.1"],
            ),
        ],
    );
}

/// R-NS-MISSING: a namespace that does not exist is NXDOMAIN, and so is every name in it.
#[test]
fn r_ns_missing() {
    check_rows(
        &options(),
        &[
            ("nosuchns.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("web.nosuchns.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("198-19-1-1.nosuchns.pod.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_ns_labels() {
    let mut opts = options();
    opts.namespace_labels =
        Some(crate::cluster::selector::Selector::parse("team in (shop, web)").unwrap());
    check_rows(
        &opts,
        &[
            (
                "web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["web.prod.svc.cluster.local. 5 A 198.18.0.20"],
            ),
            ("prod.svc.cluster.local.", A, NOERROR, &[]),
            ("kubernetes.default.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("default.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("1.0.18.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            ("x.nosuchns.svc.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_headless_a() {
    check_rows(
        &options(),
        &[
            (
                "db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[
                    "db.prod.svc.cluster.local. 5 A 198.19.2.1",
                    "db.prod.svc.cluster.local. 5 A 198.19.2.2",
                ],
            ),
            ("db.prod.svc.cluster.local.", AAAA, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_headless_many_slices() {
    // 150 endpoints over three slices: all of them answer.
    let extra: Vec<Change> = std::iter::once(Change::UpsertService(Service {
        namespace: "prod".into(),
        name: "big".into(),
        headless: true,
        ..Default::default()
    }))
    .chain((0..3).map(|s| {
        Change::UpsertEndpointSlice(EndpointSlice {
            namespace: "prod".into(),
            name: format!("big-{s}").into(),
            service_name: "big".into(),
            endpoints: (0..50)
                .map(|e| Endpoint {
                    addresses: smallvec::smallvec![
                        format!("198.19.{}.{}", 10 + s, e + 1).parse().unwrap()
                    ],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }))
    .collect();
    let r = ask_with(
        &snapshot_with(extra),
        &options(),
        "big.prod.svc.cluster.local.",
        A,
    )
    .unwrap();
    assert_eq!(r.answers.len(), 150);
}

#[test]
fn r_headless_notready() {
    check_rows(
        &options(),
        &[("db-2.db.prod.svc.cluster.local.", A, NXDOMAIN, &[])],
    );
}

#[test]
fn r_headless_publish_not_ready() {
    check_rows(
        &options(),
        &[(
            "peers.prod.svc.cluster.local.",
            A,
            NOERROR,
            &["peers.prod.svc.cluster.local. 5 A 198.19.3.1"],
        )],
    );
}

#[test]
fn r_headless_empty() {
    let extra = vec![Change::UpsertService(Service {
        namespace: "prod".into(),
        name: "lonely".into(),
        headless: true,
        ..Default::default()
    })];
    let r = ask_with(
        &snapshot_with(extra),
        &options(),
        "lonely.prod.svc.cluster.local.",
        A,
    )
    .unwrap();
    assert_eq!(r.rcode, NXDOMAIN);
}

#[test]
fn r_noendpoints() {
    let mut opts = options();
    opts.noendpoints = true;
    check_rows(
        &opts,
        &[
            ("db.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("db-0.db.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            (
                "web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["web.prod.svc.cluster.local. 5 A 198.18.0.20"],
            ),
            // No endpoint records means no endpoint PTRs either; cluster IPs keep theirs.
            ("1.2.19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            ("1.1.19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            (
                "20.0.18.198.in-addr.arpa.",
                PTR,
                NOERROR,
                &["20.0.18.198.in-addr.arpa. 5 PTR web.prod.svc.cluster.local."],
            ),
        ],
    );
}

#[test]
fn r_endpoint_hostname() {
    check_rows(
        &options(),
        &[
            (
                "db-0.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["db-0.db.prod.svc.cluster.local. 5 A 198.19.2.1"],
            ),
            (
                "db-1.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["db-1.db.prod.svc.cluster.local. 5 A 198.19.2.2"],
            ),
            ("db-9.db.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_endpoint_dashed() {
    check_rows(
        &options(),
        &[
            (
                "198-19-1-1.web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["198-19-1-1.web.prod.svc.cluster.local. 5 A 198.19.1.1"],
            ),
            (
                "2001-db8-1--1.web.prod.svc.cluster.local.",
                AAAA,
                NOERROR,
                &["2001-db8-1--1.web.prod.svc.cluster.local. 5 AAAA 2001:db8:1::1"],
            ),
            (
                "198-19-3-1.peers.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["198-19-3-1.peers.prod.svc.cluster.local. 5 A 198.19.3.1"],
            ),
        ],
    );
    // An IPv6 address ending in `::` is named with a trailing 0 (a label may not end in a
    // hyphen), in A/AAAA, SRV and PTR answers alike.
    let snapshot = snapshot_with(vec![
        Change::UpsertService(Service {
            namespace: "prod".into(),
            name: "v6ep".into(),
            headless: true,
            ports: vec![Port {
                name: "http".into(),
                port: 80,
                protocol: Protocol::Tcp,
            }],
            ..Default::default()
        }),
        Change::UpsertEndpointSlice(EndpointSlice {
            namespace: "prod".into(),
            name: "v6ep-1".into(),
            service_name: "v6ep".into(),
            address_type: AddressType::Ipv6,
            endpoints: vec![Endpoint {
                addresses: smallvec::smallvec!["2001:db8:2:99::".parse().unwrap()],
                ..Default::default()
            }],
            ports: vec![Port {
                name: "http".into(),
                port: 80,
                protocol: Protocol::Tcp,
            }],
            cluster_id: Default::default(),
            zones: Vec::new(),
        }),
    ]);
    let opts = options();
    let aaaa = ask_with(
        &snapshot,
        &opts,
        "2001-db8-2-99--0.v6ep.prod.svc.cluster.local.",
        AAAA,
    )
    .unwrap();
    assert_eq!(
        aaaa.answers,
        ["2001-db8-2-99--0.v6ep.prod.svc.cluster.local. 5 AAAA 2001:db8:2:99::"]
    );
    let old = ask_with(
        &snapshot,
        &opts,
        "2001-db8-2-99--.v6ep.prod.svc.cluster.local.",
        AAAA,
    )
    .unwrap();
    assert_eq!(old.rcode, NXDOMAIN);
    let srv = ask_with(&snapshot, &opts, "v6ep.prod.svc.cluster.local.", SRV).unwrap();
    assert_eq!(
        srv.answers,
        [
            "v6ep.prod.svc.cluster.local. 5 SRV 0 100 80 2001-db8-2-99--0.v6ep.prod.svc.cluster.local."
        ]
    );
    let ptr = ask_with(
        &snapshot,
        &opts,
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.9.0.0.2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
        PTR,
    )
    .unwrap();
    assert_eq!(
        ptr.answers,
        [
            "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.9.0.0.2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 5 PTR 2001-db8-2-99--0.v6ep.prod.svc.cluster.local."
        ]
    );
}

#[test]
fn r_endpoint_pod_names() {
    let mut opts = options();
    opts.endpoint_pod_names = true;
    check_rows(
        &opts,
        &[
            (
                "web-6d4b9c7f5-abcde.web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["web-6d4b9c7f5-abcde.web.prod.svc.cluster.local. 5 A 198.19.1.1"],
            ),
            // A hostname still wins over the pod name.
            (
                "db-0.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["db-0.db.prod.svc.cluster.local. 5 A 198.19.2.1"],
            ),
            ("198-19-1-1.web.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_srv_clusterip() {
    let r = ask("_https._tcp.web.prod.svc.cluster.local.", SRV);
    assert_eq!(r.rcode, NOERROR);
    // Two entries (one per cluster IP) share the port: weight 100/2, one SRV record.
    assert_eq!(
        r.answers,
        vec!["_https._tcp.web.prod.svc.cluster.local. 5 SRV 0 50 443 web.prod.svc.cluster.local."]
    );
    assert_eq!(
        r.additionals,
        vec![
            "web.prod.svc.cluster.local. 5 A 198.18.0.20",
            "web.prod.svc.cluster.local. 5 AAAA 2001:db8::20",
        ]
    );
}

#[test]
fn r_srv_all_ports() {
    check_rows(
        &options(),
        &[(
            "web.prod.svc.cluster.local.",
            SRV,
            NOERROR,
            &[
                "web.prod.svc.cluster.local. 5 SRV 0 25 80 web.prod.svc.cluster.local.",
                "web.prod.svc.cluster.local. 5 SRV 0 25 443 web.prod.svc.cluster.local.",
            ],
        )],
    );
}

#[test]
fn r_srv_headless() {
    let r = ask("_postgres._tcp.db.prod.svc.cluster.local.", SRV);
    assert_eq!(r.rcode, NOERROR);
    let mut answers = r.answers.clone();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            "_postgres._tcp.db.prod.svc.cluster.local. 5 SRV 0 50 5432 db-0.db.prod.svc.cluster.local.",
            "_postgres._tcp.db.prod.svc.cluster.local. 5 SRV 0 50 5432 db-1.db.prod.svc.cluster.local.",
        ]
    );
    assert_eq!(
        r.additionals,
        vec![
            "db-0.db.prod.svc.cluster.local. 5 A 198.19.2.1",
            "db-1.db.prod.svc.cluster.local. 5 A 198.19.2.2",
        ]
    );
}

#[test]
fn r_srv_mismatch() {
    check_rows(
        &options(),
        &[
            ("_http._udp.web.prod.svc.cluster.local.", SRV, NXDOMAIN, &[]),
            ("_nope._tcp.web.prod.svc.cluster.local.", SRV, NXDOMAIN, &[]),
            (
                "_http._tcp.web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["_http._tcp.web.prod.svc.cluster.local. 5 A 198.18.0.20"],
            ),
        ],
    );
}

#[test]
fn r_srv_case() {
    check_rows(
        &options(),
        &[(
            "_HTTPS._Tcp.web.prod.svc.cluster.local.",
            SRV,
            NOERROR,
            &["_HTTPS._Tcp.web.prod.svc.cluster.local. 5 SRV 0 50 443 web.prod.svc.cluster.local."],
        )],
    );
}

#[test]
fn r_external_cname() {
    check_rows(
        &options(),
        &[
            (
                "legacy.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["legacy.prod.svc.cluster.local. 5 CNAME legacy.example.com."],
            ),
            (
                "legacy.prod.svc.cluster.local.",
                AAAA,
                NOERROR,
                &["legacy.prod.svc.cluster.local. 5 CNAME legacy.example.com."],
            ),
            (
                "legacy.prod.svc.cluster.local.",
                CNAME,
                NOERROR,
                &["legacy.prod.svc.cluster.local. 5 CNAME legacy.example.com."],
            ),
        ],
    );
}

#[test]
fn r_external_inzone() {
    check_rows(
        &options(),
        &[
            (
                "alias.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[
                    "alias.prod.svc.cluster.local. 5 CNAME web.prod.svc.cluster.local.",
                    "web.prod.svc.cluster.local. 5 A 198.18.0.20",
                ],
            ),
            (
                "alias.prod.svc.cluster.local.",
                CNAME,
                NOERROR,
                &["alias.prod.svc.cluster.local. 5 CNAME web.prod.svc.cluster.local."],
            ),
        ],
    );
}

#[test]
fn r_external_loop() {
    let extra = vec![
        Change::UpsertService(Service {
            namespace: "prod".into(),
            name: "ping".into(),
            service_type: ServiceType::ExternalName,
            external_name: Some("pong.prod.svc.cluster.local".into()),
            ..Default::default()
        }),
        Change::UpsertService(Service {
            namespace: "prod".into(),
            name: "pong".into(),
            service_type: ServiceType::ExternalName,
            external_name: Some("ping.prod.svc.cluster.local".into()),
            ..Default::default()
        }),
    ];
    let r = ask_with(
        &snapshot_with(extra),
        &options(),
        "ping.prod.svc.cluster.local.",
        A,
    )
    .unwrap();
    // A loop never answers with an endless chain, and never hangs.
    assert_eq!(r.rcode, NOERROR);
    assert!(r.answers.is_empty(), "{:?}", r.answers);

    // A service that names itself: its CNAME record is there for a CNAME question (nothing
    // is followed); A finds nothing at the end of it.
    let me = Change::UpsertService(Service {
        namespace: "prod".into(),
        name: "me".into(),
        service_type: ServiceType::ExternalName,
        external_name: Some("me.prod.svc.cluster.local".into()),
        ..Default::default()
    });
    let snapshot = snapshot_with(vec![me]);
    let r = ask_with(&snapshot, &options(), "me.prod.svc.cluster.local.", CNAME).unwrap();
    assert_eq!(
        (r.rcode, r.answers),
        (
            NOERROR,
            vec!["me.prod.svc.cluster.local. 5 CNAME me.prod.svc.cluster.local.".to_string()]
        )
    );
    let r = ask_with(&snapshot, &options(), "me.prod.svc.cluster.local.", A).unwrap();
    assert_eq!((r.rcode, r.answers.len()), (NOERROR, 0));
}

#[test]
fn r_external_srv() {
    check_rows(
        &options(),
        &[("legacy.prod.svc.cluster.local.", SRV, NOERROR, &[])],
    );
}

#[test]
fn r_external_endpoint() {
    check_rows(
        &options(),
        &[
            ("x.legacy.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("x.y.legacy.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("x.y.legacy.prod.svc.cluster.local.", CNAME, NXDOMAIN, &[]),
            // Port and protocol names below an ExternalName service do not exist either.
            (
                "_http._tcp.legacy.prod.svc.cluster.local.",
                SRV,
                NXDOMAIN,
                &[],
            ),
            (
                "http.tcp.legacy.prod.svc.cluster.local.",
                SRV,
                NXDOMAIN,
                &[],
            ),
            ("_http._tcp.alias.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_ptr_service() {
    check_rows(
        &options(),
        &[
            (
                "20.0.18.198.in-addr.arpa.",
                PTR,
                NOERROR,
                &["20.0.18.198.in-addr.arpa. 5 PTR web.prod.svc.cluster.local."],
            ),
            (
                "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
                PTR,
                NOERROR,
                &[
                    "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 5 PTR web.prod.svc.cluster.local.",
                ],
            ),
        ],
    );
}

#[test]
fn r_ptr_endpoint() {
    check_rows(
        &options(),
        &[
            (
                "1.2.19.198.in-addr.arpa.",
                PTR,
                NOERROR,
                &["1.2.19.198.in-addr.arpa. 5 PTR db-0.db.prod.svc.cluster.local."],
            ),
            (
                "1.1.19.198.in-addr.arpa.",
                PTR,
                NOERROR,
                &["1.1.19.198.in-addr.arpa. 5 PTR 198-19-1-1.web.prod.svc.cluster.local."],
            ),
        ],
    );
}

#[test]
fn r_ptr_dedup() {
    // One address in two slices of one service, and twice in one slice: one PTR.
    let twice = |name: &str| {
        Change::UpsertEndpointSlice(EndpointSlice {
            namespace: "prod".into(),
            name: name.into(),
            service_name: "db".into(),
            address_type: AddressType::Ipv4,
            endpoints: vec![
                Endpoint {
                    addresses: smallvec::smallvec!["198.19.2.1".parse().unwrap()],
                    hostname: Some("db-0".into()),
                    ..Default::default()
                },
                Endpoint {
                    addresses: smallvec::smallvec!["198.19.2.1".parse().unwrap()],
                    hostname: Some("db-0".into()),
                    ..Default::default()
                },
            ],
            ports: Vec::new(),
            cluster_id: Default::default(),
            zones: Vec::new(),
        })
    };
    let snapshot = snapshot_with(vec![twice("db-dup-a"), twice("db-dup-b")]);
    let r = ask_with(&snapshot, &options(), "1.2.19.198.in-addr.arpa.", PTR).unwrap();
    assert_eq!(
        r.answers,
        ["1.2.19.198.in-addr.arpa. 5 PTR db-0.db.prod.svc.cluster.local."]
    );
}

#[test]
fn r_reverse_apex() {
    check_rows(
        &options(),
        &[
            ("in-addr.arpa.", PTR, NOERROR, &[]),
            ("in-addr.arpa.", A, NOERROR, &[]),
            ("ip6.arpa.", PTR, NOERROR, &[]),
            ("ip6.arpa.", MX, NOERROR, &[]),
            ("ip6.arpa.", SRV, NOERROR, &[]),
            // Below the apex only full reverse names exist.
            ("19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            ("19.198.in-addr.arpa.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_ptr_nxdomain() {
    check_rows(
        &options(),
        &[
            ("99.99.19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            // Not ready: no PTR either.
            ("3.2.19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
            ("19.198.in-addr.arpa.", PTR, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_pod_insecure() {
    check_rows(
        &options(),
        &[
            (
                "198-19-1-1.prod.pod.cluster.local.",
                A,
                NOERROR,
                &["198-19-1-1.prod.pod.cluster.local. 5 A 198.19.1.1"],
            ),
            // insecure: any address in an existing namespace.
            (
                "198-19-9-9.prod.pod.cluster.local.",
                A,
                NOERROR,
                &["198-19-9-9.prod.pod.cluster.local. 5 A 198.19.9.9"],
            ),
            ("198-19-1-1.nope.pod.cluster.local.", A, NXDOMAIN, &[]),
            ("not-an-ip.prod.pod.cluster.local.", A, NXDOMAIN, &[]),
            ("198-19-1-1.prod.pod.cluster.local.", AAAA, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_pod_ipv6() {
    check_rows(
        &options(),
        &[
            (
                "2001-db8-1--1.prod.pod.cluster.local.",
                AAAA,
                NOERROR,
                &["2001-db8-1--1.prod.pod.cluster.local. 5 AAAA 2001:db8:1::1"],
            ),
            ("2001-db8-1--1.prod.pod.cluster.local.", A, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_pod_verified() {
    let mut opts = options();
    opts.pods = PodMode::Verified;
    check_rows(
        &opts,
        &[
            (
                "198-19-1-1.prod.pod.cluster.local.",
                A,
                NOERROR,
                &["198-19-1-1.prod.pod.cluster.local. 5 A 198.19.1.1"],
            ),
            ("198-19-9-9.prod.pod.cluster.local.", A, NXDOMAIN, &[]),
            ("198-19-1-1.default.pod.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_pod_disabled() {
    let mut opts = options();
    opts.pods = PodMode::Disabled;
    check_rows(
        &opts,
        &[("198-19-1-1.prod.pod.cluster.local.", A, NXDOMAIN, &[])],
    );
}

#[test]
fn r_dns_version() {
    check_rows(
        &options(),
        &[(
            "dns-version.cluster.local.",
            TXT,
            NOERROR,
            &["dns-version.cluster.local. 28800 TXT 1.1.0"],
        )],
    );
}

#[test]
fn r_txt_other() {
    check_rows(
        &options(),
        &[
            ("web.prod.svc.cluster.local.", TXT, NOERROR, &[]),
            ("db-0.db.prod.svc.cluster.local.", TXT, NOERROR, &[]),
            ("198-19-1-1.prod.pod.cluster.local.", TXT, NOERROR, &[]),
            ("nope.prod.svc.cluster.local.", TXT, NXDOMAIN, &[]),
            // Names that hold only names below them: NXDOMAIN for TXT (NODATA for A).
            ("cluster.local.", TXT, NXDOMAIN, &[]),
            ("svc.cluster.local.", TXT, NXDOMAIN, &[]),
            ("pod.cluster.local.", TXT, NXDOMAIN, &[]),
            ("prod.svc.cluster.local.", TXT, NXDOMAIN, &[]),
            ("prod.pod.cluster.local.", TXT, NXDOMAIN, &[]),
            ("in-addr.arpa.", TXT, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_apex_soa() {
    check_rows(
        &options(),
        &[(
            "cluster.local.",
            SOA,
            NOERROR,
            &[
                "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5",
            ],
        )],
    );
}

#[test]
fn r_apex_ns() {
    let r = ask("cluster.local.", NS);
    assert_eq!(r.answers, vec!["cluster.local. 5 NS ns.dns.cluster.local."]);
    assert_eq!(r.additionals, vec!["ns.dns.cluster.local. 5 A 198.18.0.10"]);
    check_rows(
        &options(),
        &[
            (
                "ns.dns.cluster.local.",
                A,
                NOERROR,
                &["ns.dns.cluster.local. 5 A 198.18.0.10"],
            ),
            ("ns.dns.cluster.local.", SRV, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_apex_nodata() {
    check_rows(
        &options(),
        &[
            ("cluster.local.", A, NOERROR, &[]),
            ("cluster.local.", SRV, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_soa_nonapex() {
    check_rows(
        &options(),
        &[
            ("web.prod.svc.cluster.local.", SOA, NOERROR, &[]),
            ("nope.prod.svc.cluster.local.", SOA, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_invalid_name() {
    check_rows(
        &options(),
        &[
            ("foo.bar.cluster.local.", A, NXDOMAIN, &[]),
            ("a.b.c.web.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            ("x.198-19-1-1.prod.pod.cluster.local.", A, NXDOMAIN, &[]),
            // A wildcard label is a label like any other: `*.cluster.local` is not the apex.
            ("*.cluster.local.", A, NXDOMAIN, &[]),
            ("*.cluster.local.", NS, NXDOMAIN, &[]),
            ("*.cluster.local.", SOA, NOERROR, &[]),
            ("*.svc.cluster.local.", A, NXDOMAIN, &[]),
        ],
    );
}

#[test]
fn r_other_qtype() {
    check_rows(
        &options(),
        &[
            ("web.prod.svc.cluster.local.", MX, NOERROR, &[]),
            ("nope.prod.svc.cluster.local.", MX, NXDOMAIN, &[]),
            ("web.prod.svc.cluster.local.", NS, NOERROR, &[]),
        ],
    );
}

#[test]
fn r_axfr_refused() {
    for qtype in [AXFR, IXFR] {
        let r = ask("cluster.local.", qtype);
        assert_eq!(r.rcode, ResponseCode::Refused);
        assert!(r.answers.is_empty() && r.authorities.is_empty());
    }
}

#[test]
fn r_case() {
    check_rows(
        &options(),
        &[
            (
                "WEB.Prod.SVC.Cluster.Local.",
                A,
                NOERROR,
                &["WEB.Prod.SVC.Cluster.Local. 5 A 198.18.0.20"],
            ),
            (
                "_Https._TCP.Web.prod.svc.CLUSTER.local.",
                SRV,
                NOERROR,
                &[
                    "_Https._TCP.Web.prod.svc.CLUSTER.local. 5 SRV 0 50 443 web.prod.svc.CLUSTER.local.",
                ],
            ),
        ],
    );
    let r = ask("Nope.prod.svc.CLUSTER.LOCAL.", A);
    assert_eq!(r.authorities[0].split(' ').next(), Some("CLUSTER.LOCAL."));
}

#[test]
fn r_ttl() {
    let mut opts = options();
    opts.ttl = 30;
    check_rows(
        &opts,
        &[(
            "web.prod.svc.cluster.local.",
            A,
            NOERROR,
            &["web.prod.svc.cluster.local. 30 A 198.18.0.20"],
        )],
    );
    let r = ask_opts(&opts, "nope.prod.svc.cluster.local.", A);
    assert!(r.authorities[0].starts_with("cluster.local. 30 SOA"));
    assert!(r.authorities[0].ends_with(" 30"));
    opts.ttl = 3600;
    let r = ask_opts(&opts, "nope.prod.svc.cluster.local.", A);
    // The SOA's own TTL is capped at 300; its minimum field is the ttl.
    assert!(
        r.authorities[0].starts_with("cluster.local. 300 SOA")
            && r.authorities[0].ends_with(" 3600")
    );
}

#[test]
fn r_multi_zone() {
    let mut opts = options();
    opts.zones.insert(1, name("example.internal."));
    check_rows(
        &opts,
        &[
            (
                "web.prod.svc.example.internal.",
                A,
                NOERROR,
                &["web.prod.svc.example.internal. 5 A 198.18.0.20"],
            ),
            (
                "web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["web.prod.svc.cluster.local. 5 A 198.18.0.20"],
            ),
            // PTR targets use the first (primary) zone.
            (
                "20.0.18.198.in-addr.arpa.",
                PTR,
                NOERROR,
                &["20.0.18.198.in-addr.arpa. 5 PTR web.prod.svc.cluster.local."],
            ),
        ],
    );
}

#[test]
fn r_ignore_empty_service() {
    let mut opts = options();
    opts.ignore_empty_service = true;
    check_rows(
        &opts,
        &[
            ("noports.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            (
                "web.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["web.prod.svc.cluster.local. 5 A 198.18.0.20"],
            ),
        ],
    );
}

#[test]
fn r_not_our_zone() {
    let snapshot = snapshot_with(vec![]);
    assert!(ask_with(&snapshot, &options(), "example.com.", A).is_none());
    assert!(ask_with(&snapshot, &options(), "local.", A).is_none());
}

#[test]
fn hostile_names_never_panic() {
    let snapshot = snapshot_with(vec![]);
    let long = format!("{}.prod.svc.cluster.local.", "a".repeat(63));
    for q in [
        long.as_str(),
        "_._.web.prod.svc.cluster.local.",
        "--.prod.pod.cluster.local.",
        "1-2-3-4-5.prod.pod.cluster.local.",
        "::.prod.pod.cluster.local.",
        "x.y.z.w.v.u.t.s.in-addr.arpa.",
        "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
        "256.0.18.198.in-addr.arpa.",
    ] {
        let Ok(qname) = Name::from_ascii(q) else {
            continue;
        };
        for t in [A, AAAA, SRV, PTR, TXT, MX, CNAME, NS, SOA] {
            let _ = answer(
                &snapshot,
                &options(),
                &Query::query(qname.clone(), t),
                &Vec::new,
            );
        }
    }
}
