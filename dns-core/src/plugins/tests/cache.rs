//! The cache: setup (every option, errors with their place), the pure policy with the clock
//! given as a value, and the chain (a cached answer outlives a change behind it until its TTL
//! runs out). Also loadbalance's setup and order.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, MX, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{ask, no_env, router, router_over};
use crate::cluster::SnapshotStore;
use crate::cluster::model::{Change, ObjectKey};
use crate::cluster::testdata::example_cluster;
use crate::corefile::parse_str;
use crate::plugin::chain::{Router, Served};
use crate::plugins::cache::policy::*;
use crate::plugins::cache::store::{KeyHasher, Store, Stored};
use crate::plugins::cache::{self, CacheConfig};
use crate::plugins::loadbalance;
use crate::wire::{Handler, RequestInfo, Transport};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn setup(block: &str) -> Result<CacheConfig, String> {
    let src = format!("cluster.local:53 example.test:53 {{\n  cache {block}\n}}\n");
    let c = parse_str(&src, "Corefile", &no_env).map_err(|e| e.to_string())?;
    let zones: Vec<Name> = c.blocks[0].keys.iter().map(|k| k.zone.clone()).collect();
    cache::parse(&c.blocks[0].directives[0], &zones).map_err(|e| e.to_string())
}

#[test]
fn cache_defaults_are_coredns_defaults() {
    let c = setup("").unwrap();
    assert_eq!(c.zones_label(), "cluster.local.,example.test.");
    assert_eq!(
        (c.success.bounds, c.denial.bounds),
        (Bounds { max: 3600, min: 5 }, Bounds { max: 1800, min: 5 })
    );
    assert_eq!(effective_capacity(c.success.capacity), 9984);
    assert_eq!(effective_capacity(c.denial.capacity), 9984);
    assert_eq!(c.servfail, Duration::from_secs(5));
    assert!(c.prefetch.is_none() && c.serve_stale.is_none() && !c.keepttl);
}

#[test]
fn cache_every_option() {
    let c = setup(
        "300 example.test {\n success 5000 600 10\n denial 2500 60 1\n prefetch 3 30s 20%\n \
         serve_stale 2h verify\n servfail 10s\n disable success sub.example.test\n disable denial\n keepttl\n }",
    )
    .unwrap();
    assert_eq!(c.zones, [name("example.test.")]);
    assert_eq!(c.success.capacity, 5000);
    assert_eq!(effective_capacity(5000), 4864);
    assert_eq!(c.success.bounds, Bounds { max: 600, min: 10 });
    assert_eq!(c.denial.bounds, Bounds { max: 60, min: 1 });
    assert_eq!(
        c.prefetch,
        Some(Prefetch {
            amount: 3,
            window: Duration::from_secs(30),
            percentage: 20
        })
    );
    let stale = c.serve_stale.unwrap();
    assert_eq!(
        (stale.up_to, stale.verify),
        (Duration::from_secs(7200), true)
    );
    assert_eq!(c.servfail, Duration::from_secs(10));
    assert_eq!(c.disable_success, [name("sub.example.test.")]);
    assert_eq!(c.disable_denial, [Name::root()]);
    assert!(c.keepttl);

    // A TTL alone caps both caches; serve_stale alone is an hour, immediate.
    let c = setup("30 {\n serve_stale\n prefetch 2\n }").unwrap();
    assert_eq!((c.success.bounds.max, c.denial.bounds.max), (30, 30));
    let stale = c.serve_stale.unwrap();
    assert_eq!(
        (stale.up_to, stale.verify),
        (Duration::from_secs(3600), false)
    );
    assert_eq!(
        (stale.verify_timeout, stale.response_ttl),
        (Duration::ZERO, 0)
    );
    // RESPONSE_TTL follows immediate, VERIFY_TIMEOUT then RESPONSE_TTL follow verify.
    let forms = [
        ("1h immediate 30s", false, 0, 30),
        ("1h immediate 30s 0s", false, 0, 30),
        ("1h verify 100ms", true, 100, 0),
        ("1h verify 0 30s", true, 0, 30),
        ("1h VERIFY 100ms 1m 0", true, 100, 60),
    ];
    for (args, verify, timeout_ms, ttl) in forms {
        let stale = setup(&format!("{{\n serve_stale {args}\n }}"))
            .unwrap()
            .serve_stale
            .unwrap();
        assert_eq!(
            (stale.verify, stale.verify_timeout, stale.response_ttl),
            (verify, Duration::from_millis(timeout_ms), ttl),
            "{args}"
        );
    }
    // FAILURE_RECHECK ends either form.
    for (args, recheck) in [
        ("1h immediate 30s 30s", 30),
        ("1h verify 100ms 30s 5m", 300),
    ] {
        let stale = setup(&format!("{{\n serve_stale {args}\n }}"))
            .unwrap()
            .serve_stale
            .unwrap();
        assert_eq!(
            stale.failure_recheck,
            Duration::from_secs(recheck),
            "{args}"
        );
    }
    let p = c.prefetch.unwrap();
    assert_eq!((p.window, p.percentage), (Duration::from_secs(60), 10));
    // prefetch 0 is off.
    assert!(setup("{\n prefetch 0\n }").unwrap().prefetch.is_none());
    assert_eq!(effective_capacity(10), 1024);
}

