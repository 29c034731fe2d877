//! Watch mode: kube-rs watchers on the API server feed the same dns-core model as snapshot mode.
//!
//! One task per watched kind lists and watches it and converts each object at once (the full
//! API object is dropped right away; only the compact model is kept). One applier task takes
//! whatever updates are waiting, turns them into model changes and publishes them as one new
//! snapshot, so a burst of events costs one publish. A kind whose watch fails keeps its last
//! state in the snapshot while the task backs off and lists again; that list replaces the kind
//! in a single publish, so answers never see a gap (the same path serves 410 Gone).

pub mod metrics;
pub mod plan;
pub mod ratelimit;
pub mod relist;

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use dns_core::cluster::{Change, ObjectKey, SnapshotStore};
use dns_core::server::limits::{self, Limit};

use crate::convert::{self, ConvertError};
use crate::mcs;
use crate::now_unix;
use crate::trimmed::{TRIGGER_TIME, Trimmed};
use metrics::metrics;
use plan::{ApiSource, Kind, WatchPlan};
use relist::Update;

/// How to reach the API failed before anything was watched.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error(
        "no Kubernetes API configuration (not in a cluster, no $KUBECONFIG or ~/.kube/config): {0}"
    )]
    Infer(#[from] kube::config::InferConfigError),
    #[error("endpoint {url}: {message}")]
    Endpoint { url: String, message: String },
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// Builds the client the plan names, in CoreDNS's precedence: `kubeconfig`, then `endpoint`
/// (with `tls`), then the in-cluster service account (or `$KUBECONFIG`); with the plan's
/// request limits (`apiserver_qps`, `apiserver_burst`, `apiserver_max_inflight`).
pub async fn connect(
    source: &ApiSource,
    limits: &ratelimit::ApiLimits,
) -> Result<Client, ConnectError> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let config = match source {
        ApiSource::Kubeconfig { path, context } => {
            let err = |source| ConnectError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(err)?;
            let options = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(err)?
        }
        ApiSource::Endpoint { url, tls } => {
            let err = |message: String| ConnectError::Endpoint {
                url: url.clone(),
                message,
            };
            let mut cluster = kube::config::Cluster {
                server: Some(url.clone()),
                ..Default::default()
            };
            let mut user = kube::config::AuthInfo::default();
            if let Some(tls) = tls {
                cluster.certificate_authority = Some(tls.ca.display().to_string());
                user.client_certificate = Some(tls.cert.display().to_string());
                user.client_key = Some(tls.key.display().to_string());
            }
            let kubeconfig = Kubeconfig {
                clusters: vec![kube::config::NamedCluster {
                    name: "endpoint".into(),
                    cluster: Some(cluster),
                    other: Default::default(),
                }],
                auth_infos: vec![kube::config::NamedAuthInfo {
                    name: "endpoint".into(),
                    auth_info: Some(user),
                    other: Default::default(),
                }],
                contexts: vec![kube::config::NamedContext {
                    name: "endpoint".into(),
                    context: Some(kube::config::Context {
                        cluster: "endpoint".into(),
                        user: Some("endpoint".into()),
                        ..Default::default()
                    }),
                    other: Default::default(),
                }],
                current_context: Some("endpoint".into()),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| err(e.to_string()))?
        }
        ApiSource::Infer => kube::Config::infer().await?,
    };
    let builder = kube::client::ClientBuilder::try_from(config)?;
    let inflight = limits
        .max_inflight
        .map(|n| tower::limit::ConcurrencyLimitLayer::new(n.max(1) as usize));
    let bucket = limits
        .bucket()
        .map(|(qps, burst)| ratelimit::RateLimitLayer::new(qps, burst));
    Ok(match (bucket, inflight) {
        (None, None) => builder.build(),
        (Some(bucket), None) => builder.with_layer(&bucket).build(),
        (None, Some(inflight)) => builder.with_layer(&inflight).build(),
        (Some(bucket), Some(inflight)) => builder.with_layer(&inflight).with_layer(&bucket).build(),
    })
}

