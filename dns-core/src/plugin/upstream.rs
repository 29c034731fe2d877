//! A plugin asking its own server a question, as CoreDNS's `plugin/pkg/upstream` does: the
//! kubernetes plugin resolves an ExternalName service's target outside its zones this way, so
//! the answer carries the CNAME and the target's records (CoreDNS's backend lookup).
//!
//! The question goes to the server block of the same listener that serves the name (longest
//! zone first, as the router picks), and through that block's whole chain. The blocks are known
//! only once the Corefile is built, so a handle is made at setup and filled by `build`; it holds
//! the chains weakly (a chain owns the plugin that owns the handle). A lookup made inside a
//! lookup gets nothing, as CoreDNS refuses a second upstream hop, so two ExternalName services
//! in two blocks naming each other cannot loop.

use std::sync::{Arc, OnceLock, Weak};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::chain::PluginChain;
use crate::wire::RequestInfo;

tokio::task_local! {
    /// Set while a lookup runs: the chain it drives must not start another.
    static IN_LOOKUP: ();
}

/// The listener's blocks for [`Upstream::lookup`]: each zone with its chain, longest first.
#[derive(Default)]
pub struct Upstream {
    routes: OnceLock<Vec<(Name, Weak<PluginChain>)>>,
}

impl Upstream {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The listener's blocks; called once by `build`.
    pub(crate) fn fill(&self, mut routes: Vec<(Name, Weak<PluginChain>)>) {
        routes.sort_by_key(|(zone, _)| std::cmp::Reverse(zone.num_labels()));
        let _ = self.routes.set(routes);
    }

    /// This server's answer to `name`/`rtype` (recursion desired, as a stub resolver asks), or
    /// `None` when no block serves the name, the server is being replaced, or this is already
    /// a lookup.
    pub async fn lookup(
        &self,
        name: &Name,
        rtype: RecordType,
        info: &RequestInfo,
    ) -> Option<Message> {
        if IN_LOOKUP.try_with(|_| ()).is_ok() {
            return None;
        }
        let chain = self
            .routes
            .get()?
            .iter()
            .find(|(zone, _)| zone.zone_of(name))
            .and_then(|(_, chain)| chain.upgrade())?;
        let mut request = Message::new(0, MessageType::Query, OpCode::Query);
        request.metadata.recursion_desired = true;
        request.add_query(Query::query(name.clone(), rtype));
        let mut answered = IN_LOOKUP
            .scope((), async { chain.run_from(0, &request, info).await })
            .await;
        answered.materialize();
        Some(answered.response)
    }
}
