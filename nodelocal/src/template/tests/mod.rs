//! The template table: every variable, node-cache's sources, and the errors.

use super::*;

const EXAMPLE: &str = include_str!("../../../../examples/nodelocal.Corefile");

fn values() -> TemplateValues {
    TemplateValues {
        local_ips: vec![
            "169.254.20.10".parse().unwrap(),
            "198.18.0.10".parse().unwrap(),
        ],
        cluster_dns: Some("198.18.0.11".parse().unwrap()),
        cluster_dns_env: service_host_env("kube-dns-upstream"),
        upstream_servers: "/etc/resolv.conf".into(),
        dns_domain: "cluster.local".into(),
    }
}

#[test]
fn service_env_names_follow_the_kubelet() {
    for (svc, env) in [
        ("kube-dns-upstream", "KUBE_DNS_UPSTREAM_SERVICE_HOST"),
        ("kube-dns", "KUBE_DNS_SERVICE_HOST"),
        ("dns", "DNS_SERVICE_HOST"),
    ] {
        assert_eq!(service_host_env(svc), env);
    }
}

#[test]
fn node_local_dns_configmap_renders_and_parses() {
    let text = render(EXAMPLE, &values()).unwrap();
    assert!(!text.contains("__PILLAR__"), "{text}");
    assert!(text.contains("cluster.local:53 {"), "{text}");
    assert!(text.contains("bind 169.254.20.10 198.18.0.10 \n"), "{text}");
    assert!(text.contains("forward . 198.18.0.11 {"), "{text}");
    assert!(text.contains("forward . /etc/resolv.conf\n"), "{text}");
    assert!(text.contains("health 169.254.20.10:8080"), "{text}");
    let parsed = dns_core::corefile::parse_str(&text, "Corefile", &|_| None).unwrap();
    assert_eq!(parsed.blocks.len(), 4);
}

#[test]
fn template_table() {
    let cases: &[(&str, Result<&str, TemplateError>)] = &[
        (
            "bind __PILLAR__LOCAL__DNS__",
            Ok("bind 169.254.20.10 198.18.0.10"),
        ),
        (
            "bind 169.254.20.10 __PILLAR__DNS__SERVER__",
            Ok("bind 169.254.20.10 "),
        ),
        (
            "forward . __PILLAR__CLUSTER__DNS__",
            Ok("forward . 198.18.0.11"),
        ),
        (
            "forward . __PILLAR__UPSTREAM__SERVERS__",
            Ok("forward . /etc/resolv.conf"),
        ),
        ("__PILLAR__DNS__DOMAIN__:53 {", Ok("cluster.local:53 {")),
        ("no variables", Ok("no variables")),
        (
            "health __PILLAR__LOCAL__DNS__:8080",
            Ok("health 169.254.20.10:8080"),
        ),
        ("# __PILLAR__ in a comment", Ok("# __PILLAR__ in a comment")),
        (
            ".:53 {\n  forward . __PILLAR__UPSTREAM__SERVER__\n}",
            Err(TemplateError::UnknownVariable {
                name: "__PILLAR__UPSTREAM__SERVER__".into(),
                line: 2,
            }),
        ),
    ];
    for (template, want) in cases {
        let got = render(template, &values());
        assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{template}");
    }
}

#[test]
fn missing_upstream_service_is_an_error_only_when_named() {
    let mut v = values();
    v.cluster_dns = None;
    assert_eq!(
        render("forward . __PILLAR__CLUSTER__DNS__", &v),
        Err(TemplateError::MissingClusterDns {
            env: "KUBE_DNS_UPSTREAM_SERVICE_HOST".into()
        })
    );
    assert_eq!(
        render("forward . /etc/resolv.conf", &v).as_deref(),
        Ok("forward . /etc/resolv.conf")
    );
    let message = render("forward . __PILLAR__CLUSTER__DNS__", &v)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("$KUBE_DNS_UPSTREAM_SERVICE_HOST"),
        "{message}"
    );
}

mod kubedns;
