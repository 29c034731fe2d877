//! Tests of the parent module.

use std::net::IpAddr;
use std::sync::Arc;

use crate::cluster::model::*;
use crate::cluster::snapshot::*;

fn svc(ns: &str, name: &str, ip: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        cluster_ips: smallvec::smallvec![ip.parse().unwrap()],
        ..Default::default()
    }
}

/// The keys of index rows, in their order.
fn keys(rows: &[Arc<ServiceEntry>]) -> Vec<ObjectKey> {
    rows.iter().map(|e| e.service.key()).collect()
}

fn slice(ns: &str, name: &str, svc: &str, ips: &[&str]) -> EndpointSlice {
    EndpointSlice {
        namespace: ns.into(),
        name: name.into(),
        service_name: svc.into(),
        endpoints: ips
            .iter()
            .map(|ip| Endpoint {
                addresses: smallvec::smallvec![ip.parse().unwrap()],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn slices_attach_whichever_arrives_first() {
    let store = SnapshotStore::new();
    store.apply(
        [Change::UpsertEndpointSlice(slice(
            "ns",
            "web-a",
            "web",
            &["198.18.1.1"],
        ))],
        1,
    );
    assert!(store.load().service("ns", "web").is_none());
    store.apply([Change::UpsertService(svc("ns", "web", "198.18.0.1"))], 2);
    let snap = store.load();
    let entry = snap.service("NS", "Web").unwrap();
    assert_eq!(entry.slices.len(), 1);
    assert_eq!(snap.serial(), 2);
    let ip: IpAddr = "198.18.1.1".parse().unwrap();
    assert_eq!(
        keys(snap.services_by_endpoint_ip(&ip)),
        [ObjectKey::new("ns", "web")]
    );
}

#[test]
fn deletes_clear_every_index() {
    let store = SnapshotStore::new();
    store.apply(
        [
            Change::UpsertService(svc("ns", "web", "198.18.0.1")),
            Change::UpsertEndpointSlice(slice("ns", "web-a", "web", &["198.18.1.1"])),
            Change::UpsertEndpointSlice(slice("ns", "web-b", "web", &["198.18.1.2"])),
        ],
        1,
    );
    assert_eq!(store.load().service("ns", "web").unwrap().slices.len(), 2);
    store.apply(
        [Change::DeleteEndpointSlice(ObjectKey::new("ns", "web-a"))],
        2,
    );
    let snap = store.load();
    assert_eq!(snap.service("ns", "web").unwrap().slices.len(), 1);
    assert!(
        snap.services_by_endpoint_ip(&"198.18.1.1".parse().unwrap())
            .is_empty()
    );
    store.apply([Change::DeleteService(ObjectKey::new("ns", "web"))], 3);
    let snap = store.load();
    assert!(snap.service("ns", "web").is_none());
    assert!(
        snap.services_by_cluster_ip(&"198.18.0.1".parse().unwrap())
            .is_empty()
    );
    assert_eq!(snap.service_count(), 0);
}

#[test]
fn readers_keep_their_snapshot_while_writers_publish() {
    let store = SnapshotStore::new();
    store.apply([Change::UpsertService(svc("ns", "a", "198.18.0.1"))], 1);
    let before = store.load();
    store.apply([Change::DeleteService(ObjectKey::new("ns", "a"))], 2);
    assert!(before.service("ns", "a").is_some());
    assert!(store.load().service("ns", "a").is_none());
}

/// A per-answer `read` guard counts as a reader: two publishes later (when the copy it
/// holds would be reused as the spare) it still shows its own moment.
#[test]
fn read_guards_keep_their_snapshot_across_publishes() {
    let store = SnapshotStore::new();
    store.apply([Change::UpsertService(svc("ns", "a", "198.18.0.1"))], 1);
    let guard = store.read();
    store.apply([Change::DeleteService(ObjectKey::new("ns", "a"))], 2);
    store.apply([Change::UpsertService(svc("ns", "b", "198.18.0.2"))], 3);
    assert!(guard.service("ns", "a").is_some());
    assert!(guard.service("ns", "b").is_none());
    assert_eq!(guard.serial(), 1);
    drop(guard);
    let now = store.read();
    assert!(now.service("ns", "a").is_none());
    assert!(now.service("ns", "b").is_some());
}

/// A writer can tell whether its next publish takes up the replaced copy or copies the whole
/// published snapshot: `spare_free` turns true once the last reader of the replaced copy lets
/// go, and `copies` counts the publishes that could not wait for that.
#[test]
fn spare_is_free_once_readers_of_the_replaced_copy_let_go() {
    let store = SnapshotStore::new();
    assert!(store.spare_free());
    store.apply([Change::UpsertService(svc("ns", "a", "198.18.0.1"))], 1);
    assert!(store.spare_free(), "nobody reads the replaced (empty) copy");
    let guard = store.read();
    let kept = store.load();
    store.apply([Change::UpsertService(svc("ns", "b", "198.18.0.2"))], 2);
    assert!(
        !store.spare_free(),
        "a guard and an Arc hold the replaced copy"
    );
    drop(guard);
    assert!(!store.spare_free(), "the Arc still holds it");
    drop(kept);
    assert!(store.spare_free());
    store.apply([Change::UpsertService(svc("ns", "c", "198.18.0.3"))], 3);
    assert_eq!(store.copies(), 0);

    let guard = store.read();
    store.apply([Change::UpsertService(svc("ns", "d", "198.18.0.4"))], 4);
    store.apply([Change::UpsertService(svc("ns", "e", "198.18.0.5"))], 5);
    assert_eq!(store.copies(), 1, "the second publish had to copy");
    assert!(guard.service("ns", "d").is_none());
    drop(guard);
    let now = store.load();
    for name in ["a", "b", "c", "d", "e"] {
        assert!(now.service("ns", name).is_some(), "{name}");
    }
}

#[test]
fn slice_moving_between_services_detaches_from_the_old_one() {
    let store = SnapshotStore::new();
    store.apply(
        [
            Change::UpsertService(svc("ns", "a", "198.18.0.1")),
            Change::UpsertService(svc("ns", "b", "198.18.0.2")),
            Change::UpsertEndpointSlice(slice("ns", "s", "a", &["198.18.1.1"])),
        ],
        1,
    );
    store.apply(
        [Change::UpsertEndpointSlice(slice(
            "ns",
            "s",
            "b",
            &["198.18.1.1"],
        ))],
        2,
    );
    let snap = store.load();
    assert!(snap.service("ns", "a").unwrap().slices.is_empty());
    assert_eq!(snap.service("ns", "b").unwrap().slices.len(), 1);
}

#[test]
fn pods_index_by_every_ip() {
    let store = SnapshotStore::new();
    let pod = Pod {
        namespace: "ns".into(),
        name: "p".into(),
        ips: vec![
            "198.18.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ],
        ..Default::default()
    };
    store.apply([Change::UpsertPod(pod)], 1);
    assert_eq!(
        store
            .load()
            .pods_by_ip(&"2001:db8::1".parse().unwrap())
            .len(),
        1
    );
    store.apply([Change::DeletePod(ObjectKey::new("ns", "p"))], 2);
    assert!(
        store
            .load()
            .pods_by_ip(&"198.18.2.1".parse().unwrap())
            .is_empty()
    );
}

/// Left-right publishing: each publish shows every batch so far, whether the replaced copy's
/// readers let go at once (it becomes the spare and gets the batch again) or keep holding it
/// (the publish copies instead); held copies keep showing their own moment.
#[test]
fn every_publish_shows_every_batch_whether_readers_hold_old_copies_or_not() {
    let store = SnapshotStore::new();
    let mut held = Vec::new();
    let mut deleted = Vec::new();
    for i in 0..30u32 {
        store.apply(
            [Change::UpsertService(svc(
                "ns",
                &format!("s{i}"),
                &format!("198.18.0.{i}"),
            ))],
            i,
        );
        if i % 3 == 0 {
            held.push((i, store.load()));
        }
        if i % 5 == 4 {
            store.apply(
                [Change::DeleteService(ObjectKey::new(
                    "ns",
                    format!("s{}", i - 1),
                ))],
                i,
            );
            deleted.push(i - 1);
        }
        let snap = store.load();
        for j in 0..=i {
            assert_eq!(
                snap.service("ns", &format!("s{j}")).is_some(),
                !deleted.contains(&j),
                "after batch {i}: s{j}"
            );
        }
        assert_eq!(snap.serial(), i);
    }
    for (i, snap) in &held {
        assert!(snap.service("ns", &format!("s{i}")).is_some());
        assert!(snap.service("ns", &format!("s{}", i + 1)).is_none());
    }
    drop(held);
    store.apply([Change::UpsertService(svc("ns", "last", "198.18.1.1"))], 99);
    store.apply([Change::DeleteService(ObjectKey::new("ns", "s0"))], 100);
    let snap = store.load();
    assert!(snap.service("ns", "last").is_some());
    assert!(snap.service("ns", "s0").is_none());
    assert!(snap.service("ns", "s29").is_some());
    let ip: IpAddr = "198.18.1.1".parse().unwrap();
    assert_eq!(
        keys(snap.services_by_cluster_ip(&ip)),
        [ObjectKey::new("ns", "last")]
    );
}

/// An address several services share keeps every owner in (namespace, name) order, whatever
/// order they arrive and leave in, and falls back to one owner when the others go.
#[test]
fn shared_addresses_keep_every_owner_in_order() {
    let ip: IpAddr = "198.18.1.1".parse().unwrap();
    let key = |ns: &str, name: &str| ObjectKey::new(ns, name);
    type Keys<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Keys, Keys, Keys)] = &[
        // (services added in this order, then deleted, owners left)
        (
            &[("ns", "b"), ("ns", "a")],
            &[],
            &[("ns", "a"), ("ns", "b")],
        ),
        (
            &[("z", "a"), ("a", "z"), ("m", "m")],
            &[("m", "m")],
            &[("a", "z"), ("z", "a")],
        ),
        (&[("ns", "a"), ("ns", "b")], &[("ns", "a")], &[("ns", "b")]),
        (
            &[("ns", "a"), ("ns", "b")],
            &[("ns", "b"), ("ns", "a")],
            &[],
        ),
    ];
    for (added, deleted, left) in cases {
        let store = SnapshotStore::new();
        for (n, (ns, name)) in added.iter().enumerate() {
            // Each service has its own cluster IP and an endpoint at the shared address.
            let own = format!("198.18.0.{}", n + 1);
            store.apply(
                [
                    Change::UpsertService(svc(ns, name, &own)),
                    Change::UpsertEndpointSlice(slice(
                        ns,
                        &format!("{name}-x"),
                        name,
                        &["198.18.1.1"],
                    )),
                ],
                1,
            );
        }
        for (ns, name) in deleted.iter() {
            store.apply([Change::DeleteService(key(ns, name))], 2);
        }
        // Both left-right copies: publish once more so the other copy answers too.
        for serial in [3, 4] {
            store.apply([], serial);
            let want: Vec<ObjectKey> = left.iter().map(|(ns, name)| key(ns, name)).collect();
            assert_eq!(
                keys(store.load().services_by_endpoint_ip(&ip)),
                want,
                "{added:?} - {deleted:?}"
            );
        }
    }
}

/// `holds`: an upsert equal to the stored object (any case of its key) is held; a changed one,
/// one never stored, and every delete are not.
#[test]
fn holds_only_upserts_equal_to_what_is_stored() {
    let pod = Pod {
        namespace: "ns".into(),
        name: "p".into(),
        ips: vec!["198.18.2.1".parse().unwrap()],
        ..Default::default()
    };
    let namespace = Namespace {
        name: "ns".into(),
        ..Default::default()
    };
    let import = ServiceImport {
        namespace: "ns".into(),
        name: "i".into(),
        ips: vec!["198.18.3.1".parse().unwrap()],
        ..Default::default()
    };
    let mut import_slice = slice("ns", "is", "i", &["198.18.3.2"]);
    import_slice.cluster_id = "c1".into();
    let stored = [
        Change::UpsertService(svc("ns", "a", "198.18.0.1")),
        Change::UpsertEndpointSlice(slice("ns", "s", "a", &["198.18.1.1"])),
        // A slice whose service does not exist (yet) is stored too.
        Change::UpsertEndpointSlice(slice("ns", "orphan", "none", &["198.18.1.2"])),
        Change::UpsertPod(pod.clone()),
        Change::UpsertNamespace(namespace.clone()),
        Change::UpsertServiceImport(import.clone()),
        Change::UpsertImportSlice(import_slice.clone()),
    ];
    let store = SnapshotStore::new();
    store.apply(stored.clone(), 1);
    let snap = store.load();
    for change in &stored {
        assert!(snap.holds(change), "{change:?}");
    }
    let mut upper = svc("NS", "A", "198.18.0.1");
    upper.namespace = "NS".into();
    let moved_pod = Pod {
        ips: vec!["198.18.2.9".parse().unwrap()],
        ..pod
    };
    let labelled = Namespace {
        labels: [("team".into(), "dns".into())].into_iter().collect(),
        ..namespace
    };
    let reassigned = ServiceImport {
        ips: vec!["198.18.3.9".parse().unwrap()],
        ..import
    };
    let mut moved_slice = import_slice;
    moved_slice.endpoints.clear();
    assert!(
        !snap.holds(&Change::UpsertService(upper)),
        "the stored service's namespace is spelt `ns`: a field differs"
    );
    for change in [
        Change::UpsertService(svc("ns", "a", "198.18.0.9")),
        Change::UpsertService(svc("ns", "new", "198.18.0.1")),
        Change::UpsertEndpointSlice(slice("ns", "s", "a", &["198.18.1.9"])),
        Change::UpsertPod(moved_pod),
        Change::UpsertNamespace(labelled),
        Change::UpsertServiceImport(reassigned),
        Change::UpsertImportSlice(moved_slice),
        // The same slice as an import's: held only where it was stored.
        Change::UpsertImportSlice(slice("ns", "s", "a", &["198.18.1.1"])),
        Change::DeleteService(ObjectKey::new("ns", "a")),
        Change::DeleteEndpointSlice(ObjectKey::new("ns", "s")),
        Change::DeletePod(ObjectKey::new("ns", "p")),
        Change::DeleteNamespace("ns".into()),
        Change::DeleteServiceImport(ObjectKey::new("ns", "i")),
        Change::DeleteImportSlice(ObjectKey::new("ns", "is")),
    ] {
        assert!(!snap.holds(&change), "{change:?}");
    }
}

/// `catch_up` applies the last batch to the replaced copy at once when nobody reads it, and
/// leaves it for the next publish when somebody does; either way every publish shows every
/// batch and the copies stay independent.
#[test]
fn catch_up_brings_the_spare_up_to_date_only_when_free() {
    let store = SnapshotStore::new();
    store.apply([Change::UpsertService(svc("ns", "a", "198.18.0.1"))], 1);
    assert!(store.catch_up(), "the replaced (empty) copy is free");
    assert!(!store.catch_up(), "already up to date");
    store.apply([Change::UpsertService(svc("ns", "b", "198.18.0.2"))], 2);
    let guard = store.read();
    store.apply([Change::UpsertService(svc("ns", "c", "198.18.0.3"))], 3);
    assert!(!store.catch_up(), "a reader holds the replaced copy");
    assert!(guard.service("ns", "c").is_none());
    drop(guard);
    assert!(store.catch_up());
    store.apply([Change::DeleteService(ObjectKey::new("ns", "a"))], 4);
    store.apply([Change::UpsertService(svc("ns", "d", "198.18.0.4"))], 5);
    assert_eq!(store.copies(), 0);
    let now = store.load();
    assert!(now.service("ns", "a").is_none());
    for name in ["b", "c", "d"] {
        assert!(now.service("ns", name).is_some(), "{name}");
    }
    assert_eq!(now.serial(), 5);
}

/// `keys` and `count` name what the snapshot holds of each kind, lowercase, and nothing of the
/// others: a re-list compares its list with them.
#[test]
fn keys_and_count_per_kind() {
    let import_slice = EndpointSlice {
        cluster_id: "east".into(),
        ..slice("ns", "imp-east", "imp", &["198.19.0.9"])
    };
    let mut s = Snapshot::default();
    for change in [
        Change::UpsertService(svc("ns", "a", "198.18.0.1")),
        Change::UpsertService(svc("other", "b", "198.18.0.2")),
        Change::UpsertEndpointSlice(slice("ns", "a-1", "a", &["198.19.0.1"])),
        Change::UpsertEndpointSlice(slice("ns", "orphan-1", "none", &["198.19.0.2"])),
        Change::UpsertServiceImport(ServiceImport {
            namespace: "ns".into(),
            name: "imp".into(),
            ..Default::default()
        }),
        Change::UpsertImportSlice(import_slice),
        Change::UpsertPod(Pod {
            namespace: "ns".into(),
            name: "Web-0".into(),
            ..Default::default()
        }),
        Change::UpsertNamespace(Namespace {
            name: "ns".into(),
            ..Default::default()
        }),
    ] {
        s.apply(change);
    }
    let sorted = |kind| {
        let mut keys: Vec<(String, String)> = s
            .keys(kind)
            .map(|(ns, name)| (ns.to_string(), name.to_string()))
            .collect();
        keys.sort();
        keys
    };
    let pair = |ns: &str, name: &str| (ns.to_string(), name.to_string());
    let table = [
        (Kind::Service, vec![pair("ns", "a"), pair("other", "b")]),
        (
            Kind::EndpointSlice,
            vec![pair("ns", "a-1"), pair("ns", "orphan-1")],
        ),
        (Kind::ServiceImport, vec![pair("ns", "imp")]),
        (Kind::ImportSlice, vec![pair("ns", "imp-east")]),
        (Kind::Pod, vec![pair("ns", "web-0")]),
        (Kind::Namespace, vec![pair("", "ns")]),
    ];
    for (kind, want) in table {
        assert_eq!(sorted(kind), want, "{kind:?}");
        assert_eq!(s.count(kind), want.len(), "{kind:?}");
    }
}
