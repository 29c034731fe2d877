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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn fallthrough_modes() {
        assert!(!Fallthrough::none().through(&name("a.cluster.local.")));
        assert!(Fallthrough::all().through(&name("a.cluster.local.")));
        let ft = Fallthrough::zones(vec![name("in-addr.arpa."), name("ip6.arpa.")]);
        assert!(ft.through(&name("1.0.18.198.IN-ADDR.arpa.")));
        assert!(!ft.through(&name("a.cluster.local.")));
    }
}
