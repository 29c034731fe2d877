//! Hosts-file text -> the hosts plugin's table, then lookups of every name it holds and a
//! reverse name: a broken line is skipped, never a panic.
#![no_main]

use dns_core::plugins::hosts::{HostsTable, lookup};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origins = [Name::root()];
    let table = HostsTable::parse(text, &origins, true);
    let empty = HostsTable::parse("", &origins, true);
    for word in text.split_whitespace().take(16) {
        let Ok(name) = Name::from_utf8(word) else { continue };
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::PTR] {
            let _ = lookup([&table, &empty], &origins, &name, qtype, 3600);
        }
    }
});
