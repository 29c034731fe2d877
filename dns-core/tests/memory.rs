//! What the cluster state costs on the heap per service, counted by a counting allocator: a
//! guard on the compact model and its indexes that times nothing. One test only, so no other
//! test's allocations land in the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicIsize, Ordering};

use dns_core::cluster::{
    Change, Endpoint, EndpointConditions, EndpointSlice, Port, Protocol, Service, SnapshotStore,
};

struct Counting;

/// Bytes and blocks allocated and not yet freed.
static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) };
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SERVICES: usize = 10_000;
const NAMESPACES: usize = 10;
const ENDPOINTS: usize = 3;

/// Service `i` as the watch bench creates it: a ClusterIP service with one named port and one
/// slice of three ready endpoints, each naming its pod, spread over three zones as the
/// EndpointSlice controller writes them in a multi-zone cluster.
fn objects(i: usize) -> [Change; 2] {
    let namespace = format!("bench-{:05}", i % NAMESPACES);
    let name = format!("svc-{i}");
    let ip = |n: usize| IpAddr::V4(Ipv4Addr::from(0xC612_0000 + n as u32));
    let http = Port {
        name: "http".into(),
        port: 80,
        protocol: Protocol::Tcp,
    };
    let service = Service {
        namespace: namespace.as_str().into(),
        name: name.as_str().into(),
        cluster_ips: smallvec::smallvec![ip(i)],
        ip_families: smallvec::smallvec![dns_core::cluster::IpFamily::V4],
        ports: vec![http.clone()],
        ..Default::default()
    };
    let endpoints = (0..ENDPOINTS)
        .map(|j| Endpoint {
            addresses: [ip(SERVICES + i * ENDPOINTS + j)].into_iter().collect(),
            conditions: EndpointConditions {
                ready: Some(true),
                ..Default::default()
            },
            hostname: None,
            target_name: Some(format!("{name}-6d4b9c7f5-{j:05}").into()),
            zone: None,
        })
        .collect();
    let mut slice = EndpointSlice {
        namespace: namespace.into(),
        name: format!("{name}-x7k2p").into(),
        service_name: name.into(),
        endpoints,
        ports: vec![http],
        ..Default::default()
    };
    for j in 0..ENDPOINTS {
        let zone = slice.zone_index(&format!("us-east-1{}", ['a', 'b', 'c'][j % 3]));
        slice.endpoints[j].zone = zone;
    }
    [
        Change::UpsertService(service),
        Change::UpsertEndpointSlice(slice),
    ]
}

/// Both copies of the snapshot (left-right publishing), every index, every object: the heap
/// bytes per service with its slice of three endpoints, in the batches the watch applies.
#[test]
fn heap_per_service_stays_compact() {
    let (bytes, blocks) = (
        BYTES.load(Ordering::Relaxed),
        BLOCKS.load(Ordering::Relaxed),
    );
    let store = SnapshotStore::new();
    for batch in (0..SERVICES).collect::<Vec<_>>().chunks(1024) {
        store.apply(batch.iter().flat_map(|&i| objects(i)), 1);
    }
    // The replaced copy takes up the last batch at the next publish.
    store.apply([], 2);
    let per_service = (BYTES.load(Ordering::Relaxed) - bytes) as usize / SERVICES;
    let blocks = (BLOCKS.load(Ordering::Relaxed) - blocks) as usize / SERVICES;
    assert_eq!(store.load().service_count(), SERVICES);
    println!(
        "{per_service} bytes in {blocks} blocks per service (slice, 3 endpoints, both copies)"
    );
    // Measured 2026-12-01 (1256): see docs/ARCHITECTURE.md (performance). The bound leaves
    // room for hash-table growth steps, not for another copy of anything.
    assert!(per_service <= 1_400, "{per_service} bytes per service");
    assert!(blocks <= 12, "{blocks} heap blocks per service");
}
