//! Table tests of zonal names (`R-ZONAL` in docs/records.md): `<zone>.pin._zone.<svc>...` and
//! `<zone>.prefer._zone.<svc>...` with the `zonal` option, against the example cluster, whose
//! headless `prod/db` has db-0 (ready) and db-2 (not ready) in zone-a and db-1 in zone-b, and
//! whose headless `prod/peers` has one endpoint without a zone.

use hickory_proto::rr::RecordType;

use super::records::{
    NOERROR, NXDOMAIN, Row, ask_with, check_rows_in, name, options, snapshot_with,
};
use crate::cluster::model::{Change, Endpoint, EndpointSlice, Service};
use crate::cluster::records::RecordOptions;

use RecordType::{A, AAAA, CNAME, MX, PTR, SOA, SRV, TXT};

fn zonal() -> RecordOptions {
    RecordOptions {
        zonal: true,
        ..options()
    }
}

/// A headless `prod/dotted` whose one endpoint is in the zone `corp.example`: a zone with a
/// dot, which a zonal name spells over two labels.
fn dotted() -> Vec<Change> {
    let mut slice = EndpointSlice {
        namespace: "prod".into(),
        name: "dotted-1".into(),
        service_name: "dotted".into(),
        endpoints: vec![Endpoint {
            addresses: ["198.19.9.1".parse().unwrap()].into_iter().collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    slice.endpoints[0].zone = slice.zone_index("corp.example");
    vec![
        Change::UpsertService(Service {
            namespace: "prod".into(),
            name: "dotted".into(),
            headless: true,
            ..Default::default()
        }),
        Change::UpsertEndpointSlice(slice),
    ]
}

fn check(opts: &RecordOptions, rows: &[Row]) {
    check_rows_in(&snapshot_with(dotted()), opts, rows);
}

const PIN_A: &str = "zone-a.pin._zone.db.prod.svc.cluster.local.";

#[test]
fn r_zonal_pin() {
    check(
        &zonal(),
        &[
            // Ready endpoints in the zone only (db-2 is in zone-a too, but not ready).
            (
                PIN_A,
                A,
                NOERROR,
                &["zone-a.pin._zone.db.prod.svc.cluster.local. 5 A 198.19.2.1"],
            ),
            (
                "zone-b.pin._zone.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["zone-b.pin._zone.db.prod.svc.cluster.local. 5 A 198.19.2.2"],
            ),
            // A zone no endpoint is in, drained or mistyped: NODATA, never NXDOMAIN.
            (
                "zone-c.pin._zone.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[],
            ),
            // The query's case is kept in the owner name; the zone compares lowered.
            (
                "Zone-A.PIN._Zone.DB.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["Zone-A.PIN._Zone.DB.prod.svc.cluster.local. 5 A 198.19.2.1"],
            ),
            // A zone spelled over several labels.
            (
                "corp.example.pin._zone.dotted.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["corp.example.pin._zone.dotted.prod.svc.cluster.local. 5 A 198.19.9.1"],
            ),
            // An escaped dot is one label, which CoreDNS compares escaped: no zone equals it.
            (
                "corp\\.example.pin._zone.dotted.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[],
            ),
            (
                "example.pin._zone.dotted.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[],
            ),
            // An endpoint without a zone is in no zone.
            (
                "zone-a.pin._zone.peers.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[],
            ),
        ],
    );
}

#[test]
fn r_zonal_prefer() {
    check(
        &zonal(),
        &[
            (
                "zone-a.prefer._zone.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["zone-a.prefer._zone.db.prod.svc.cluster.local. 5 A 198.19.2.1"],
            ),
            // No endpoint in the zone: every endpoint of the service.
            (
                "zone-c.prefer._zone.db.prod.svc.cluster.local.",
                A,
                NOERROR,
                &[
                    "zone-c.prefer._zone.db.prod.svc.cluster.local. 5 A 198.19.2.1",
                    "zone-c.prefer._zone.db.prod.svc.cluster.local. 5 A 198.19.2.2",
                ],
            ),
            (
                "zone-a.prefer._zone.peers.prod.svc.cluster.local.",
                A,
                NOERROR,
                &["zone-a.prefer._zone.peers.prod.svc.cluster.local. 5 A 198.19.3.1"],
            ),
        ],
    );
}

#[test]
fn r_zonal_types() {
    check(
        &zonal(),
        &[
            // SRV and its glue are zone-filtered; targets are the endpoints' own names.
            (
                PIN_A,
                SRV,
                NOERROR,
                &[
                    "zone-a.pin._zone.db.prod.svc.cluster.local. 5 SRV 0 100 5432 db-0.db.prod.svc.cluster.local.",
                ],
            ),
            (
                "zone-c.prefer._zone.db.prod.svc.cluster.local.",
                SRV,
                NOERROR,
                &[
                    "zone-c.prefer._zone.db.prod.svc.cluster.local. 5 SRV 0 50 5432 db-0.db.prod.svc.cluster.local.",
                    "zone-c.prefer._zone.db.prod.svc.cluster.local. 5 SRV 0 50 5432 db-1.db.prod.svc.cluster.local.",
                ],
            ),
            (
                "zone-c.pin._zone.db.prod.svc.cluster.local.",
                SRV,
                NOERROR,
                &[],
            ),
            // Every other type: NODATA, in an empty zone too (TXT included, unlike a
            // namespace name).
            (PIN_A, AAAA, NOERROR, &[]),
            (PIN_A, TXT, NOERROR, &[]),
            (PIN_A, CNAME, NOERROR, &[]),
            (PIN_A, MX, NOERROR, &[]),
            (PIN_A, PTR, NOERROR, &[]),
            (PIN_A, SOA, NOERROR, &[]),
            (
                "zone-c.pin._zone.db.prod.svc.cluster.local.",
                TXT,
                NOERROR,
                &[],
            ),
            (
                "zone-c.pin._zone.db.prod.svc.cluster.local.",
                MX,
                NOERROR,
                &[],
            ),
        ],
    );
    let snapshot = snapshot_with(dotted());
    let r = ask_with(&snapshot, &zonal(), PIN_A, SRV).expect("in zone");
    assert_eq!(
        r.additionals,
        ["db-0.db.prod.svc.cluster.local. 5 A 198.19.2.1"]
    );
}

#[test]
fn r_zonal_nxdomain() {
    check(
        &zonal(),
        &[
            // Unknown directive, missing anchor, no zone label: too long, as without the option.
            (
                "zone-a.near._zone.db.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.pin.zone.db.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.pin.x._zone.db.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            ("pin._zone.db.prod.svc.cluster.local.", A, NXDOMAIN, &[]),
            // Not a headless service: ClusterIP, ExternalName, none at all, none in namespace.
            (
                "zone-a.pin._zone.web.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.prefer._zone.web.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.pin._zone.legacy.prod.svc.cluster.local.",
                CNAME,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.pin._zone.nope.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.pin._zone.db.nope.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.pin._zone.web.prod.svc.cluster.local.",
                TXT,
                NXDOMAIN,
                &[],
            ),
            // Pods have no zonal names.
            (
                "zone-a.pin._zone.198-19-2-1.prod.pod.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
        ],
    );
    // Without the option the whole shape is too long.
    check(
        &options(),
        &[
            (PIN_A, A, NXDOMAIN, &[]),
            (PIN_A, SRV, NXDOMAIN, &[]),
            (
                "zone-c.prefer._zone.db.prod.svc.cluster.local.",
                A,
                NXDOMAIN,
                &[],
            ),
        ],
    );
}

#[test]
fn r_zonal_not_in_multicluster_zones() {
    let mut opts = zonal();
    opts.zones.push(name("clusterset.local."));
    opts.multicluster_zones = vec![name("clusterset.local.")];
    check(
        &opts,
        &[
            (
                "zone-a.pin._zone.db.prod.svc.clusterset.local.",
                A,
                NXDOMAIN,
                &[],
            ),
            (
                "zone-a.prefer._zone.db.prod.svc.clusterset.local.",
                SRV,
                NXDOMAIN,
                &[],
            ),
            // The cluster zone of the same plugin keeps them.
            (
                PIN_A,
                A,
                NOERROR,
                &["zone-a.pin._zone.db.prod.svc.cluster.local. 5 A 198.19.2.1"],
            ),
        ],
    );
}
