//! cache and loadbalance as a client sees them: the built binary on loopback, asked with dig,
//! its metrics scraped over HTTP.

use std::time::Duration;

use signpost_tests::{ClusterDns, example_cluster, free_port, http_get};

const WEB: &str = "web.prod.svc.cluster.local";
const NOPE: &str = "nope.prod.svc.cluster.local";

fn start(cache: &str) -> (ClusterDns, u16) {
    let metrics = free_port();
    let corefile = format!(
        ".:{{PORT}} {{\n    prometheus 127.0.0.1:{metrics}\n    {cache}\n    kubernetes cluster.local {{\n        ttl 30\n    }}\n    loadbalance\n}}\n"
    );
    (ClusterDns::start(&corefile, &example_cluster()), metrics)
}

/// The value of the first sample of `family` whose labels include every `want` pair.
fn sample(metrics: &str, family: &str, want: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .find(|l| want.iter().all(|w| l.contains(w)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn answer_ttl(server: &ClusterDns, name: &str) -> u32 {
    let r = server.dig(&[name, "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    r.answer[0].ttl
}

fn denial_ttl(server: &ClusterDns, name: &str) -> u32 {
    let r = server.dig(&[name, "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
    assert_eq!(r.authority[0].rtype, "SOA", "{}", r.raw);
    r.authority[0].ttl
}

#[test]
fn cached_ttls_count_down_and_denials_take_the_soa_ttl() {
    let (server, metrics_port) = start("cache");
    assert_eq!(answer_ttl(&server, WEB), 30);
    // The kubernetes SOA says 30 s; the denial cache (at most 1800 s) keeps it 30 s.
    assert_eq!(denial_ttl(&server, NOPE), 30);
    std::thread::sleep(Duration::from_millis(2100));
    let later = answer_ttl(&server, WEB);
    assert!((26..=28).contains(&later), "TTL {later} after 2 s");
    let denial = denial_ttl(&server, NOPE);
    assert!((26..=28).contains(&denial), "denial TTL {denial} after 2 s");
    // The client's casing and ID come back on a cached answer.
    let upper = server.dig(&["WEB.Prod.svc.cluster.local", "A", "+question"]);
    assert!(
        upper.raw.contains(";WEB.Prod.svc.cluster.local."),
        "{}",
        upper.raw
    );
    assert!(upper.has_flag("aa"));

    let (status, metrics) = http_get(metrics_port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let s = format!("server=\"dns://:{}\"", server.port);
    let plain = [s.as_str(), "zones=\".\"", "view=\"\""];
    let typed = |t: &'static str| [s.as_str(), "zones=\".\"", "view=\"\"", t];
    let success = typed("type=\"success\"");
    let denial = typed("type=\"denial\"");
    // Six queries: the start-up probe (dns-version TXT, a miss) and the five above.
    assert_eq!(
        sample(&metrics, "coredns_cache_requests_total", &plain),
        Some(6.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "coredns_cache_misses_total", &plain),
        Some(3.0)
    );
    assert_eq!(
        sample(&metrics, "coredns_cache_hits_total", &success),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, "coredns_cache_hits_total", &denial),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "coredns_cache_entries", &success),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, "coredns_cache_entries", &denial),
        Some(1.0)
    );
    for family in [
        "coredns_cache_drops_total",
        "coredns_cache_prefetch_total",
        "coredns_cache_served_stale_total",
    ] {
        assert_eq!(sample(&metrics, family, &plain), Some(0.0), "{family}");
    }
    assert_eq!(
        sample(&metrics, "coredns_cache_evictions_total", &success),
        Some(0.0)
    );
    // A cache hit is answered by the cache plugin, as CoreDNS's responses count it.
    let hit = [s.as_str(), "rcode=\"NOERROR\"", "plugin=\"cache\""];
    assert_eq!(
        sample(&metrics, "coredns_dns_responses_total", &hit),
        Some(2.0)
    );
}

#[test]
fn disable_success_bypasses_the_success_cache_only() {
    let (server, _) = start("cache {\n        disable success cluster.local\n    }");
    assert_eq!(answer_ttl(&server, WEB), 30);
    denial_ttl(&server, NOPE);
    std::thread::sleep(Duration::from_millis(1100));
    // Answered afresh by kubernetes each time: the full TTL.
    assert_eq!(answer_ttl(&server, WEB), 30);
    // Denials are still cached: counting down.
    assert!(denial_ttl(&server, NOPE) < 30);
}

#[test]
fn loadbalance_rotates_addresses() {
    let (server, _) = start("cache");
    let mut orders = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let r = server.dig(&["db.prod.svc.cluster.local", "A"]);
        assert!(r.answer.len() >= 2, "{}", r.raw);
        let order: Vec<String> = r.answer.iter().map(|a| a.rdata.clone()).collect();
        orders.insert(order);
    }
    assert!(orders.len() >= 2, "always {orders:?}");
}