/// Whether the cache matches the API right now, for the snapshot-age metric and the logs.
#[derive(Default)]
struct ApiHealth {
    /// Kinds whose last list or watch failed and has not listed again since.
    failing: std::sync::Mutex<std::collections::BTreeSet<Kind>>,
    /// The version probe failed last time (the API server hangs or is gone).
    probe_failing: AtomicBool,
    /// Milliseconds since `start` when the cache was last known current.
    last_current_ms: AtomicU64,
    /// Counts the probe's "answering again": a kind waiting out its backoff (up to a minute
    /// with jitter after a long outage) retries at once instead, so the cache catches up
    /// within a probe interval of the API's return.
    answering_again: tokio::sync::watch::Sender<u64>,
}

impl ApiHealth {
    fn kind_failed(&self, kind: Kind) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        failing.insert(kind);
    }

    /// `kind` listed in full, or its resumed watch works: it matches the API again.
    fn kind_current(&self, kind: Kind) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing.remove(&kind) && failing.is_empty() {
            info!("Kubernetes API reachable again: cluster cache current");
        }
    }

    /// Sleeps `delay`, or until the probe sees the API answer again and then a spread of up to
    /// [`RETRY_SPREAD`] (per process and kind), so that the replicas and kinds that all waited
    /// through one outage do not all list at the same instant.
    async fn wait_to_retry(&self, delay: Duration, kind: Kind) {
        let mut again = self.answering_again.subscribe();
        let woken = tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            changed = again.changed() => changed.is_ok(),
        };
        if woken {
            tokio::time::sleep(retry_spread(std::process::id(), kind)).await;
        }
    }

    fn is_current(&self) -> bool {
        let failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        failing.is_empty() && !self.probe_failing.load(Ordering::Relaxed)
    }
}

/// The watch cache: what it follows and the store it publishes to.
pub struct WatchCache {
    client: Client,
    plan: WatchPlan,
    store: Arc<SnapshotStore>,
    health: Arc<ApiHealth>,
    start: Instant,
}

impl WatchCache {
    pub fn new(client: Client, plan: WatchPlan, store: Arc<SnapshotStore>) -> Self {
        Self {
            client,
            plan,
            store,
            health: Arc::new(ApiHealth::default()),
            start: Instant::now(),
        }
    }

    /// Starts the watchers, the applier and the health probe on `tasks`. The store is marked
    /// synced once every kind has been listed once.
    pub fn spawn(self, tasks: &mut tokio::task::JoinSet<()>) {
        let (tx, rx) = mpsc::channel::<Seen>(APPLIER_QUEUE);
        let (applied_tx, applied) = tokio::sync::watch::channel(AppliedCounts::new());
        for kind in self.plan.kinds.iter().copied() {
            // `labels` selects Services and EndpointSlices only, as in CoreDNS.
            let labels = self.plan.labels.clone();
            match kind {
                Kind::Service => {
                    self.spawn_watch(tasks, &tx, &applied, kind, labels, convert_service)
                }
                Kind::EndpointSlice => {
                    self.spawn_watch(tasks, &tx, &applied, kind, labels, convert_slice)
                }
                Kind::Pod => self.spawn_watch(tasks, &tx, &applied, kind, None, convert_pod),
                Kind::Namespace => {
                    self.spawn_watch(tasks, &tx, &applied, kind, None, convert_namespace)
                }
                Kind::ServiceImport => {
                    self.spawn_watch(tasks, &tx, &applied, kind, None, convert_import)
                }
                Kind::ImportSlice => {
                    // Only the slices of imports, as CoreDNS selects them (with `labels` too).
                    let selector = match labels {
                        Some(l) => format!("{l},{}", mcs::IMPORT_SERVICE_NAME_LABEL),
                        None => mcs::IMPORT_SERVICE_NAME_LABEL.to_string(),
                    };
                    let convert = convert_import_slice;
                    self.spawn_watch(tasks, &tx, &applied, kind, Some(selector), convert)
                }
            }
        }
        drop(tx);
        tasks.spawn(probe(self.client.clone(), self.health.clone(), self.start));
        tasks.spawn(apply_loop(
            rx,
            applied_tx,
            self.store,
            self.plan.kinds.clone(),
            self.start,
        ));
    }
}

