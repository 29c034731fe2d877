//! Names as the wire has them: what hickory's `Name` does not say the way DNS means it.

use hickory_proto::rr::Name;

/// The number of labels of `name`, a leading `*` included (hickory's `num_labels` leaves it
/// out, which made `*.cluster.local` look like the apex of `cluster.local`).
pub fn label_count(name: &Name) -> usize {
    name.iter().count()
}
