//! Question -> encoded answer on a snapshot of 10k services (3 endpoints each): the kubernetes
//! plugin's whole path minus the socket. `cargo bench -p dns-core --bench answer`.
//!
//! Instruction counts, which the machine's load does not move (docs/benchmarks.md): with
//! `SIGNPOST_BENCH_ITERATIONS=N` the binary skips criterion and answers one ClusterIP A query N
//! times through `respond` as a UDP listener does (scripts/bench's Corefile); run it under
//! `valgrind --tool=callgrind` with N and with 0, and the difference over N is instructions per
//! query (`scripts/bench --instructions` does that). With `SIGNPOST_BENCH_CASE=cache_hit` the
//! query is answered by `cache` instead, as nodelocal answers a hit. `cargo test --bench answer` runs each case once
//! (scripts/test builds and smokes the benches that way).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use dns_core::cluster::records::{PodMode, RecordOptions};
use dns_core::cluster::{Change, Endpoint, EndpointSlice, Port, Protocol, Service, SnapshotStore};
use dns_core::plugins::kubernetes::{KubernetesConfig, KubernetesPlugin};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

/// `SIGNPOST_BENCH_SERVICES` overrides it (callgrind runs a smaller snapshot: lookups are
/// hashed, so the count barely moves the per-query figure).
fn services() -> u32 {
    std::env::var("SIGNPOST_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn ip(n: u32) -> IpAddr {
    // 198.18.0.0/15 holds 131072 addresses: services from the bottom, endpoints above.
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n))
}

fn cluster() -> Vec<Change> {
    let mut changes = Vec::new();
    for i in 0..services() {
        let ns = format!("ns{}", i % 100);
        let name = format!("svc{i}");
        let headless = i % 10 == 0;
        changes.push(Change::UpsertService(Service {
            namespace: ns.as_str().into(),
            name: name.as_str().into(),
            cluster_ips: if headless {
                Default::default()
            } else {
                smallvec::smallvec![ip(i)]
            },
            headless,
            ports: vec![Port {
                name: "http".into(),
                port: 80,
                protocol: Protocol::Tcp,
            }],
            ..Default::default()
        }));
        changes.push(Change::UpsertEndpointSlice(EndpointSlice {
            namespace: ns.into(),
            name: format!("{name}-abcde").into(),
            service_name: name.into(),
            endpoints: (0..3)
                .map(|e| Endpoint {
                    addresses: smallvec::smallvec![ip(20_000 + i * 3 + e)],
                    ..Default::default()
                })
                .collect(),
            ports: vec![Port {
                name: "http".into(),
                port: 8080,
                protocol: Protocol::Tcp,
            }],
            ..Default::default()
        }));
    }
    changes
}

fn plugin() -> KubernetesPlugin {
    let store = Arc::new(SnapshotStore::new());
    store.replace(cluster(), 1);
    let config = KubernetesConfig {
        records: RecordOptions {
            zones: vec![
                Name::from_ascii("cluster.local.").unwrap(),
                Name::from_ascii("in-addr.arpa.").unwrap(),
            ],
            pods: PodMode::Insecure,
            ..Default::default()
        },
        ..Default::default()
    };
    KubernetesPlugin::new(config, store, vec![ip(5)])
}

