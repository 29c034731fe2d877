//! cluster-dns's edges: API objects -> model ([`convert`]) and snapshot mode ([`snapshot_file`]).

pub mod convert;
pub mod mcs;
pub mod snapshot_file;
pub mod trimmed;
pub mod watch;

/// Seconds since the Unix epoch, for the SOA serial of a publish (the model takes the clock as a
/// value).
pub fn now_unix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// One malloc arena for the whole process. glibc gives each thread that allocates its own
/// arena of 64 MiB heaps; the watch converts objects on a runtime worker and the publishes
/// build the indexes on a blocking thread, so the cluster state was spread over several
/// arenas, each keeping its own free pages (10k services: VmRSS 45.9 MiB with one arena per
/// thread, 40.1 with one; docs/benchmarks.md). The price is the initial sync's: 11% to 17%
/// more CPU, the converting worker and the publishing thread taking one lock. An answer from
/// memory allocates nothing, so serving does not pay it. `MALLOC_ARENA_MAX` in the
/// environment wins.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt changes a tunable of the allocator; called before any other thread
        // exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
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
