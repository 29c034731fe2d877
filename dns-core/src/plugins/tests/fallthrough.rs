//! Tests of the parent module.

use hickory_proto::rr::Name;

use crate::plugin::fallthrough::*;

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
