//! `cache [TTL] [ZONES...] { ... }`: CoreDNS's front-end cache. Setup (`setup`), what is stored
//! and for how long as pure functions of the response and the time (`policy`), the bounded
//! sharded store of each half (`store`), the serving side with background refreshes
//! (`handler`), CoreDNS's metrics (`metrics`).

mod handler;
mod metrics;
pub mod policy;
mod setup;
pub mod store;

pub use handler::CachePlugin;
pub use setup::{CacheConfig, CacheSection, ServeStale, parse, setup};
