//! Watch mode under faults: the API server paused, killed and back; etcd compacted while
//! cluster-dns was not looking (re-list); no API at all at start; objects the model cannot use.
//! Its own test binary, so the faults do not disturb the conformance tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use signpost_tests::kube_fixtures::{
    cluster_ip_service_json, create_object, create_ready_pod, create_service_slice, delete_object,
    endpoint_slice_json, headless_service_json, write_unreachable_kubeconfig,
};
use signpost_tests::{
    ClusterDns, ControlPlane, DigResult, TempDir, free_port, http_get, sample, signal,
};
use tokio::sync::Mutex;

/// The tests stop, kill and compact what the others watch: one at a time.
static FAULTS: Mutex<()> = Mutex::const_new(());

const COREFILE: &str = "cluster.local:{PORT} in-addr.arpa:{PORT} ip6.arpa:{PORT} {
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig {KUBECONFIG}
    }
}
";

/// What the watch module logs when it keeps answering from its last state.
const SERVING_LAST_STATE: &str = "serving the last cluster state";
/// What it logs when a kind's watch failed and it lists that kind again.
const LISTING_AGAIN: &str = "listing again in";

/// The API server's message for a watch from a compacted resourceVersion (410 Gone).
const GONE: &str = "The resourceVersion for the provided watch is too old";

const WAIT: Duration = Duration::from_secs(30);

fn svc(name: &str, ns: &str) -> String {
    format!("{name}.{ns}.svc.cluster.local")
}

fn answers_a(r: &DigResult) -> bool {
    r.status.as_deref() == Some("NOERROR") && r.answer.iter().any(|rr| rr.rtype == "A")
}

fn nxdomain(r: &DigResult) -> bool {
    r.status.as_deref() == Some("NXDOMAIN")
}

/// The process is running (a dead child of ours stays a zombie until reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.trim_start().chars().next());
        state.is_some_and(|s| s != 'Z' && s != 'X')
    })
}

