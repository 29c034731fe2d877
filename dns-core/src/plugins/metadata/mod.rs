//! `metadata [ZONES...]`: gathers what the block's plugins publish about each query in ZONES
//! (the block's zones by default) before the rest of the chain runs, so `rewrite` and `log`
//! can use it, as CoreDNS's metadata. See `crate::plugin::metadata`.

use hickory_proto::op::Message;
use hickory_proto::rr::Name;

use crate::corefile::Directive;
use crate::plugin::metadata::{self, Providers};
use crate::plugin::setup::{BlockSetup, SetupError, zones_or_block};
use crate::plugin::{Next, Plugin, Serving};

const PLUGIN: &str = "metadata";

pub fn parse(d: &Directive, block_zones: &[Name]) -> Result<Vec<Name>, SetupError> {
    if let Some(option) = d.block.first() {
        return Err(crate::plugin::setup::unknown_property(PLUGIN, option));
    }
    zones_or_block(PLUGIN, &d.args, block_zones)
}

pub struct Metadata {
    zones: Vec<Name>,
    providers: Providers,
}

impl Plugin for Metadata {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let providers = self.providers.get().map_or(&[][..], Vec::as_slice);
        let in_zones = request
            .queries
            .first()
            .is_some_and(|q| self.zones.iter().any(|z| z.zone_of(q.name())));
        if providers.is_empty() || !in_zones {
            return next.run(request);
        }
        let values = metadata::collect(providers, request, next.info);
        match metadata::sync_scope(values.clone(), || next.run(request)) {
            ready @ Serving::Ready(_) => ready,
            waiting => Serving::pending(metadata::scoped(values, waiting)),
        }
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        let zones = parse(d, setup.zones)?;
        let providers = setup.metadata_providers();
        setup.add(Metadata { zones, providers });
    }
    Ok(())
}