/// How many updates of each kind the applier has published.
type AppliedCounts = HashMap<Kind, u64>;
type Applied = tokio::sync::watch::Receiver<AppliedCounts>;

/// What a watch hands its updates to, and what it reads back: how far the applier is, and the
/// cache it publishes.
struct Applier {
    tx: mpsc::Sender<Seen>,
    applied: Applied,
    store: Arc<SnapshotStore>,
}

/// One update as a watcher saw it.
struct Seen {
    update: Update,
    at: Instant,
    trigger: Option<Trigger>,
}

impl WatchCache {
    fn spawn_watch<K>(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        tx: &mpsc::Sender<Seen>,
        applied: &Applied,
        kind: Kind,
        labels: Option<String>,
        convert: fn(&K) -> Converted,
    ) where
        K: Resource<DynamicType = ()>
            + Clone
            + Debug
            + serde::de::DeserializeOwned
            + Send
            + 'static,
    {
        let api = Api::<K>::all(self.client.clone());
        tasks.spawn(watch_kind(
            api,
            labels,
            kind,
            convert,
            Applier {
                tx: tx.clone(),
                applied: applied.clone(),
                store: self.store.clone(),
            },
            self.health.clone(),
        ));
    }
}

/// An object converted for the model, or why it cannot be used.
type Converted = Result<(ObjectKey, Change, Vec<String>), ConvertError>;

fn convert_service(svc: &Trimmed<core::Service>) -> Converted {
    convert::service(svc).map(|s| (s.key(), Change::UpsertService(s), Vec::new()))
}

fn convert_slice(slice: &Trimmed<discovery::EndpointSlice>) -> Converted {
    convert::endpoint_slice(slice).map(|(s, w)| (s.key(), Change::UpsertEndpointSlice(s), w))
}

fn convert_import(import: &mcs::ServiceImport) -> Converted {
    convert::service_import(import).map(|(i, w)| (i.key(), Change::UpsertServiceImport(i), w))
}

fn convert_import_slice(slice: &Trimmed<discovery::EndpointSlice>) -> Converted {
    convert::import_slice(slice).map(|(s, w)| (s.key(), Change::UpsertImportSlice(s), w))
}

fn convert_pod(pod: &Trimmed<core::Pod>) -> Converted {
    convert::pod(pod).map(|(p, w)| (p.key(), Change::UpsertPod(p), w))
}

fn convert_namespace(ns: &Trimmed<core::Namespace>) -> Converted {
    convert::namespace(ns).map(|n| {
        let key = ObjectKey::new("", n.name.clone());
        (key, Change::UpsertNamespace(n), Vec::new())
    })
}

/// The object's key as the model names it (namespaces by name alone).
fn object_key<K: Resource>(obj: &K) -> ObjectKey {
    ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Converts `obj`, logging and counting what the model cannot use.
fn convert_logged<K: Resource>(
    kind: Kind,
    obj: &K,
    convert: fn(&K) -> Converted,
) -> Option<(ObjectKey, Change)> {
    match convert(obj) {
        Ok((key, change, warnings)) => {
            if !warnings.is_empty() {
                metrics().warnings.with_label_values(&[kind.as_str()]).inc();
            }
            for w in warnings {
                warn!(kind = kind.as_str(), object = %key, "{w}");
            }
            Some((key, change))
        }
        // The Service slice watch sees the slices of imports too: theirs to take, no fault.
        Err(ConvertError::ImportSliceOnly) => None,
        Err(e) => {
            warn!(kind = kind.as_str(), object = %object_key(obj), "skipped: {e}");
            metrics().skipped.with_label_values(&[kind.as_str()]).inc();
            None
        }
    }
}

/// How a failed watch gets back to the API's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// kube-runtime's watcher watches again from the last resourceVersion it saw (a dropped
    /// connection, a refused one, an API server restarting): no list.
    Resume,
    /// The watcher lists the kind again: the list itself failed, or the API no longer has the
    /// history to resume from (410 Gone after etcd compaction).
    List,
    /// The watcher would retry a watch the API has refused for good (410 Gone as the watch
    /// request's own status: kube-runtime retries that resourceVersion for ever): drop it
    /// and start over with a list.
    Restart,
}

