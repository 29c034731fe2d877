//! Serving side of the `cache` plugin: look up, answer or ask the rest of the chain and store
//! what comes back; refresh popular and stale entries in tasks of their own. What to store and
//! for how long is decided in [`super::policy`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use super::metrics::CacheMetrics;
use super::policy::{self, Entry, Freq, Key, Kind};
use super::setup::{CacheConfig, ServeStale};
use super::store::{KeyHasher, ShardRead, Store, Stored};
use crate::plugin::{Answered, Next, Plugin, Serving};
use crate::wire::Transport;

/// Refreshes (prefetch, stale) running at once per cache; past this, entries are left to expire.
const MAX_BACKGROUND: usize = 64;

/// A stored response and what prefetching needs to know about it.
pub struct Item {
    pub entry: Entry,
    freq: Mutex<Freq>,
    /// A refresh of this entry is under way: at most one at a time.
    refreshing: AtomicBool,
    /// A refresh failed: until then the entry is served stale without asking again
    /// (`serve_stale ... FAILURE_RECHECK`).
    recheck_after: Mutex<Option<Instant>>,
}

impl Item {
    fn new(entry: Entry) -> Self {
        Self {
            entry,
            freq: Mutex::new(Freq::default()),
            refreshing: AtomicBool::new(false),
            recheck_after: Mutex::new(None),
        }
    }

    /// Within the wait after a failed refresh.
    fn rechecking(&self, now: Instant) -> bool {
        self.recheck_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| now < until)
    }

    /// A refresh failed: no other for `wait`.
    fn failed(&self, now: Instant, wait: Duration) {
        if !wait.is_zero() {
            *self
                .recheck_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(now + wait);
        }
    }

    fn freq(&self) -> std::sync::MutexGuard<'_, Freq> {
        self.freq.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Shared {
    config: CacheConfig,
    hasher: KeyHasher,
    success: Store<Item>,
    denial: Store<Item>,
    metrics: CacheMetrics,
    background: AtomicUsize,
}

/// The `cache` plugin as it serves.
pub struct CachePlugin {
    shared: Arc<Shared>,
}

impl CachePlugin {
    /// A cache for `config`; `server` is the listener's metrics label (`dns://:53`).
    pub fn new(config: CacheConfig, server: &str) -> Self {
        let metrics = CacheMetrics::new(server, &config.zones_label());
        let success = Store::new(policy::effective_capacity(config.success.capacity));
        let denial = Store::new(policy::effective_capacity(config.denial.capacity));
        Self {
            shared: Arc::new(Shared {
                config,
                hasher: KeyHasher::default(),
                success,
                denial,
                metrics,
                background: AtomicUsize::new(0),
            }),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.shared.config
    }
}

impl Plugin for CachePlugin {
    /// A hit answers from memory without waiting; a miss, or a stale entry verified first,
    /// waits for the rest of the chain.
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let s = &self.shared;
        // The zones first: a question outside them passes on without a key built for it (a
        // lowered copy of its name).
        let Some(question) = request.queries.first() else {
            return next.run(request);
        };
        if !s.config.zones.iter().any(|z| z.zone_of(question.name())) {
            return next.run(request);
        }
        let Some(key) = policy::key(request) else {
            return next.run(request);
        };
        let now = Instant::now();
        s.metrics.requests.inc();
        let hash = s.hasher.hash(&key);
        // Both halves as they are now, held for this answer (see `store`: a hit writes nothing
        // shared; the entry's `Arc` is cloned only for a refresh).
        let shards = (s.denial.read(hash), s.success.read(hash));
        let Some(item) = s.lookup(&shards, hash, &key, now) else {
            s.metrics.misses.inc();
            return Serving::pending(async move {
                let mut answered = next.run(&upstream_request(request)).await;
                answered.materialize();
                s.absorb(request, &key, &mut answered.response, Instant::now(), false);
                answered
            });
        };
        let remaining = item.entry.remaining(now);
        if remaining <= 0 {
            let stale = s.config.serve_stale.unwrap_or(ServeStale {
                up_to: Duration::ZERO,
                verify: false,
                verify_timeout: Duration::ZERO,
                response_ttl: 0,
                failure_recheck: Duration::ZERO,
            });
            // FAILURE_RECHECK: one refresh at a time, none for a while after one failed; the
            // stale entry meanwhile.
            let held = !stale.failure_recheck.is_zero()
                && (item.rechecking(now) || item.refreshing.load(Ordering::Acquire));
            if stale.verify && !held {
                return Serving::pending(s.verify_stale(item.clone(), request, key, next, stale));
            }
            if !held {
                s.refresh_in_background(item, request, key, next, true);
            }
            s.metrics.served_stale.inc();
            return Serving::ready(answer(&item.entry, request, stale.response_ttl, next));
        }
        if let Some(p) = &s.config.prefetch {
            let hits = item.freq().update(p.window, now);
            if policy::should_prefetch(p, hits, item.entry.ttl, remaining) {
                s.refresh_in_background(item, request, key, next, false);
            }
        }
        let ttl = policy::served_ttl(&item.entry, now, s.config.keepttl);
        Serving::ready(answer(&item.entry, request, ttl, next))
    }
}

