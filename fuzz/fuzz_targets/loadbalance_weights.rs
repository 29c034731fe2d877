//! A weighted loadbalance file -> its weights: errors name file:line, never a panic.
#![no_main]

use dns_core::plugins::loadbalance::parse_weights;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_weights(text, "weights");
});
