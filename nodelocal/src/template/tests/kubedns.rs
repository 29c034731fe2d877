//! The kube-dns ConfigMap merged as node-cache merges it.

use super::super::kubedns::{KubeDnsConfig, KubeDnsError, parse};

const TCP_TEMPLATE: &str = ".:53 {\n    errors\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n}\n";

#[test]
fn absent_keys_change_nothing() {
    let config = parse(None, Some("  \n")).unwrap();
    assert_eq!(config, KubeDnsConfig::default());
    let (text, servers) = config.upstreams(TCP_TEMPLATE, "/etc/resolv.conf");
    assert_eq!(
        (text.as_str(), servers.as_str()),
        (TCP_TEMPLATE, "/etc/resolv.conf")
    );
    assert_eq!(config.stub_blocks("169.254.20.10", 53), "");
}

/// Custom upstreams replace resolv.conf, over UDP even where the template forced TCP.
#[test]
fn upstream_nameservers_replace_resolv_conf_over_udp() {
    let config = parse(None, Some(r#"["198.18.0.53", "198.18.0.54:5353"]"#)).unwrap();
    let (text, servers) = config.upstreams(TCP_TEMPLATE, "/etc/resolv.conf");
    assert_eq!(servers, "198.18.0.53 198.18.0.54:5353");
    assert_eq!(
        text,
        ".:53 {\n    errors\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n"
    );
}

/// One block per stub domain, sorted, on the local IPs.
#[test]
fn stub_domains_become_server_blocks() {
    let config = parse(
        Some(r#"{"corp.example.test": ["198.18.0.60", "tls://198.18.0.61"], "acme.test": ["198.18.0.62:1053"]}"#),
        None,
    )
    .unwrap();
    assert_eq!(
        config.stub_blocks("169.254.20.10 198.18.0.10", 53),
        "\nacme.test:53 {\n    errors\n    cache 30\n    bind 169.254.20.10 198.18.0.10\n    forward . 198.18.0.62:1053\n}\n\
         \ncorp.example.test:53 {\n    errors\n    cache 30\n    bind 169.254.20.10 198.18.0.10\n    forward . 198.18.0.60 tls://198.18.0.61\n}\n"
    );
}

#[test]
fn invalid_configmaps_are_refused() {
    let cases: [(Option<&str>, Option<&str>, KubeDnsError); 5] = [
        (
            Some("{"),
            None,
            KubeDnsError::Json {
                file: "stubDomains",
                reason: String::new(),
            },
        ),
        (
            None,
            Some(r#"{"a": 1}"#),
            KubeDnsError::Json {
                file: "upstreamNameservers",
                reason: String::new(),
            },
        ),
        (
            None,
            Some(r#"["dns.example.test"]"#),
            KubeDnsError::Nameserver {
                server: "dns.example.test".into(),
                domain: None,
            },
        ),
        (
            Some(r#"{"acme.test": ["https://198.18.0.1"]}"#),
            None,
            KubeDnsError::Nameserver {
                server: "https://198.18.0.1".into(),
                domain: Some("acme.test".into()),
            },
        ),
        (
            Some(r#"{"acme test": ["198.18.0.1"]}"#),
            None,
            KubeDnsError::Domain("acme test".into()),
        ),
    ];
    for (stub, upstream, want) in cases {
        let got = parse(stub, upstream).unwrap_err();
        match (&got, &want) {
            (KubeDnsError::Json { file, .. }, KubeDnsError::Json { file: want, .. }) => {
                assert_eq!(file, want)
            }
            _ => assert_eq!(got, want),
        }
    }
}
