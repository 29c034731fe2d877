//! Snapshot mode: the cluster state from a file in the format `kubectl get
//! services,endpointslices,pods,namespaces,serviceimports -A -o yaml` prints (a `v1/List`),
//! multi-document YAML, or JSON; reloaded when the file changes, keeping the last good state on a broken edit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Deserializer as _;
use tracing::{info, warn};

use dns_core::cluster::{Change, SnapshotStore};

use crate::convert;
use crate::mcs::IMPORT_SERVICE_NAME_LABEL;
use crate::now_unix;
use crate::trimmed::Trimmed;
use dns_core::server::limits::{self, Limit};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{col}: {message}")]
    Syntax {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: larger than {max} bytes: not read (split the cluster state or trim the file)")]
    TooLarge { file: String, max: u64 },
}

/// An object left out of the snapshot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: String,
    pub name: String,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.name, self.reason)
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub changes: Vec<Change>,
    pub skipped: Vec<Skipped>,
    /// Parts of objects dropped (an invalid endpoint address) while the object was kept.
    pub warnings: Vec<String>,
}

/// Parses the file's text; `source_name` names it in errors. A `List`'s items are converted
/// one at a time as they are read: the file never exists as one parsed tree, whose pages,
/// interleaved with the model's objects, the allocator could not give back.
pub fn parse_snapshot(text: &str, source_name: &str) -> Result<Parsed, SnapshotFileError> {
    // `kubectl get -o json` writes one JSON document. The YAML parser reads JSON too, but
    // first holds every event of a document: 2.4 GB at its peak for the 171 MB file of 100k
    // services. serde_json reads it as it goes; the same visitors take the items.
    if text.trim_start().starts_with('{') {
        return parse_json(text, source_name);
    }
    let mut parsed = Parsed::default();
    for document in serde_yaml::Deserializer::from_str(text) {
        let shape = document
            .deserialize_any(DocumentVisitor {
                parsed: &mut parsed,
            })
            .map_err(|e| syntax(source_name, &e))?;
        if shape == Shape::Other {
            return Err(SnapshotFileError::Invalid {
                file: source_name.to_string(),
                message: "a document must be a Kubernetes object or a List".into(),
            });
        }
    }
    Ok(parsed)
}

/// One JSON document, an object or a List, read as a stream.
fn parse_json(text: &str, source_name: &str) -> Result<Parsed, SnapshotFileError> {
    let mut parsed = Parsed::default();
    let mut document = serde_json::Deserializer::from_str(text);
    let shape = document
        .deserialize_any(DocumentVisitor {
            parsed: &mut parsed,
        })
        .and_then(|shape| document.end().map(|()| shape))
        .map_err(|e| SnapshotFileError::Syntax {
            file: source_name.to_string(),
            line: e.line(),
            col: e.column(),
            message: e.to_string(),
        })?;
    debug_assert_eq!(shape, Shape::Taken, "a JSON object is an object or a List");
    Ok(parsed)
}

/// What a document was: an object or a List (taken into `parsed`), empty, or anything else.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Taken,
    Empty,
    Other,
}

/// Reads one document: its `items` through [`ItemsSeed`], every other key as a small tree;
/// then a List keeps its items, and anything else is one object.
struct DocumentVisitor<'p> {
    parsed: &'p mut Parsed,
}

impl<'de> serde::de::Visitor<'de> for DocumentVisitor<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object or a List")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut rest = serde_yaml::Mapping::new();
        let mut items = Parsed::default();
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some("items") {
                map.next_value_seed(ItemsSeed { parsed: &mut items })?;
            } else {
                let value: serde_yaml::Value = map.next_value()?;
                rest.insert(key, value);
            }
        }
        let object = serde_yaml::Value::Mapping(rest);
        let kind = field(&object, "kind").unwrap_or("");
        if kind.ends_with("List") {
            self.parsed.changes.extend(items.changes);
            self.parsed.skipped.extend(items.skipped);
            self.parsed.warnings.extend(items.warnings);
        } else {
            add_object(object, self.parsed);
        }
        Ok(Shape::Taken)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Empty)
    }

    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Empty)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Shape::Other)
    }
}

/// A List's `items`, each converted as soon as its own tree is read (and then dropped).
struct ItemsSeed<'p> {
    parsed: &'p mut Parsed,
}

impl<'de> serde::de::DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<serde_yaml::Value>()? {
            add_object(item, self.parsed);
        }
        Ok(())
    }

    // Anything but a sequence holds no items.
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

fn syntax(file: &str, e: &serde_yaml::Error) -> SnapshotFileError {
    let (line, col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    SnapshotFileError::Syntax {
        file: file.to_string(),
        line,
        col,
        message: e.to_string(),
    }
}

fn field<'a>(value: &'a serde_yaml::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(|v| v.as_str())
}

