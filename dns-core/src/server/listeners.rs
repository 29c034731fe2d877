//! Serving a Corefile at the edge: the DNS listeners keyed by address, and the loop that re-reads
//! the Corefile and swaps what they serve (`reload` plugin).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::info;

use crate::corefile::CorefileError;
use crate::plugins::build::BuildError;
use crate::plugins::build::{Dependencies, build};
use crate::plugins::chain::Router;
use crate::plugins::reload::{self, FAILED, ReloadConfig};
use crate::plugins::setup::SetupError;
use crate::server::swap::Swap;
use crate::server::{BoundServer, ServerConfig, ServerError, stop_signal};

struct Listener {
    handler: Arc<Swap<Router>>,
    /// Stops this listener alone (its address left the Corefile).
    stop: watch::Sender<bool>,
}

/// The DNS listeners, one per address, each serving a swappable router.
pub struct Listeners {
    listeners: BTreeMap<SocketAddr, Listener>,
    tasks: JoinSet<()>,
    /// The process-wide stop.
    stop: watch::Receiver<bool>,
}

impl Listeners {
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self {
            listeners: BTreeMap::new(),
            tasks: JoinSet::new(),
            stop,
        }
    }

    /// Serves `routers`: addresses already listening keep their sockets and take the new
    /// router (queries in flight finish on the old one); new addresses are bound, and
    /// addresses no longer present stop. Every new address is bound before anything changes,
    /// so a bind error leaves everything as it was.
    pub fn apply(&mut self, routers: Vec<Router>) -> Result<(), ServerError> {
        let mut bound = Vec::new();
        for router in &routers {
            if !self.listeners.contains_key(&router.addr) {
                bound.push(BoundServer::bind(ServerConfig::new(router.addr))?);
            }
        }
        let mut bound = bound.into_iter();
        let mut keep = BTreeMap::new();
        for router in routers {
            let addr = router.addr;
            if let Some(listener) = self.listeners.remove(&addr) {
                router.on_startup(addr);
                listener.handler.replace(router);
                keep.insert(addr, listener);
                continue;
            }
            let Some(server) = bound.next() else { continue };
            info!(addr = %server.local_addr(), "listening (udp, tcp)");
            router.on_startup(server.local_addr());
            let handler = Arc::new(Swap::new(router));
            let (stop, own) = watch::channel(false);
            let global = self.stop.clone();
            self.tasks.spawn(server.run(handler.clone(), async move {
                tokio::select! {
                    _ = stop_signal(global) => {}
                    _ = stop_signal(own) => {}
                }
            }));
            keep.insert(addr, Listener { handler, stop });
        }
        for (addr, removed) in std::mem::replace(&mut self.listeners, keep) {
            info!(%addr, "no longer in the Corefile: stop listening");
            let _ = removed.stop.send(true);
        }
        Ok(())
    }

    /// Waits for every listener to finish (after the process-wide stop).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// SHA-512 of the Corefile's bytes, in hex.
pub fn hash(content: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, content);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the Corefile at `path` every period of `config` until the stop; on a change, builds
/// and serves the new Corefile, or keeps the old one, says why in CoreDNS's words and counts
/// `coredns_reload_failed_total`. Then waits for the listeners to finish.
pub async fn run(
    path: PathBuf,
    config: ReloadConfig,
    deps: Dependencies,
    mut listeners: Listeners,
    stop: watch::Receiver<bool>,
) {
    let Ok(content) = tokio::fs::read(&path).await else {
        listeners.wait().await;
        return;
    };
    let mut running = hash(&content);
    println!("[INFO] plugin/reload: Running configuration SHA512 = {running}");
    reload::set_version(None, &running);
    let mut config = Some(config);
    let stopped = stop_signal(stop);
    tokio::pin!(stopped);
    while let Some(current) = config {
        let period = current.period(random());
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = &mut stopped => break,
        }
        // An unreadable file (mid-rewrite, say) is tried again next time, as CoreDNS does.
        let Ok(content) = tokio::fs::read(&path).await else {
            continue;
        };
        let new = hash(&content);
        if new == running {
            continue;
        }
        // A broken file is not retried until it changes again.
        reload::set_version(Some(&running), &new);
        running = new;
        println!("[INFO] Reloading");
        match rebuild(&path, &deps, &mut listeners) {
            Ok(next) => {
                println!("[INFO] plugin/reload: Running configuration SHA512 = {running}");
                println!("[INFO] Reloading complete");
                config = next;
            }
            Err(e) => {
                println!("[ERROR] plugin/reload: Corefile changed but reload failed: {e}");
                FAILED.inc();
            }
        }
    }
    listeners.wait().await;
}

/// Why a changed Corefile was not served.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Corefile(#[from] CorefileError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("{0}: no server blocks")]
    Empty(PathBuf),
}

/// Parses and builds the Corefile at `path` and serves it; the new reload setting, if any.
fn rebuild(
    path: &Path,
    deps: &Dependencies,
    listeners: &mut Listeners,
) -> Result<Option<ReloadConfig>, ReloadError> {
    let corefile = crate::corefile::load(path)?;
    let next = reload::config(&corefile)?;
    let routers = build(&corefile, deps)?;
    if routers.is_empty() {
        return Err(ReloadError::Empty(path.to_path_buf()));
    }
    listeners.apply(routers)?;
    Ok(next)
}

/// A random u64 for the jitter, from the standard library's randomly keyed hasher.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
