//! Files that plugins name (a hosts file, a weight file, a resolv.conf, PEM files), read with a
//! size cap: a path such as /dev/zero must neither hang the start nor fill memory.

use std::io::Read;
use std::path::Path;

/// The first `max` bytes of the file at `path`.
pub fn read_capped(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