#[test]
fn cache_errors_name_the_line() {
    let cases = [
        (
            "0",
            "Corefile:2:9: cache: cache TTL can not be zero or negative: 0",
        ),
        (
            "-5",
            "Corefile:2:9: cache: cache TTL can not be zero or negative: -5",
        ),
        (
            "{\n success\n }",
            "Corefile:3:2: cache: success needs CAPACITY",
        ),
        (
            "{\n success many\n }",
            "Corefile:3:10: cache: capacity must be an integer",
        ),
        (
            "{\n denial 100 0\n }",
            "Corefile:3:13: cache: cache TTL can not be zero or negative: 0",
        ),
        (
            "{\n denial 100 10 -1\n }",
            "Corefile:3:16: cache: cache min TTL can not be negative: -1",
        ),
        (
            "{\n prefetch -1\n }",
            "Corefile:3:11: cache: prefetch amount should be positive: -1",
        ),
        (
            "{\n prefetch 2 1m 5%\n }",
            "Corefile:3:16: cache: percentage should fall in range [10, 90]",
        ),
        (
            "{\n prefetch 2 1m 50\n }",
            "Corefile:3:16: cache: percentage must end in '%'",
        ),
        (
            "{\n prefetch 2 soon\n }",
            "Corefile:3:13: cache: invalid duration",
        ),
        (
            "{\n serve_stale 1h later\n }",
            "Corefile:3:17: cache: invalid value for serve_stale refresh mode: later",
        ),
        (
            "{\n serve_stale 1h immediate 1.5s\n }",
            "Corefile:3:27: cache: serve_stale response TTL must be a whole number of seconds",
        ),
        (
            "{\n serve_stale 1h immediate soon\n }",
            "Corefile:3:27: cache: invalid serve_stale response TTL: \"soon\"",
        ),
        (
            "{\n serve_stale 1h immediate 5000000000s\n }",
            "Corefile:3:27: cache: serve_stale response TTL exceeds the DNS TTL range",
        ),
        (
            "{\n serve_stale 1h verify -1s\n }",
            "Corefile:3:24: cache: invalid serve_stale verify timeout",
        ),
        (
            "{\n serve_stale 1h immediate 30s 6m\n }",
            "Corefile:3:31: cache: serve_stale failure recheck cannot exceed 5 minutes",
        ),
        (
            "{\n serve_stale 1h immediate 30s 0 1\n }",
            "Corefile:3:33: cache: serve_stale immediate takes at most",
        ),
        (
            "{\n serve_stale 1h verify 1s 30s 0 1\n }",
            "Corefile:3:33: cache: serve_stale takes at most 5 arguments",
        ),
        (
            "{\n servfail 6m\n }",
            "Corefile:3:11: cache: caching SERVFAIL responses over 5 minutes is not permitted",
        ),
        (
            "{\n servfail\n }",
            "Corefile:3:2: cache: servfail needs exactly argument",
        ),
        (
            "{\n disable everything\n }",
            "Corefile:3:10: cache: cache type for disable must be \"success\" or \"denial\"",
        ),
        ("{\n disable\n }", "Corefile:3:2: cache: disable needs"),
        (
            "{\n keepttl 5\n }",
            "Corefile:3:2: cache: keepttl needs exactly 0",
        ),
        (
            "{\n serve_stale_policy prefer_negative\n }",
            "Corefile:3:21: cache: invalid serve_stale_policy \"prefer_negative\": prefer_positive is the one policy",
        ),
        (
            "{\n serve_stale_policy\n }",
            "Corefile:3:2: cache: serve_stale_policy needs exactly",
        ),
        (
            "{\n frobnicate\n }",
            "Corefile:3:2: cache: unknown property \"frobnicate\"",
        ),
    ];
    for (block, want) in cases {
        let got = setup(block).unwrap_err();
        assert!(got.starts_with(want), "{block:?}: {got}");
    }
}

fn query(qname: &str, qtype: RecordType) -> Message {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.queries.push(Query::query(name(qname), qtype));
    m
}

fn a(owner: &str, ttl: u32, last: u8) -> Record {
    Record::from_rdata(
        name(owner),
        ttl,
        RData::A(A(Ipv4Addr::new(198, 18, 0, last))),
    )
}

fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
}

fn soa(ttl: u32, minimum: u32) -> Record {
    let data = SOA::new(
        name("ns.example.test."),
        name("hostmaster.example.test."),
        1,
        7200,
        1800,
        86400,
        minimum,
    );
    Record::from_rdata(name("example.test."), ttl, RData::SOA(data))
}

fn response(
    qname: &str,
    qtype: RecordType,
    rcode: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
) -> Message {
    let mut m = crate::wire::reply_to(&query(qname, qtype), rcode);
    m.metadata.message_type = MessageType::Response;
    m.answers = answers;
    m.authorities = authorities;
    m
}

const SUCCESS: Bounds = Bounds { max: 3600, min: 5 };
const DENIAL: Bounds = Bounds { max: 1800, min: 5 };
const SERVFAIL: Duration = Duration::from_secs(5);

