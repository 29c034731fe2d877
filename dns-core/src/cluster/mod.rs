//! The cluster model, its indexed snapshot and record synthesis. Pure: no I/O.

pub mod model;
pub mod records;
pub mod snapshot;
#[cfg(test)]
mod snapshot_tests;
#[doc(hidden)]
pub mod testdata;

#[cfg(test)]
mod records_tests;

pub use model::*;
pub use snapshot::{ServiceEntry, Snapshot, SnapshotStore};
