//! The cluster model, its indexed snapshot and record synthesis. Pure: no I/O.

pub mod model;
pub mod records;
pub mod snapshot;

pub use model::*;
pub use snapshot::{ServiceEntry, Snapshot, SnapshotStore};
