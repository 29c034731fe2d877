//! Wire bytes -> the whole answer path (header checks, parse, zone routing, kubernetes record
//! synthesis, EDNS, truncation, encoding) against the example cluster. Nothing the network
//! sends may panic or hang.
#![no_main]

use std::sync::{Arc, OnceLock};

use dns_core::cluster::SnapshotStore;
use dns_core::cluster::testdata::example_cluster;
use dns_core::corefile::parse_str;
use dns_core::plugin::build::Dependencies;
use dns_core::plugins::build;
use dns_core::plugin::Router;
use dns_core::server::respond;
use dns_core::wire::{RequestInfo, Transport};
use libfuzzer_sys::fuzz_target;

const COREFILE: &str = ".:53 {\n kubernetes cluster.local in-addr.arpa ip6.arpa {\n  pods verified\n  fallthrough in-addr.arpa\n }\n}\nexample.internal:53 {\n kubernetes {\n  pods insecure\n  endpoint_pod_names\n }\n}\n";

struct Fixture {
    router: Router,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = Arc::new(SnapshotStore::new());
        store.replace(example_cluster(), 1);
        let corefile = parse_str(COREFILE, "Corefile", &|_| None).expect("fixture Corefile");
        let router = build(&corefile, &Dependencies::new(store)).expect("fixture chain").routers.remove(0);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        Fixture { router, runtime }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    for transport in [Transport::Udp, Transport::Tcp] {
        let info = RequestInfo {
            src: "127.0.0.1:5300".parse().unwrap(),
            local: "127.0.0.1:53".parse().unwrap(),
            transport,
            request_size: data.len(),
        };
        let (reply, _) = f.runtime.block_on(respond(&f.router, data, &info));
        if let Some(reply) = reply {
            assert!(reply.len() >= 12, "a reply always has a header");
            if transport == Transport::Udp {
                assert!(reply.len() <= 1232, "UDP replies fit the advertised size");
            }
            if data.len() >= 2 {
                assert_eq!(reply[..2], data[..2], "the ID is copied");
            }
        }
    }
});
