//! Signpost's DNS core: everything that is DNS and needs no Kubernetes client or kernel.
//!
//! Layers, each importing only from those before it:
//! 1. [`wire`] (a query and its answer at the socket boundary) and [`logging`];
//! 2. the pure rooms [`corefile`] (Corefile -> typed server blocks) and [`cluster`] (model,
//!    snapshot, record synthesis);
//! 3. [`plugin`]: the plugin contract, the chain and router, the registry row, building a
//!    Corefile;
//! 4. [`plugins`]: one folder per Corefile plugin, and `REGISTRY`, the one list of them;
//! 5. [`server`]: sockets, HTTP endpoints, reload, and `CorefileServer`, which both binaries
//!    use to serve a Corefile.

pub mod logging;
pub mod wire;

pub mod cluster;
pub mod corefile;

pub mod plugin;

pub mod plugins;

pub mod server;
