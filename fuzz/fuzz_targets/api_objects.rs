//! Arbitrary JSON, as a watch delivers it -> k8s-openapi's Service, EndpointSlice, Pod,
//! Namespace (parsed trimmed, as the watch parses them) or the MCS ServiceImport -> the compact
//! model, then indexed: what the API server
//! (or anything speaking for it) sends is converted, skipped with a reason, or warned about,
//! never a panic. The first byte picks the kind.
#![no_main]

use cluster_dns::convert;
use cluster_dns::mcs::ServiceImport;
use cluster_dns::trimmed::Trimmed;
use dns_core::cluster::{Change, SnapshotStore};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, json)) = data.split_first() else { return };
    let change = match kind % 6 {
        0 => serde_json::from_slice::<Trimmed<core::Service>>(json)
            .ok()
            .and_then(|s| convert::service(&s).ok())
            .map(Change::UpsertService),
        1 => serde_json::from_slice::<Trimmed<discovery::EndpointSlice>>(json)
            .ok()
            .and_then(|s| convert::endpoint_slice(&s).ok())
            .map(|(s, _)| Change::UpsertEndpointSlice(s)),
        2 => serde_json::from_slice::<Trimmed<discovery::EndpointSlice>>(json)
            .ok()
            .and_then(|s| convert::import_slice(&s).ok())
            .map(|(s, _)| Change::UpsertImportSlice(s)),
        3 => serde_json::from_slice::<Trimmed<core::Pod>>(json)
            .ok()
            .and_then(|p| convert::pod(&p).ok())
            .map(|(p, _)| Change::UpsertPod(p)),
        4 => serde_json::from_slice::<Trimmed<core::Namespace>>(json)
            .ok()
            .and_then(|n| convert::namespace(&n).ok())
            .map(Change::UpsertNamespace),
        _ => serde_json::from_slice::<ServiceImport>(json)
            .ok()
            .and_then(|i| convert::service_import(&i).ok())
            .map(|(i, _)| Change::UpsertServiceImport(i)),
    };
    if let Some(change) = change {
        SnapshotStore::new().replace(vec![change], 1);
    }
});