pub(crate) fn recovery(e: &watcher::Error) -> Recovery {
    match e {
        watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.code == 410 => Recovery::Restart,
        watcher::Error::WatchError(s) if s.code == 410 => Recovery::List,
        watcher::Error::InitialListFailed(_) | watcher::Error::NoResourceVersion => Recovery::List,
        watcher::Error::WatchStartFailed(_)
        | watcher::Error::WatchError(_)
        | watcher::Error::WatchFailed(_) => Recovery::Resume,
    }
}

/// After a failed watch resumes, how long it must stay quiet (or deliver an event) before its
/// kind counts as current again: a resumed watch says nothing when it starts, and one that
/// cannot start fails within this.
const RESUME_SETTLE: Duration = Duration::from_secs(1);

/// The wait before a retry should kube-runtime's backoff ever run dry (it does not).
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Lists and watches one kind for ever, sending model updates. A failed watch resumes from the
/// last resourceVersion (kube-runtime's watcher keeps it, bookmarks keep it fresh) after
/// kube-runtime's jittered backoff (client-go's: 0.8 s doubling to 30 s); the kind is listed
/// again only when the API cannot resume it (410 Gone) or a list failed. Meanwhile the kind
/// keeps its last state.
async fn watch_kind<K>(
    api: Api<K>,
    labels: Option<String>,
    kind: Kind,
    convert: fn(&K) -> Converted,
    mut applier: Applier,
    health: Arc<ApiHealth>,
) where
    K: Resource + Clone + Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut config = watcher::Config::default().any_semantic();
    if let Some(labels) = &labels {
        config = config.labels(labels);
    }
    let mut backoff = watcher::DefaultBackoff::default();
    // Updates handed to the applier, and whether the kind was listed before (the cache then
    // holds it, and a re-list compares with it).
    let mut sent: u64 = 0;
    let mut listed_before = false;
    loop {
        let stream = watcher::watcher(api.clone(), config.clone());
        futures_util::pin_mut!(stream);
        let mut listing: Option<Listing> = None;
        // Set while a resumed watch has not yet shown that it works.
        let mut resuming = false;
        loop {
            let next = if resuming {
                match tokio::time::timeout(RESUME_SETTLE, stream.next()).await {
                    Ok(next) => next,
                    Err(_quiet) => {
                        resuming = false;
                        backoff.reset();
                        health.kind_current(kind);
                        continue;
                    }
                }
            } else {
                stream.next().await
            };
            // kube-runtime's watcher stream never ends; were it to, start it over.
            let Some(item) = next else { break };
            if resuming && matches!(item, Ok(Event::Apply(_) | Event::Delete(_))) {
                resuming = false;
                backoff.reset();
                health.kind_current(kind);
            }
            let seen = Instant::now();
            let mut trigger = None;
            let update = match item {
                Ok(Event::Init) => {
                    metrics().lists.with_label_values(&[kind.as_str()]).inc();
                    // A re-list compares with the cache, so the kind's earlier updates must be
                    // in it first; none come while the list runs.
                    if listed_before
                        && applier
                            .applied
                            .wait_for(|a| a.get(&kind).copied().unwrap_or(0) >= sent)
                            .await
                            .is_err()
                    {
                        return; // the applier stopped: shutting down
                    }
                    listing = Some(Listing::default());
                    None
                }
                Ok(Event::InitApply(obj)) => {
                    if let (Some(list), Some((key, change))) =
                        (listing.as_mut(), convert_logged(kind, &obj, convert))
                    {
                        if listed_before && applier.store.read().holds(&change) {
                            list.unchanged.push(key);
                        } else {
                            list.objects.push((key, change));
                        }
                    }
                    None
                }
                Ok(Event::InitDone) => {
                    resuming = false;
                    backoff.reset();
                    health.kind_current(kind);
                    listed_before = true;
                    let listing = listing.take().unwrap_or_default();
                    Some(Update::Listed {
                        kind,
                        objects: listing.objects,
                        unchanged: listing.unchanged,
                    })
                }
                Ok(Event::Apply(obj)) => {
                    trigger = trigger_of(&obj);
                    Some(match convert_logged(kind, &obj, convert) {
                        Some((key, change)) => Update::Upsert { kind, key, change },
                        None => Update::Remove {
                            kind,
                            key: model_key(kind, &obj),
                        },
                    })
                }
                Ok(Event::Delete(obj)) => Some(Update::Remove {
                    kind,
                    key: model_key(kind, &obj),
                }),
                Err(e) => {
                    let recovery = recovery(&e);
                    let delay = backoff.next().unwrap_or(BACKOFF_MAX);
                    metrics()
                        .watch_errors
                        .with_label_values(&[kind.as_str()])
                        .inc();
                    health.kind_failed(kind);
                    let then = match recovery {
                        Recovery::Resume => RESUMING,
                        Recovery::List | Recovery::Restart => LISTING_AGAIN,
                    };
                    warn!(
                        kind = kind.as_str(),
                        "Kubernetes API: {e}{}; serving the last cluster state, {then} in {delay:?}",
                        hint(kind, &e)
                    );
                    health.wait_to_retry(delay, kind).await;
                    if recovery == Recovery::Restart {
                        break;
                    }
                    resuming = recovery == Recovery::Resume;
                    None
                }
            };
            if let Some(update) = update {
                let seen = Seen {
                    update,
                    at: seen,
                    trigger,
                };
                if send(&applier.tx, seen).await.is_err() {
                    return; // the applier stopped: shutting down
                }
                sent += 1;
            }
        }
    }
}

