//! Answers the kubernetes plugin encoded from the current snapshot, kept per serving thread:
//! a question asked again before the snapshot changes is answered by copying its encoding
//! ([`crate::wire::encoded`]) instead of being looked up and encoded again. Per thread, so
//! the workers share nothing they write; bounded; started over whenever the snapshot (or the
//! plugin asking) is another.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::{Query, ResponseCode};
use smallvec::SmallVec;

use crate::wire::encoded::EncodedSections;
use crate::wire::name::WireName;

/// Questions a thread keeps answers for; past it, it starts over (a working set larger
/// than this is answered as if there were no memo).
const CAPACITY: usize = 4096;

/// A question as bytes: its name's labels as written, then its type and class.
pub type Key = SmallVec<[u8; 64]>;

/// An answer as worked out once: its rcode and records.
pub struct Remembered {
    pub rcode: ResponseCode,
    pub sections: Arc<EncodedSections>,
}

/// What one thread remembers, for one plugin and one snapshot.
#[derive(Default)]
struct Memo {
    plugin: u64,
    generation: u64,
    answers: std::collections::HashMap<Key, Arc<Remembered>, foldhash::fast::RandomState>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

static PLUGINS: AtomicU64 = AtomicU64::new(0);

/// A number for a new plugin, unique in the process: a reloaded Corefile's plugin (another
/// configuration, perhaps at the same address) never reads the answers of the one before.
pub fn plugin_id() -> u64 {
    PLUGINS.fetch_add(1, Ordering::Relaxed) + 1
}

/// The key of `query` when its answer may be remembered: only a name written in lowercase,
/// so an answer copied for it spells every name as an answer worked out for it would.
pub fn key(query: &Query) -> Option<Key> {
    let name = WireName::new(query.name());
    // A length byte (at most 63) is never an ASCII capital.
    if name.as_bytes().iter().any(u8::is_ascii_uppercase) {
        return None;
    }
    let mut key = Key::from_slice(name.as_bytes());
    key.extend_from_slice(&u16::from(query.query_type()).to_be_bytes());
    key.extend_from_slice(&u16::from(query.query_class()).to_be_bytes());
    Some(key)
}

/// The answer this thread remembers for `key` from `plugin` at snapshot `generation`.
pub fn recall(plugin: u64, generation: u64, key: &Key) -> Option<Arc<Remembered>> {
    MEMO.with(|memo| {
        let memo = memo.borrow();
        if memo.plugin != plugin || memo.generation != generation {
            return None;
        }
        memo.answers.get(key).cloned()
    })
}

/// Remembers `answer` for `key`, forgetting what belonged to another plugin or snapshot.
pub fn remember(plugin: u64, generation: u64, key: Key, answer: Arc<Remembered>) {
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.plugin != plugin || memo.generation != generation || memo.answers.len() >= CAPACITY
        {
            memo.answers.clear();
            memo.plugin = plugin;
            memo.generation = generation;
        }
        memo.answers.insert(key, answer);
    })
}