/// RFC 2308: what is cached, in which cache, and for how long.
#[test]
fn classify_and_lifetime() {
    use RecordType::{A as TA, AAAA};
    use ResponseCode::{NXDomain, NoError, Refused, ServFail};
    let q = "www.example.test.";
    let cases: Vec<(&str, Message, Option<Kind>, u32)> = vec![
        (
            "answer: smallest TTL",
            response(q, TA, NoError, vec![a(q, 60, 1), a(q, 30, 2)], vec![]),
            Some(Kind::Success),
            30,
        ),
        (
            "answer under the minimum is floored",
            response(q, TA, NoError, vec![a(q, 1, 1)], vec![]),
            Some(Kind::Success),
            5,
        ),
        (
            "answer over the maximum is capped",
            response(q, TA, NoError, vec![a(q, 86400, 1)], vec![]),
            Some(Kind::Success),
            3600,
        ),
        (
            "NXDOMAIN: the SOA's MINIMUM bounds its TTL",
            response(q, TA, NXDomain, vec![], vec![soa(3600, 45)]),
            Some(Kind::NameError),
            45,
        ),
        (
            "NXDOMAIN: the SOA's TTL when smaller",
            response(q, TA, NXDomain, vec![], vec![soa(20, 600)]),
            Some(Kind::NameError),
            20,
        ),
        (
            "NXDOMAIN: denial maximum",
            response(q, TA, NXDomain, vec![], vec![soa(86400, 86400)]),
            Some(Kind::NameError),
            1800,
        ),
        (
            "NXDOMAIN without SOA is not cached",
            response(q, TA, NXDomain, vec![], vec![]),
            None,
            0,
        ),
        (
            "NXDOMAIN with an answer is not cached",
            response(
                q,
                TA,
                NXDomain,
                vec![cname(q, "gone.example.test.")],
                vec![soa(60, 60)],
            ),
            None,
            0,
        ),
        (
            "NODATA",
            response(q, AAAA, NoError, vec![], vec![soa(60, 30)]),
            Some(Kind::NoData),
            30,
        ),
        (
            "CNAME chain ending without the type, with SOA: NODATA",
            response(
                q,
                AAAA,
                NoError,
                vec![
                    cname(q, "edge.example.test."),
                    a("edge.example.test.", 60, 3),
                ],
                vec![soa(60, 40)],
            ),
            Some(Kind::NoData),
            40,
        ),
        (
            "CNAME chain ending without the type, no SOA: not cached",
            response(
                q,
                AAAA,
                NoError,
                vec![cname(q, "edge.example.test.")],
                vec![],
            ),
            None,
            0,
        ),
        (
            "CNAME chain to the type: success",
            response(
                q,
                TA,
                NoError,
                vec![
                    cname(q, "edge.example.test."),
                    a("edge.example.test.", 60, 3),
                ],
                vec![],
            ),
            Some(Kind::Success),
            60,
        ),
        (
            "CNAME loop: not an answer",
            response(
                q,
                TA,
                NoError,
                vec![cname(q, "b.example.test."), cname("b.example.test.", q)],
                vec![],
            ),
            None,
            0,
        ),
        (
            "SERVFAIL: the servfail duration",
            response(q, TA, ServFail, vec![], vec![]),
            Some(Kind::ServerError),
            5,
        ),
        (
            "REFUSED is never cached",
            response(q, TA, Refused, vec![], vec![]),
            None,
            0,
        ),
        (
            "empty NOERROR: 5 s fail safe",
            response(q, TA, NoError, vec![], vec![]),
            Some(Kind::Success),
            5,
        ),
        (
            "delegation: 5 s",
            response(
                q,
                TA,
                NoError,
                vec![],
                vec![Record::from_rdata(
                    name("example.test."),
                    86400,
                    RData::NS(NS(name("ns.example.test."))),
                )],
            ),
            Some(Kind::Delegation),
            5,
        ),
        (
            "zone transfers are never cached",
            response(q, RecordType::AXFR, NoError, vec![soa(60, 60)], vec![]),
            None,
            0,
        ),
    ];
    for (what, m, kind, ttl) in cases {
        assert_eq!(classify(&m), kind, "{what}");
        if let Some(k) = kind {
            let bounds = if k.is_denial() { DENIAL } else { SUCCESS };
            assert_eq!(lifetime(&m, k, bounds, SERVFAIL), ttl, "{what}");
        }
    }
    let mut truncated = response(q, TA, NoError, vec![a(q, 60, 1)], vec![]);
    truncated.metadata.truncation = true;
    assert_eq!(classify(&truncated), None);
    let fail = response(q, TA, ServFail, vec![], vec![]);
    assert_eq!(
        lifetime(&fail, Kind::ServerError, SUCCESS, Duration::ZERO),
        0
    );
}

#[test]
fn key_lowercases_the_name_and_keeps_do_and_cd() {
    let mut upper = query("WWW.Example.TEST.", RecordType::A);
    let lower = query("www.example.test.", RecordType::A);
    assert_eq!(key(&upper), key(&lower));
    assert_eq!(
        key(&upper).unwrap().name.as_slice(),
        b"\x03www\x07example\x04test"
    );
    // The same labels split differently are another name.
    assert_ne!(
        key(&query("a.bc.", RecordType::A)),
        key(&query("ab.c.", RecordType::A))
    );
    upper.metadata.checking_disabled = true;
    assert_ne!(key(&upper), key(&lower));
    let mut with_do = lower.clone();
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    with_do.edns = Some(edns);
    assert!(key(&with_do).unwrap().dnssec_ok);
    assert_ne!(key(&with_do), key(&lower));
    assert_ne!(
        key(&query("www.example.test.", RecordType::AAAA)),
        key(&lower)
    );
}

