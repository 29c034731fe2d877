//! One lock for every test that changes the host's network state (links, addresses, nft and
//! iptables rules, conntrack, sysctls) or runs a real node: an exclusive `flock` on
//! [`HOST_LOCK`], taken once per test binary and held until it exits, so two such binaries
//! (two `cargo test` runs, or `scripts/test` beside a test run by hand) never overlap.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::time::Instant;

/// The lock file.
pub const HOST_LOCK: &str = "/run/signpost-host.lock";

/// Takes the host lock for this process (waiting for another holder to finish), once; later
/// calls return at once. The lock goes with the process.
pub fn hold() {
    static HELD: OnceLock<File> = OnceLock::new();
    HELD.get_or_init(|| {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(HOST_LOCK)
            .unwrap_or_else(|e| panic!("open {HOST_LOCK}: {e}"));
        let began = Instant::now();
        // SAFETY: flock on a descriptor this process owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            eprintln!("waiting for {HOST_LOCK} (another test is changing the host)");
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            assert_eq!(
                rc,
                0,
                "flock {HOST_LOCK}: {}",
                std::io::Error::last_os_error()
            );
            eprintln!("got {HOST_LOCK} after {:.1?}", began.elapsed());
        }
        file
    });
}
