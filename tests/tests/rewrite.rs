//! `rewrite` as a client sees it: a name rewritten onto a cluster service is answered from the
//! snapshot, and the answer carries the name the client asked.

use signpost_tests::{ClusterDns, example_cluster};

#[test]
fn rewrite_name_answers_with_the_asked_name() {
    let corefile = ".:{PORT} {\n    rewrite name foo.example.test web.prod.svc.cluster.local\n    \
                    rewrite name suffix .corp.test .svc.cluster.local answer auto\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["foo.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    assert_eq!(r.answers(), ["A 198.18.0.20"]);
    assert_eq!(r.answer[0].name, "foo.example.test.");
    // dig drops a response whose question differs from its own: an answer at all means the
    // question came back as asked.
    let r = server.dig(&["web.prod.corp.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"]);
    assert_eq!(r.answer[0].name, "web.prod.corp.test.");
    // Names no rule matches go through untouched.
    assert_eq!(
        server.dig(&["web.prod.svc.cluster.local", "A"]).answers(),
        ["A 198.18.0.20"]
    );
}

#[test]
fn rewrite_rcode_changes_the_status_for_matching_names() {
    let corefile = ".:{PORT} {\n    rewrite rcode suffix .prod.svc.cluster.local NXDOMAIN REFUSED\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["missing.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("REFUSED"), "{}", r.raw);
    // Another rcode, or another name, is left alone.
    let r = server.dig(&["web.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    let r = server.dig(&["missing.other.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NXDOMAIN"), "{}", r.raw);
}

#[test]
fn rewrite_cname_points_an_external_name_into_the_cluster() {
    // prod/legacy is an ExternalName service for legacy.example.com: its answer is that CNAME
    // alone. The rule points it at web.prod, whose address the rest of the chain adds.
    let corefile = ".:{PORT} {\n    rewrite cname exact legacy.example.com web.prod.svc.cluster.local\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["legacy.prod.svc.cluster.local", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    assert_eq!(
        r.answers(),
        ["A 198.18.0.20", "CNAME web.prod.svc.cluster.local."],
        "{}",
        r.raw
    );
    // Other CNAME targets are left alone.
    let r = server.dig(&["alias.prod.svc.cluster.local", "A"]);
    assert!(
        r.answers()
            .contains(&"CNAME web.prod.svc.cluster.local.".to_string()),
        "{}",
        r.raw
    );
}

#[test]
fn rewrite_block_rewrites_the_name_and_turns_answers_back() {
    let corefile = ".:{PORT} {\n    rewrite stop {\n        \
                    name regex (.*)\\.corp\\.test\\.$ {1}.prod.svc.cluster.local.\n        \
                    answer name (.*)\\.prod\\.svc\\.cluster\\.local\\.$ {1}.corp.test.\n    }\n    \
                    kubernetes cluster.local\n}\n";
    let server = ClusterDns::start(corefile, &example_cluster());
    let r = server.dig(&["web.corp.test", "A"]);
    assert_eq!(r.answers(), ["A 198.18.0.20"], "{}", r.raw);
    assert_eq!(r.answer[0].name, "web.corp.test.");
}

/// A UDP responder on loopback that hands every query's bytes to the test and answers NOERROR
/// with no records; it stops after `life`.
fn recording_responder(life: std::time::Duration) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind responder");
    let port = socket.local_addr().expect("addr").port();
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .expect("timeout");
    let (tx, rx) = std::sync::mpsc::channel();
    let until = std::time::Instant::now() + life;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < until {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let query = buf[..n].to_vec();
            // Header and question only: QR and RA set, no records.
            let mut end = 12;
            while end < n && buf[end] != 0 {
                end += usize::from(buf[end]) + 1;
            }
            end += 5;
            if end > n {
                continue;
            }
            let mut reply = query[..end].to_vec();
            reply[2] |= 0x80;
            reply[3] = 0x80;
            reply[6..12].fill(0);
            let _ = socket.send_to(&reply, from);
            let _ = tx.send(query);
        }
    });
    (port, rx)
}

#[test]
fn rewrite_edns0_options_reach_the_upstream() {
    let (upstream, queries) = recording_responder(std::time::Duration::from_secs(60));
    let corefile = format!(
        ".:{{PORT}} {{\n    rewrite continue edns0 local set 0xffee 0xabcd\n    \
         rewrite edns0 subnet set 24 56\n    forward . 127.0.0.1:{upstream}\n}}\n"
    );
    let server = ClusterDns::start(&corefile, &example_cluster());
    let r = server.dig(&["www.example.test", "A"]);
    assert_eq!(r.status.as_deref(), Some("NOERROR"), "{}", r.raw);
    let query = queries
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the upstream was asked");
    let has = |want: &[u8]| query.windows(want.len()).any(|w| w == want);
    // Code 0xffee, 2 bytes, 0xabcd.
    assert!(has(&[0xff, 0xee, 0, 2, 0xab, 0xcd]), "{query:02x?}");
    // Client subnet: code 8, 7 bytes, family 1, /24, scope 0, 127.0.0 (dig asks from loopback).
    assert!(has(&[0, 8, 0, 7, 0, 1, 24, 0, 127, 0, 0]), "{query:02x?}");
}
