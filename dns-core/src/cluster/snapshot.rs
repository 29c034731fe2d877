//! The indexed, immutable snapshot that answers are synthesised from, and the store that
//! publishes a new one atomically after each batch of changes.
//!
//! Readers call [`SnapshotStore::load`] and get an `Arc<Snapshot>`: lock-free, never blocked by
//! a writer, and never a half-applied change. Writers apply a batch of [`Change`]s to a spare
//! copy under a mutex and publish it whole; the copy it replaces becomes the next spare
//! (left-right), so a publish costs the batch, not a copy of the cluster state.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use smallvec::SmallVec;

use super::model::{Change, EndpointSlice, Kind, Name, Namespace, ObjectKey, Pod, Service};

/// The snapshot's hash maps. Every query looks up two or three of them (namespace, service,
/// address), so the hasher is foldhash (seeded per map, as Go's maps are in CoreDNS) rather
/// than SipHash, which cost about 500 instructions of a ClusterIP answer.
type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A service's EndpointSlices, in slice-name order. Most services have one, held inline: an
/// entry exists in both left-right copies, so a list of its own would be two more blocks.
pub type Slices = SmallVec<[Arc<EndpointSlice>; 1]>;

/// A service and every EndpointSlice that names it, in slice-name order.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEntry {
    pub service: Arc<Service>,
    pub slices: Slices,
}

/// Address -> the services that have it, in (namespace, name) order. Nearly every address has
/// one: its row is the entry's pointer alone, keyed by an address no wider than its family;
/// the few shared addresses keep a list in `many`.
#[derive(Clone, Debug, Default)]
struct AddressIndex {
    v4: Map<Ipv4Addr, Arc<ServiceEntry>>,
    v6: Map<Ipv6Addr, Arc<ServiceEntry>>,
    many: Map<IpAddr, Vec<Arc<ServiceEntry>>>,
}

impl AddressIndex {
    fn get(&self, ip: &IpAddr) -> &[Arc<ServiceEntry>] {
        let one = match ip {
            IpAddr::V4(a) => self.v4.get(a),
            IpAddr::V6(a) => self.v6.get(a),
        };
        match one {
            Some(entry) => std::slice::from_ref(entry),
            None => self.many.get(ip).map_or(&[], Vec::as_slice),
        }
    }

    fn take_one(&mut self, ip: &IpAddr) -> Option<Arc<ServiceEntry>> {
        match ip {
            IpAddr::V4(a) => self.v4.remove(a),
            IpAddr::V6(a) => self.v6.remove(a),
        }
    }

    fn put_one(&mut self, ip: IpAddr, entry: Arc<ServiceEntry>) {
        match ip {
            IpAddr::V4(a) => self.v4.insert(a, entry),
            IpAddr::V6(a) => self.v6.insert(a, entry),
        };
    }

    /// Adds `entry` to the owners of `ip`; a row of the same service is replaced.
    fn add(&mut self, ip: IpAddr, entry: &Arc<ServiceEntry>) {
        let mut rows = match (self.take_one(&ip), self.many.remove(&ip)) {
            (Some(one), _) => vec![one],
            (None, Some(rows)) => rows,
            (None, None) => return self.put_one(ip, entry.clone()),
        };
        let new = order(entry);
        match rows.binary_search_by(|row| order(row).cmp(&new)) {
            Ok(at) => rows[at] = entry.clone(),
            Err(at) => rows.insert(at, entry.clone()),
        }
        self.keep(ip, rows);
    }

    /// Removes the row of exactly `entry` (the copy this index holds).
    fn remove(&mut self, ip: &IpAddr, entry: &Arc<ServiceEntry>) {
        match self.take_one(ip) {
            Some(one) if Arc::ptr_eq(&one, entry) => {}
            Some(other) => self.put_one(*ip, other),
            None => {
                if let Some(mut rows) = self.many.remove(ip) {
                    rows.retain(|row| !Arc::ptr_eq(row, entry));
                    self.keep(*ip, rows);
                }
            }
        }
    }

    fn keep(&mut self, ip: IpAddr, mut rows: Vec<Arc<ServiceEntry>>) {
        if rows.len() > 1 {
            self.many.insert(ip, rows);
        } else if let Some(one) = rows.pop() {
            self.put_one(ip, one);
        }
    }
}

