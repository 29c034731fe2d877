//! Names as the wire has them: what hickory's `Name` does not say the way DNS means it.

use hickory_proto::rr::Name;

/// The number of labels of `name`, a leading `*` included (hickory's `num_labels` leaves it
/// out, which made `*.cluster.local` look like the apex of `cluster.local`).
pub fn label_count(name: &Name) -> usize {
    // The iterator knows its length: no label is visited.
    name.iter().len()
}

/// A name in wire form without its root, with where each label starts, on the stack: its
/// suffixes are compared and copied as byte runs, not hickory's labels one at a time. The
/// writer builds one per name it writes; the records build the question's once, lowered, to
/// find its zone and read its labels as text without allocating a lowered `Name`.
#[derive(Clone, Debug)]
pub struct WireName {
    wire: [u8; NAME_MAX],
    /// The bytes of `wire` in use.
    len: usize,
    /// Offset of each label's length byte, leftmost label first; `count` of them in use.
    starts: [u8; MAX_LABELS],
    count: usize,
}

/// The longest name in wire form.
const NAME_MAX: usize = 255;
/// A name of 255 bytes has at most 127 labels.
pub const MAX_LABELS: usize = 127;

impl WireName {
    /// `name` as spelled.
    #[inline]
    pub fn new(name: &Name) -> Self {
        Self::build(name, false)
    }

    /// `name` with ASCII letters lowered.
    #[inline]
    pub fn lowered(name: &Name) -> Self {
        Self::build(name, true)
    }

    #[inline]
    fn build(name: &Name, lower: bool) -> Self {
        let mut wire = [0u8; NAME_MAX];
        let mut starts = [0u8; MAX_LABELS];
        let mut len = 0;
        let mut count = 0;
        for label in name.iter() {
            let end = len + 1 + label.len();
            // hickory's Name holds at most 255 bytes in labels of at most 63.
            let (Some(room), Some(start)) = (wire.get_mut(len..end), starts.get_mut(count)) else {
                break;
            };
            room[0] = label.len() as u8;
            room[1..].copy_from_slice(label);
            *start = len as u8;
            len = end;
            count += 1;
        }
        if lower {
            // In one pass, length bytes included: a length (at most 63) is no letter.
            wire[..len].make_ascii_lowercase();
        }
        Self {
            wire,
            len,
            starts,
            count,
        }
    }

    /// The wire form, without the root.
    pub fn as_bytes(&self) -> &[u8] {
        &self.wire[..self.len]
    }

    /// Where label `i` (leftmost first) starts in [`as_bytes`](Self::as_bytes); past the
    /// last label, the end.
    pub fn label_start(&self, i: usize) -> usize {
        if i < self.count {
            usize::from(self.starts[i])
        } else {
            self.len
        }
    }

    /// The number of labels, a leading `*` included (as [`label_count`]).
    pub fn label_count(&self) -> usize {
        self.count
    }

    /// Label `i`, leftmost first.
    pub fn label(&self, i: usize) -> Option<&[u8]> {
        if i >= self.count {
            return None;
        }
        let start = usize::from(self.starts[i]);
        let len = usize::from(self.wire[start]);
        self.wire.get(start + 1..start + 1 + len)
    }

    /// Whether `zone` holds this name, ASCII case ignored (hickory's `zone_of`).
    pub fn in_zone(&self, zone: &Name) -> bool {
        let zone_labels = zone.iter();
        if zone_labels.len() == 0 {
            return true;
        }
        let Some(first) = self.label_count().checked_sub(zone_labels.len()) else {
            return false;
        };
        // `Name::len` of a name with labels counts its bytes and one dot per label: its wire
        // form without the root. A suffix of another length is another name.
        let suffix_len = self.len - self.label_start(first);
        if suffix_len != zone.len() {
            return false;
        }
        // From the root down: another zone differs in its last label, and is left at once.
        zone_labels
            .rev()
            .zip((first..self.label_count()).rev())
            .all(|(z, i)| self.label(i).is_some_and(|l| l.eq_ignore_ascii_case(z)))
    }
}
