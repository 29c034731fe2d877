//! Zone transfers between the plugins of one server block, as CoreDNS's `transfer.Transferer`:
//! a plugin that holds whole zones (`file`) offers them; the `transfer` plugin asks for a zone
//! when a client wants it, and hears when one changed, to send NOTIFY. Made by the first
//! plugin of the block that asks for it ([`super::setup::BlockSetup::transfers`]); sources are
//! held weakly, so a plugin dropped by a reloaded Corefile is not kept alive here.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use hickory_proto::rr::{Name, Record};

/// A plugin that can give a zone whole.
pub trait Transferer: Send + Sync {
    /// The zone `zone` (exactly: not a zone that contains it) in transfer order, the SOA first
    /// and last (RFC 5936 §2.2), or `None` when this plugin does not serve it.
    fn transfer(&self, zone: &Name) -> Option<Vec<Record>>;
}

/// What is told of a changed zone: its name.
pub type OnChange = Box<dyn Fn(&Name) + Send + Sync>;

/// The block's zone sources and who hears of their changes.
#[derive(Default)]
pub struct Transfers {
    sources: Mutex<Vec<Weak<dyn Transferer>>>,
    on_change: OnceLock<OnChange>,
}

impl Transfers {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `source` offers its zones (asked in the order offered).
    pub fn offer(&self, source: Weak<dyn Transferer>) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// The first source's transfer of `zone`, if any source serves it.
    pub fn zone(&self, zone: &Name) -> Option<Vec<Record>> {
        let sources: Vec<Arc<dyn Transferer>> = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        sources.iter().find_map(|s| s.transfer(zone))
    }

    /// `hear` is told of every change (the transfer plugin's NOTIFY); the first one set stays.
    pub fn on_change(&self, hear: OnChange) {
        let _ = self.on_change.set(hear);
    }

    /// `zone` changed (a file read anew with a new serial).
    pub fn changed(&self, zone: &Name) {
        if let Some(hear) = self.on_change.get() {
            hear(zone);
        }
    }
}
