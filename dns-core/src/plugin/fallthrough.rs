//! `fallthrough [ZONES...]`, shared by every plugin that can pass a name error on.

use hickory_proto::rr::Name;

/// Whether a plugin passes a query it cannot answer (NXDOMAIN) to the next plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fallthrough {
    enabled: bool,
    /// Empty with `enabled` means every zone.
    zones: Vec<Name>,
}

impl Fallthrough {
    pub fn none() -> Self {
        Self::default()
    }

    /// `fallthrough` with no zones: every name falls through.
    pub fn all() -> Self {
        Self {
            enabled: true,
            zones: Vec::new(),
        }
    }

    pub fn zones(zones: Vec<Name>) -> Self {
        let zones = zones.iter().map(Name::to_lowercase).collect();
        Self {
            enabled: true,
            zones,
        }
    }

    /// Whether `qname` falls through.
    pub fn through(&self, qname: &Name) -> bool {
        self.enabled && (self.zones.is_empty() || self.zones.iter().any(|z| z.zone_of(qname)))
    }
}

/// A plugin's `fallthrough [ZONES...]` option.
pub fn parse_option(
    plugin: &str,
    option: &crate::corefile::Directive,
) -> Result<Fallthrough, crate::plugin::setup::SetupError> {
    if option.args.is_empty() {
        return Ok(Fallthrough::all());
    }
    let zones = option
        .args
        .iter()
        .map(|a| crate::plugin::setup::zone_arg(plugin, a))
        .collect::<Result<_, _>>()?;
    Ok(Fallthrough::zones(zones))
}