/// Asks for `name` A over UDP and TCP every 250 ms for `period`; every answer must be `want`.
fn keeps_answering(dns: &ClusterDns, name: &str, want: &[String], period: Duration) -> usize {
    let until = Instant::now() + period;
    let mut asked = 0;
    while Instant::now() < until {
        for transport in ["+notcp", "+tcp"] {
            let r = dns.dig(&[name, "A", transport, "+time=1", "+tries=1"]);
            assert_eq!(
                r.answers(),
                want,
                "{name} over {transport} ({asked} answers so far):\n{}\nserver log:\n{}",
                r.raw,
                dns.log()
            );
            asked += 1;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    asked
}

/// Waits for `text` in the server's log.
fn log_shows(dns: &ClusterDns, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !dns.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log within {timeout:?}:\n{}",
            dns.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How long the killed-API drill keeps the API server away: 5 s in `scripts/test`; the
/// minutes-long drill of docs/operations.md sets `SIGNPOST_DRILL_API_OUTAGE_SECONDS`.
fn outage() -> Duration {
    std::env::var("SIGNPOST_DRILL_API_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(5), Duration::from_secs)
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_then_killed_api_keeps_the_last_state_and_catches_up() {
    let _only = FAULTS.lock().await;
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let ns = cp.namespace("paused").await;
    cp.node("node-a").await;
    let _: Service = create_object(&client, &ns, cluster_ip_service_json("web")).await;
    let _: Service =
        create_object(&client, &ns, headless_service_json("db", &[("app", "db")])).await;
    create_ready_pod(
        &client,
        &ns,
        "db-0",
        &[("app", "db")],
        "node-a",
        &["198.19.1.10"],
    )
    .await;

    // The probes an operator watches: readiness and the snapshot age.
    let (ready, metrics) = (free_port(), free_port());
    let corefile = COREFILE.replace(
        "    kubernetes",
        &format!("    ready 127.0.0.1:{ready}\n    prometheus 127.0.0.1:{metrics}\n    kubernetes"),
    );
    let dns = ClusterDns::start_watching(&corefile, cp.kubeconfig());
    let web = svc("web", &ns);
    let db = svc("db", &ns);
    let web_answer = dns.dig_until(&[&web, "A"], WAIT, answers_a).answers();
    let db_answer = vec!["A 198.19.1.10".to_string()];
    let snapshot_age = || {
        let (_, body) = http_get(metrics, "/metrics").expect("metrics");
        sample(&body, "signpost_kubernetes_snapshot_age_seconds", &[]).expect("snapshot age")
    };
    dns.dig_until(&[&db, "A"], WAIT, |r| r.answers() == db_answer);

    cp.pause_apiserver();
    let asked = keeps_answering(&dns, &web, &web_answer, Duration::from_millis(1500))
        + keeps_answering(&dns, &db, &db_answer, Duration::from_millis(1500));
    assert!(
        alive(dns.pid()),
        "cluster-dns died while the API was paused"
    );
    cp.resume_apiserver();
    eprintln!("paused API: {asked} answers, all from the last state");

    cp.kill_apiserver();
    let killed = Instant::now();
    let half = outage() / 2;
    let asked = keeps_answering(&dns, &web, &web_answer, half)
        + keeps_answering(&dns, &db, &db_answer, half);
    assert!(alive(dns.pid()), "cluster-dns died while the API was gone");
    log_shows(&dns, SERVING_LAST_STATE, Duration::from_secs(5));
    let age = snapshot_age();
    assert!(age > 0.0, "snapshot age {age} with the API gone");
    assert_eq!(
        http_get(ready, "/ready").map(|(status, _)| status),
        Some(200),
        "readiness must stay while the last state answers"
    );
    eprintln!(
        "killed API: {asked} answers over {:.1?}, all from the last state; /ready 200, \
         snapshot age {age} s",
        killed.elapsed()
    );

    let began = Instant::now();
    cp.start_apiserver();
    let restarted = began.elapsed();
    let _: Service = create_object(&client, &ns, cluster_ip_service_json("fresh")).await;
    delete_object::<Service>(&client, &ns, "web").await;
    let written = Instant::now();
    let fresh = svc("fresh", &ns);
    dns.dig_until(&[&fresh, "A"], WAIT, answers_a);
    dns.dig_until(&[&web, "A"], WAIT, nxdomain);
    dns.dig_until(&[&db, "A"], WAIT, |r| r.answers() == db_answer);
    eprintln!(
        "catch-up after the API came back: apiserver ready in {restarted:.1?}, then \
         writes -> answers in {:.1?} ({:.1?} after the kill)",
        written.elapsed(),
        killed.elapsed()
    );
    log_shows(
        &dns,
        "Kubernetes API reachable again",
        Duration::from_secs(5),
    );
    // The probe runs every 2 s: the age is back to 0 within a few.
    let deadline = Instant::now() + Duration::from_secs(10);
    while snapshot_age() > 0.0 {
        assert!(Instant::now() < deadline, "the snapshot age stayed above 0");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_behind_an_etcd_compaction_lists_again_and_ends_with_the_new_state() {
    let _only = FAULTS.lock().await;
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let ns = cp.namespace("compacted").await;
    for name in ["steady", "doomed"] {
        let _: Service = create_object(&client, &ns, cluster_ip_service_json(name)).await;
    }
    create_service_slice(&client, &ns, "steady", "steady-1", &["198.19.3.10"]).await;
    // A headless service whose slice changes while cluster-dns is not looking: the re-list
    // must take the new slice, not keep the one it holds.
    let _: Service = create_object(&client, &ns, headless_service_json("moved", &[])).await;
    create_service_slice(&client, &ns, "moved", "moved-1", &["198.19.3.11"]).await;

    let metrics = free_port();
    let corefile = COREFILE.replace(
        "    kubernetes",
        &format!("    prometheus 127.0.0.1:{metrics}\n    kubernetes"),
    );
    let dns = ClusterDns::start_watching(&corefile, cp.kubeconfig());
    let steady = svc("steady", &ns);
    let doomed = svc("doomed", &ns);
    let steady_answer = dns.dig_until(&[&steady, "A"], WAIT, answers_a).answers();
    dns.dig_until(&[&doomed, "A"], WAIT, answers_a);
    let moved = svc("moved", &ns);
    let moved_before = vec!["A 198.19.3.11".to_string()];
    dns.dig_until(&[&moved, "A"], WAIT, |r| r.answers() == moved_before);
    let log_before = dns.log().len();
    let lists_before = lists_by_kind(metrics);

    // cluster-dns stops reading, and its watch connections go with the API server; the cluster
    // changes on the new API server; etcd forgets the history. Woken, the watches end (EOF),
    // kube-rs watches again from the last resourceVersion they saw, the API server answers
    // 410 Gone, and cluster-dns lists again. (Were the changes made before the kill, they would
    // wait in cluster-dns's socket buffers and arrive as ordinary events.)
    signal(dns.pid(), libc::SIGSTOP);
    cp.kill_apiserver();
    cp.start_apiserver();
    delete_object::<Service>(&client, &ns, "doomed").await;
    delete_object::<EndpointSlice>(&client, &ns, "moved-1").await;
    create_service_slice(&client, &ns, "moved", "moved-1", &["198.19.3.12"]).await;
    let born = ["born-0", "born-1", "born-2"];
    for name in born {
        let _: Service = create_object(&client, &ns, cluster_ip_service_json(name)).await;
    }
    let _: Service = create_object(&client, &ns, headless_service_json("born-headless", &[])).await;
    create_service_slice(
        &client,
        &ns,
        "born-headless",
        "born-headless-1",
        &["198.19.3.20"],
    )
    .await;
    cp.compact_etcd();
    signal(dns.pid(), libc::SIGCONT);
    let resumed = Instant::now();

    // The unchanged service must answer the whole time cluster-dns catches up.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let port = dns.port;
        let steady = steady.clone();
        let want = steady_answer.clone();
        std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut asked = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = signpost_tests::dig(port, &[&steady, "A", "+time=1", "+tries=1"]);
                asked += 1;
                if r.answers() != want {
                    bad.push(r.raw);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (asked, bad)
        })
    };

    for name in born {
        dns.dig_until(&[&svc(name, &ns), "A"], WAIT, answers_a);
    }
    dns.dig_until(&[&doomed, "A"], WAIT, nxdomain);
    let headless = vec!["A 198.19.3.20".to_string()];
    dns.dig_until(&[&svc("born-headless", &ns), "A"], WAIT, |r| {
        r.answers() == headless
    });
    let moved_after = vec!["A 198.19.3.12".to_string()];
    dns.dig_until(&[&moved, "A"], WAIT, |r| r.answers() == moved_after);
    let caught_up = resumed.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (asked, bad) = sampler.join().expect("sampler");
    assert!(
        bad.is_empty(),
        "{} of {asked} answers for {steady} were not {steady_answer:?}; first:\n{}",
        bad.len(),
        bad[0]
    );

    let log = dns.log()[log_before..].to_string();
    let gone = log
        .lines()
        .find(|l| l.contains(GONE) && l.contains(LISTING_AGAIN))
        .unwrap_or_else(|| panic!("no 410 followed by a re-list in the log:\n{log}"));
    // One re-list per kind at most (a kind whose watch had reached the compacted revision
    // resumes without one), never a list storm.
    let lists_after = lists_by_kind(metrics);
    let relists: Vec<(String, u64)> = lists_after
        .iter()
        .map(|(kind, n)| {
            let before = lists_before
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(0, |(_, b)| *b);
            (kind.clone(), n - before)
        })
        .collect();
    assert!(
        relists.iter().all(|(_, n)| *n <= 1) && relists.iter().any(|(_, n)| *n == 1),
        "re-lists by kind after the compaction: {relists:?}\n{log}"
    );
    eprintln!(
        "after SIGCONT: new state in {caught_up:.1?}; {asked} answers for the unchanged \
         service, all correct; re-lists by kind {relists:?}; the log: {gone}"
    );
}

/// cluster-dns's own count of the lists it started, by kind (`signpost_kubernetes_lists_total`).
fn lists_by_kind(metrics: u16) -> Vec<(String, u64)> {
    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    body.lines()
        .filter_map(|l| l.strip_prefix("signpost_kubernetes_lists_total{kind=\""))
        .filter_map(|l| {
            let (kind, rest) = l.split_once('"')?;
            let n = rest.rsplit(' ').next()?.parse::<f64>().ok()?;
            Some((kind.to_string(), n as u64))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_at_start_serves_after_startup_timeout_with_servfail() {
    // No control plane: a kubeconfig naming a loopback port where nothing listens.
    let dir = TempDir::new("unreachable");
    let kubeconfig = dir.path().join("kubeconfig");
    let port = free_port();
    write_unreachable_kubeconfig(&kubeconfig, &format!("https://127.0.0.1:{port}"));
    let corefile = COREFILE.replace(
        "kubeconfig {KUBECONFIG}",
        "kubeconfig {KUBECONFIG}\n        startup_timeout 1s",
    );
    // Built (if need be) before the clock starts.
    signpost_tests::cluster_dns_binary();
    let began = Instant::now();
    let dns = ClusterDns::start_watching(&corefile, &kubeconfig);
    let took = began.elapsed();
    eprintln!("unreachable API: serving after {took:.1?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "served after {took:?}, want about startup_timeout (1s):\n{}",
        dns.log()
    );
    let version = dns.dig(&["dns-version.cluster.local", "TXT"]);
    assert_eq!(
        version.status.as_deref(),
        Some("NOERROR"),
        "{}",
        version.raw
    );
    assert!(
        version.answer.iter().any(|rr| rr.rtype == "TXT"),
        "{}",
        version.raw
    );
    for transport in ["+notcp", "+tcp"] {
        let r = dns.dig(&["nope.default.svc.cluster.local", "A", transport]);
        assert_eq!(
            r.status.as_deref(),
            Some("SERVFAIL"),
            "before the first sync, over {transport}:\n{}",
            r.raw
        );
    }
    assert!(alive(dns.pid()));
    let log = dns.log();
    assert!(
        log.contains("starting server with unsynced Kubernetes API"),
        "{log}"
    );
    assert!(log.contains(LISTING_AGAIN), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slices_the_model_cannot_use_are_skipped_and_named_and_the_rest_answers() {
    let _only = FAULTS.lock().await;
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let ns = cp.namespace("bad").await;
    let _: Service = create_object(&client, &ns, headless_service_json("manual", &[])).await;
    let _: Service = create_object(&client, &ns, cluster_ip_service_json("other")).await;
    create_service_slice(&client, &ns, "manual", "manual-1", &["198.19.4.10"]).await;
    // Before the start (in the first list) and after it (in the watch).
    let orphan = |name: &str| endpoint_slice_json(name, &[], "IPv4", &["198.19.4.90"]);
    let _: EndpointSlice = create_object(&client, &ns, orphan("orphan-listed")).await;

    let dns = ClusterDns::start_watching(COREFILE, cp.kubeconfig());
    let manual = svc("manual", &ns);
    let other = svc("other", &ns);
    dns.dig_until(&[&manual, "A"], WAIT, |r| {
        r.answers() == ["A 198.19.4.10".to_string()]
    });
    dns.dig_until(&[&other, "A"], WAIT, answers_a);

    let _: EndpointSlice = create_object(&client, &ns, orphan("orphan-watched")).await;
    let _: EndpointSlice = create_object(
        &client,
        &ns,
        endpoint_slice_json(
            "manual-fqdn",
            &[("kubernetes.io/service-name", "manual")],
            "FQDN",
            &["db.example.org"],
        ),
    )
    .await;
    // A good change after the bad ones: the watch goes on.
    create_service_slice(&client, &ns, "manual", "manual-2", &["198.19.4.11"]).await;
    let want = vec!["A 198.19.4.10".to_string(), "A 198.19.4.11".to_string()];
    dns.dig_until(&[&manual, "A"], WAIT, |r| r.answers() == want);

    for name in ["orphan-listed", "orphan-watched"] {
        let line = dns
            .log()
            .lines()
            .find(|l| l.contains(&format!("{ns}/{name}")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no log line names {ns}/{name}:\n{}", dns.log()));
        assert!(
            line.contains("skipped") && line.contains("kubernetes.io/service-name"),
            "{line}"
        );
    }
    // The orphans' address is nobody's; everything else still answers.
    let srv = dns.dig(&[&format!("_http._tcp.{manual}"), "SRV"]);
    assert_eq!(srv.status.as_deref(), Some("NOERROR"), "{}", srv.raw);
    assert_eq!(srv.answer.len(), 2, "{}", srv.raw);
    let ptr = dns.dig(&["-x", "198.19.4.90"]);
    assert_eq!(ptr.status.as_deref(), Some("NXDOMAIN"), "{}", ptr.raw);
    dns.dig_until(&[&other, "A"], WAIT, answers_a);
    dns.dig_until(
        &["kubernetes.default.svc.cluster.local", "A"],
        WAIT,
        answers_a,
    );
    assert!(alive(dns.pid()));
}

/// How many LISTs of the kinds cluster-dns watches the API server has served, by its own count
/// (`apiserver_request_total`): the test's other clients only write, so a change in it during
/// the test is cluster-dns listing.
async fn api_lists(client: &kube::Client) -> u64 {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("metrics request");
    let text = client
        .request_text(request)
        .await
        .expect("the API server's /metrics");
    text.lines()
        .filter(|l| l.starts_with("apiserver_request_total{") && l.contains("verb=\"LIST\""))
        .filter(|l| {
            ["services", "endpointslices", "namespaces", "pods"]
                .iter()
                .any(|r| l.contains(&format!("resource=\"{r}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_second_network_cut_resumes_the_watches_without_a_list() {
    use signpost_tests::tcp_proxy::TcpProxy;
    let _only = FAULTS.lock().await;
    let cp = ControlPlane::shared();
    let client = cp.client().await;
    let ns = cp.namespace("cut").await;
    // Enough objects that a list shows in the bytes (each list is the whole cluster).
    const SERVICES: usize = 100;
    let creating = (0..SERVICES).map(|i| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let name = format!("svc-{i}");
            let _: Service = create_object(&client, &ns, cluster_ip_service_json(&name)).await;
            let address = format!("198.19.5.{}", i + 1);
            create_service_slice(&client, &ns, &name, &format!("{name}-1"), &[&address]).await;
        }
    });
    futures::future::join_all(creating).await;

    let proxy = TcpProxy::start(([127, 0, 0, 1], cp.apiserver_port()).into());
    let dir = TempDir::new("cut");
    let kubeconfig = dir.path().join("kubeconfig");
    let text = std::fs::read_to_string(cp.kubeconfig()).expect("admin kubeconfig");
    let proxied = text.replace(&cp.server_url(), &format!("https://{}", proxy.addr()));
    std::fs::write(&kubeconfig, proxied).expect("write kubeconfig");
    let dns = ClusterDns::start_watching(COREFILE, &kubeconfig);
    let last = svc(&format!("svc-{}", SERVICES - 1), &ns);
    dns.dig_until(&[&last, "A"], WAIT, answers_a);
    // The initial lists and watches are done; what follows is the cut's cost.
    std::thread::sleep(Duration::from_secs(3));
    let lists_before = api_lists(&client).await;
    let before = proxy.traffic();
    let log_before = dns.log().len();

    let cut = Instant::now();
    proxy.cut(Duration::from_secs(1));
    // Written while cluster-dns cannot see the API: it must arrive when the watch resumes.
    let _: Service = create_object(&client, &ns, cluster_ip_service_json("during")).await;
    delete_object::<Service>(&client, &ns, "svc-0").await;
    let during = svc("during", &ns);
    dns.dig_until(&[&during, "A"], WAIT, answers_a);
    dns.dig_until(&[&svc("svc-0", &ns), "A"], WAIT, nxdomain);
    let caught_up = cut.elapsed();
    // The same window for every run: the cut, the reconnection, and a quiet tail.
    let window = Duration::from_secs(8);
    std::thread::sleep(window.saturating_sub(cut.elapsed()));
    let cost = proxy.traffic() - before;
    let lists = api_lists(&client).await - lists_before;
    let log = dns.log()[log_before..].to_string();
    eprintln!(
        "one-second cut, {SERVICES} services + {SERVICES} slices: changes made during the cut \
         answered {caught_up:.1?} after it began; in the {window:?} from the cut: {lists} \
         LISTs of watched kinds (the API's count), {} new connections, {} bytes up, \
         {} bytes down (through the proxy)",
        cost.connections, cost.up, cost.down
    );
    assert_eq!(lists, 0, "the cut made cluster-dns list again:\n{log}");
    assert!(!log.contains(LISTING_AGAIN), "{log}");
    assert!(alive(dns.pid()));
}