/// A list in progress: what the cache lacks or holds otherwise, and the keys of what it
/// already holds as listed.
#[derive(Default)]
struct Listing {
    objects: Vec<(ObjectKey, Change)>,
    unchanged: Vec<ObjectKey>,
}

/// Updates waiting for the applier; a watcher that finds the queue full waits, so a burst
/// the applier cannot keep up with slows the watches instead of growing memory.
const APPLIER_QUEUE: usize = 4096;

/// Hands `seen` to the applier, counting and logging when the queue is full.
async fn send(tx: &mpsc::Sender<Seen>, seen: Seen) -> Result<(), mpsc::error::SendError<Seen>> {
    match tx.try_send(seen) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Closed(seen)) => Err(mpsc::error::SendError(seen)),
        Err(mpsc::error::TrySendError::Full(seen)) => {
            limits::reached(
                Limit::ApplierQueue,
                format_args!(
                    "watch: {APPLIER_QUEUE} updates wait for the applier, the most allowed; the watches wait"
                ),
            );
            tx.send(seen).await
        }
    }
}

/// What the log says a failed kind does next (operators and tests look for these).
const RESUMING: &str = "resuming the watch";
const LISTING_AGAIN: &str = "listing again";

/// What an operator can do about a failed list or watch, where we can tell.
fn hint(kind: Kind, e: &watcher::Error) -> &'static str {
    // A resource the API server does not serve is a bare 404 (no Status body to say NotFound).
    let not_found = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 404,
        watcher::Error::WatchError(s) => s.code == 404,
        _ => false,
    };
    if not_found && kind == Kind::ServiceImport {
        " (multicluster needs the ServiceImport CRD, serviceimports.multicluster.x-k8s.io, installed)"
    } else {
        ""
    }
}

fn model_key<K: Resource>(kind: Kind, obj: &K) -> ObjectKey {
    match kind {
        Kind::Namespace => ObjectKey::new("", obj.name_any()),
        _ => object_key(obj),
    }
}

const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// An EndpointSlice change's origin, for `coredns_kubernetes_dns_programming_duration_seconds`.
#[derive(Clone, Debug)]
struct Trigger {
    at: SystemTime,
    service: ObjectKey,
    /// Made by the EndpointSlice controller, so its service has a selector.
    from_selector: bool,
}

