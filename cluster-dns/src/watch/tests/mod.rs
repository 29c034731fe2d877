//! Table tests for the pure parts of the watch cache: the plan, the re-list arithmetic, and
//! which failures resume a watch and which list again.

mod plan;
mod recovery;
mod relist;
mod spare;
mod trigger;
