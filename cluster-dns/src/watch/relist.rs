//! Watch updates -> model changes, keeping per kind the set of objects the model holds so a
//! re-list can remove exactly what vanished in the same publish that adds what is new. Pure.

use std::collections::{HashMap, HashSet};

use dns_core::cluster::{Change, ObjectKey};

use super::plan::Kind;

/// What one kind's watch delivered, already converted to the model.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// A complete list of the kind (the first one, or a re-list after 410 Gone or an error):
    /// everything not in it is gone. A re-list leaves out the objects the cache already holds
    /// as they are and names only their keys, so it never holds a second copy of the state.
    Listed {
        kind: Kind,
        objects: Vec<(ObjectKey, Change)>,
        unchanged: Vec<ObjectKey>,
    },
    /// An object was added or changed.
    Upsert {
        kind: Kind,
        key: ObjectKey,
        change: Change,
    },
    /// An object was deleted, or changed into something the model cannot use.
    Remove { kind: Kind, key: ObjectKey },
}

impl Update {
    pub fn kind(&self) -> Kind {
        match self {
            Update::Listed { kind, .. }
            | Update::Upsert { kind, .. }
            | Update::Remove { kind, .. } => *kind,
        }
    }
}

/// The model's delete for `key` of `kind`. Namespaces are keyed by name alone.
pub fn delete_change(kind: Kind, key: ObjectKey) -> Change {
    match kind {
        Kind::Service => Change::DeleteService(key),
        Kind::EndpointSlice => Change::DeleteEndpointSlice(key),
        Kind::Pod => Change::DeletePod(key),
        Kind::Namespace => Change::DeleteNamespace(key.name),
        Kind::ServiceImport => Change::DeleteServiceImport(key),
        Kind::ImportSlice => Change::DeleteImportSlice(key),
    }
}

/// The objects the model holds, per kind.
#[derive(Debug, Default)]
pub struct Known {
    keys: HashMap<Kind, HashSet<ObjectKey>>,
    listed: HashSet<Kind>,
}

impl Known {
    /// Turns one update into the changes that bring the model in line with it.
    pub fn changes(&mut self, update: Update, out: &mut Vec<Change>) {
        match update {
            Update::Listed {
                kind,
                objects,
                unchanged,
            } => {
                let mut fresh: HashSet<ObjectKey> =
                    objects.iter().map(|(k, _)| k.clone()).collect();
                fresh.extend(unchanged);
                let old = self.keys.insert(kind, fresh).unwrap_or_default();
                let fresh = &self.keys[&kind];
                let mut gone: Vec<ObjectKey> =
                    old.into_iter().filter(|k| !fresh.contains(k)).collect();
                gone.sort();
                out.extend(gone.into_iter().map(|k| delete_change(kind, k)));
                out.extend(objects.into_iter().map(|(_, c)| c));
                self.listed.insert(kind);
            }
            Update::Upsert { kind, key, change } => {
                self.keys.entry(kind).or_default().insert(key);
                out.push(change);
            }
            Update::Remove { kind, key } => {
                if self.keys.entry(kind).or_default().remove(&key) {
                    out.push(delete_change(kind, key));
                }
            }
        }
    }

    /// Whether every one of `kinds` has delivered a complete list.
    pub fn all_listed(&self, kinds: &[Kind]) -> bool {
        kinds.iter().all(|k| self.listed.contains(k))
    }

    /// How many objects of `kind` the model holds.
    pub fn count(&self, kind: Kind) -> usize {
        self.keys.get(&kind).map_or(0, HashSet::len)
    }
}