fn trigger_of<K: Resource>(obj: &K) -> Option<Trigger> {
    let meta = obj.meta();
    let text = meta.annotations.as_ref()?.get(TRIGGER_TIME)?;
    let at = parse_rfc3339(text)?;
    let labels = meta.labels.as_ref()?;
    let service = labels.get(convert::SERVICE_NAME_LABEL)?;
    Some(Trigger {
        at,
        service: ObjectKey::new(meta.namespace.clone().unwrap_or_default(), service.clone()),
        from_selector: labels.get(MANAGED_BY).map(String::as_str) == Some(SLICE_CONTROLLER),
    })
}

fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let t = k8s_openapi::jiff::Timestamp::from_str(text).ok()?;
    let secs = u64::try_from(t.as_second()).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, u32::try_from(t.subsec_nanosecond()).ok()?))
}

/// CoreDNS's service_kind label for the service a slice belongs to.
fn service_kind(snapshot: &dns_core::cluster::Snapshot, trigger: &Trigger) -> &'static str {
    let has_cluster_ip = snapshot
        .service(&trigger.service.namespace, &trigger.service.name)
        .is_some_and(|e| !e.service.cluster_ips.is_empty());
    match (has_cluster_ip, trigger.from_selector) {
        (true, _) => "cluster_ip",
        (false, true) => "headless_with_selector",
        (false, false) => "headless_without_selector",
    }
}

/// The most a watch waits after the API answers again before it retries.
const RETRY_SPREAD: Duration = Duration::from_millis(1000);

/// Where in [`RETRY_SPREAD`] this process's `kind` retries: fixed per process and kind, spread
/// across both.
fn retry_spread(pid: u32, kind: Kind) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (pid, kind.as_str()).hash(&mut hasher);
    let spread_ms = RETRY_SPREAD.as_millis().max(1) as u64;
    Duration::from_millis(hasher.finish() % spread_ms)
}

