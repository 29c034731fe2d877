use hickory_proto::rr::Name;

use crate::wire::name::{WireName, label_count};

#[test]
fn in_zone_as_hickorys_zone_of() {
    let table = [
        ("cluster.local.", "web.prod.svc.cluster.local.", true),
        ("cluster.local.", "WEB.prod.SVC.Cluster.Local.", true),
        ("Cluster.LOCAL.", "web.prod.svc.cluster.local.", true),
        ("cluster.local.", "cluster.local.", true),
        ("cluster.local.", "local.", false),
        ("in-addr.arpa.", "web.prod.svc.cluster.local.", false),
        ("ip6.arpa.", "1.0.18.198.in-addr.arpa.", false),
        ("in-addr.arpa.", "1.0.18.198.in-addr.arpa.", true),
        ("example.test.", "notexample.test.", false),
        ("abc.test.", "x.abd.test.", false),
        ("abc.test.", "x.ab.ctest.", false),
        ("b.c.", "a.bc.", false),
        (".", "anything.at.all.", true),
        (".", ".", true),
        ("a.", ".", false),
    ];
    for (zone, name, want) in table {
        let zone = Name::from_ascii(zone).unwrap();
        let name = Name::from_ascii(name).unwrap();
        assert_eq!(
            WireName::lowered(&name).in_zone(&zone),
            want,
            "{zone} holds {name}"
        );
        assert_eq!(zone.zone_of(&name), want, "hickory: {zone} holds {name}");
    }
}

#[test]
fn label_count_includes_a_wildcard() {
    for (name, want) in [
        (".", 0),
        ("local.", 1),
        ("*.cluster.local.", 3),
        ("a.b.c.d", 4),
    ] {
        assert_eq!(
            label_count(&Name::from_ascii(name).unwrap()),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_lowered_name_reads_its_labels_lowered() {
    for (name, want) in [
        (".", vec![]),
        (
            "Web.PROD.svc.cluster.local.",
            vec!["web", "prod", "svc", "cluster", "local"],
        ),
        ("*.Cluster.local.", vec!["*", "cluster", "local"]),
        ("_HTTP._tcp.x.", vec!["_http", "_tcp", "x"]),
    ] {
        let name = Name::from_ascii(name).unwrap();
        let lowered = WireName::lowered(&name);
        assert_eq!(lowered.label_count(), label_count(&name), "{name}");
        let labels: Vec<&[u8]> = (0..lowered.label_count())
            .filter_map(|i| lowered.label(i))
            .collect();
        let want: Vec<&[u8]> = want.iter().map(|l| l.as_bytes()).collect();
        assert_eq!(labels, want, "{name}");
        assert_eq!(lowered.label(lowered.label_count()), None);
    }
    // The longest name: 127 one-byte labels (255 bytes with the root).
    let longest = Name::from_ascii("A.".repeat(127)).unwrap();
    let lowered = WireName::lowered(&longest);
    assert_eq!(lowered.label_count(), 127);
    assert_eq!(lowered.label(126), Some(&b"a"[..]));
}
