//! Every Corefile plugin, one folder each (its setup and its handler), and [`REGISTRY`]: the
//! one list of plugin names and their order, as CoreDNS's plugin.cfg. Adding a plugin is a
//! folder here and a row in the table.

pub mod autopath;
pub mod bind;
pub mod cache;
pub mod errors;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod kubernetes;
pub mod loadbalance;
pub mod log;
#[path = "loop/mod.rs"]
pub mod loop_detect;
pub mod prometheus;
pub mod ready;
pub mod reload;
pub mod rewrite;

use crate::corefile::Corefile;
use crate::plugin::Registration;
use crate::plugin::build::{BuildError, Built, Dependencies};

/// Every plugin CoreDNS's plugin.cfg lists, in its order (a chain runs its plugins in this
/// order, whatever order the Corefile lists them in); those Signpost builds in have a setup.
pub static REGISTRY: &[Registration] = &[
    Registration::unsupported("root"),
    Registration::unsupported("metadata"),
    Registration::unsupported("geoip"),
    Registration::unsupported("cancel"),
    Registration::unsupported("tls"),
    Registration::unsupported("proxyproto"),
    Registration::unsupported("quic"),
    Registration::unsupported("grpc_server"),
    Registration::unsupported("https"),
    Registration::unsupported("https3"),
    Registration::unsupported("timeouts"),
    Registration::unsupported("multisocket"),
    Registration::setup("reload", reload::setup),
    Registration::unsupported("nsid"),
    Registration::unsupported("bufsize"),
    Registration::listen("bind", bind::listen),
    Registration::unsupported("debug"),
    Registration::unsupported("trace"),
    Registration::setup("ready", ready::setup),
    Registration::setup("health", health::setup),
    Registration::unsupported("pprof"),
    Registration::setup("prometheus", prometheus::setup),
    Registration::setup("errors", errors::setup),
    Registration::repeated("log", log::setup),
    Registration::unsupported("dnstap"),
    Registration::unsupported("local"),
    Registration::unsupported("dns64"),
    Registration::unsupported("acl"),
    Registration::unsupported("any"),
    Registration::unsupported("chaos"),
    Registration::setup("loadbalance", loadbalance::setup),
    Registration::unsupported("tsig"),
    Registration::setup("cache", cache::setup),
    Registration::repeated("rewrite", rewrite::setup),
    Registration::unsupported("header"),
    Registration::unsupported("dnssec"),
    Registration::setup("autopath", autopath::setup),
    Registration::unsupported("minimal"),
    Registration::unsupported("template"),
    Registration::unsupported("transfer"),
    Registration::setup("hosts", hosts::setup),
    Registration::unsupported("route53"),
    Registration::unsupported("azure"),
    Registration::unsupported("clouddns"),
    Registration::unsupported("k8s_external"),
    Registration::setup("kubernetes", kubernetes::setup),
    Registration::unsupported("file"),
    Registration::unsupported("auto"),
    Registration::unsupported("secondary"),
    Registration::unsupported("etcd"),
    Registration::setup("loop", loop_detect::setup),
    Registration::setup("forward", forward::setup),
    Registration::unsupported("grpc"),
    Registration::unsupported("erratic"),
    Registration::unsupported("whoami"),
    Registration::unsupported("on"),
    Registration::unsupported("sign"),
    Registration::unsupported("view"),
    Registration::unsupported("nomad"),
];

/// Builds `corefile` with every plugin of [`REGISTRY`].
pub fn build(corefile: &Corefile, deps: &Dependencies) -> Result<Built, BuildError> {
    crate::plugin::build::build(corefile, deps, REGISTRY)
}

#[cfg(test)]
mod tests;
