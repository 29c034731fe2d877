//! Any name and type -> the kubernetes plugin's record synthesis (service, endpoint, pod, SRV,
//! reverse names, wildcards, clusterset) against the example cluster, below every zone it
//! serves. The name parsers (labels, dashed pod IPs, reverse in-addr.arpa and ip6.arpa
//! nibbles) must answer or refuse, never panic.
#![no_main]

use std::sync::OnceLock;

use dns_core::cluster::records::{PodMode, RecordOptions, answer};
use dns_core::cluster::testdata::example_cluster;
use dns_core::cluster::{Snapshot, SnapshotStore};
use hickory_proto::op::Query;
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

const ZONES: [&str; 4] = ["cluster.local.", "clusterset.local.", "in-addr.arpa.", "ip6.arpa."];

const TYPES: [RecordType; 10] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::TXT,
    RecordType::NS,
    RecordType::SOA,
    RecordType::CNAME,
    RecordType::ANY,
    RecordType::AXFR,
];

fn fixture() -> &'static (std::sync::Arc<Snapshot>, [RecordOptions; 2]) {
    static FIXTURE: OnceLock<(std::sync::Arc<Snapshot>, [RecordOptions; 2])> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = SnapshotStore::new();
        store.replace(example_cluster(), 1);
        let zones: Vec<Name> = ZONES.iter().filter_map(|z| Name::from_ascii(z).ok()).collect();
        let insecure = RecordOptions {
            zones: zones.clone(),
            pods: PodMode::Insecure,
            endpoint_pod_names: true,
            multicluster_zones: zones.get(1).cloned().into_iter().collect(),
            ..RecordOptions::default()
        };
        let verified = RecordOptions {
            zones,
            pods: PodMode::Verified,
            // Zonal names take the labels a too-long name would: the parser's longest path.
            zonal: true,
            ..RecordOptions::default()
        };
        (store.load(), [insecure, verified])
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else { return };
    let (snapshot, options) = fixture();
    let qtype = TYPES[usize::from(selector) % TYPES.len()];
    let zone = ZONES[usize::from(selector / 16) % ZONES.len()];
    let Ok(text) = std::str::from_utf8(text) else { return };
    // As written (absolute or not), and below a served zone.
    for candidate in [text.to_string(), format!("{text}.{zone}")] {
        let Ok(name) = Name::from_utf8(&candidate) else { continue };
        let query = Query::query(name, qtype);
        for opts in options {
            let _ = answer(snapshot, opts, &query, &|| Vec::new());
        }
    }
});