/// A store's key for the n-th name; the tests choose the hashes, so they choose the shards.
fn store_key(n: u32) -> Key {
    key(&query(&format!("n{n}.example.test."), RecordType::A)).unwrap()
}

/// What `store` holds under `key`, as a hit reads it.
fn stored(store: &Store<u32>, hash: u64, key: &Key) -> Option<Arc<u32>> {
    store.read(hash).get(hash, key).cloned()
}

/// Hash `n` in shard `shard` (bits 32 to 39 pick it).
fn in_shard(shard: u64, n: u32) -> u64 {
    (shard << 32) | u64::from(n)
}

#[test]
fn a_store_holds_its_capacity_in_256_shards() {
    // 1024 entries: 4 per shard.
    let store = Store::<u32>::new(effective_capacity(1000));
    let never = |_: &u32| false;
    for n in 0..4 {
        let stored = store.insert(in_shard(7, n), store_key(n), Arc::new(n), never);
        assert_eq!(stored, Stored::Added);
    }
    // Another shard has room of its own.
    assert_eq!(
        store.insert(in_shard(8, 9), store_key(9), Arc::new(9), never),
        Stored::Added
    );
    // The same key again replaces its value.
    assert_eq!(
        store.insert(in_shard(7, 2), store_key(2), Arc::new(20), never),
        Stored::Replaced
    );
    assert_eq!(
        stored(&store, in_shard(7, 2), &store_key(2)).as_deref(),
        Some(&20)
    );
    assert_eq!(store.len(), 5);
    // A new key in the full shard drops one of the four for it.
    assert_eq!(
        store.insert(in_shard(7, 4), store_key(4), Arc::new(4), never),
        Stored::Evicted
    );
    assert_eq!(store.len(), 5);
    assert_eq!(
        stored(&store, in_shard(7, 4), &store_key(4)).as_deref(),
        Some(&4)
    );
    let left = (0..4)
        .filter(|&n| stored(&store, in_shard(7, n), &store_key(n)).is_some())
        .count();
    assert_eq!(left, 3);
    // Filling every shard never holds more than the capacity.
    for n in 100..5000 {
        store.insert(
            u64::from(n) << 32 | u64::from(n),
            store_key(n),
            Arc::new(n),
            never,
        );
    }
    assert_eq!(store.len(), 1024);
}

#[test]
fn a_full_shard_drops_an_entry_it_can_no_longer_serve_first() {
    let store = Store::<u32>::new(effective_capacity(1024));
    for n in 0..4 {
        store.insert(in_shard(3, n), store_key(n), Arc::new(n), |_| false);
    }
    // Entry 2 is past its time: it makes the room, whatever the shard's order.
    let dead = |v: &u32| *v == 2;
    assert_eq!(
        store.insert(in_shard(3, 10), store_key(10), Arc::new(10), dead),
        Stored::Evicted
    );
    assert_eq!(stored(&store, in_shard(3, 2), &store_key(2)), None);
    for n in [0, 1, 3, 10] {
        assert!(
            stored(&store, in_shard(3, n), &store_key(n)).is_some(),
            "{n}"
        );
    }
}

#[test]
fn a_shard_read_is_the_shard_as_published_when_read() {
    let store = Store::<u32>::new(effective_capacity(1024));
    store.insert(in_shard(1, 1), store_key(1), Arc::new(1), |_| false);
    let before = store.read(in_shard(1, 0));
    store.insert(in_shard(1, 2), store_key(2), Arc::new(2), |_| false);
    store.insert(in_shard(1, 1), store_key(1), Arc::new(10), |_| false);
    // The guard held for an answer sees one consistent shard, not a change half made.
    assert_eq!(
        before.get(in_shard(1, 1), &store_key(1)).map(|v| **v),
        Some(1)
    );
    assert!(before.get(in_shard(1, 2), &store_key(2)).is_none());
    let after = store.read(in_shard(1, 0));
    assert_eq!(
        after.get(in_shard(1, 1), &store_key(1)).map(|v| **v),
        Some(10)
    );
    assert_eq!(
        after.get(in_shard(1, 2), &store_key(2)).map(|v| **v),
        Some(2)
    );
}

#[test]
fn a_store_finds_by_key_not_by_hash_alone() {
    let store = Store::<u32>::new(effective_capacity(1024));
    // Two keys under one hash (a collision): each finds its own value.
    store.insert(5, store_key(1), Arc::new(1), |_| false);
    store.insert(5, store_key(2), Arc::new(2), |_| false);
    assert_eq!(stored(&store, 5, &store_key(1)).as_deref(), Some(&1));
    assert_eq!(stored(&store, 5, &store_key(2)).as_deref(), Some(&2));
    assert_eq!(stored(&store, 5, &store_key(3)), None);
    assert!(store.remove(5, &store_key(1)));
    assert!(!store.remove(5, &store_key(1)));
    assert_eq!(stored(&store, 5, &store_key(1)), None);
    assert_eq!(stored(&store, 5, &store_key(2)).as_deref(), Some(&2));
    assert!(!store.is_empty());
    // A real hasher: one key, one hash, whatever its case.
    let hasher = KeyHasher::default();
    let upper = key(&query("N1.EXAMPLE.test.", RecordType::A)).unwrap();
    assert_eq!(hasher.hash(&upper), hasher.hash(&store_key(1)));
}