/// Probes the API server's /version so a hung or vanished server shows in the snapshot age
/// even while its watch connections sit open and silent.
async fn probe(client: Client, health: Arc<ApiHealth>, start: Instant) {
    const EVERY: Duration = Duration::from_secs(2);
    loop {
        let ok = matches!(
            tokio::time::timeout(EVERY, client.apiserver_version()).await,
            Ok(Ok(_))
        );
        let was_failing = health.probe_failing.swap(!ok, Ordering::Relaxed);
        if !ok && !was_failing {
            warn!("Kubernetes API not answering; serving the last cluster state");
        } else if ok && was_failing {
            info!("Kubernetes API answering again; the watches waiting to retry retry now");
            health
                .answering_again
                .send_modify(|n| *n = n.wrapping_add(1));
        }
        let now_ms = start.elapsed().as_millis() as u64;
        if health.is_current() {
            health.last_current_ms.store(now_ms, Ordering::Relaxed);
            metrics().snapshot_age.set(0.0);
        } else {
            let last = health.last_current_ms.load(Ordering::Relaxed);
            metrics()
                .snapshot_age
                .set(now_ms.saturating_sub(last) as f64 / 1000.0);
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// How long the applier waits for the copy the last publish replaced to be let go
/// ([`SnapshotStore::spare_free`]) before publishing by copying the whole cluster state instead.
/// Readers hold a copy for one answer, microseconds; one descheduled mid-answer (a busy or
/// pinned core) needs a scheduler tick or two. A copy costs 150-200 ms of CPU at 100k services,
/// and more than a second of a core shared with busy serving threads; updates that arrive
/// meanwhile join the batch.
pub(crate) const SPARE_WAIT: Duration = Duration::from_millis(50);
const SPARE_POLL: Duration = Duration::from_millis(1);

pub(crate) async fn wait_for_spare(store: &SnapshotStore) {
    let deadline = Instant::now() + SPARE_WAIT;
    while !store.spare_free() && Instant::now() < deadline {
        tokio::time::sleep(SPARE_POLL).await;
    }
}

/// Takes the waiting updates, applies them as one publish, and marks the store synced once
/// every kind has been listed.
async fn apply_loop(
    mut rx: mpsc::Receiver<Seen>,
    applied: tokio::sync::watch::Sender<AppliedCounts>,
    store: Arc<SnapshotStore>,
    kinds: Vec<Kind>,
    start: Instant,
) {
    // Kinds listed in full at least once: the cache is synced when every kind is.
    let mut listed: HashSet<Kind> = HashSet::new();
    let mut batch: Vec<Seen> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    while rx.recv_many(&mut batch, 1024).await > 0 {
        let mut seen: Vec<(Kind, Instant, Option<Trigger>)> = Vec::with_capacity(batch.len());
        let mut listed_now = false;
        let held = store.load();
        for item in batch.drain(..) {
            if let Update::Listed { kind, .. } = &item.update {
                listed_now = true;
                listed.insert(*kind);
            }
            seen.push((item.update.kind(), item.at, item.trigger));
            relist::changes(item.update, &held, &mut changes);
        }
        drop(held);
        let count = changes.len();
        wait_for_spare(&store).await;
        let copied = off_the_runtime(&store, move |store| {
            let copies = store.copies();
            store.apply(changes, now_unix());
            store.copies() - copies
        })
        .await
        .unwrap_or(0);
        changes = Vec::new();
        if copied > 0 {
            metrics().snapshot_copies.inc_by(copied);
            debug!("a reader held the replaced cluster cache: the publish copied it whole");
        }
        let published = Instant::now();
        let published_wall = SystemTime::now();
        applied.send_modify(|counts| {
            for (kind, _, _) in &seen {
                *counts.entry(*kind).or_default() += 1;
            }
        });
        let synced = store.is_synced();
        let snapshot = store.load();
        for (kind, at, trigger) in seen {
            metrics()
                .apply
                .with_label_values(&[kind.as_str()])
                .observe(published.duration_since(at).as_secs_f64());
            // CoreDNS counts only changes after the initial sync.
            if let (true, Some(trigger)) = (synced, trigger)
                && let Ok(took) = published_wall.duration_since(trigger.at)
            {
                metrics()
                    .dns_programming
                    .with_label_values(&[service_kind(&snapshot, &trigger)])
                    .observe(took.as_secs_f64());
            }
        }
        for kind in &kinds {
            metrics()
                .objects
                .with_label_values(&[kind.as_str()])
                .set(snapshot.count(*kind) as f64);
        }
        debug!(changes = count, "cluster cache published");
        if !synced && kinds.iter().all(|k| listed.contains(k)) {
            store.mark_synced();
            let took = start.elapsed();
            metrics().initial_sync.set(took.as_secs_f64());
            info!(
                services = snapshot.service_count(),
                took = ?took,
                "cluster cache synced with the Kubernetes API"
            );
        }
        drop(snapshot);
        if count >= CATCH_UP_AFTER {
            off_the_runtime(&store, |store| store.catch_up()).await;
        }
        if listed_now {
            crate::release_freed_memory();
        }
    }
}

/// After a batch this large (an initial list, a re-list) the applier brings the spare copy up
/// to date at once ([`SnapshotStore::catch_up`]), so the next change does not wait for the
/// batch to be applied a second time (half a second at 100k services), and the batch is freed.
const CATCH_UP_AFTER: usize = 1000;

/// Runs `work` on the store on a blocking thread. A large batch holds a CPU for up to a second,
/// and the serving loops may share this runtime's only worker (the runtime has one per CPU
/// the process may use, so one in a pod limited to one CPU): on a worker it would stop every
/// answer meanwhile. `None` if `work` panicked (logged).
async fn off_the_runtime<T: Send + 'static>(
    store: &Arc<SnapshotStore>,
    work: impl FnOnce(&SnapshotStore) -> T + Send + 'static,
) -> Option<T> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || work(&store)).await {
        Ok(done) => Some(done),
        Err(e) => {
            warn!("applying watch changes to the cluster cache failed: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests;
