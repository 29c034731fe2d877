//! Corefile text -> parser, plugin check and chain build, and `check`'s part-by-part setup:
//! errors, never panics.
#![no_main]

use std::sync::Arc;

use dns_core::cluster::SnapshotStore;
use dns_core::corefile::parse_str;
use dns_core::plugin::build::Dependencies;
use dns_core::plugins::build;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(corefile) = parse_str(text, "Corefile", &|k| (k == "X").then(|| "cluster.local".to_string())) {
        let deps = Dependencies::new(Arc::new(SnapshotStore::new()));
        let _ = build(&corefile, &deps);
        let _ = dns_core::plugin::build::check(&corefile, &deps, dns_core::plugins::REGISTRY);
    }
});