fn request(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

fn bench(c: &mut Criterion) {
    let plugin = plugin();
    let cases = [
        (
            "clusterip_a",
            request("svc4321.ns21.svc.cluster.local.", RecordType::A),
        ),
        (
            "headless_a",
            request("svc4320.ns20.svc.cluster.local.", RecordType::A),
        ),
        (
            "srv",
            request(
                "_http._tcp.svc4321.ns21.svc.cluster.local.",
                RecordType::SRV,
            ),
        ),
        ("ptr", request("7.0.18.198.in-addr.arpa.", RecordType::PTR)),
        (
            "nxdomain",
            request("nope.ns21.svc.cluster.local.", RecordType::A),
        ),
    ];
    for (label, req) in &cases {
        c.bench_function(&format!("answer/{label}"), |b| {
            b.iter(|| {
                let response = plugin.resolve(black_box(req));
                black_box(response.map(|r| r.to_vec()))
            })
        });
    }
}

/// The whole answer path for one UDP query (header checks, parse, router, chain, encode,
/// metrics), with and without `prometheus` in the server block.
fn bench_respond(c: &mut Criterion) {
    use dns_core::corefile::parse_str;
    use dns_core::plugin::build::Dependencies;
    use dns_core::plugins::build;
    use dns_core::server::respond;
    use dns_core::wire::{RequestInfo, Transport};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Arc::new(SnapshotStore::new());
    store.replace(cluster(), 1);
    let bytes = request("svc4321.ns21.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    let info = RequestInfo {
        src: "127.0.0.1:40000".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: bytes.len(),
    };
    let plain = ".:53 {\n errors\n kubernetes cluster.local in-addr.arpa\n}\n";
    let metered = ".:53 {\n errors\n prometheus\n kubernetes cluster.local in-addr.arpa\n}\n";
    for (label, text) in [("plain", plain), ("prometheus", metered)] {
        let Ok(corefile) = parse_str(text, "Corefile", &|_| None) else {
            continue;
        };
        // Older builds without the prometheus plugin skip that case.
        let Ok(mut built) = build(&corefile, &Dependencies::new(store.clone())) else {
            continue;
        };
        let router = built.routers.remove(0);
        c.bench_function(&format!("respond/{label}"), |b| {
            b.iter(|| black_box(runtime.block_on(respond(&router, black_box(&bytes), &info))))
        });
    }
}

/// scripts/bench's Corefile, minus what needs an API or an upstream: the chain a ClusterIP
/// question goes through there (errors, prometheus, cache for another zone, loadbalance).
const BENCH_COREFILE: &str = ".:53 {
    errors
    prometheus 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30 example.test
    loadbalance
}
";

/// nodelocal's path for a cache hit: node-local-dns's server block for the cluster zone, its
/// cache filled by the first query (here from the kubernetes plugin rather than `forward`).
const CACHE_HIT_COREFILE: &str = ".:53 {
    errors
    cache {
        success 9984 30
        denial 9984 5
    }
    prometheus 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
}
";

/// Answers one ClusterIP A query `n` times as a UDP listener does (`respond` polled once),
/// for counting instructions: see the module documentation. `SIGNPOST_BENCH_CASE=cache_hit`
/// answers it from `cache` instead ([`CACHE_HIT_COREFILE`]).
fn run_counted(n: u64) {
    use dns_core::corefile::parse_str;
    use dns_core::plugin::build::Dependencies;
    use dns_core::plugins::build;
    use dns_core::server::respond;
    use dns_core::wire::{RequestInfo, Transport};
    use futures_util::FutureExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let _entered = runtime.enter();
    let store = Arc::new(SnapshotStore::new());
    store.replace(cluster(), 1);
    let text = match std::env::var("SIGNPOST_BENCH_CASE").as_deref() {
        Ok("cache_hit") => CACHE_HIT_COREFILE,
        _ => BENCH_COREFILE,
    };
    let corefile = parse_str(text, "Corefile", &|_| None).expect("the Corefile");
    let mut built = build(&corefile, &Dependencies::new(store)).expect("the chain");
    let router = built.routers.remove(0);
    // svc321 exists (a ClusterIP service) in any snapshot of 400 services or more.
    let bytes = request("svc321.ns21.svc.cluster.local.", RecordType::A)
        .to_vec()
        .expect("the query");
    let info = RequestInfo {
        src: "127.0.0.1:40000".parse().expect("address"),
        local: "127.0.0.1:53".parse().expect("address"),
        transport: Transport::Udp,
        request_size: bytes.len(),
    };
    for _ in 0..n {
        let reply = respond(&router, black_box(&bytes), &info).now_or_never();
        black_box(reply);
    }
}

criterion_group!(benches, bench, bench_respond);

fn main() {
    if let Some(n) = std::env::var("SIGNPOST_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        run_counted(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