/// The order of owners: by lowercase namespace, then name.
fn order(entry: &ServiceEntry) -> (Cow<'_, str>, Cow<'_, str>) {
    (lower(&entry.service.namespace), lower(&entry.service.name))
}

/// What a row of a [`Rows`] table is keyed by, read from the row itself: (namespace, name),
/// the namespace empty where the table is one namespace's.
trait RowKey {
    fn row_key(&self) -> (&str, &str);
}

impl RowKey for Arc<EndpointSlice> {
    fn row_key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

impl RowKey for Arc<ServiceEntry> {
    fn row_key(&self) -> (&str, &str) {
        ("", &self.service.name)
    }
}

/// A hash table of rows that carry their own key, so it stores no copy of the key: a map
/// keyed by (namespace, name) held both strings again in each left-right copy, two thirds of
/// a slice's row. Keys compare in lowercase; the caller passes lowercase keys.
#[derive(Clone, Debug)]
struct Rows<T> {
    rows: hashbrown::HashTable<T>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Self {
            rows: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<T: RowKey> Rows<T> {
    fn hash(&self, namespace: &str, name: &str) -> u64 {
        self.hasher.hash_one((namespace, name))
    }

    /// A row's hash: its key in lowercase (which copies only a key with capitals; the API
    /// never gives one).
    fn hash_row(hasher: &foldhash::fast::RandomState, row: &T) -> u64 {
        let (namespace, name) = row.row_key();
        hasher.hash_one((lower(namespace), lower(name)))
    }

    fn is(row: &T, namespace: &str, name: &str) -> bool {
        let (ns, n) = row.row_key();
        ns.eq_ignore_ascii_case(namespace) && n.eq_ignore_ascii_case(name)
    }

    fn get(&self, namespace: &str, name: &str) -> Option<&T> {
        self.rows
            .find(self.hash(namespace, name), |r| Self::is(r, namespace, name))
    }

    fn remove(&mut self, namespace: &str, name: &str) -> Option<T> {
        let hash = self.hash(namespace, name);
        self.rows
            .find_entry(hash, |r| Self::is(r, namespace, name))
            .ok()
            .map(|e| e.remove().0)
    }

    /// Puts `row` in, replacing the row with its key.
    fn insert(&mut self, row: T) {
        let (namespace, name) = row.row_key();
        let (namespace, name) = (lower(namespace), lower(name));
        let hash = self.hash(&namespace, &name);
        let hasher = &self.hasher;
        match self.rows.entry(
            hash,
            |r| Self::is(r, &namespace, &name),
            |r| Self::hash_row(hasher, r),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = row,
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(row);
            }
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.rows.iter()
    }
}

/// Services (or ServiceImports, in the shape of a service) with their EndpointSlices, indexed
/// by name and by address. All keys are lowercase.
#[derive(Clone, Debug, Default)]
pub struct ServiceIndex {
    /// namespace -> service name -> entry (which holds the service's slices).
    services: Map<Name, Rows<Arc<ServiceEntry>>>,
    /// Slices whose service does not exist (yet), by service, in slice-name order: kept so
    /// they attach when it appears.
    orphans: Map<ObjectKey, Slices>,
    /// Every slice by its own key: where a changed or deleted slice was attached.
    slices: Rows<Arc<EndpointSlice>>,
    /// Cluster IP -> services that have it.
    reverse_services: AddressIndex,
    /// Endpoint address -> services with an endpoint at that address.
    reverse_endpoints: AddressIndex,
}

/// Everything DNS reads, indexed the way queries arrive. All keys are lowercase.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Services and their slices: the cluster zones.
    local: ServiceIndex,
    /// ServiceImports and their slices: the multicluster zones.
    imports: ServiceIndex,
    pods: Map<ObjectKey, Arc<Pod>>,
    pods_by_ip: Map<IpAddr, Vec<Arc<Pod>>>,
    namespaces: Map<Name, Arc<Namespace>>,
    /// Unix seconds of the last applied change; the SOA serial.
    serial: u32,
    /// Which publish this is, unique in the process ([`Snapshot::generation`]).
    generation: u64,
}

/// Publishes so far, over every store of the process.
static PUBLISHES: AtomicU64 = AtomicU64::new(0);

/// A generation no snapshot published before has had.
fn next_generation() -> u64 {
    PUBLISHES.fetch_add(1, Ordering::Relaxed) + 1
}

impl ServiceIndex {
    /// The service `name` in `namespace`, compared case-insensitively.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<ServiceEntry>> {
        let ns = lower(namespace);
        let name = lower(name);
        self.services.get(ns.as_ref())?.get("", name.as_ref())
    }

