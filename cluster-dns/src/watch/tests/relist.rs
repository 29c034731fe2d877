use dns_core::cluster::{Change, EndpointSlice, Kind, Namespace, ObjectKey, Service, Snapshot};

use crate::watch::relist::{self, Update};

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

/// The changes `update` makes, applied to `model` as the applier publishes them.
fn changes(model: &mut Snapshot, update: Update) -> Vec<Change> {
    let mut out = Vec::new();
    relist::changes(update, model, &mut out);
    for change in &out {
        model.apply(change.clone());
    }
    out
}

#[test]
fn first_list_adds_everything() {
    let mut model = Snapshot::default();
    let out = changes(
        &mut model,
        services_listed(vec![svc("a"), svc("b")], vec![]),
    );
    assert_eq!(out, vec![svc("a").1, svc("b").1]);
    assert_eq!(model.count(Kind::Service), 2);
}

#[test]
fn relist_removes_what_vanished_in_the_same_batch() {
    let mut model = Snapshot::default();
    changes(
        &mut model,
        services_listed(vec![svc("a"), svc("b"), svc("c")], vec![]),
    );
    // After 410 Gone or an outage: b was deleted meanwhile, d created.
    let out = changes(
        &mut model,
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
    assert_eq!(model.count(Kind::Service), 3);
}

#[test]
fn relist_of_one_kind_leaves_the_others_alone() {
    let mut model = Snapshot::default();
    changes(&mut model, services_listed(vec![svc("a")], vec![]));
    let slice = EndpointSlice {
        namespace: "prod".into(),
        name: "a-1".into(),
        service_name: "a".into(),
        ..Default::default()
    };
    let out = changes(
        &mut model,
        Update::Listed {
            kind: Kind::EndpointSlice,
            objects: vec![(slice.key(), Change::UpsertEndpointSlice(slice.clone()))],
            unchanged: vec![],
        },
    );
    assert_eq!(out, vec![Change::UpsertEndpointSlice(slice)]);
    assert_eq!(model.count(Kind::Service), 1);
}

#[test]
fn a_remove_deletes_whether_or_not_the_model_holds_it() {
    let mut model = Snapshot::default();
    let key = ObjectKey::new("prod", "a");
    // An object skipped as unusable was never added: its delete changes nothing. (An upsert
    // of it may wait in the same batch, unpublished, so the delete is never left out.)
    assert_eq!(
        changes(
            &mut model,
            Update::Remove {
                kind: Kind::Service,
                key: key.clone()
            }
        ),
        vec![Change::DeleteService(key.clone())]
    );
    assert_eq!(model.count(Kind::Service), 0);
    changes(
        &mut model,
        Update::Upsert {
            kind: Kind::Service,
            key: key.clone(),
            change: svc("a").1,
        },
    );
    assert_eq!(
        changes(
            &mut model,
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
    let mut model = Snapshot::default();
    let ns = Namespace {
        name: "prod".into(),
        ..Default::default()
    };
    changes(
        &mut model,
        Update::Listed {
            kind: Kind::Namespace,
            objects: vec![(ObjectKey::new("", "prod"), Change::UpsertNamespace(ns))],
            unchanged: vec![],
        },
    );
    let out = changes(
        &mut model,
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
    let mut model = Snapshot::default();
    changes(
        &mut model,
        services_listed(vec![svc("a"), svc("b"), svc("c")], vec![]),
    );
    let out = changes(
        &mut model,
        services_listed(vec![svc("d")], vec![svc("a").0, svc("c").0]),
    );
    assert_eq!(
        out,
        vec![
            Change::DeleteService(ObjectKey::new("prod", "b")),
            svc("d").1
        ]
    );
    assert_eq!(model.count(Kind::Service), 3);
    // A later re-list without `a` deletes it: an unchanged key is known like any other.
    let out = changes(
        &mut model,
        services_listed(vec![], vec![svc("c").0, svc("d").0]),
    );
    assert_eq!(
        out,
        vec![Change::DeleteService(ObjectKey::new("prod", "a"))]
    );
}

/// The model keys objects in lowercase; a list compares with them case-insensitively, so an
/// object named with capitals (the API never does) is kept, not deleted and re-added.
#[test]
fn relist_compares_names_case_insensitively() {
    let mut model = Snapshot::default();
    changes(&mut model, services_listed(vec![svc("Web")], vec![]));
    let out = changes(
        &mut model,
        services_listed(vec![], vec![ObjectKey::new("Prod", "Web")]),
    );
    assert_eq!(out, vec![]);
    assert_eq!(model.count(Kind::Service), 1);
}
