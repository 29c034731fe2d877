//! `reload`: the Corefile of a running server is rewritten and its answers follow within the
//! interval; a broken edit keeps the old configuration answering and is counted.

use std::time::Duration;

use signpost_tests::{ClusterDns, dig, example_cluster, free_port, http_get};

const WAIT: Duration = Duration::from_secs(15);

fn corefile(metrics: u16, ttl: u32, extra: &str) -> String {
    format!(
        ".:{{PORT}} {{\n    reload 2s 1s\n    prometheus 127.0.0.1:{metrics}\n    kubernetes cluster.local {{\n        ttl {ttl}\n    }}\n}}\n{extra}"
    )
}

fn rewrite(server: &ClusterDns, text: &str) {
    // Write then rename, as a ConfigMap update lands, so a check never sees half a file.
    let tmp = server.dir.path().join("Corefile.new");
    std::fs::write(&tmp, text.replace("{PORT}", &server.port.to_string())).unwrap();
    std::fs::rename(&tmp, &server.corefile).unwrap();
}

fn metric(port: u16, prefix: &str) -> Option<String> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_string)
}

fn ttl_of(server: &ClusterDns) -> Option<u32> {
    server
        .dig(&["web.prod.svc.cluster.local", "A"])
        .answer
        .first()
        .map(|r| r.ttl)
}

