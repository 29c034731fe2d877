//! Table tests of the cluster room: record rules (named after docs/records.md) and the snapshot.

mod records;
mod records_mcs;
mod records_zonal;
mod selector;
mod snapshot;
