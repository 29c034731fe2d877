use hickory_proto::rr::Name;

use crate::wire::name::{label_count, zone_holds};

#[test]
fn zone_holds_as_hickorys_zone_of() {
    let table = [
        ("cluster.local.", "web.prod.svc.cluster.local.", true),
        ("Cluster.LOCAL.", "web.prod.svc.cluster.local.", true),
        ("cluster.local.", "cluster.local.", true),
        ("cluster.local.", "local.", false),
        ("in-addr.arpa.", "web.prod.svc.cluster.local.", false),
        ("ip6.arpa.", "1.0.18.198.in-addr.arpa.", false),
        ("in-addr.arpa.", "1.0.18.198.in-addr.arpa.", true),
        ("example.test.", "notexample.test.", false),
        (".", "anything.at.all.", true),
        (".", ".", true),
        ("a.", ".", false),
    ];
    for (zone, name, want) in table {
        let zone = Name::from_ascii(zone).unwrap();
        let name = Name::from_ascii(name).unwrap();
        let labels: Vec<&[u8]> = name.iter().collect();
        assert_eq!(zone_holds(&zone, &labels), want, "{zone} holds {name}");
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
