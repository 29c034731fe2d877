use dns_core::cluster::{Change, EndpointSlice, Namespace, ObjectKey, Service};

use crate::watch::plan::Kind;
use crate::watch::relist::{Known, Update};

fn svc(name: &str) -> (ObjectKey, Change) {
    let s = Service {
        namespace: "prod".into(),
        name: name.into(),
        ..Default::default()
    };
    (s.key(), Change::UpsertService(s))
}

/// A list of services: `objects` new or changed, `unchanged` held by the cache as listed.
fn services_listed(objects: Vec<(ObjectKey, Change)>, unchanged: Vec<ObjectKey>) -> Update {
    Update::Listed {
        kind: Kind::Service,
        objects,
        unchanged,
    }
}

fn changes(known: &mut Known, update: Update) -> Vec<Change> {
    let mut out = Vec::new();
    known.changes(update, &mut out);
    out
}

#[test]
fn first_list_adds_everything() {
    let mut known = Known::default();
    let out = changes(
        &mut known,
        services_listed(vec![svc("a"), svc("b")], vec![]),
    );
    assert_eq!(out, vec![svc("a").1, svc("b").1]);
    assert_eq!(known.count(Kind::Service), 2);
    assert!(known.all_listed(&[Kind::Service]));
    assert!(!known.all_listed(&[Kind::Service, Kind::EndpointSlice]));
}

#[test]
fn relist_removes_what_vanished_in_the_same_batch() {
    let mut known = Known::default();
    changes(
        &mut known,
        services_listed(vec![svc("a"), svc("b"), svc("c")], vec![]),
    );
    // After 410 Gone or an outage: b was deleted meanwhile, d created.
    let out = changes(
        &mut known,
        services_listed(vec![svc("a"), svc("c"), svc("d")], vec![]),
    );
    assert_eq!(
        out,
        vec![
            Change::DeleteService(ObjectKey::new("prod", "b")),
            svc("a").1,
            svc("c").1,
            svc("d").1,
        ]
    );
    assert_eq!(known.count(Kind::Service), 3);
}

#[test]
fn relist_of_one_kind_leaves_the_others_alone() {
    let mut known = Known::default();
    changes(&mut known, services_listed(vec![svc("a")], vec![]));
    let slice = EndpointSlice {
        namespace: "prod".into(),
        name: "a-1".into(),
        service_name: "a".into(),
        ..Default::default()
    };
    let out = changes(
        &mut known,
        Update::Listed {
            kind: Kind::EndpointSlice,
            objects: vec![(slice.key(), Change::UpsertEndpointSlice(slice.clone()))],
            unchanged: vec![],
        },
    );
    assert_eq!(out, vec![Change::UpsertEndpointSlice(slice)]);
    assert_eq!(known.count(Kind::Service), 1);
}

#[test]
fn remove_only_what_the_model_holds() {
    let mut known = Known::default();
    let key = ObjectKey::new("prod", "a");
    // An object skipped as unusable was never added: removing it changes nothing.
    assert_eq!(
        changes(
            &mut known,
            Update::Remove {
                kind: Kind::Service,
                key: key.clone()
            }
        ),
        vec![]
    );
    changes(
        &mut known,
        Update::Upsert {
            kind: Kind::Service,
            key: key.clone(),
            change: svc("a").1,
        },
    );
    assert_eq!(
        changes(
            &mut known,
            Update::Remove {
                kind: Kind::Service,
                key: key.clone()
            }
        ),
        vec![Change::DeleteService(key)]
    );
}

#[test]
fn namespaces_are_deleted_by_name() {
    let mut known = Known::default();
    let ns = Namespace {
        name: "prod".into(),
        ..Default::default()
    };
    changes(
        &mut known,
        Update::Listed {
            kind: Kind::Namespace,
            objects: vec![(ObjectKey::new("", "prod"), Change::UpsertNamespace(ns))],
            unchanged: vec![],
        },
    );
    let out = changes(
        &mut known,
        Update::Listed {
            kind: Kind::Namespace,
            objects: vec![],
            unchanged: vec![],
        },
    );
    assert_eq!(out, vec![Change::DeleteNamespace("prod".into())]);
}

/// A re-list names what the cache already holds unchanged by key alone: those keys stay, only
/// what changed is upserted, and what the list lacks is deleted.
#[test]
fn relist_keeps_unchanged_keys_and_upserts_only_changes() {
    let mut known = Known::default();
    changes(
        &mut known,
        services_listed(vec![svc("a"), svc("b"), svc("c")], vec![]),
    );
    let out = changes(
        &mut known,
        services_listed(vec![svc("d")], vec![svc("a").0, svc("c").0]),
    );
    assert_eq!(
        out,
        vec![
            Change::DeleteService(ObjectKey::new("prod", "b")),
            svc("d").1
        ]
    );
    assert_eq!(known.count(Kind::Service), 3);
    // A later re-list without `a` deletes it: an unchanged key is known like any other.
    let out = changes(
        &mut known,
        services_listed(vec![], vec![svc("c").0, svc("d").0]),
    );
    assert_eq!(
        out,
        vec![Change::DeleteService(ObjectKey::new("prod", "a"))]
    );
}