/// TTLs count down in whole seconds from when the entry was stored; never 0 while fresh.
#[test]
fn served_ttl_counts_down() {
    let t0 = Instant::now();
    let q = "www.example.test.";
    let m = response(
        q,
        RecordType::A,
        ResponseCode::NoError,
        vec![a(q, 30, 1)],
        vec![],
    );
    let entry = Entry::new(&m, 30, t0);
    let at = |s: f64| t0 + Duration::from_secs_f64(s);
    let cases = [
        (0.0, 30, true),
        (0.9, 30, true),
        (1.0, 29, true),
        (29.5, 1, true),
        (30.0, 0, false),
        (45.0, 0, false),
    ];
    for (secs, ttl, fresh) in cases {
        assert_eq!(served_ttl(&entry, at(secs), false), ttl, "at {secs}s");
        assert_eq!(entry.remaining(at(secs)) > 0, fresh, "at {secs}s");
        assert_eq!(
            entry.servable(at(secs), Duration::ZERO),
            fresh,
            "at {secs}s"
        );
        assert_eq!(served_ttl(&entry, at(secs), true), 30, "keepttl at {secs}s");
    }
    // serve_stale: servable for the window after expiry, not at its end.
    assert!(entry.servable(at(40.0), Duration::from_secs(60)));
    assert!(!entry.servable(at(90.0), Duration::from_secs(60)));

    // The reply is the client's: its ID and question casing; every TTL the remaining one.
    let mut client = query("WWW.example.TEST.", RecordType::A);
    client.metadata.id = 4242;
    let reply = entry.reply(&client, served_ttl(&entry, at(10.0), false));
    assert_eq!(reply.metadata.id, 4242);
    assert_eq!(reply.queries[0].name().to_ascii(), "WWW.example.TEST.");
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.answers[0].ttl, 20);
}

#[test]
fn ad_bit_only_for_clients_that_ask() {
    let q = "www.example.test.";
    let mut m = response(
        q,
        RecordType::A,
        ResponseCode::NoError,
        vec![a(q, 30, 1)],
        vec![],
    );
    m.metadata.authentic_data = true;
    let entry = Entry::new(&m, 30, Instant::now());
    let plain = query(q, RecordType::A);
    assert!(!entry.reply(&plain, 30).metadata.authentic_data);
    let mut ad = plain.clone();
    ad.metadata.authentic_data = true;
    assert!(entry.reply(&ad, 30).metadata.authentic_data);
}

#[test]
fn prefetch_needs_popularity_and_little_time_left() {
    let t0 = Instant::now();
    let p = Prefetch {
        amount: 3,
        window: Duration::from_secs(60),
        percentage: 10,
    };
    let mut f = Freq::default();
    assert_eq!(f.update(p.window, t0), 1);
    assert_eq!(f.update(p.window, t0 + Duration::from_secs(30)), 2);
    assert_eq!(f.update(p.window, t0 + Duration::from_secs(60)), 3);
    // A gap longer than the window starts over.
    assert_eq!(f.update(p.window, t0 + Duration::from_secs(200)), 1);
    // (hits, ttl, remaining) -> prefetch?
    let cases = [
        (3, 100, 10, true),
        (3, 100, 11, false),
        (2, 100, 5, false),
        (5, 5, 1, true), // at least the last second
        (5, 5, 2, false),
        (5, 15, 2, true), // ceil(1.5)
    ];
    for (hits, ttl, remaining, want) in cases {
        assert_eq!(
            should_prefetch(&p, hits, ttl, remaining),
            want,
            "{hits} hits, {remaining}/{ttl}"
        );
    }
}

#[test]
fn only_usable_answers_refresh_stale_entries() {
    let q = "www.example.test.";
    let request = query(q, RecordType::A);
    let ok = response(
        q,
        RecordType::A,
        ResponseCode::NoError,
        vec![a(q, 30, 1)],
        vec![],
    );
    let nx = response(
        q,
        RecordType::A,
        ResponseCode::NXDomain,
        vec![],
        vec![soa(30, 30)],
    );
    let fail = response(q, RecordType::A, ResponseCode::ServFail, vec![], vec![]);
    let other = response(
        "other.example.test.",
        RecordType::A,
        ResponseCode::NoError,
        vec![],
        vec![],
    );
    assert!(refreshes_stale(&request, &ok));
    assert!(refreshes_stale(&request, &nx));
    assert!(!refreshes_stale(&request, &fail));
    assert!(!refreshes_stale(&request, &other));
}

fn info() -> RequestInfo {
    RequestInfo {
        src: "127.0.0.1:1".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        transport: Transport::Udp,
        request_size: 0,
    }
}

async fn ask_type(r: &Router, qname: &str, qtype: RecordType) -> Message {
    r.handle(&query(qname, qtype), &info()).await.0
}

/// The router of `corefile` over the example cluster, and the store to change behind it.
fn chain_over_store(corefile: &str) -> (Router, Arc<SnapshotStore>) {
    let store = Arc::new(SnapshotStore::new());
    store.replace(example_cluster(), 1);
    (router_over(store.clone(), corefile), store)
}

