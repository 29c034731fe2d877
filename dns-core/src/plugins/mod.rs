//! Every Corefile plugin, one folder each (its setup and its handler), and [`REGISTRY`]: the
//! one list of plugin names and their order, as CoreDNS's plugin.cfg. Adding a plugin is a
//! folder here and a row in the table.

pub mod acl;
pub mod any;
pub mod autopath;
pub mod bind;
pub mod bufsize;
pub mod cache;
pub mod cancel;
pub mod chaos;
pub mod debug;
pub mod dns64;
pub mod errors;
pub mod file;
pub mod forward;
pub mod header;
pub mod health;
pub mod hosts;
pub mod k8s_external;
pub mod kubernetes;
pub mod loadbalance;
pub mod local;
pub mod log;
#[path = "loop/mod.rs"]
pub mod loop_detect;
pub mod metadata;
pub mod minimal;
pub mod nsid;
pub mod pprof;
pub mod prometheus;
pub mod ready;
pub mod reload;
pub mod rewrite;
pub mod template;
pub mod timeouts;
pub mod trace;
pub mod transfer;
pub mod whoami;

use crate::corefile::Corefile;
use crate::plugin::Registration;
use crate::plugin::build::{BuildError, Built, Dependencies};

/// Every plugin CoreDNS's plugin.cfg lists, in its order (a chain runs its plugins in this
/// order, whatever order the Corefile lists them in); those Signpost builds in have a setup.
pub static REGISTRY: &[Registration] = &[
    Registration::unsupported("root"),
    Registration::setup("metadata", metadata::setup),
    Registration::unsupported("geoip"),
    Registration::setup("cancel", cancel::setup),
    Registration::unsupported("tls"),
    Registration::unsupported("proxyproto"),
    Registration::unsupported("quic"),
    Registration::unsupported("grpc_server"),
    Registration::unsupported("https"),
    Registration::unsupported("https3"),
    Registration::setup("timeouts", timeouts::setup),
    Registration::unsupported("multisocket"),
    Registration::setup("reload", reload::setup),
    Registration::setup("nsid", nsid::setup),
    Registration::setup("bufsize", bufsize::setup),
    Registration::listen("bind", bind::listen),
    Registration::setup("debug", debug::setup),
    Registration::setup("trace", trace::setup),
    Registration::setup("ready", ready::setup),
    Registration::setup("health", health::setup),
    Registration::setup("pprof", pprof::setup),
    Registration::setup("prometheus", prometheus::setup),
    Registration::setup("errors", errors::setup),
    Registration::repeated("log", log::setup),
    Registration::unsupported("dnstap"),
    Registration::setup("local", local::setup),
    Registration::setup("dns64", dns64::setup),
    Registration::repeated("acl", acl::setup),
    Registration::setup("any", any::setup),
    Registration::setup("chaos", chaos::setup),
    Registration::setup("loadbalance", loadbalance::setup),
    Registration::unsupported("tsig"),
    Registration::setup("cache", cache::setup),
    Registration::repeated("rewrite", rewrite::setup),
    Registration::setup("header", header::setup),
    Registration::unsupported("dnssec"),
    Registration::setup("autopath", autopath::setup),
    Registration::setup("minimal", minimal::setup),
    Registration::repeated("template", template::setup),
    Registration::repeated("transfer", transfer::setup),
    Registration::setup("hosts", hosts::setup),
    Registration::unsupported("route53"),
    Registration::unsupported("azure"),
    Registration::unsupported("clouddns"),
    Registration::setup("k8s_external", k8s_external::setup),
    Registration::setup("kubernetes", kubernetes::setup),
    Registration::repeated("file", file::setup),
    Registration::unsupported("auto"),
    Registration::unsupported("secondary"),
    Registration::unsupported("etcd"),
    Registration::setup("loop", loop_detect::setup),
    Registration::setup("forward", forward::setup),
    Registration::unsupported("grpc"),
    Registration::unsupported("erratic"),
    Registration::setup("whoami", whoami::setup),
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
