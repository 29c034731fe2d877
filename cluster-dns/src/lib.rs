//! cluster-dns's edges: API objects -> model ([`convert`]) and snapshot mode ([`snapshot_file`]).

pub mod convert;
pub mod mcs;
pub mod snapshot_file;
pub mod watch;