/// A hit: the entry's records as encoded when stored where the chain allows it, else copied
/// into the response.
fn answer(entry: &Entry, request: &Message, ttl: u32, next: Next<'_>) -> Answered {
    if next.may_send_encoded()
        && let Some((header, records)) = entry.reply_encoded(request, ttl)
    {
        return next.answered_encoded(header, records);
    }
    next.answered_here(entry.reply(request, ttl))
}

/// The query the cache sends on: the client's, with AD set so an upstream says whether the data
/// is authenticated (the AD bit is cleared again for clients that did not ask).
fn upstream_request(request: &Message) -> Message {
    let mut upstream = request.clone();
    upstream.metadata.authentic_data = true;
    upstream
}

impl Shared {
    /// `serve_stale ... verify`: the rest of the chain is asked first (within the verify
    /// timeout); a usable answer replaces the entry, else the stale entry is served and
    /// refreshed in the background.
    async fn verify_stale(
        self: &Arc<Self>,
        item: Arc<Item>,
        request: &Message,
        key: Key,
        next: Next<'_>,
        stale: ServeStale,
    ) -> Answered {
        let upstream = upstream_request(request);
        // With FAILURE_RECHECK, queries arriving meanwhile get the stale entry.
        let holds = !stale.failure_recheck.is_zero();
        if holds {
            item.refreshing.store(true, Ordering::Release);
        }
        let verified = if stale.verify_timeout.is_zero() {
            Some(next.run(&upstream).await)
        } else {
            tokio::time::timeout(stale.verify_timeout, next.run(&upstream))
                .await
                .ok()
        };
        if holds {
            item.refreshing.store(false, Ordering::Release);
        }
        match verified {
            Some(mut answered) => {
                answered.materialize();
                let refreshes = policy::refreshes_stale(&upstream, &answered.response);
                // prefer_positive: only an answer replaces a stale answer for the client; a
                // denial is stored, and the stale answer served.
                let keeps_stale = self.prefer_positive()
                    && item.entry.positive()
                    && !(refreshes
                        && answered.response.metadata.response_code == ResponseCode::NoError
                        && policy::answers_question(&answered.response));
                if refreshes {
                    self.absorb(request, &key, &mut answered.response, Instant::now(), false);
                    if !keeps_stale {
                        return answered;
                    }
                } else {
                    item.failed(Instant::now(), stale.failure_recheck);
                }
            }
            // Too slow: the stale entry now, the question again in the background.
            None => self.refresh_in_background(&item, request, key, next, true),
        }
        self.metrics.served_stale.inc();
        next.answered_here(item.entry.reply(request, stale.response_ttl))
    }

    fn prefer_positive(&self) -> bool {
        self.config.prefer_positive && self.config.serve_stale.is_some()
    }

