//! cluster-dns's edges: API objects -> model ([`convert`]) and snapshot mode ([`snapshot_file`]).

pub mod convert;
pub mod mcs;
pub mod snapshot_file;
pub mod watch;

/// Seconds since the Unix epoch, for the SOA serial of a publish (the model takes the clock as a
/// value).
pub fn now_unix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}
