//! The DNS listeners of a Corefile, keyed by address, each serving a swappable router: a new
//! Corefile (`reload`) swaps what they serve, binds new addresses and closes removed ones.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::info;

use super::swap::Swap;
use super::{BoundServer, ServerConfig, ServerError, stop_signal};
use crate::plugin::Router;

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
    /// Whether addresses not (yet) on the host may be bound.
    bind_nonlocal: bool,
}

impl Listeners {
    pub fn new(stop: watch::Receiver<bool>, bind_nonlocal: bool) -> Self {
        Self {
            listeners: BTreeMap::new(),
            tasks: JoinSet::new(),
            stop,
            bind_nonlocal,
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
                let timeouts = router.tcp_timeouts();
                let defaults = ServerConfig::new(router.addr);
                let config = ServerConfig {
                    bind_nonlocal: self.bind_nonlocal,
                    tcp_read_timeout: timeouts.read.unwrap_or(defaults.tcp_read_timeout),
                    tcp_write_timeout: timeouts.write.unwrap_or(defaults.tcp_write_timeout),
                    tcp_idle_timeout: timeouts.idle.unwrap_or(defaults.tcp_idle_timeout),
                    ..defaults
                };
                bound.push(BoundServer::bind(config)?);
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