/// Converts one object (or, nested in a List, another List) into `parsed`.
fn add_object(mut value: serde_yaml::Value, parsed: &mut Parsed) {
    let kind = field(&value, "kind").unwrap_or("").to_string();
    let api_version = field(&value, "apiVersion").unwrap_or("").to_string();
    if kind.ends_with("List") {
        // Taken, not copied: each item's tree is freed once it is converted.
        if let Some(serde_yaml::Value::Sequence(items)) =
            value.as_mapping_mut().and_then(|m| m.remove("items"))
        {
            for item in items {
                add_object(item, parsed);
            }
        }
        return;
    }
    let meta = value.get("metadata");
    let ns = meta.and_then(|m| field(m, "namespace")).unwrap_or("");
    let name = meta.and_then(|m| field(m, "name")).unwrap_or("<unnamed>");
    let full_name = if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    };
    let skip = |parsed: &mut Parsed, reason: String| {
        parsed.skipped.push(Skipped {
            kind: kind.clone(),
            name: full_name.clone(),
            reason,
        });
    };
    let result = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Service") => serde_yaml::from_value::<Trimmed<core::Service>>(value)
            .map_err(|e| e.to_string())
            .and_then(|svc| convert::service(&svc).map_err(|e| e.to_string()))
            .map(|s| (vec![Change::UpsertService(s)], Vec::new())),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            serde_yaml::from_value::<Trimmed<discovery::EndpointSlice>>(value)
                .map_err(|e| e.to_string())
                .and_then(|s| slice_changes(&s))
        }
        ("v1", "Pod") => serde_yaml::from_value::<Trimmed<core::Pod>>(value)
            .map_err(|e| e.to_string())
            .and_then(|p| convert::pod(&p).map_err(|e| e.to_string()))
            .map(|(p, w)| (vec![Change::UpsertPod(p)], w)),
        ("v1", "Namespace") => serde_yaml::from_value::<Trimmed<core::Namespace>>(value)
            .map_err(|e| e.to_string())
            .and_then(|n| convert::namespace(&n).map_err(|e| e.to_string()))
            .map(|n| (vec![Change::UpsertNamespace(n)], Vec::new())),
        ("multicluster.x-k8s.io/v1alpha1" | "multicluster.x-k8s.io/v1beta1", "ServiceImport") => {
            serde_yaml::from_value(value)
                .map_err(|e| e.to_string())
                .and_then(|i| convert::service_import(&i).map_err(|e| e.to_string()))
                .map(|(i, w)| (vec![Change::UpsertServiceImport(i)], w))
        }
        _ => Err(format!("unsupported kind {api_version}/{kind}")),
    };
    match result {
        Ok((changes, warnings)) => {
            parsed.changes.extend(changes);
            parsed.warnings.extend(
                warnings
                    .into_iter()
                    .map(|w| format!("{kind} {full_name}: {w}")),
            );
        }
        Err(reason) => skip(parsed, reason),
    }
}

/// A slice belongs to a Service (`kubernetes.io/service-name`), to a ServiceImport
/// (`multicluster.kubernetes.io/service-name`), or to both, as the watch sees it.
fn slice_changes(
    slice: &k8s_openapi::api::discovery::v1::EndpointSlice,
) -> Result<(Vec<Change>, Vec<String>), String> {
    let local = convert::endpoint_slice(slice);
    let labels = slice.metadata.labels.as_ref();
    let imported = labels
        .is_some_and(|l| l.contains_key(IMPORT_SERVICE_NAME_LABEL))
        .then(|| convert::import_slice(slice));
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    match local {
        Ok((s, w)) => {
            changes.push(Change::UpsertEndpointSlice(s));
            warnings = w;
        }
        Err(convert::ConvertError::ImportSliceOnly) => {}
        Err(e) => return Err(e.to_string()),
    }
    match imported {
        Some(Ok((s, w))) => {
            changes.push(Change::UpsertImportSlice(s));
            if changes.len() == 1 {
                warnings = w;
            }
        }
        Some(Err(e)) => return Err(e.to_string()),
        None => {}
    }
    Ok((changes, warnings))
}

/// Counters of the reload loop (exported as metrics once the metrics plugin lands).
#[derive(Debug, Default)]
pub struct SnapshotFileStats {
    pub loads: AtomicU64,
    pub failures: AtomicU64,
    pub skipped_objects: AtomicU64,
}

/// The largest snapshot file read: far above the YAML of any cluster DNS serves, while a
/// runaway file (a log written to the wrong path) cannot take the process's memory.
pub const MAX_SNAPSHOT_BYTES: u64 = 256 * 1024 * 1024;

