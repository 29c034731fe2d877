//! Names as the wire has them: what hickory's `Name` does not say the way DNS means it.

use hickory_proto::rr::Name;

/// The number of labels of `name`, a leading `*` included (hickory's `num_labels` leaves it
/// out, which made `*.cluster.local` look like the apex of `cluster.local`).
pub fn label_count(name: &Name) -> usize {
    // The iterator knows its length: no label is visited.
    name.iter().len()
}

/// Whether `zone` holds the name whose labels (leftmost first) are `labels`, ASCII case
/// ignored: hickory's `zone_of` for many zones against one name, its labels gathered once.
pub fn zone_holds(zone: &Name, labels: &[&[u8]]) -> bool {
    let zone_labels = zone.iter();
    let Some(first) = labels.len().checked_sub(zone_labels.len()) else {
        return false;
    };
    zone_labels
        .zip(&labels[first..])
        .all(|(z, l)| z.eq_ignore_ascii_case(l))
}
