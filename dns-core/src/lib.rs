//! Signpost's DNS core: everything that is DNS and needs no Kubernetes client or kernel.
//!
//! Pure rooms: [`corefile`] (Corefile -> typed server blocks), [`cluster`] (model, snapshot,
//! record synthesis), plugin setup in [`plugins`]. I/O at the edge: [`server`] (sockets).

pub mod cluster;
pub mod corefile;
pub mod forward;
pub mod plugins;
pub mod server;
