//! The indexed, immutable snapshot that answers are synthesised from, and the store that
//! publishes a new one atomically after each batch of changes.
//!
//! Readers call [`SnapshotStore::load`] and get an `Arc<Snapshot>`: lock-free, never blocked by
//! a writer, and never a half-applied change. Writers apply a batch of [`Change`]s to a spare
//! copy under a mutex and publish it whole; the copy it replaces becomes the next spare
//! (left-right), so a publish costs the batch, not a copy of the cluster state.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::model::{Change, EndpointSlice, Namespace, ObjectKey, Pod, Service};

/// A service and every EndpointSlice that names it, in slice-name order.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEntry {
    pub service: Arc<Service>,
    pub slices: Vec<Arc<EndpointSlice>>,
}

/// Services (or ServiceImports, in the shape of a service) with their EndpointSlices, indexed
/// by name and by address. All keys are lowercase.
#[derive(Clone, Debug, Default)]
pub struct ServiceIndex {
    /// namespace -> service name -> entry.
    services: HashMap<Box<str>, HashMap<Box<str>, Arc<ServiceEntry>>>,
    /// Slices whose service does not exist (yet): kept so they attach when it appears.
    slices_by_service: HashMap<ObjectKey, BTreeSet<Box<str>>>,
    slices: HashMap<ObjectKey, Arc<EndpointSlice>>,
    /// Cluster IP -> services that have it.
    reverse_services: HashMap<IpAddr, Vec<ObjectKey>>,
    /// Endpoint address -> services with an endpoint at that address.
    reverse_endpoints: HashMap<IpAddr, Vec<ObjectKey>>,
}

/// Everything DNS reads, indexed the way queries arrive. All keys are lowercase.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Services and their slices: the cluster zones.
    local: ServiceIndex,
    /// ServiceImports and their slices: the multicluster zones.
    imports: ServiceIndex,
    pods: HashMap<ObjectKey, Arc<Pod>>,
    pods_by_ip: HashMap<IpAddr, Vec<Arc<Pod>>>,
    namespaces: HashMap<Box<str>, Arc<Namespace>>,
    /// Unix seconds of the last applied change; the SOA serial.
    serial: u32,
}