#[test]
fn reload_follows_a_changed_ttl_and_a_new_listener() {
    let metrics = free_port();
    let server = ClusterDns::start(&corefile(metrics, 5, ""), &example_cluster());
    assert_eq!(ttl_of(&server), Some(5));
    let first = metric(metrics, "coredns_reload_version_info").expect("version info");
    assert!(first.contains(r#"hash="sha512""#), "{first}");

    // A new TTL and a new server block on a port of its own.
    let other = free_port();
    let extra = format!("example.internal:{other} {{\n    kubernetes\n}}\n");
    rewrite(&server, &corefile(metrics, 30, &extra));
    server.dig_until(&["web.prod.svc.cluster.local", "A"], WAIT, |r| {
        r.answer.first().is_some_and(|a| a.ttl == 30)
    });
    let answered = dig(other, &["web.prod.svc.example.internal", "A", "+time=1"]);
    assert_eq!(answered.answers(), ["A 198.18.0.20"], "{}", server.log());
    let second = metric(metrics, "coredns_reload_version_info").expect("version info");
    assert_ne!(first, second, "the running hash changes");
    assert!(server.stdout().contains("[INFO] Reloading complete"));

    // The block goes again: its listener closes; the first port kept its sockets throughout.
    rewrite(&server, &corefile(metrics, 30, ""));
    let deadline = std::time::Instant::now() + WAIT;
    while dig(
        other,
        &["web.prod.svc.example.internal", "A", "+time=1", "+tries=1"],
    )
    .status
    .is_some()
    {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ttl_of(&server), Some(30));
}

#[test]
fn reload_keeps_the_old_config_when_the_new_one_is_broken() {
    let metrics = free_port();
    let server = ClusterDns::start(&corefile(metrics, 5, ""), &example_cluster());
    let broken = corefile(metrics, 30, "").replace("    kubernetes", "    banana\n    kubernetes");
    rewrite(&server, &broken);
    let deadline = std::time::Instant::now() + WAIT;
    while !server
        .stdout()
        .contains("Corefile changed but reload failed")
    {
        assert!(std::time::Instant::now() < deadline, "{}", server.stdout());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server
            .stdout()
            .contains("[ERROR] plugin/reload: Corefile changed but reload failed: "),
        "{}",
        server.stdout()
    );
    assert!(server.stdout().contains(r#"unknown plugin "banana""#));
    assert_eq!(
        metric(metrics, "coredns_reload_failed_total").as_deref(),
        Some("coredns_reload_failed_total 1")
    );
    // Still the old configuration.
    assert_eq!(ttl_of(&server), Some(5));
    // Fixed: served from the next check on.
    rewrite(&server, &corefile(metrics, 30, ""));
    server.dig_until(&["web.prod.svc.cluster.local", "A"], WAIT, |r| {
        r.answer.first().is_some_and(|a| a.ttl == 30)
    });
}

/// SIGUSR1 rebuilds the Corefile at once, without `reload` in it, as it restarts CoreDNS; an
/// imported file's edit is read too.
#[test]
fn sigusr1_reloads_without_the_reload_plugin() {
    let server = ClusterDns::start(
        ".:{PORT} {\n    import extra/*.conf\n    kubernetes cluster.local {\n        ttl 5\n    }\n}\n",
        &example_cluster(),
    );
    // The import matches nothing yet (its directory is missing, as an optional ConfigMap's).
    assert_eq!(ttl_of(&server), Some(5));
    std::fs::create_dir_all(server.dir.path().join("extra")).unwrap();
    let extra = server.dir.path().join("extra/hosts.conf");
    rewrite(
        &server,
        ".:{PORT} {\n    import extra/*.conf\n    kubernetes cluster.local {\n        ttl 7\n    }\n}\n",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ttl_of(&server), Some(5), "no reload plugin: no timer");
    let usr1 = |server: &ClusterDns| {
        let status = std::process::Command::new("kill")
            .args(["-USR1", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    usr1(&server);
    server.dig_until(&["web.prod.svc.cluster.local", "A"], WAIT, |r| {
        r.answer.first().is_some_and(|a| a.ttl == 7)
    });
    // Only the imported file changes: SIGUSR1 reads it again.
    std::fs::write(
        &extra,
        "hosts {\n    198.18.0.99 imported.example.test\n    fallthrough\n}\n",
    )
    .unwrap();
    usr1(&server);
    let r = server.dig_until(&["imported.example.test", "A"], WAIT, |r| {
        !r.answer.is_empty()
    });
    assert_eq!(r.answers(), ["A 198.18.0.99"], "{}", server.log());
}

/// The timer compares the Corefile as parsed, imports expanded, as CoreDNS 1.7+ does: an edit of
/// an imported file alone (k3s's and AKS's `coredns-custom` overrides) is served, and a file
/// that does not parse is reported and leaves the running configuration alone.
#[test]
fn reload_follows_an_edit_of_an_imported_file_alone() {
    let metrics = free_port();
    let server = ClusterDns::start(
        &format!(
            ".:{{PORT}} {{\n    reload 2s 1s\n    prometheus 127.0.0.1:{metrics}\n    import custom/*.override\n    kubernetes cluster.local {{\n        ttl 5\n    }}\n}}\n"
        ),
        &example_cluster(),
    );
    let first = metric(metrics, "coredns_reload_version_info").expect("version info");
    let custom = server.dir.path().join("custom");
    std::fs::create_dir_all(&custom).unwrap();
    let write = |text: &str| {
        let tmp = custom.join("hosts.override.new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, custom.join("hosts.override")).unwrap();
    };
    write("hosts {\n    198.18.0.99 imported.example.test\n    fallthrough\n}\n");
    let r = server.dig_until(&["imported.example.test", "A"], WAIT, |r| {
        !r.answer.is_empty()
    });
    assert_eq!(r.answers(), ["A 198.18.0.99"], "{}", server.log());
    let second = metric(metrics, "coredns_reload_version_info").expect("version info");
    assert_ne!(first, second, "the running hash changes");
    assert_eq!(ttl_of(&server), Some(5));

    // An override that does not parse: a warning, no failed reload, the old one serves.
    write("hosts {\n    198.18.0.98 imported.example.test\n");
    let deadline = std::time::Instant::now() + WAIT;
    while !server
        .stdout()
        .contains("[WARNING] plugin/reload: Corefile parse failed: ")
    {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        server.dig(&["imported.example.test", "A"]).answers(),
        ["A 198.18.0.99"]
    );
    assert_eq!(
        metric(metrics, "coredns_reload_failed_total").as_deref(),
        Some("coredns_reload_failed_total 0")
    );
}