/// A snapshot file feeding a store.
pub struct SnapshotFileSource {
    path: PathBuf,
    store: Arc<SnapshotStore>,
    pub stats: Arc<SnapshotFileStats>,
    /// What the serving state was loaded from: a change between the first load and the first
    /// poll is not missed.
    loaded: Option<Fingerprint>,
    /// The largest file read ([`MAX_SNAPSHOT_BYTES`] unless a test sets less).
    max_bytes: u64,
}

/// What a file looked like when last read: a change to any of these triggers a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
    hash: u64,
}

/// `text`'s fingerprint, with the modification time `meta` had before `text` was read: a
/// write after the read then shows as a newer time at the next poll.
fn fingerprint(meta: Option<&std::fs::Metadata>, text: &str) -> Fingerprint {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    Fingerprint {
        modified: meta.and_then(|m| m.modified().ok()),
        len: text.len() as u64,
        hash: hasher.finish(),
    }
}

impl SnapshotFileSource {
    pub fn new(path: PathBuf, store: Arc<SnapshotStore>) -> Self {
        Self {
            path,
            store,
            stats: Arc::default(),
            loaded: None,
            max_bytes: MAX_SNAPSHOT_BYTES,
        }
    }

    /// Reads files of at most `max` bytes instead of [`MAX_SNAPSHOT_BYTES`].
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    fn read(&self) -> Result<String, SnapshotFileError> {
        use std::io::Read;
        let file = self.path.display().to_string();
        let read_error = |source| SnapshotFileError::Read {
            file: file.clone(),
            source,
        };
        let mut text = String::new();
        // One byte past the limit tells a file at the limit from a larger one, without
        // reading (or holding) more than that whatever the file grows to.
        std::fs::File::open(&self.path)
            .and_then(|f| f.take(self.max_bytes + 1).read_to_string(&mut text))
            .map_err(read_error)?;
        if text.len() as u64 > self.max_bytes {
            let max = self.max_bytes;
            limits::reached(
                Limit::SnapshotFileSize,
                format_args!("{file}: larger than {max} bytes, the most read; not loaded"),
            );
            return Err(SnapshotFileError::TooLarge { file, max });
        }
        Ok(text)
    }

    fn apply(&self, text: &str) -> Result<(), SnapshotFileError> {
        let parsed = parse_snapshot(text, &self.path.display().to_string())?;
        for s in &parsed.skipped {
            warn!(file = %self.path.display(), "skipped {s}");
        }
        for w in &parsed.warnings {
            warn!(file = %self.path.display(), "{w}");
        }
        self.stats
            .skipped_objects
            .fetch_add(parsed.skipped.len() as u64, Ordering::Relaxed);
        let objects = parsed.changes.len();
        self.store.replace(parsed.changes, now_unix());
        crate::release_freed_memory();
        self.stats.loads.fetch_add(1, Ordering::Relaxed);
        info!(file = %self.path.display(), objects, skipped = parsed.skipped.len(), "cluster snapshot loaded");
        Ok(())
    }

    /// The first load: an unreadable or broken file is fatal at start.
    pub fn load_initial(&mut self) -> Result<(), SnapshotFileError> {
        let meta = std::fs::metadata(&self.path).ok();
        let text = self.read()?;
        self.apply(&text)?;
        self.loaded = Some(fingerprint(meta.as_ref(), &text));
        Ok(())
    }

    /// Polls the file and reloads it on change until `shutdown` resolves. A broken edit is
    /// logged and counted, and the last good state keeps serving.
    pub async fn watch(self, poll: Duration, shutdown: impl Future<Output = ()>) {
        let mut last = self.loaded.clone();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = &mut shutdown => return,
            }
            // The same modification time and size: not read again. Reading and hashing the
            // whole file every poll cost 171 MB a poll at 100k services, and the buffer stayed
            // resident (10k: 37.0 MiB 5 s after the load against 23.7 at it).
            let meta = std::fs::metadata(&self.path).ok();
            if let (Some(l), Some(m)) = (&last, &meta)
                && l.len == m.len()
                && l.modified.is_some()
                && l.modified == m.modified().ok()
            {
                continue;
            }
            let text = match self.read() {
                Ok(t) => t,
                Err(e) => {
                    // Mid-rename or deleted: keep serving, try again next tick.
                    if last.is_some() {
                        warn!("{e}; keeping the last good cluster state");
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        last = None;
                    }
                    continue;
                }
            };
            let now = fingerprint(meta.as_ref(), &text);
            if last.as_ref() == Some(&now) {
                continue;
            }
            last = Some(now);
            // `kubectl get ... > file` truncates before it writes: an empty file is that moment,
            // not an empty cluster (which is `kind: List` with `items: []`). Serving it would
            // answer NXDOMAIN for every name.
            if text.trim().is_empty() {
                warn!(file = %self.path.display(), "file is empty; keeping the last good cluster state");
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Err(e) = self.apply(&text) {
                warn!("{e}; keeping the last good cluster state");
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
