//! The bounded store behind each of the cache's two halves (success, denial), shaped as
//! CoreDNS's `plugin/pkg/cache`: 256 shards of equal capacity, and a full shard makes room for a
//! new key by dropping one entry. CoreDNS drops any; here an entry that can no longer be
//! served goes first, and any other only when there is none.
//!
//! A lookup hashes its key once for both halves (the caller passes the hash) and takes one
//! shard's read lock, so workers touch the same lock word only when they ask of the same shard
//! at once. Entries are not expired in the background: one past its time stays until its key
//! is stored again or its shard needs the room, as in CoreDNS (whose `coredns_cache_entries`
//! counts them too).

use std::hash::BuildHasher;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;

use super::policy::{Key, SHARDS};

/// One entry: the hash of its key, kept for growing the table without hashing again.
struct Row<V> {
    hash: u64,
    key: Key,
    value: Arc<V>,
}

type Shard<V> = RwLock<HashTable<Row<V>>>;

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
            shards: (0..shards).map(|_| RwLock::new(HashTable::new())).collect(),
            per_shard,
        }
    }

    /// The shard of a hash: bits the table itself does not use, so that within a shard the
    /// hashes still spread over the buckets (the low bits) and the tags (the top seven).
    fn shard(&self, hash: u64) -> &Shard<V> {
        let index = usize::try_from((hash >> 32) & 0xff).unwrap_or(0) % self.shards.len();
        &self.shards[index]
    }

    fn read(&self, hash: u64) -> RwLockReadGuard<'_, HashTable<Row<V>>> {
        self.shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, HashTable<Row<V>>> {
        self.shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The value stored under `key` (whose hash is `hash`), servable or not.
    pub fn get(&self, hash: u64, key: &Key) -> Option<Arc<V>> {
        self.read(hash)
            .find(hash, |row| row.key == *key)
            .map(|row| row.value.clone())
    }

    /// Stores `value` under `key`. In a full shard, a new key takes the place of an entry for
    /// which `dead` holds, or of any entry when none does.
    pub fn insert(&self, hash: u64, key: Key, value: Arc<V>, dead: impl Fn(&V) -> bool) -> Stored {
        let mut shard = self.write(hash);
        if let Some(row) = shard.find_mut(hash, |row| row.key == key) {
            row.value = value;
            return Stored::Replaced;
        }
        let mut stored = Stored::Added;
        if shard.len() >= self.per_shard {
            let victim = shard
                .iter_buckets()
                .find(|&i| shard.get_bucket(i).is_some_and(|row| dead(&row.value)))
                .or_else(|| shard.iter_buckets().next());
            if let Some(Ok(entry)) = victim.map(|i| shard.get_bucket_entry(i)) {
                entry.remove();
                stored = Stored::Evicted;
            }
        }
        shard.insert_unique(hash, Row { hash, key, value }, |row| row.hash);
        stored
    }

    /// Removes `key`'s entry; whether there was one.
    pub fn remove(&self, hash: u64, key: &Key) -> bool {
        match self.write(hash).find_entry(hash, |row| row.key == *key) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// The entries held, servable or not.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
