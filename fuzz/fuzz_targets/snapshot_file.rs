//! Snapshot-file text (`kubectl get -o yaml`: a List or multi-document YAML) -> the cluster
//! model: a broken file is an error with file:line:col, a bad object is skipped and named,
//! never a panic.
#![no_main]

use cluster_dns::snapshot_file::parse_snapshot;
use dns_core::cluster::SnapshotStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = parse_snapshot(text, "cluster.yaml") {
        // What parses must also index.
        SnapshotStore::new().replace(parsed.changes, 1);
    }
});
