//! The bounded store behind each of the cache's two halves (success, denial), shaped as
//! CoreDNS's `plugin/pkg/cache`: 256 shards of equal capacity, and a full shard makes room for a
//! new key by dropping one entry. CoreDNS drops any; here an entry that can no longer be
//! served goes first, and any other only when there is none.
//!
//! A lookup hashes its key once for both halves (the caller passes the hash) and reads its
//! shard through an `arc_swap` guard, which takes a slot of the reading thread: a hit writes
//! nothing the serving threads share, not even for the most popular name (a lock word or a
//! reference count would bounce between cores on every answer). A store copies the shard,
//! changes the copy and publishes it, under the shard's writer lock: a copy of at most
//! capacity / 256 rows (39 for CoreDNS's default 10000) per stored response, which follows a
//! miss and its round trip upstream.
//!
//! Entries are not expired in the background: one past its time stays until its key is stored
//! again or its shard needs the room, as in CoreDNS (whose `coredns_cache_entries` counts them
//! too).

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use hashbrown::HashTable;

use super::policy::{Key, SHARDS};

/// One entry: the hash of its key, kept for growing the table without hashing again.
struct Row<V> {
    hash: u64,
    key: Key,
    value: Arc<V>,
}

impl<V> Clone for Row<V> {
    fn clone(&self) -> Self {
        Self {
            hash: self.hash,
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

type Rows<V> = HashTable<Row<V>>;

struct Shard<V> {
    published: ArcSwap<Rows<V>>,
    /// Serialises the writers' copy, change and publish.
    writer: Mutex<()>,
}

/// One shard as it was when read; held for one answer.
pub struct ShardRead<V>(Guard<Arc<Rows<V>>>);

impl<V> ShardRead<V> {
    /// The value stored under `key` (whose hash is `hash`), servable or not.
    pub fn get(&self, hash: u64, key: &Key) -> Option<&Arc<V>> {
        self.0
            .find(hash, |row| row.key == *key)
            .map(|row| &row.value)
    }
}

/// What storing a value did to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A new key, with room for it.
    Added,
    /// The key was there: its value is replaced.
    Replaced,
    /// A new key in a full shard: another entry was dropped for it (CoreDNS counts every such
    /// drop in `coredns_cache_evictions_total`).
    Evicted,
}

/// Values by [`Key`], at most `capacity` of them (see [`super::policy::effective_capacity`]).
pub struct Store<V> {
    shards: Box<[Shard<V>]>,
    per_shard: usize,
}

/// The hash of a key: one hasher, seeded per cache plugin, serves both its stores, so a hit
/// that looks in both hashes its key once. The keys are plain bytes chosen by clients: foldhash,
/// seeded (SipHash was a fifth of a hit's instructions).
#[derive(Default)]
pub struct KeyHasher(foldhash::fast::RandomState);

impl KeyHasher {
    pub fn hash(&self, key: &Key) -> u64 {
        self.0.hash_one(key)
    }
}

impl<V> Store<V> {
    /// A store of `capacity` entries in all (already rounded to whole shards).
    pub fn new(capacity: u64) -> Self {
        let shards = usize::try_from(SHARDS).unwrap_or(256);
        let per_shard = usize::try_from(capacity / SHARDS)
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            shards: (0..shards)
                .map(|_| Shard {
                    published: ArcSwap::from_pointee(HashTable::new()),
                    writer: Mutex::new(()),
                })
                .collect(),
            per_shard,
        }
    }

    /// The shard of a hash: bits the table itself does not use, so that within a shard the
    /// hashes still spread over the buckets (the low bits) and the tags (the top seven).
    fn shard(&self, hash: u64) -> &Shard<V> {
        let index = usize::try_from((hash >> 32) & 0xff).unwrap_or(0) % self.shards.len();
        &self.shards[index]
    }

    /// The shard that holds `hash`'s key, as published now.
    pub fn read(&self, hash: u64) -> ShardRead<V> {
        ShardRead(self.shard(hash).published.load())
    }

    /// Copies `hash`'s shard, lets `change` change the copy, and publishes it.
    fn change<R>(&self, hash: u64, change: impl FnOnce(&mut Rows<V>) -> R) -> R {
        let shard = self.shard(hash);
        let _writer = shard.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows = Rows::clone(&shard.published.load());
        let changed = change(&mut rows);
        shard.published.store(Arc::new(rows));
        changed
    }

    /// Stores `value` under `key`. In a full shard, a new key takes the place of an entry for
    /// which `dead` holds, or of any entry when none does.
    pub fn insert(&self, hash: u64, key: Key, value: Arc<V>, dead: impl Fn(&V) -> bool) -> Stored {
        let per_shard = self.per_shard;
        self.change(hash, |rows| {
            if let Some(row) = rows.find_mut(hash, |row| row.key == key) {
                row.value = value;
                return Stored::Replaced;
            }
            let mut stored = Stored::Added;
            if rows.len() >= per_shard {
                let victim = rows
                    .iter_buckets()
                    .find(|&i| rows.get_bucket(i).is_some_and(|row| dead(&row.value)))
                    .or_else(|| rows.iter_buckets().next());
                if let Some(Ok(entry)) = victim.map(|i| rows.get_bucket_entry(i)) {
                    entry.remove();
                    stored = Stored::Evicted;
                }
            }
            rows.insert_unique(hash, Row { hash, key, value }, |row| row.hash);
            stored
        })
    }

    /// Removes `key`'s entry; whether there was one.
    pub fn remove(&self, hash: u64, key: &Key) -> bool {
        if self.read(hash).get(hash, key).is_none() {
            return false;
        }
        self.change(hash, |rows| {
            match rows.find_entry(hash, |row| row.key == *key) {
                Ok(entry) => {
                    entry.remove();
                    true
                }
                Err(_) => false,
            }
        })
    }

    /// The entries held, servable or not.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.published.load().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
