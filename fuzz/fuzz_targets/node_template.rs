//! A node-local-dns ConfigMap's Corefile template -> node-cache's variables filled -> the
//! Corefile parser and chain build, as nodelocal starts: errors, never a panic.
#![no_main]

use std::sync::Arc;

use dns_core::cluster::SnapshotStore;
use dns_core::corefile::parse_str;
use dns_core::plugin::build::Dependencies;
use dns_core::plugins::build;
use libfuzzer_sys::fuzz_target;
use nodelocal::template::{TemplateValues, render};

fuzz_target!(|data: &[u8]| {
    let Ok(template) = std::str::from_utf8(data) else { return };
    let values = TemplateValues {
        local_ips: vec!["169.254.20.10".parse().unwrap(), "198.18.0.10".parse().unwrap()],
        cluster_dns: Some("198.18.0.11".parse().unwrap()),
        cluster_dns_env: "KUBE_DNS_UPSTREAM_SERVICE_HOST".into(),
        upstream_servers: "/etc/resolv.conf".into(),
        dns_domain: "cluster.local".into(),
    };
    let Ok(corefile) = render(template, &values) else { return };
    if let Ok(parsed) = parse_str(&corefile, "Corefile", &|_| None) {
        let _ = build(&parsed, &Dependencies::new(Arc::new(SnapshotStore::new())));
    }
});
