//! The cluster model, its indexed snapshot and record synthesis. Pure: no I/O.

pub mod model;
pub mod records;
pub mod selector;
pub mod snapshot;
#[doc(hidden)]
pub mod testdata;

#[cfg(test)]
mod tests;

pub use model::*;
pub use snapshot::{ServiceEntry, ServiceIndex, Snapshot, SnapshotStore, lower};
