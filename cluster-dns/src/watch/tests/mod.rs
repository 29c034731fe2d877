//! Table tests for the pure parts of the watch cache: the plan and the re-list arithmetic.

mod plan;
mod relist;
mod trigger;