/// The example cluster with prod/web's cluster IP moved to 198.18.0.`last`.
fn web_moved_to(last: u8) -> Vec<Change> {
    let mut changed = example_cluster();
    for change in &mut changed {
        if let Change::UpsertService(s) = change
            && s.name == "web"
        {
            s.cluster_ips = smallvec::smallvec![Ipv4Addr::new(198, 18, 0, last).into()];
        }
    }
    changed
}

fn web_key() -> ObjectKey {
    ObjectKey {
        namespace: "prod".into(),
        name: "web".into(),
    }
}

/// A cached answer survives a change behind the cache until its TTL runs out; the kubernetes
/// plugin is asked again only then.
#[tokio::test]
async fn cached_answer_survives_until_ttl_expiry() {
    let (r, store) = chain_over_store(
        ".:53 {\n kubernetes cluster.local {\n  ttl 30\n }\n cache {\n  success 1024 2 0\n  denial 1024 2 0\n }\n}\n",
    );
    let web = "web.prod.svc.cluster.local.";
    let first = ask_type(&r, web, RecordType::A).await;
    assert_eq!(first.answers.len(), 1);
    assert_eq!(first.answers[0].ttl, 2, "capped by success TTL");
    store.apply([Change::DeleteService(web_key())], 2);
    let cached = ask_type(&r, "WEB.prod.svc.cluster.local.", RecordType::A).await;
    assert_eq!(cached.answers.len(), 1, "served from the cache");
    assert_eq!(
        cached.queries[0].name().to_ascii(),
        "WEB.prod.svc.cluster.local."
    );
    assert!(cached.answers[0].ttl <= 2 && cached.answers[0].ttl >= 1);
    // AAAA was never asked: it is not cached and sees the change at once.
    let aaaa = ask_type(&r, web, RecordType::AAAA).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NXDomain);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let after = ask_type(&r, web, RecordType::A).await;
    assert_eq!(after.metadata.response_code, ResponseCode::NXDomain);
    // The denial is cached in turn: the service coming back is seen only after it expires.
    store.replace(example_cluster(), 3);
    let denied = ask_type(&r, web, RecordType::A).await;
    assert_eq!(denied.metadata.response_code, ResponseCode::NXDomain);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(ask_type(&r, web, RecordType::A).await.answers.len(), 1);
}

/// `disable success ZONE`: answers under the zone go to the backend every time.
#[tokio::test]
async fn disabled_zone_bypasses_the_cache() {
    let (r, store) = chain_over_store(
        ".:53 {\n kubernetes cluster.local\n cache {\n  disable success cluster.local\n }\n}\n",
    );
    let web = "web.prod.svc.cluster.local.";
    assert_eq!(ask_type(&r, web, RecordType::A).await.answers.len(), 1);
    store.apply([Change::DeleteService(web_key())], 2);
    let after = ask_type(&r, web, RecordType::A).await;
    assert_eq!(after.metadata.response_code, ResponseCode::NXDomain);
}

/// A chain whose cache (1 s success TTL, `serve_stale` as given) holds web's answer, now
/// expired, while the service has moved to another address behind it.
async fn expired_then_moved(serve_stale: &str) -> Router {
    let (r, store) = chain_over_store(&format!(
        ".:53 {{\n kubernetes cluster.local {{\n  ttl 30\n }}\n cache {{\n  success 1024 1 0\n  {serve_stale}\n }}\n}}\n"
    ));
    let web = "web.prod.svc.cluster.local.";
    assert_eq!(ask_type(&r, web, RecordType::A).await.answers.len(), 1);
    store.replace(web_moved_to(99), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    r
}

/// serve_stale: an expired entry is served (TTL 0) while the refresh runs in the background,
/// and the refresh's answer replaces it.
#[tokio::test]
async fn serve_stale_answers_then_refreshes() {
    let web = "web.prod.svc.cluster.local.";
    let r = expired_then_moved("serve_stale 1h").await;
    let stale = ask_type(&r, web, RecordType::A).await;
    assert_eq!(stale.answers.len(), 1);
    assert_eq!(stale.answers[0].ttl, 0, "stale answers carry TTL 0");
    assert_eq!(
        stale.answers[0].data,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 20)))
    );
    // The background refresh lands shortly after.
    let mut fresh = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let m = ask_type(&r, web, RecordType::A).await;
        if m.answers[0].ttl > 0 {
            fresh = Some(m);
            break;
        }
    }
    let fresh = fresh.expect("refreshed in the background");
    assert_eq!(
        fresh.answers[0].data,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 99)))
    );
}

/// serve_stale RESPONSE_TTL: stale answers carry it instead of 0; `verify` with a timeout
/// answers fresh data when the next plugin is quick.
#[tokio::test]
async fn serve_stale_response_ttl_and_verify_timeout() {
    let web = "web.prod.svc.cluster.local.";
    let r = expired_then_moved("serve_stale 1h immediate 30s").await;
    let stale = ask_type(&r, web, RecordType::A).await;
    assert_eq!(stale.answers[0].ttl, 30, "stale answers carry RESPONSE_TTL");
    assert_eq!(
        stale.answers[0].data,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 20)))
    );

    let r = expired_then_moved("serve_stale 1h verify 2s 30s").await;
    let verified = ask_type(&r, web, RecordType::A).await;
    assert_eq!(
        verified.answers[0].data,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 99))),
        "verify within the timeout serves the fresh answer"
    );
}

