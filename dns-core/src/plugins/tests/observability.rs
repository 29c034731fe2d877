//! health, ready and prometheus: setup tables (defaults, every option, errors with
//! file:line:col), label values, the HTTP plan, and the counting on the query path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::cluster::SnapshotStore;
use crate::cluster::testdata::example_cluster;
use crate::corefile::parse_str;
use crate::plugin::build::Dependencies;
use crate::plugin::metrics::{family_label, qtype_label, server_label};
use crate::plugin::readiness::Monitor;
use crate::plugin::setup::HttpAddr;
use crate::plugins::build;
use crate::plugins::prometheus;
use crate::plugins::{health, ready};
use crate::server::respond;
use crate::wire::{RequestInfo, Transport};

fn no_env(_: &str) -> Option<String> {
    None
}

fn directive(text: &str) -> crate::corefile::Directive {
    let c = parse_str(&format!(".:53 {{\n {text}\n}}\n"), "Corefile", &no_env).unwrap();
    c.blocks[0].directives[0].clone()
}

fn addr(text: &str) -> HttpAddr {
    HttpAddr::parse(text).unwrap()
}

#[test]
fn http_addresses_follow_go_split_host_port() {
    let ok = [
        (":8080", "", 8080),
        ("localhost:9153", "localhost", 9153),
        ("127.0.0.1:8181", "127.0.0.1", 8181),
        ("[::1]:8080", "::1", 8080),
        ("[::]:0", "::", 0),
    ];
    for (text, host, port) in ok {
        let a = addr(text);
        assert_eq!((a.host.as_str(), a.port), (host, port), "{text}");
        assert_eq!(a.to_string(), text);
    }
    for bad in [
        "8080",
        "localhost",
        "::1:8080",
        "[::1]8080",
        "host:http",
        ":70000",
        "[::1",
    ] {
        assert!(HttpAddr::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn setup_defaults() {
    let h = health::parse(&directive("health")).unwrap();
    assert_eq!((h.addr, h.lameduck), (addr(":8080"), Duration::ZERO));
    let r = ready::parse(&directive("ready")).unwrap();
    assert_eq!((r.addr, r.monitor), (addr(":8181"), Monitor::UntilReady));
    let p = prometheus::parse(&directive("prometheus")).unwrap();
    assert_eq!(p.addr, addr("localhost:9153"));
}

#[test]
fn setup_every_option() {
    let h = health::parse(&directive("health localhost:8091 {\n  lameduck 1500ms\n }")).unwrap();
    assert_eq!(
        (h.addr, h.lameduck),
        (addr("localhost:8091"), Duration::from_millis(1500))
    );
    let r = ready::parse(&directive("ready :9191 {\n  monitor continuously\n }")).unwrap();
    assert_eq!((r.addr, r.monitor), (addr(":9191"), Monitor::Continuously));
    let r = ready::parse(&directive("ready {\n  monitor until-ready\n }")).unwrap();
    assert_eq!(r.monitor, Monitor::UntilReady);
    let p = prometheus::parse(&directive("prometheus :9253 {\n  runtime_metrics\n }")).unwrap();
    assert_eq!(p.addr, addr(":9253"));
    let p = prometheus::parse(&directive(
        "prometheus :9253 {\n  tls /etc/coredns/web.yml\n }",
    ))
    .unwrap();
    assert_eq!(p.tls, Some("/etc/coredns/web.yml".into()));
}

#[test]
fn setup_errors_name_the_line() {
    let cases = [
        (
            "health 8080",
            "Corefile:2:9: health: invalid address \"8080\": missing port",
        ),
        (
            "health :8080 :8081",
            "Corefile:2:15: health: health takes at most one address",
        ),
        (
            "health {\n  lameduck\n }",
            "Corefile:3:3: health: lameduck needs exactly argument",
        ),
        (
            "health {\n  lameduck soon\n }",
            "Corefile:3:12: health: invalid duration \"soon\"",
        ),
        (
            "health {\n  frob\n }",
            "Corefile:3:3: health: unknown property \"frob\"",
        ),
        (
            "ready bla",
            "Corefile:2:8: ready: invalid address \"bla\": missing port",
        ),
        (
            "ready {\n  monitor 404\n }",
            "Corefile:3:11: ready: monitor type \"404\" not supported",
        ),
        (
            "ready {\n  frob\n }",
            "Corefile:3:3: ready: unknown property \"frob\"",
        ),
        (
            "prometheus a b",
            "Corefile:2:15: prometheus: prometheus takes at most one address",
        ),
        (
            "prometheus {\n  tls\n }",
            "Corefile:3:3: prometheus: tls needs exactly",
        ),
        (
            "prometheus {\n  tls a.yml b.yml\n }",
            "Corefile:3:3: prometheus: tls needs exactly",
        ),
        (
            "prometheus {\n  tls a.yml\n  tls b.yml\n }",
            "Corefile:4:3: prometheus: tls block already specified",
        ),
        (
            "prometheus {\n  frob\n }",
            "Corefile:3:3: prometheus: unknown option \"frob\"",
        ),
    ];
    for (text, want) in cases {
        let d = directive(text);
        let got = match d.name.as_str() {
            "health" => health::parse(&d).map(|_| ()),
            "ready" => ready::parse(&d).map(|_| ()),
            _ => prometheus::parse(&d).map(|_| ()),
        }
        .unwrap_err()
        .to_string();
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

#[test]
fn label_values_are_coredns_s() {
    let types = [
        (RecordType::A, "A"),
        (RecordType::AAAA, "AAAA"),
        (RecordType::SRV, "SRV"),
        (RecordType::PTR, "PTR"),
        (RecordType::HTTPS, "HTTPS"),
        (RecordType::ANY, "ANY"),
        (RecordType::AXFR, "AXFR"),
        (RecordType::CAA, "other"),
        (RecordType::NAPTR, "other"),
        (RecordType::Unknown(65280), "other"),
    ];
    for (t, want) in types {
        assert_eq!(qtype_label(t), want, "{t:?}");
    }
    assert_eq!(family_label("10.0.0.1".parse().unwrap()), "1");
    assert_eq!(family_label("::ffff:10.0.0.1".parse().unwrap()), "1");
    assert_eq!(family_label("fd00::1".parse().unwrap()), "2");
    assert_eq!(server_label("0.0.0.0:53".parse().unwrap()), "dns://:53");
    assert_eq!(server_label("[::]:53".parse().unwrap()), "dns://:53");
    assert_eq!(
        server_label("127.0.0.53:53".parse().unwrap()),
        "dns://127.0.0.53:53"
    );
    assert_eq!(
        server_label("[fd00::1]:5353".parse().unwrap()),
        "dns://[fd00::1]:5353"
    );
}

/// A store loaded with the example cluster (synced).
fn deps() -> Dependencies {
    let store = Arc::new(SnapshotStore::new());
    store.replace(example_cluster(), 1);
    Dependencies::new(store)
}

#[test]
fn blocks_naming_one_address_share_its_site() {
    let c = parse_str(
        "cluster.local:53 {\n health :8080 {\n  lameduck 2s\n }\n ready\n prometheus :9153\n kubernetes\n}\n\
         example.org:53 {\n health :8080 {\n  lameduck 5s\n }\n prometheus :9153\n ready :8181\n}\n\
         other.org:53 {\n prometheus :9253\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    // Not synced yet, as a watch before its first full list.
    let store = Arc::new(SnapshotStore::new());
    store.apply(example_cluster(), 1);
    let deps = Dependencies::new(store);
    let plan = build(&c, &deps).unwrap().http;
    let sites: Vec<(String, Vec<&str>)> = plan
        .sites
        .iter()
        .map(|s| (s.addr.to_string(), s.plugins.clone()))
        .collect();
    assert_eq!(
        sites,
        [
            (":8080".to_string(), vec!["health"]),
            (":8181".to_string(), vec!["ready"]),
            (":9153".to_string(), vec!["prometheus"]),
            (":9253".to_string(), vec!["prometheus"]),
        ]
    );
    assert_eq!(plan.lameduck, Duration::from_secs(5));
    // The kubernetes plugin of the block with ready reports readiness; the store is synced
    // only once marked.
    let ready = plan.sites[1].ready.as_ref().unwrap();
    assert_eq!(ready.check(), Err("kubernetes".to_string()));
    deps.store.mark_synced();
    assert_eq!(ready.check(), Ok(()));
}

#[test]
fn readiness_latches_until_ready_and_follows_continuously() {
    use crate::plugin::readiness::{Readiness, ReadyCheck};
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = Arc::new(AtomicBool::new(false));
    let other = Arc::new(AtomicBool::new(false));
    let mut latched = Readiness::new(Monitor::UntilReady);
    latched.add("kubernetes", ReadyCheck::Fixed(flag.clone()));
    latched.add("hosts", ReadyCheck::Fixed(other.clone()));
    let mut live = Readiness::new(Monitor::Continuously);
    live.add("kubernetes", ReadyCheck::Fixed(flag.clone()));
    assert_eq!(latched.check(), Err("hosts,kubernetes".to_string()));
    flag.store(true, Ordering::Release);
    assert_eq!(latched.check(), Err("hosts".to_string()));
    other.store(true, Ordering::Release);
    assert_eq!((latched.check(), live.check()), (Ok(()), Ok(())));
    // A plugin that goes back: until-ready stays ready, continuously follows.
    flag.store(false, Ordering::Release);
    assert_eq!(latched.check(), Ok(()));
    assert_eq!(live.check(), Err("kubernetes".to_string()));
    assert!(Readiness::new(Monitor::UntilReady).check().is_ok());
}

fn query(name: &str, rtype: RecordType, id: u16) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

/// The value of the series of `family` whose labels include every pair of `want`.
fn sample(family: &str, want: &[(&str, &str)]) -> Option<f64> {
    use ::prometheus::proto::MetricType;
    let families = ::prometheus::gather();
    let f = families.iter().find(|f| f.name() == family)?;
    let m = f.get_metric().iter().find(|m| {
        want.iter().all(|(k, v)| {
            m.get_label()
                .iter()
                .any(|l| l.name() == *k && l.value() == *v)
        })
    })?;
    Some(match f.get_field_type() {
        MetricType::COUNTER => m.get_counter().get_value(),
        MetricType::GAUGE => m.get_gauge().get_value(),
        _ => m.get_histogram().get_sample_count() as f64,
    })
}

#[tokio::test]
async fn queries_are_counted_with_coredns_labels() {
    // A port no other test uses keeps this test's series its own.
    let c = parse_str(
        "cluster.local:10531 in-addr.arpa:10531 {\n prometheus\n errors\n kubernetes\n}\nexample.org:10531 {\n kubernetes\n}\n",
        "Corefile",
        &no_env,
    )
    .unwrap();
    let router = build(&c, &deps()).unwrap().routers.remove(0);
    let udp = RequestInfo {
        src: SocketAddr::from(([127, 0, 0, 1], 40000)),
        local: SocketAddr::from(([127, 0, 0, 1], 10531)),
        transport: Transport::Udp,
        request_size: 0,
    };
    let tcp6 = RequestInfo {
        src: "[::1]:40000".parse().unwrap(),
        transport: Transport::Tcp,
        ..udp
    };
    for (name, rtype, info) in [
        ("web.prod.svc.cluster.local.", RecordType::A, &udp),
        ("web.prod.svc.cluster.local.", RecordType::A, &udp),
        ("nope.prod.svc.cluster.local.", RecordType::CAA, &tcp6),
        ("web.example.org.", RecordType::A, &udp),
        ("example.com.", RecordType::A, &udp),
    ] {
        let bytes = query(name, rtype, 7);
        let info = RequestInfo {
            request_size: bytes.len(),
            ..*info
        };
        assert!(respond(&router, &bytes, &info).await.0.is_some());
    }
    let s = "dns://:10531";
    let base = [("server", s), ("zone", "cluster.local."), ("view", "")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    let requests = "coredns_dns_requests_total";
    let a_udp = with(&[("proto", "udp"), ("family", "1"), ("type", "A")]);
    assert_eq!(sample(requests, &a_udp), Some(2.0));
    let other_tcp = with(&[("proto", "tcp"), ("family", "2"), ("type", "other")]);
    assert_eq!(sample(requests, &other_tcp), Some(1.0));
    let responses = "coredns_dns_responses_total";
    let noerror = with(&[("rcode", "NOERROR"), ("plugin", "kubernetes")]);
    assert_eq!(sample(responses, &noerror), Some(2.0));
    let nxdomain = with(&[("rcode", "NXDOMAIN"), ("plugin", "kubernetes")]);
    assert_eq!(sample(responses, &nxdomain), Some(1.0));
    assert_eq!(
        sample("coredns_dns_request_duration_seconds", &base),
        Some(3.0)
    );
    let udp_size = with(&[("proto", "udp")]);
    assert_eq!(
        sample("coredns_dns_request_size_bytes", &udp_size),
        Some(2.0)
    );
    assert_eq!(
        sample("coredns_dns_response_size_bytes", &udp_size),
        Some(2.0)
    );
    // The block without prometheus is not counted; a name no block serves is `dropped`.
    assert_eq!(
        sample(requests, &[("server", s), ("zone", "example.org.")]),
        None
    );
    let dropped = [
        ("server", s),
        ("zone", "dropped"),
        ("rcode", "REFUSED"),
        ("plugin", ""),
    ];
    assert_eq!(sample(responses, &dropped), Some(1.0));
    // Enabled plugins per zone of the block with prometheus; build info is there.
    for name in ["prometheus", "errors", "kubernetes"] {
        let labels = [("server", s), ("zone", "in-addr.arpa."), ("name", name)];
        assert_eq!(
            sample("coredns_plugin_enabled", &labels),
            Some(1.0),
            "{name}"
        );
    }
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(sample("coredns_build_info", &version), Some(1.0));
    assert!(sample("coredns_panics_total", &[]).is_some());
}

/// `prometheus { tls WEB_CONFIG }`: exporter-toolkit's web configuration, as far as Signpost
/// honours it; the rest is refused by name.
#[test]
fn prometheus_web_config() {
    use crate::plugins::prometheus::tls::{ClientAuth, WebTls, parse_web_config};
    let dir = std::path::Path::new("/etc/coredns");
    let tls = |cert: &str, key: &str, ca: Option<&str>, auth| {
        Ok(Some(WebTls {
            cert: cert.into(),
            key: key.into(),
            client_ca: ca.map(Into::into),
            client_auth: auth,
        }))
    };
    let cases: &[(&str, Result<Option<WebTls>, String>)] = &[
        ("", Ok(None)),
        ("tls_server_config: {}", Ok(None)),
        ("tls_server_config:", Ok(None)),
        (
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: /keys/tls.key\n",
            tls("/etc/coredns/tls.crt", "/keys/tls.key", None, ClientAuth::None),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: NoClientCert\n",
            tls("/etc/coredns/c", "/etc/coredns/k", None, ClientAuth::None),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n  client_auth_type: RequireAndVerifyClientCert\n",
            tls(
                "/etc/coredns/c",
                "/etc/coredns/k",
                Some("/etc/coredns/ca"),
                ClientAuth::RequireAndVerify,
            ),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n  client_auth_type: VerifyClientCertIfGiven\n",
            tls(
                "/etc/coredns/c",
                "/etc/coredns/k",
                Some("/etc/coredns/ca"),
                ClientAuth::VerifyIfGiven,
            ),
        ),
        (
            "tls_server_config:\n  key_file: k\n",
            Err("tls_server_config: missing cert_file".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n",
            Err("tls_server_config: missing key_file".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n",
            Err("tls_server_config: client_ca_file is set without a client_auth_type".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
            Err("tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAnyClientCert\n",
            Err("tls_server_config: client_auth_type RequireAnyClientCert (a client certificate taken unverified) is not supported by Signpost".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Sometimes\n",
            Err("tls_server_config: invalid client_auth_type \"Sometimes\"".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n",
            Err("tls_server_config: min_version is not supported by Signpost".into()),
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  frob: 1\n",
            Err("tls_server_config: unknown field \"frob\"".into()),
        ),
        (
            "tls_server_config:\n  cert_file: [c]\n  key_file: k\n",
            Err("tls_server_config: cert_file must be a string".into()),
        ),
        (
            "basic_auth_users:\n  alice: $2y$10$x\n",
            Err("basic_auth_users is not supported by Signpost".into()),
        ),
        ("frob: 1", Err("unknown field \"frob\"".into())),
        ("tls_server_config: 3", Err("tls_server_config: a mapping was expected".into())),
        ("- a\n- b\n", Err("not a web configuration: a mapping was expected".into())),
    ];
    for (text, want) in cases {
        assert_eq!(&parse_web_config(text, dir), want, "{text:?}");
    }
    assert!(
        parse_web_config("tls_server_config: [", dir)
            .unwrap_err()
            .starts_with("not a web configuration: ")
    );
}
