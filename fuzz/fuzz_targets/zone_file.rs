//! Zone file text -> the file plugin's records and zone, then lookups of every name it holds
//! in the types that matter (and a transfer): a broken file is an error with its line, never
//! a panic. Every `$INCLUDE` reads a file that includes itself, so nesting and its bound are
//! exercised.
#![no_main]

use std::path::Path;

use dns_core::plugins::file::{Zone, zonefile};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(origin) = Name::from_ascii("example.test.") else { return };
    let include =
        |_: &Path| -> Result<String, String> { Ok("inc A 198.18.1.1\n$INCLUDE again\n".into()) };
    let Ok(records) = zonefile::parse(text, Path::new("/zones/db"), &origin, &include) else {
        return;
    };
    let names: Vec<Name> = records.iter().take(32).map(|r| r.name.to_lowercase()).collect();
    let Ok(zone) = Zone::new(&origin, records) else { return };
    let _ = zone.transfer();
    for name in names.iter().filter(|n| origin.zone_of(n)) {
        for qtype in [RecordType::A, RecordType::CNAME, RecordType::NS, RecordType::MX, RecordType::DS] {
            let _ = zone.lookup(name, qtype);
            if let Ok(below) = name.prepend_label("x") {
                let _ = zone.lookup(&below, qtype);
            }
        }
    }
});