impl ServiceIndex {
    /// The service `name` in `namespace`, compared case-insensitively.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<ServiceEntry>> {
        let ns = lower(namespace);
        let name = lower(name);
        self.services.get(ns.as_ref())?.get(name.as_ref())
    }

    /// Services with `ip` as a cluster IP.
    pub fn services_by_cluster_ip(&self, ip: &IpAddr) -> &[ObjectKey] {
        self.reverse_services
            .get(ip)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Services with an endpoint at `ip` (ready or not; the caller applies readiness).
    pub fn services_by_endpoint_ip(&self, ip: &IpAddr) -> &[ObjectKey] {
        self.reverse_endpoints
            .get(ip)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn has_namespace(&self, lowercase: &str) -> bool {
        self.services.contains_key(lowercase)
    }

    fn entry(&self, key: &ObjectKey) -> Option<&Arc<ServiceEntry>> {
        self.services
            .get(key.namespace.as_str())?
            .get(key.name.as_str())
    }

    fn put_service(&mut self, key: ObjectKey, service: Option<Arc<Service>>) {
        let slices = self.entry(&key).map(|e| e.slices.clone());
        let slices = match slices {
            Some(s) => s,
            None => self.slices_of(&key),
        };
        self.replace_entry(
            &key,
            service.map(|service| ServiceEntry { service, slices }),
        );
    }

    fn put_slice(&mut self, key: ObjectKey, slice: Option<Arc<EndpointSlice>>) {
        if let Some(old) = self.slices.remove(&key) {
            let owner = lower_key(&old.service_key());
            if let Some(set) = self.slices_by_service.get_mut(&owner) {
                set.remove(key.name.as_str());
                if set.is_empty() {
                    self.slices_by_service.remove(&owner);
                }
            }
            self.refresh_slices(&owner);
        }
        if let Some(slice) = slice {
            let owner = lower_key(&slice.service_key());
            self.slices_by_service
                .entry(owner.clone())
                .or_default()
                .insert(key.name.clone().into());
            self.slices.insert(key, slice);
            self.refresh_slices(&owner);
        }
    }

    fn slices_of(&self, service: &ObjectKey) -> Vec<Arc<EndpointSlice>> {
        let Some(names) = self.slices_by_service.get(service) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| {
                self.slices
                    .get(&ObjectKey::new(service.namespace.clone(), n.to_string()))
                    .cloned()
            })
            .collect()
    }

    fn refresh_slices(&mut self, service: &ObjectKey) {
        let Some(current) = self.entry(service) else {
            return;
        };
        let updated = ServiceEntry {
            service: current.service.clone(),
            slices: self.slices_of(service),
        };
        self.replace_entry(service, Some(updated));
    }

    /// Swaps a service entry and moves its reverse-index rows with it.
    fn replace_entry(&mut self, key: &ObjectKey, entry: Option<ServiceEntry>) {
        let old = match self.services.get_mut(key.namespace.as_str()) {
            Some(ns) => ns.remove(key.name.as_str()),
            None => None,
        };
        if let Some(old) = old {
            for ip in &old.service.cluster_ips {
                remove_row(&mut self.reverse_services, ip, key);
            }
            for ip in endpoint_ips(&old) {
                remove_row(&mut self.reverse_endpoints, &ip, key);
            }
        }
        match entry {
            Some(entry) => {
                for ip in &entry.service.cluster_ips {
                    add_row(&mut self.reverse_services, *ip, key);
                }
                for ip in endpoint_ips(&entry) {
                    add_row(&mut self.reverse_endpoints, ip, key);
                }
                self.services
                    .entry(key.namespace.as_str().into())
                    .or_default()
                    .insert(key.name.as_str().into(), Arc::new(entry));
            }
            None => {
                if self
                    .services
                    .get(key.namespace.as_str())
                    .is_some_and(HashMap::is_empty)
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
        self.local.services.values().flat_map(|m| m.values())
    }

    pub fn service_count(&self) -> usize {
        self.local.services.values().map(HashMap::len).sum()
    }

    /// Pods with `ip` among their pod IPs.
    pub fn pods_by_ip(&self, ip: &IpAddr) -> &[Arc<Pod>] {
        self.pods_by_ip.get(ip).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Services with `ip` as a cluster IP.
    pub fn services_by_cluster_ip(&self, ip: &IpAddr) -> &[ObjectKey] {
        self.local.services_by_cluster_ip(ip)
    }

    /// Services with an endpoint at `ip` (ready or not; the caller applies readiness).
    pub fn services_by_endpoint_ip(&self, ip: &IpAddr) -> &[ObjectKey] {
        self.local.services_by_endpoint_ip(ip)
    }

    pub fn serial(&self) -> u32 {
        self.serial
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
    Namespace(Box<str>, Option<Arc<Namespace>>),
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

fn add_row(index: &mut HashMap<IpAddr, Vec<ObjectKey>>, ip: IpAddr, key: &ObjectKey) {
    let rows = index.entry(ip).or_default();
    if !rows.contains(key) {
        rows.push(key.clone());
        rows.sort();
    }
}

fn remove_row(index: &mut HashMap<IpAddr, Vec<ObjectKey>>, ip: &IpAddr, key: &ObjectKey) {
    if let Some(rows) = index.get_mut(ip) {
        rows.retain(|k| k != key);
        if rows.is_empty() {
            index.remove(ip);
        }
    }
}

fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn lower_key(key: &ObjectKey) -> ObjectKey {
    ObjectKey::new(
        lower(&key.namespace).into_owned(),
        lower(&key.name).into_owned(),
    )
}

/// Holds the published snapshot and a spare copy writers change (left-right): a batch is
/// applied to the spare, the spare is published, and the copy it replaced becomes the next
/// spare, brought up to date by applying the same batch again. Readers hold a copy for one
/// answer, so by the next publish the replaced copy is almost always free; the writer never
/// waits for it, and copies the published snapshot instead in the rare case it is still held.
/// Publishing costs the batch twice, not a copy of the whole cluster state.
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

    /// The current snapshot: lock-free, consistent, cheap to clone.
    pub fn load(&self) -> Arc<Snapshot> {
        self.published.load_full()
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
            } => match Arc::try_unwrap(replaced) {
                Ok(mut previous) => {
                    for change in &batch {
                        previous.apply_shared(change);
                    }
                    previous.set_serial(serial);
                    previous
                }
                // A reader still holds it: copy what is published (the same state).
                Err(_) => (*self.published.load_full()).clone(),
            },
        };
        for change in &changes {
            next.apply_shared(change);
        }
        next.set_serial(now_unix);
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
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        *spare = Spare::Ready(fresh.clone());
        self.published.store(Arc::new(fresh));
        self.mark_synced();
    }
}
