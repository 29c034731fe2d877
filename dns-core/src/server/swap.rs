//! A handler that can be replaced while serving (Corefile reload): each query takes the
//! handler current when it arrives and finishes on it, metrics included; later queries see
//! the new one. The listener and its sockets stay as they are.
//!
//! A query holds the handler through an `arc_swap` guard, not a clone of the `Arc`: the
//! guard takes a slot of its own thread, so the reference count every worker shares is not
//! written per query (a count bouncing between cores on each answer). A query that waits long
//! (an upstream) may find its thread's slots taken; the guard then counts as a clone would.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use hickory_proto::op::{Message, Query};

use crate::wire::encoded::Prebuilt;
use crate::wire::{Exchange, Handler, Limits, RequestInfo};

pub struct Swap<H> {
    current: ArcSwap<H>,
}

impl<H: Handler> Swap<H> {
    pub fn new(handler: H) -> Self {
        Self {
            current: ArcSwap::from_pointee(handler),
        }
    }

    /// Serves `handler` from the next query on; queries in flight finish on the old one.
    pub fn replace(&self, handler: H) {
        self.current.store(Arc::new(handler));
    }

    pub fn current(&self) -> Arc<H> {
        self.current.load_full()
    }
}

impl<H: Handler> Handler for Swap<H> {
    /// The handler that answered travels with its tag, so `served` reaches the same one.
    type Tag = (Guard<Arc<H>>, H::Tag);

    async fn handle(&self, request: &Message, info: &RequestInfo) -> (Message, Self::Tag) {
        let handler = self.current.load();
        let (response, tag) = handler.handle(request, info).await;
        (response, (handler, tag))
    }

    async fn handle_encoded(
        &self,
        request: &Message,
        info: &RequestInfo,
    ) -> (Message, Option<Prebuilt>, Self::Tag) {
        let handler = self.current.load();
        let (response, prebuilt, tag) = handler.handle_encoded(request, info).await;
        (response, prebuilt, (handler, tag))
    }

    fn served(&self, tag: Option<Self::Tag>, exchange: &Exchange<'_>) {
        match tag {
            Some((handler, tag)) => handler.served(Some(tag), exchange),
            None => self.current.load().served(None, exchange),
        }
    }

    fn silent(&self, tag: &Self::Tag) -> bool {
        tag.0.silent(&tag.1)
    }

    fn limits(&self, query: &Query) -> Limits {
        self.current.load().limits(query)
    }
}
