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

/// A full list, or a snapshot file read, passes the whole cluster state through the allocator
/// as API objects; once they are converted and dropped, hand the freed pages back to the
/// system, or glibc keeps the peak as the process's resident size for ever.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