    /// Services with `ip` as a cluster IP.
    pub fn services_by_cluster_ip(&self, ip: &IpAddr) -> &[Arc<ServiceEntry>] {
        self.reverse_services.get(ip)
    }

    /// Services with an endpoint at `ip` (ready or not; the caller applies readiness).
    pub fn services_by_endpoint_ip(&self, ip: &IpAddr) -> &[Arc<ServiceEntry>] {
        self.reverse_endpoints.get(ip)
    }

    /// The (namespace, name) of every service, in no particular order.
    fn service_keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.services.iter().flat_map(|(ns, entries)| {
            entries
                .iter()
                .map(move |e| (&**ns, e.service.name.as_str()))
        })
    }

    fn slice_keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.slices.iter().map(RowKey::row_key)
    }

    fn has_namespace(&self, lowercase: &str) -> bool {
        self.services.contains_key(lowercase)
    }

    /// Whether the index holds `service` as it is (see [`Snapshot::holds`]).
    fn holds_service(&self, service: &Service) -> bool {
        self.entry(&lower_key(&service.key()))
            .is_some_and(|e| *e.service == *service)
    }

    /// Whether the index holds `slice` as it is, attached or waiting for its service.
    fn holds_slice(&self, slice: &EndpointSlice) -> bool {
        let key = lower_key(&slice.key());
        self.slices
            .get(&key.namespace, &key.name)
            .is_some_and(|s| **s == *slice)
    }

    fn entry(&self, key: &ObjectKey) -> Option<&Arc<ServiceEntry>> {
        self.services
            .get(key.namespace.as_str())?
            .get("", key.name.as_str())
    }

    fn put_service(&mut self, key: ObjectKey, service: Option<Arc<Service>>) {
        let slices = match self.entry(&key) {
            Some(entry) => entry.slices.clone(),
            None => self.orphans.remove(&key).unwrap_or_default(),
        };
        match service {
            Some(service) => self.replace_entry(&key, Some(ServiceEntry { service, slices })),
            None => {
                self.replace_entry(&key, None);
                if !slices.is_empty() {
                    self.orphans.insert(key, slices);
                }
            }
        }
    }

    fn put_slice(&mut self, key: ObjectKey, slice: Option<Arc<EndpointSlice>>) {
        let old_owner = self
            .slices
            .remove(&key.namespace, &key.name)
            .map(|old| lower_key(&old.service_key()));
        let new_owner = slice.as_ref().map(|s| lower_key(&s.service_key()));
        let name = key.name.as_str();
        if let Some(owner) = old_owner.filter(|o| Some(o) != new_owner.as_ref()) {
            self.edit_slices(&owner, |list| list.retain(|s| lower(&s.name) != name));
        }
        if let (Some(owner), Some(slice)) = (new_owner, slice) {
            self.slices.insert(slice.clone());
            self.edit_slices(&owner, |list| {
                list.retain(|s| lower(&s.name) != name);
                let at = list.partition_point(|s| lower(&s.name).as_ref() < name);
                list.insert(at, slice);
            });
        }
    }

    /// Changes the slices of `owner`: of its entry when the service exists, else of its
    /// orphans.
    fn edit_slices(&mut self, owner: &ObjectKey, edit: impl FnOnce(&mut Slices)) {
        if let Some(entry) = self.entry(owner) {
            let service = entry.service.clone();
            let mut slices = entry.slices.clone();
            edit(&mut slices);
            self.replace_entry(owner, Some(ServiceEntry { service, slices }));
        } else {
            let list = self.orphans.entry(owner.clone()).or_default();
            edit(list);
            if list.is_empty() {
                self.orphans.remove(owner);
            }
        }
    }

    /// Swaps a service entry and moves its reverse-index rows with it.
    fn replace_entry(&mut self, key: &ObjectKey, entry: Option<ServiceEntry>) {
        let old = match self.services.get_mut(key.namespace.as_str()) {
            Some(ns) => ns.remove("", key.name.as_str()),
            None => None,
        };
        if let Some(old) = old {
            for ip in &old.service.cluster_ips {
                self.reverse_services.remove(ip, &old);
            }
            for ip in endpoint_ips(&old) {
                self.reverse_endpoints.remove(&ip, &old);
            }
        }
        match entry {
            Some(entry) => {
                let entry = Arc::new(entry);
                for ip in &entry.service.cluster_ips {
                    self.reverse_services.add(*ip, &entry);
                }
                for ip in endpoint_ips(&entry) {
                    self.reverse_endpoints.add(ip, &entry);
                }
                self.services
                    .entry(key.namespace.as_str().into())
                    .or_default()
                    .insert(entry);
            }
            None => {
                if self
                    .services
                    .get(key.namespace.as_str())
                    .is_some_and(Rows::is_empty)
                {
                    self.services.remove(key.namespace.as_str());
                }
            }
        }
    }
}

