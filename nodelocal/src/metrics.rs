//! nodelocal's own metrics, with node-cache's names so its dashboards and alerts keep working.
//! Registered in the default registry: the Corefile's `prometheus :9253` serves them beside
//! CoreDNS's, and so does `--metrics-listen-address`.

use std::sync::LazyLock;

use dns_core::plugin::metrics::prometheus::{IntCounterVec, Opts, register_int_counter_vec};

/// `coredns_nodecache_setup_errors_total{errortype}`: errors while setting up or re-asserting
/// the link, its addresses, the rules, or the Corefile.
pub static SETUP_ERRORS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "coredns_nodecache_setup_errors_total",
            "The number of errors during periodic network setup for node-cache"
        ),
        &["errortype"]
    )
    .ok()
});

/// node-cache's error types, all present from the start (at 0).
pub const ERROR_TYPES: [&str; 5] = [
    "iptables",
    "iptables_lock",
    "interface_add",
    "interface_check",
    "configmap",
];

pub fn init() {
    if let Some(errors) = SETUP_ERRORS.as_ref() {
        for kind in ERROR_TYPES {
            errors.with_label_values(&[kind]).inc_by(0);
        }
    }
}

pub fn setup_error(kind: &'static str) {
    if let Some(errors) = SETUP_ERRORS.as_ref() {
        errors.with_label_values(&[kind]).inc();
    }
}