/// FAILURE_RECHECK: after a failed refresh, the stale entry is served without asking again
/// until the wait is over; with 0 (the default) the next stale query asks again at once.
#[tokio::test]
async fn serve_stale_failure_recheck_holds_off_refreshes() {
    let web = "web.prod.svc.cluster.local.";
    let setup = |recheck: &str| {
        // Not synced: a name the kubernetes plugin does not know is SERVFAIL (R-NOT-SYNCED),
        // a failed refresh.
        let store = Arc::new(SnapshotStore::new());
        store.apply(example_cluster(), 1);
        let corefile = format!(
            ".:53 {{\n kubernetes cluster.local {{\n  ttl 30\n }}\n cache {{\n  success 1024 1 0\n  serve_stale 1h immediate 0 {recheck}\n }}\n}}\n"
        );
        (router_over(store.clone(), &corefile), store)
    };
    let address = |m: &Message| m.answers[0].data.clone();
    let moved = RData::A(A(Ipv4Addr::new(198, 18, 0, 99)));
    for (recheck, held) in [("3s", true), ("0", false)] {
        let (r, store) = setup(recheck);
        assert_eq!(ask_type(&r, web, RecordType::A).await.answers.len(), 1);
        store.apply([Change::DeleteService(web_key())], 2);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Stale, and a refresh that fails (SERVFAIL) behind it.
        assert_eq!(ask_type(&r, web, RecordType::A).await.answers[0].ttl, 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.apply(web_moved_to(99), 3);
        // The next stale query asks again at once without FAILURE_RECHECK, not with it.
        ask_type(&r, web, RecordType::A).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let m = ask_type(&r, web, RecordType::A).await;
        assert_eq!(address(&m) != moved, held, "FAILURE_RECHECK {recheck}");
    }
}

/// `serve_stale_policy prefer_positive`: once the name is gone, the stale answer is still
/// served (verify and immediate alike), where without the policy the client gets NXDOMAIN.
#[tokio::test]
async fn prefer_positive_serves_the_last_answer_over_a_denial() {
    let web = "web.prod.svc.cluster.local.";
    for (stale, policy, kept) in [
        (
            "serve_stale 1h verify",
            "serve_stale_policy prefer_positive",
            true,
        ),
        ("serve_stale 1h verify", "", false),
        (
            "serve_stale 1h immediate",
            "serve_stale_policy prefer_positive",
            true,
        ),
        ("serve_stale 1h immediate", "", false),
    ] {
        let (r, store) = chain_over_store(&format!(
            ".:53 {{\n kubernetes cluster.local {{\n  ttl 30\n }}\n cache {{\n  success 1024 1 0\n  denial 1024 30 0\n  {stale}\n  {policy}\n }}\n}}\n"
        ));
        assert_eq!(ask_type(&r, web, RecordType::A).await.answers.len(), 1);
        store.apply([Change::DeleteService(web_key())], 2);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // immediate: the first stale answer is served either way; its refresh stores NXDOMAIN.
        ask_type(&r, web, RecordType::A).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let m = ask_type(&r, web, RecordType::A).await;
        assert_eq!(
            m.answers.len() == 1,
            kept,
            "{stale} {policy}: {:?}",
            m.metadata.response_code
        );
        if !kept {
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        }
    }
}

/// The chain runs in CoreDNS's order whatever the Corefile's: cache before kubernetes.
#[tokio::test]
async fn cache_runs_before_kubernetes_in_any_corefile_order() {
    let r = router(".:53 {\n kubernetes cluster.local\n cache\n loadbalance\n}\n");
    let web = query("web.prod.svc.cluster.local.", RecordType::A);
    // Chain order: loadbalance (0), cache (1), kubernetes (2).
    let (m, first) = r.handle(&web, &info()).await;
    assert_eq!(m.answers.len(), 1);
    assert!(matches!(
        first,
        Served::Block {
            plugin: Some(2),
            ..
        }
    ));
    let (m, second) = r.handle(&web, &info()).await;
    assert_eq!(m.answers.len(), 1);
    assert!(matches!(
        second,
        Served::Block {
            plugin: Some(1),
            ..
        }
    ));
    assert_eq!(
        ask(&r, "web.prod.svc.cluster.local.").await.answers.len(),
        1
    );
}

#[test]
fn loadbalance_setup() {
    let parse = |text: &str| {
        let c = parse_str(
            &format!(".:53 {{\n loadbalance {text}\n}}\n"),
            "Corefile",
            &no_env,
        )
        .unwrap();
        loadbalance::parse(&c.blocks[0].directives[0]).map_err(|e| e.to_string())
    };
    assert!(parse("").is_ok());
    assert!(parse("round_robin").is_ok());
    let cases = [
        (
            "random",
            "Corefile:2:14: loadbalance: unknown policy: random",
        ),
        (
            "round_robin x",
            "Corefile:2:26: loadbalance: unknown property for round_robin",
        ),
        (
            "{\n reload 10s\n }",
            "Corefile:3:2: loadbalance: unknown property \"reload\"",
        ),
    ];
    for (text, want) in cases {
        let got = parse(text).unwrap_err();
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

/// CNAMEs first, then other records, then the (shuffled) addresses, then MX.
#[test]
fn round_robin_keeps_cnames_first() {
    let mx = Record::from_rdata(
        name("example.test."),
        60,
        RData::MX(MX::new(10, name("mail.example.test."))),
    );
    let mut records = vec![
        a("edge.example.test.", 60, 1),
        mx.clone(),
        cname("www.example.test.", "edge.example.test."),
        a("edge.example.test.", 60, 2),
    ];
    // Reversal stands for the random permutation.
    loadbalance::round_robin(&mut records, |s| s.reverse());
    let types: Vec<RecordType> = records.iter().map(Record::record_type).collect();
    assert_eq!(
        types,
        [
            RecordType::CNAME,
            RecordType::A,
            RecordType::A,
            RecordType::MX
        ]
    );
    assert_eq!(records[1], a("edge.example.test.", 60, 2));
    let mut addresses = vec![a("x.", 1, 1), a("x.", 1, 2), a("x.", 1, 3)];
    loadbalance::round_robin(&mut addresses, |s| s.reverse());
    assert_eq!(addresses[0], a("x.", 1, 3));
}

/// Repeated answers for a name with several addresses come in more than one order.
#[tokio::test]
async fn loadbalance_rotates_headless_answers() {
    let r = router(".:53 {\n loadbalance\n kubernetes cluster.local\n}\n");
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..64 {
        let m = ask(&r, "db.prod.svc.cluster.local.").await;
        assert!(m.answers.len() >= 2);
        firsts.insert(format!("{:?}", m.answers[0].data));
    }
    assert!(firsts.len() >= 2, "{firsts:?}");
}

/// prefetch: a popular entry near the end of its life is refreshed in the background, so the
/// next client sees the new data before the old entry would have expired.
#[tokio::test]
async fn prefetch_refreshes_popular_entries_before_expiry() {
    let (r, store) = chain_over_store(
        ".:53 {\n kubernetes cluster.local {\n  ttl 30\n }\n cache {\n  success 1024 10 0\n  prefetch 1 1m 90%\n }\n}\n",
    );
    let web = "web.prod.svc.cluster.local.";
    assert_eq!(ask_type(&r, web, RecordType::A).await.answers.len(), 1);
    store.replace(web_moved_to(98), 2);
    // One hit with 10 of 10 s left is within 90%: served from the cache, refresh dispatched.
    let hit = ask_type(&r, web, RecordType::A).await;
    assert_eq!(
        hit.answers[0].data,
        RData::A(A(Ipv4Addr::new(198, 18, 0, 20)))
    );
    let mut refreshed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let m = ask_type(&r, web, RecordType::A).await;
        if m.answers[0].data == RData::A(A(Ipv4Addr::new(198, 18, 0, 98))) {
            refreshed = true;
            break;
        }
    }
    assert!(refreshed, "prefetch brought the new address before expiry");
}

/// A hit goes out as the encoding of the answer it stored, copied behind the client's own
/// question: the same bytes as that answer (within its first second), the records never
/// rebuilt. Only plugins that leave records alone may sit before the cache; behind any other
/// (`log`, `loadbalance`) the hit is a whole message again.
#[tokio::test]
async fn a_hit_copies_the_encoding_of_the_answer_it_stored() {
    use crate::server::respond;
    let encoded =
        ".:53 {\n errors\n prometheus 127.0.0.1:0\n cache 30\n kubernetes cluster.local\n}\n";
    let (r, _store) = chain_over_store(encoded);
    for (qname, qtype) in [
        ("web.prod.svc.cluster.local.", RecordType::A),
        ("_http._tcp.web.prod.svc.cluster.local.", RecordType::SRV),
        ("nope.prod.svc.cluster.local.", RecordType::A),
    ] {
        let mut q = query(qname, qtype);
        q.metadata.recursion_desired = true;
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        q.edns = Some(edns);
        let bytes = q.to_vec().unwrap();
        let (miss, _) = respond(&r, &bytes, &info()).await;
        let (_, prebuilt, _) = r.handle_encoded(&q, &info()).await;
        assert!(prebuilt.is_some(), "{qname}: a hit from its encoding");
        let (hit, _) = respond(&r, &bytes, &info()).await;
        assert_eq!(hit, miss, "{qname}");
    }
    for before in ["log", "nsid"] {
        let corefile = format!(".:53 {{\n {before}\n cache 30\n kubernetes cluster.local\n}}\n");
        let (r, _store) = chain_over_store(&corefile);
        let q = query("web.prod.svc.cluster.local.", RecordType::A);
        let _ = r.handle(&q, &info()).await;
        let (m, prebuilt, _) = r.handle_encoded(&q, &info()).await;
        assert!(prebuilt.is_none(), "behind {before}");
        assert_eq!(m.answers.len(), 1, "behind {before}");
    }
    // loadbalance takes the records out only when it has some to shuffle.
    let (r, _store) =
        chain_over_store(".:53 {\n loadbalance\n cache 30\n kubernetes cluster.local\n}\n");
    for (qname, encoded, answers) in [
        ("web.prod.svc.cluster.local.", true, 0),
        ("db.prod.svc.cluster.local.", false, 2),
    ] {
        let q = query(qname, RecordType::A);
        let _ = r.handle(&q, &info()).await;
        let (m, prebuilt, _) = r.handle_encoded(&q, &info()).await;
        assert_eq!(prebuilt.is_some(), encoded, "{qname}");
        assert_eq!(m.answers.len(), answers, "{qname}");
    }
}
