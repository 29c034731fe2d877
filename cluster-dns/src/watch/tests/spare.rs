use std::time::{Duration, Instant};

use dns_core::cluster::{Change, Service, SnapshotStore};

use crate::watch::{SPARE_WAIT, wait_for_spare};

fn upsert(name: &str) -> Change {
    Change::UpsertService(Service {
        namespace: "prod".into(),
        name: name.into(),
        ..Default::default()
    })
}

/// A reader that lets go of the replaced copy a moment after the publish (descheduled
/// mid-answer): the applier waits for it and the next publish copies nothing.
#[tokio::test]
async fn the_applier_waits_for_a_reader_that_lets_go_soon() {
    let store = std::sync::Arc::new(SnapshotStore::new());
    store.apply([upsert("a")], 1);
    let held = store.load();
    store.apply([upsert("b")], 2);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
    });
    wait_for_spare(&store).await;
    store.apply([upsert("c")], 3);
    assert_eq!(store.copies(), 0);
    release.await.expect("the reader task");
}

/// A reader that keeps the replaced copy: the applier gives up after `SPARE_WAIT` and the
/// publish copies, so a stuck reader delays one publish by a bounded time, not every publish.
#[tokio::test]
async fn the_applier_stops_waiting_for_a_reader_that_keeps_it() {
    let store = SnapshotStore::new();
    store.apply([upsert("a")], 1);
    let held = store.load();
    store.apply([upsert("b")], 2);
    let began = Instant::now();
    wait_for_spare(&store).await;
    assert!(began.elapsed() >= SPARE_WAIT);
    store.apply([upsert("c")], 3);
    assert_eq!(store.copies(), 1);
    // The copy became the spare: the next publish waits for nothing and copies nothing.
    let began = Instant::now();
    wait_for_spare(&store).await;
    store.apply([upsert("d")], 4);
    assert_eq!(store.copies(), 1);
    assert!(began.elapsed() < SPARE_WAIT);
    assert!(held.service("prod", "c").is_none());
}