impl Snapshot {
    /// The service `name` in `namespace`, compared case-insensitively.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<ServiceEntry>> {
        self.local.service(namespace, name)
    }

    /// Services and their slices (the cluster zones).
    pub fn local(&self) -> &ServiceIndex {
        &self.local
    }

    /// ServiceImports, each in the shape of a service, and their slices (the multicluster
    /// zones).
    pub fn imports(&self) -> &ServiceIndex {
        &self.imports
    }

    /// Whether the namespace object exists.
    pub fn namespace(&self, name: &str) -> Option<&Arc<Namespace>> {
        self.namespaces.get(lower(name).as_ref())
    }

    /// Whether the namespace exists: its object is here, or (for a snapshot file written
    /// without Namespace objects) a service or import lives in it. The watch always lists
    /// namespaces.
    pub fn namespace_exists(&self, name: &str) -> bool {
        let name = lower(name);
        self.namespaces.contains_key(name.as_ref())
            || self.local.has_namespace(name.as_ref())
            || self.imports.has_namespace(name.as_ref())
    }

    /// Every service entry, in no particular order.
    pub fn services(&self) -> impl Iterator<Item = &Arc<ServiceEntry>> {
        self.local.services.values().flat_map(Rows::iter)
    }

    pub fn service_count(&self) -> usize {
        self.local.services.values().map(Rows::len).sum()
    }

    /// The (namespace, name) of every object of `kind` held, as the objects name themselves
    /// (compare in lowercase), in no particular order; a namespace's is ("", name). What a re-list compares with: the model is the
    /// one record of what it holds.
    pub fn keys(&self, kind: Kind) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        match kind {
            Kind::Service => Box::new(self.local.service_keys()),
            Kind::EndpointSlice => Box::new(self.local.slice_keys()),
            Kind::ServiceImport => Box::new(self.imports.service_keys()),
            Kind::ImportSlice => Box::new(self.imports.slice_keys()),
            Kind::Pod => Box::new(
                self.pods
                    .keys()
                    .map(|k| (k.namespace.as_str(), k.name.as_str())),
            ),
            Kind::Namespace => Box::new(self.namespaces.keys().map(|n| ("", &**n))),
        }
    }

    /// How many objects of `kind` this snapshot holds.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Service => self.service_count(),
            Kind::EndpointSlice => self.local.slices.len(),
            Kind::ServiceImport => self.imports.services.values().map(Rows::len).sum(),
            Kind::ImportSlice => self.imports.slices.len(),
            Kind::Pod => self.pods.len(),
            Kind::Namespace => self.namespaces.len(),
        }
    }

    /// Pods with `ip` among their pod IPs.
    pub fn pods_by_ip(&self, ip: &IpAddr) -> &[Arc<Pod>] {
        self.pods_by_ip.get(ip).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Services with `ip` as a cluster IP.
    pub fn services_by_cluster_ip(&self, ip: &IpAddr) -> &[Arc<ServiceEntry>] {
        self.local.services_by_cluster_ip(ip)
    }

    /// Services with an endpoint at `ip` (ready or not; the caller applies readiness).
    pub fn services_by_endpoint_ip(&self, ip: &IpAddr) -> &[Arc<ServiceEntry>] {
        self.local.services_by_endpoint_ip(ip)
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Which publish this snapshot is: unique among every store's snapshots in the process
    /// (0 for one never published), so what was worked out from one snapshot can be known
    /// stale by this number alone.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether `change` is an upsert of an object this snapshot already holds, equal in every
    /// field: applying it would change nothing. A re-list uses this to drop what it finds
    /// unchanged instead of holding a second copy of the cluster state.
    pub fn holds(&self, change: &Change) -> bool {
        match change {
            Change::UpsertService(svc) => self.local.holds_service(svc),
            Change::UpsertEndpointSlice(slice) => self.local.holds_slice(slice),
            Change::UpsertServiceImport(import) => self.imports.holds_service(&import.as_service()),
            Change::UpsertImportSlice(slice) => self.imports.holds_slice(slice),
            Change::UpsertPod(pod) => self
                .pods
                .get(&lower_key(&pod.key()))
                .is_some_and(|p| **p == *pod),
            Change::UpsertNamespace(ns) => self
                .namespaces
                .get(lower(&ns.name).as_ref())
                .is_some_and(|n| **n == *ns),
            Change::DeleteService(_)
            | Change::DeleteEndpointSlice(_)
            | Change::DeleteServiceImport(_)
            | Change::DeleteImportSlice(_)
            | Change::DeletePod(_)
            | Change::DeleteNamespace(_) => false,
        }
    }

    /// Applies one change to this (spare) snapshot, keeping every index consistent.
    pub fn apply(&mut self, change: Change) {
        self.apply_shared(&SharedChange::from(change));
    }

    /// Applies a change whose object is already behind an `Arc`: both copies of left-right
    /// publishing take the same objects, so only the indexes exist twice.
    fn apply_shared(&mut self, change: &SharedChange) {
        match change {
            SharedChange::Service(key, svc) => self.local.put_service(key.clone(), svc.clone()),
            SharedChange::Slice(key, slice) => self.local.put_slice(key.clone(), slice.clone()),
            SharedChange::Import(key, svc) => self.imports.put_service(key.clone(), svc.clone()),
            SharedChange::ImportSlice(key, slice) => {
                self.imports.put_slice(key.clone(), slice.clone())
            }
            SharedChange::Pod(key, pod) => self.put_pod(key.clone(), pod.clone()),
            SharedChange::Namespace(name, Some(ns)) => {
                self.namespaces.insert(name.clone(), ns.clone());
            }
            SharedChange::Namespace(name, None) => {
                self.namespaces.remove(name);
            }
        }
    }

    pub fn set_serial(&mut self, serial: u32) {
        self.serial = serial;
    }

    fn put_pod(&mut self, key: ObjectKey, pod: Option<Arc<Pod>>) {
        if let Some(old) = self.pods.remove(&key) {
            for ip in &old.ips {
                if let Some(list) = self.pods_by_ip.get_mut(ip) {
                    list.retain(|p| !Arc::ptr_eq(p, &old));
                    if list.is_empty() {
                        self.pods_by_ip.remove(ip);
                    }
                }
            }
        }
        if let Some(pod) = pod {
            for ip in &pod.ips {
                self.pods_by_ip.entry(*ip).or_default().push(pod.clone());
            }
            self.pods.insert(key, pod);
        }
    }
}

/// A [`Change`] with its key lowercased and its object behind an `Arc`, made once per change.
enum SharedChange {
    Service(ObjectKey, Option<Arc<Service>>),
    Slice(ObjectKey, Option<Arc<EndpointSlice>>),
    /// A ServiceImport, in the shape of a service.
    Import(ObjectKey, Option<Arc<Service>>),
    ImportSlice(ObjectKey, Option<Arc<EndpointSlice>>),
    Pod(ObjectKey, Option<Arc<Pod>>),
    Namespace(Name, Option<Arc<Namespace>>),
}

impl From<Change> for SharedChange {
    fn from(change: Change) -> Self {
        match change {
            Change::UpsertService(svc) => Self::Service(lower_key(&svc.key()), Some(Arc::new(svc))),
            Change::DeleteService(key) => Self::Service(lower_key(&key), None),
            Change::UpsertEndpointSlice(slice) => {
                Self::Slice(lower_key(&slice.key()), Some(Arc::new(slice)))
            }
            Change::DeleteEndpointSlice(key) => Self::Slice(lower_key(&key), None),
            Change::UpsertServiceImport(import) => Self::Import(
                lower_key(&import.key()),
                Some(Arc::new(import.as_service())),
            ),
            Change::DeleteServiceImport(key) => Self::Import(lower_key(&key), None),
            Change::UpsertImportSlice(slice) => {
                Self::ImportSlice(lower_key(&slice.key()), Some(Arc::new(slice)))
            }
            Change::DeleteImportSlice(key) => Self::ImportSlice(lower_key(&key), None),
            Change::UpsertPod(pod) => Self::Pod(lower_key(&pod.key()), Some(Arc::new(pod))),
            Change::DeletePod(key) => Self::Pod(lower_key(&key), None),
            Change::UpsertNamespace(ns) => {
                Self::Namespace(lower(&ns.name).into(), Some(Arc::new(ns)))
            }
            Change::DeleteNamespace(name) => Self::Namespace(lower(&name).into(), None),
        }
    }
}

fn endpoint_ips(entry: &ServiceEntry) -> BTreeSet<IpAddr> {
    entry
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .flat_map(|e| e.addresses.iter().copied())
        .collect()
}

/// `s` in lowercase, copied only when it has capitals (names from the API never do).
pub fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn lower_key(key: &ObjectKey) -> ObjectKey {
    ObjectKey::new(
        lower(&key.namespace).into_owned(),
        lower(&key.name).into_owned(),
    )
}

/// The copy a publish replaced, with the batch it lacks applied: `Err` with the copy when a
/// reader still holds it.
fn brought_up_to_date(
    replaced: Arc<Snapshot>,
    batch: &[SharedChange],
    serial: u32,
) -> Result<Snapshot, Arc<Snapshot>> {
    let mut previous = Arc::try_unwrap(replaced)?;
    for change in batch {
        previous.apply_shared(change);
    }
    previous.set_serial(serial);
    Ok(previous)
}

/// Holds the published snapshot and a spare copy writers change (left-right): a batch is
/// applied to the spare, the spare is published, and the copy it replaced becomes the next
/// spare, brought up to date by applying the same batch again. Readers hold a copy for one
/// answer, so by the next publish the replaced copy is almost always free. The store never
/// waits for it: when it is still held, the publish copies the published snapshot instead
/// (counted by [`SnapshotStore::copies`]), which costs the whole cluster state, so a writer
/// that can wait a moment checks [`SnapshotStore::spare_free`] first. Publishing costs the
/// batch twice, not a copy of the whole cluster state.
#[derive(Default)]
pub struct SnapshotStore {
    published: ArcSwap<Snapshot>,
    spare: Mutex<Spare>,
    /// Tells waiters ([`SnapshotStore::wait_synced`]) that `synced` turned true.
    synced_signal: tokio::sync::Notify,
    /// Set once the source has delivered the whole cluster state (the first full list of every
    /// watched kind, or the first good snapshot file); the `ready` plugin reports it. It never
    /// goes back: a source that loses the API keeps serving the last state, as CoreDNS does.
    synced: AtomicBool,
    /// Publishes that had to copy the published snapshot (see [`SnapshotStore::copies`]).
    copies: AtomicU64,
}

/// The writers' copy: ready to change, or the copy the last publish replaced with the batch
/// it still lacks (taken up at the next publish, once its readers are gone).
// One per store, moved only by `mem::take`: variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Spare {
    Ready(Snapshot),
    Behind {
        replaced: Arc<Snapshot>,
        batch: Vec<SharedChange>,
        serial: u32,
    },
}

