//! The plugin contract: what every Corefile plugin implements and what the server calls. One
//! trait ([`Plugin`]: `serve(request, next)`), the chain and router that run plugins
//! ([`chain`]), the registry row a plugin is listed by ([`registry`]), what a plugin's setup
//! gets and gives ([`setup`]), and turning a Corefile into routers ([`build`]). Shared by the
//! plugins: the metric families ([`metrics`]), values published about a query ([`metadata`]),
//! readiness, `fallthrough`, and work tied to a plugin's life ([`periodic`]), a plugin's
//! questions to its own server ([`upstream`]), and zone transfers between a block's plugins
//! ([`transfer`]).
//!
//! This layer sits on `wire`, `corefile` and `cluster`; it names no plugin. The plugins sit on
//! it (`plugins/<name>/`), the server above them.

pub mod build;
pub mod chain;
pub mod fallthrough;
pub mod file;
pub mod metadata;
pub mod metrics;
pub mod pem;
pub mod periodic;
pub mod readiness;
pub mod registry;
pub mod setup;
pub mod transfer;
pub mod upstream;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hickory_proto::op::Message;

pub use chain::{Answered, Detached, Next, PluginChain, Router, TcpTimeouts};
pub use registry::Registration;

/// A plugin that handles queries (CoreDNS's `plugin.Handler`). It answers
/// ([`Next::answered_here`]) or hands the query on ([`Next::run`], CoreDNS's `NextOrFailure`);
/// a plugin that wraps the rest (cache, rewrite, loadbalance, log, errors) runs `next` and
/// works on what comes back.
pub trait Plugin: Send + Sync + 'static {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a>;
}

/// A plugin shared with work outside the chain (start-up work, a background task) serves as
/// itself.
impl<T: Plugin> Plugin for Arc<T> {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        T::serve(self, request, next)
    }
}

/// The future of one plugin's answer. A plugin that answers from memory returns it ready, so
/// the chain allocates nothing for it; one that waits (an upstream, a cache miss) boxes its
/// future once.
pub enum Serving<'a> {
    Ready(Option<Answered>),
    Pending(Pin<Box<dyn Future<Output = Answered> + Send + 'a>>),
}

impl<'a> Serving<'a> {
    pub fn ready(answered: Answered) -> Self {
        Serving::Ready(Some(answered))
    }

    pub fn pending(future: impl Future<Output = Answered> + Send + 'a) -> Self {
        Serving::Pending(Box::pin(future))
    }

    /// `self`, then `then` on its answer: at once when it is ready, else when it arrives.
    pub fn then(self, then: impl FnOnce(Answered) -> Answered + Send + 'a) -> Self {
        match self {
            Serving::Ready(Some(answered)) => Serving::ready(then(answered)),
            waiting => Serving::pending(async move { then(waiting.await) }),
        }
    }
}

impl Future for Serving<'_> {
    type Output = Answered;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answered> {
        match self.get_mut() {
            // Polled again after it completed: never resolves, as a fused future would not.
            Serving::Ready(answered) => answered.take().map_or(Poll::Pending, Poll::Ready),
            Serving::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// Work a plugin starts once its listener is up, given the address it got (the `loop` probe,
/// `errors` consolidation).
pub type OnStartup = Arc<dyn Fn(std::net::SocketAddr) + Send + Sync>;