    /// A servable entry for `key` in `shards` (its denial and success shards): the denial
    /// cache first, then the success cache; a cached SERVFAIL does not hide a servable
    /// positive answer.
    fn lookup<'g>(
        &self,
        (denial, success): &'g (ShardRead<Item>, ShardRead<Item>),
        hash: u64,
        key: &Key,
        now: Instant,
    ) -> Option<&'g Arc<Item>> {
        let stale = self.stale_window();
        let positive = || {
            success
                .get(hash, key)
                .filter(|i| i.entry.servable(now, stale))
        };
        // prefer_positive: a servable answer wins over whatever the denial cache holds.
        if self.prefer_positive()
            && let Some(p) = positive().filter(|i| i.entry.positive())
        {
            self.metrics.success.hits.inc();
            return Some(p);
        }
        if let Some(denial) = denial
            .get(hash, key)
            .filter(|i| i.entry.servable(now, stale))
        {
            if denial.entry.rcode == ResponseCode::ServFail
                && let Some(p) = positive()
            {
                self.metrics.success.hits.inc();
                return Some(p);
            }
            self.metrics.denial.hits.inc();
            return Some(denial);
        }
        let p = positive()?;
        self.metrics.success.hits.inc();
        Some(p)
    }

    /// How long past its TTL an entry is still served (`serve_stale`), zero without.
    fn stale_window(&self) -> Duration {
        self.config.serve_stale.map_or(Duration::ZERO, |s| s.up_to)
    }

    /// Takes in a response from the rest of the chain: caps its TTLs, stores it when it may
    /// be stored, and clears AD for a client that did not want it. `refresh`: a background
    /// refresh, whose positive answer also replaces a cached denial.
    fn absorb(
        &self,
        request: &Message,
        key: &Key,
        response: &mut Message,
        now: Instant,
        refresh: bool,
    ) -> Option<Arc<Item>> {
        let stored = policy::classify(response).and_then(|kind| {
            let section = if kind.is_denial() {
                &self.config.denial
            } else {
                &self.config.success
            };
            let ttl = policy::lifetime(response, kind, section.bounds, self.config.servfail);
            policy::set_ttls(response, ttl);
            if ttl == 0 {
                return None;
            }
            if !policy::matches(request, response) {
                self.metrics.drops.inc();
                return None;
            }
            let qname = request.queries.first()?.name();
            self.store(key, qname, kind, Entry::new(response, ttl, now), refresh)
        });
        if !policy::wants_ad(request) {
            response.metadata.authentic_data = false;
        }
        stored
    }

    /// Stores `entry` under `key`, the key of a question for `qname`.
    fn store(
        &self,
        key: &Key,
        qname: &Name,
        kind: Kind,
        entry: Entry,
        refresh: bool,
    ) -> Option<Arc<Item>> {
        let (cache, disabled, metrics) = if kind.is_denial() {
            (
                &self.denial,
                &self.config.disable_denial,
                &self.metrics.denial,
            )
        } else {
            (
                &self.success,
                &self.config.disable_success,
                &self.metrics.success,
            )
        };
        if disabled.iter().any(|z| z.zone_of(qname)) {
            return None;
        }
        let item = Arc::new(Item::new(entry));
        let hash = self.hasher.hash(key);
        let (now, stale) = (Instant::now(), self.stale_window());
        let dead = |i: &Item| !i.entry.servable(now, stale);
        match cache.insert(hash, key.clone(), item.clone(), dead) {
            Stored::Added => metrics.entries.inc(),
            Stored::Replaced => {}
            Stored::Evicted => metrics.evictions.inc(),
        }
        if refresh && !kind.is_denial() && self.denial.remove(hash, key) {
            self.metrics.denial.entries.dec();
        }
        Some(item)
    }

    /// Dispatches one refresh of `item` in a task of its own (prefetch, or `stale` immediate
    /// mode, which keeps the entry unless the refresh brings a usable answer).
    fn refresh_in_background(
        self: &Arc<Self>,
        item: &Arc<Item>,
        request: &Message,
        key: Key,
        next: Next<'_>,
        stale: bool,
    ) {
        if item.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.background.fetch_add(1, Ordering::AcqRel) >= MAX_BACKGROUND {
            self.background.fetch_sub(1, Ordering::AcqRel);
            item.refreshing.store(false, Ordering::Release);
            return;
        }
        let shared = self.clone();
        let item = item.clone();
        let mut rest = next.detach();
        // No client connection: TCP, so an upstream's answer is never truncated.
        rest.info.transport = Transport::Tcp;
        let request = upstream_request(request);
        tokio::spawn(async move {
            shared.metrics.prefetches.inc();
            let mut answered = rest.run(&request).await;
            let usable = !stale || policy::refreshes_stale(&request, &answered.response);
            if !usable {
                let wait = shared
                    .config
                    .serve_stale
                    .map_or(Duration::ZERO, |s| s.failure_recheck);
                item.failed(Instant::now(), wait);
            }
            if usable {
                let now = Instant::now();
                if let Some(fresh) =
                    shared.absorb(&request, &key, &mut answered.response, now, true)
                {
                    // The popularity carries over to the new entry.
                    let hits = item.freq().hits;
                    *fresh.freq() = Freq {
                        last: Some(now),
                        hits,
                    };
                }
            }
            item.refreshing.store(false, Ordering::Release);
            shared.background.fetch_sub(1, Ordering::AcqRel);
        });
    }
}