impl Default for Spare {
    fn default() -> Self {
        Spare::Ready(Snapshot::default())
    }
}

impl SnapshotStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the source has delivered the whole cluster state once.
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
        self.synced_signal.notify_waiters();
    }

    /// Resolves once the store is synced.
    pub async fn wait_synced(&self) {
        loop {
            let notified = self.synced_signal.notified();
            if self.is_synced() {
                return;
            }
            notified.await;
        }
    }

    /// Whether the whole cluster state has been loaded at least once (readiness).
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Whether the next publish can take up the copy the last one replaced: no reader holds it
    /// any more. No new reader can take it (readers only get the published snapshot), so once
    /// free it stays free until the next publish.
    pub fn spare_free(&self) -> bool {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        match &*spare {
            Spare::Ready(_) => true,
            Spare::Behind { replaced, .. } => Arc::strong_count(replaced) == 1,
        }
    }

    /// Brings the spare copy up to date now, if no reader holds it: the next publish then
    /// applies only its own batch. After a large publish (the initial list, a re-list) that
    /// takes the second application of the batch off the next change's path, and frees the
    /// batch. Returns whether there was anything to do.
    pub fn catch_up(&self) -> bool {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let behind =
            matches!(&*spare, Spare::Behind { replaced, .. } if Arc::strong_count(replaced) == 1);
        if !behind {
            return false;
        }
        if let Spare::Behind {
            replaced,
            batch,
            serial,
        } = std::mem::take(&mut *spare)
        {
            *spare = match brought_up_to_date(replaced, &batch, serial) {
                Ok(previous) => Spare::Ready(previous),
                // No reader can take the replaced copy after the check; were one to, it stays.
                Err(replaced) => Spare::Behind {
                    replaced,
                    batch,
                    serial,
                },
            };
        }
        true
    }

    /// Publishes so far that found the replaced copy still read and copied the whole published
    /// snapshot instead (a cost in the size of the cluster, not of the batch).
    pub fn copies(&self) -> u64 {
        self.copies.load(Ordering::Relaxed)
    }

    /// The current snapshot: lock-free, consistent, cheap to clone.
    pub fn load(&self) -> Arc<Snapshot> {
        self.published.load_full()
    }

    /// The current snapshot for one answer: a guard that writes nothing the serving threads
    /// share (arc-swap keeps it in a slot of the reading thread; `load` bumps the snapshot's
    /// one reference count, a cache line every worker would write per query). A publish still
    /// sees the guards on the copy it replaces. Hold it for one answer; `load` is for keeping.
    pub fn read(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.published.load()
    }

    /// Applies a batch of changes and publishes the result as one step. `now_unix` becomes the
    /// SOA serial (the clock is a parameter so this stays pure and testable).
    pub fn apply(&self, changes: impl IntoIterator<Item = Change>, now_unix: u32) {
        let changes: Vec<SharedChange> = changes.into_iter().map(SharedChange::from).collect();
        // A poisoned lock only means a writer panicked mid-batch; the spare is still a valid
        // snapshot (each apply keeps indexes consistent), so carry on with it.
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = match std::mem::take(&mut *spare) {
            Spare::Ready(snapshot) => snapshot,
            Spare::Behind {
                replaced,
                batch,
                serial,
            } => match brought_up_to_date(replaced, &batch, serial) {
                Ok(previous) => previous,
                // A reader still holds it: copy what is published (the same state).
                Err(_) => {
                    self.copies.fetch_add(1, Ordering::Relaxed);
                    (*self.published.load_full()).clone()
                }
            },
        };
        for change in &changes {
            next.apply_shared(change);
        }
        next.set_serial(now_unix);
        next.generation = next_generation();
        let replaced = self.published.swap(Arc::new(next));
        *spare = Spare::Behind {
            replaced,
            batch: changes,
            serial: now_unix,
        };
    }

    /// Replaces the whole state (a snapshot-file reload) in one publish. The whole cluster state
    /// is then known, so the store counts as synced from here on.
    pub fn replace(&self, changes: impl IntoIterator<Item = Change>, now_unix: u32) {
        let mut fresh = Snapshot::default();
        for change in changes {
            fresh.apply(change);
        }
        fresh.set_serial(now_unix);
        fresh.generation = next_generation();
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        *spare = Spare::Ready(fresh.clone());
        self.published.store(Arc::new(fresh));
        self.mark_synced();
    }
}
