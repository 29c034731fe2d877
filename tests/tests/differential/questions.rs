//! Questions generated from a state: every name form of docs/records.md (and the negative
//! forms next to each) in every type, each asked in a seeded mix of case, transport and EDNS.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use super::state::{Kind, Rng, State};

/// The EDNS a question carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Edns {
    None,
    /// EDNS 0, 1232-byte payload.
    Plain,
    /// EDNS 0 with the DO bit.
    Do,
    /// EDNS version 1 (a server speaking only 0 answers BADVERS).
    V1,
}

impl Edns {
    pub fn label(self) -> &'static str {
        match self {
            Edns::None => "no-edns",
            Edns::Plain => "edns",
            Edns::Do => "edns+do",
            Edns::V1 => "edns-v1",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Question {
    /// As sent (maybe in mixed case).
    pub name: String,
    pub qtype: RecordType,
    /// What kind of name this is (`service-headless`, `srv-wrong-protocol`, ...): the
    /// differences are grouped by it.
    pub form: String,
    pub tcp: bool,
    pub edns: Edns,
}

impl std::fmt::Display for Question {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} over {} {} (form {})",
            self.name,
            self.qtype,
            if self.tcp { "TCP" } else { "UDP" },
            self.edns.label(),
            self.form
        )
    }
}

/// The types every name is asked in.
pub const TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::TXT,
    RecordType::CNAME,
    RecordType::NS,
    RecordType::SOA,
    RecordType::MX,
    RecordType::ANY,
];

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::ClusterIpV4 => "clusterip-v4",
        Kind::ClusterIpDual => "clusterip-dual",
        Kind::ClusterIpV6 => "clusterip-v6",
        Kind::Headless => "headless",
        Kind::HeadlessSelector => "headless-selector",
        Kind::HeadlessNoPorts => "headless-noports",
        Kind::HeadlessEmpty => "headless-empty",
        Kind::HeadlessPublishNotReady => "headless-publish-not-ready",
        Kind::ExternalOut => "extname",
        Kind::ExternalIn => "extname-inzone",
        Kind::ExternalIp => "extname-ip",
    }
}

fn is_external(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::ExternalOut | Kind::ExternalIn | Kind::ExternalIp
    )
}

/// Dashed form of an address as endpoint and pod names spell it (`::` kept as `--`).
fn dashed(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string().replace('.', "-"),
        Ok(IpAddr::V6(v6)) => v6.to_string().replace(':', "-"),
        Err(_) => ip.replace(['.', ':'], "-"),
    }
}

/// The reverse name of an address.
pub fn reverse(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        Ok(IpAddr::V6(v6)) => {
            let mut s = String::new();
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s + "ip6.arpa"
        }
        Err(_) => format!("{ip}.in-addr.arpa"),
    }
}

/// Every name to ask, with its form; the zone is `cluster.local`.
pub fn names(state: &State) -> BTreeMap<String, String> {
    let z = "cluster.local";
    let mut names = BTreeMap::new();
    let mut add = |name: String, form: &str| {
        names.entry(name).or_insert_with(|| form.to_string());
    };
    for (name, form) in [
        (z.to_string(), "apex"),
        (format!("svc.{z}"), "svc-label"),
        (format!("pod.{z}"), "pod-label"),
        (format!("dns-version.{z}"), "dns-version"),
        (format!("ns.dns.{z}"), "ns-name"),
        (format!("dns.{z}"), "ns-parent"),
        (format!("x.ns.dns.{z}"), "ns-child"),
        (format!("*.{z}"), "wildcard-apex"),
        (format!("nope.{z}"), "apex-unknown-child"),
        (format!("a.b.{z}"), "invalid-name"),
        (format!("*.svc.{z}"), "wildcard-namespace"),
        (format!("*.*.svc.{z}"), "wildcard-service"),
        (format!("nosuchns.svc.{z}"), "namespace-missing"),
        (format!("web.nosuchns.svc.{z}"), "service-namespace-missing"),
        (
            format!("198-19-200-1.nosuchns.pod.{z}"),
            "pod-namespace-missing",
        ),
        ("example.org".to_string(), "outside"),
        ("in-addr.arpa".to_string(), "reverse-apex"),
        ("ip6.arpa".to_string(), "reverse-apex"),
        ("198.in-addr.arpa".to_string(), "reverse-partial"),
        ("19.198.in-addr.arpa".to_string(), "reverse-partial"),
        ("2.19.198.in-addr.arpa".to_string(), "reverse-partial"),
        ("8.b.d.0.1.0.0.2.ip6.arpa".to_string(), "reverse-partial-v6"),
        (
            "x.1.2.19.198.in-addr.arpa".to_string(),
            "reverse-extra-label",
        ),
        ("1.222.19.198.in-addr.arpa".to_string(), "reverse-unknown"),
        (reverse("2001:db8:9::1"), "reverse-unknown-v6"),
        (
            "300.1.19.198.in-addr.arpa".to_string(),
            "reverse-not-an-address",
        ),
    ] {
        add(name, form);
    }
    let mut namespaces = state.namespaces.clone();
    namespaces.push("default".into());
    for ns in &namespaces {
        add(format!("{ns}.svc.{z}"), "namespace");
        add(format!("{ns}.pod.{z}"), "pod-namespace");
        add(format!("*.{ns}.svc.{z}"), "wildcard-service");
        add(format!("nope.{ns}.svc.{z}"), "service-missing");
        add(format!("198-19-222-1.{ns}.pod.{z}"), "pod-unknown-ip");
        add(format!("not-an-ip.{ns}.pod.{z}"), "pod-not-an-ip");
        add(format!("x.198-19-200-1.{ns}.pod.{z}"), "pod-extra-label");
    }
    add(format!("kubernetes.default.svc.{z}"), "service-kubernetes");
    // Addresses of not-ready endpoints of publishNotReadyAddresses services: their reverse
    // names are tagged, as is every name below such a service (`...@publish-not-ready`).
    let pnr_addresses: Vec<&String> = state
        .slices
        .iter()
        .filter(|s| {
            state.services.iter().any(|svc| {
                svc.kind == Kind::HeadlessPublishNotReady
                    && svc.namespace == s.namespace
                    && svc.name == s.service
            })
        })
        .flat_map(|s| s.endpoints.iter())
        .filter(|ep| ep.ready == Some(false))
        .flat_map(|ep| ep.addresses.iter())
        .collect();
    let reverse_form = |ip: &String, form: String| {
        if pnr_addresses.contains(&ip) {
            form + "@publish-not-ready"
        } else {
            form
        }
    };
    for svc in &state.services {
        let kind = kind_label(svc.kind);
        let tag = if svc.kind == Kind::HeadlessPublishNotReady {
            "@publish-not-ready"
        } else {
            ""
        };
        let mut add = |name: String, form: &str| {
            let tag = if form.contains('@') { "" } else { tag };
            add(name, &format!("{form}{tag}"))
        };
        let base = format!("{}.{}.svc.{z}", svc.name, svc.namespace);
        add(base.clone(), &format!("service-{kind}"));
        add(
            format!("x.y.{base}"),
            if is_external(svc.kind) {
                "extname-grandchild"
            } else {
                "extra-labels"
            },
        );
        add(format!("a.b.c.{base}"), "too-many-labels");
        // Zonal names (the `multicluster` pair has `zonal`; the others answer them as the
        // too-long names they are without it). `zone-x` holds no endpoint.
        for (zonal, form) in [
            ("zone-a.pin", "zonal-pin"),
            ("zone-b.prefer", "zonal-prefer"),
            ("corp.example.pin", "zonal-dotted-zone"),
            ("zone-x.pin", "zonal-pin-empty-zone"),
            ("zone-x.prefer", "zonal-prefer-fallback"),
            ("zone-a.near", "zonal-unknown-directive"),
        ] {
            add(format!("{zonal}._zone.{base}"), &format!("{form}-{kind}"));
        }
        add(
            format!("{}.nosuchns.svc.{z}", svc.name),
            "service-namespace-missing",
        );
        if is_external(svc.kind) {
            add(format!("x.{base}"), "extname-child");
            add(format!("_http._tcp.{base}"), "extname-srv");
            add(format!("_*._*.{base}"), "extname-srv-wildcard");
            add(format!("http.tcp.{base}"), "extname-srv-no-underscore");
            continue;
        }
        for port in &svc.ports {
            let proto = port.protocol.to_ascii_lowercase();
            if port.name.is_empty() {
                add(format!("_._{proto}.{base}"), "srv-unnamed-port");
                continue;
            }
            add(
                format!("_{}._{proto}.{base}", port.name),
                &format!("srv-{kind}"),
            );
            let wrong = if proto == "udp" { "tcp" } else { "udp" };
            add(
                format!("_{}._{wrong}.{base}", port.name),
                "srv-wrong-protocol",
            );
            add(format!("{}.{proto}.{base}", port.name), "srv-no-underscore");
            add(format!("_{}._*.{base}", port.name), "srv-wildcard-protocol");
        }
        add(format!("_nope._tcp.{base}"), "srv-unknown-port");
        add(format!("_*._*.{base}"), "srv-wildcard");
        add(format!("nohost.{base}"), "endpoint-unknown");
        add(format!("*.{base}"), "endpoint-wildcard");
        for ip in &svc.cluster_ips {
            let v = if ip.contains(':') { "-v6" } else { "" };
            add(
                reverse(ip),
                &reverse_form(ip, format!("reverse-cluster-ip{v}")),
            );
        }
        for slice in state
            .slices
            .iter()
            .filter(|s| s.namespace == svc.namespace && s.service == svc.name)
        {
            for ep in &slice.endpoints {
                for ip in &ep.addresses {
                    let v = if ip.contains(':') { "-v6" } else { "" };
                    let tail = if ip.ends_with("::") {
                        "-trailing-colons"
                    } else {
                        ""
                    };
                    let nr = if ep.ready == Some(false) {
                        "-not-ready"
                    } else {
                        ""
                    };
                    add(
                        format!("{}.{base}", dashed(ip)),
                        &format!("endpoint-dashed{v}{tail}{nr}"),
                    );
                    if ip.ends_with("::") {
                        add(
                            format!("{}0.{base}", dashed(ip)),
                            &format!("endpoint-dashed-v6-trailing-zero{nr}"),
                        );
                    }
                    add(
                        reverse(ip),
                        &reverse_form(ip, format!("reverse-endpoint{v}{tail}")),
                    );
                }
                if let Some(h) = &ep.hostname {
                    add(format!("{h}.{base}"), "endpoint-hostname");
                }
                if let Some(p) = &ep.pod {
                    add(format!("{p}.{base}"), "endpoint-pod-name");
                }
            }
        }
    }
    for pod in &state.pods {
        for ip in &pod.ips {
            let v = if ip.contains(':') { "-v6" } else { "" };
            add(
                format!("{}.{}.pod.{z}", dashed(ip), pod.namespace),
                &format!("pod-name{v}"),
            );
            add(reverse(ip), &reverse_form(ip, format!("reverse-pod{v}")));
            if let Some(h) = &pod.hostname
                && let Some(sub) = &pod.subdomain
            {
                add(
                    format!("{h}.{sub}.{}.svc.{z}", pod.namespace),
                    "endpoint-hostname",
                );
            }
        }
        let other = state
            .namespaces
            .iter()
            .find(|ns| **ns != pod.namespace)
            .cloned()
            .unwrap_or_default();
        add(
            format!("{}.{other}.pod.{z}", dashed(&pod.ips[0])),
            "pod-wrong-namespace",
        );
    }
    mcs_names(state, &mut names);
    names
}

/// The names of `clusterset.local` (the `multicluster` zone): every service's name there
/// (with an import or without), each import's ports and endpoints by cluster, and the
/// negative forms next to them.
fn mcs_names(state: &State, names: &mut BTreeMap<String, String>) {
    let z = "clusterset.local";
    let mut add = |name: String, form: &str| {
        names.entry(name).or_insert_with(|| form.to_string());
    };
    for (name, form) in [
        (z.to_string(), "mcs-apex"),
        (format!("svc.{z}"), "mcs-svc-label"),
        (format!("dns-version.{z}"), "mcs-dns-version"),
        (format!("ns.dns.{z}"), "mcs-ns-name"),
        (format!("*.{z}"), "mcs-wildcard-apex"),
        (format!("a.b.{z}"), "mcs-invalid-name"),
        (format!("198-19-200-1.prod.pod.{z}"), "mcs-pod-name"),
    ] {
        add(name, form);
    }
    for ns in &state.namespaces {
        add(format!("{ns}.svc.{z}"), "mcs-namespace");
        add(format!("nope.{ns}.svc.{z}"), "mcs-service-missing");
    }
    for svc in &state.services {
        let base = format!("{}.{}.svc.{z}", svc.name, svc.namespace);
        let import = state
            .imports
            .iter()
            .find(|i| i.namespace == svc.namespace && i.name == svc.name);
        let Some(import) = import else {
            add(base, "mcs-service-not-imported");
            continue;
        };
        let kind = if import.kind == "Headless" {
            "headless"
        } else if import.ips.is_empty() {
            "clustersetip-no-ips"
        } else if import.ports.is_empty() {
            "clustersetip-no-ports"
        } else {
            "clustersetip"
        };
        add(base.clone(), &format!("mcs-service-{kind}"));
        for port in import.ports.iter().filter(|p| !p.name.is_empty()) {
            let proto = port.protocol.to_ascii_lowercase();
            add(
                format!("_{}._{proto}.{base}", port.name),
                &format!("mcs-srv-{kind}"),
            );
            add(
                format!("_{}._sctp.{base}", port.name),
                "mcs-srv-wrong-protocol",
            );
        }
        add(format!("_nope._tcp.{base}"), "mcs-srv-unknown-port");
        add(format!("x.y.z.{base}"), "mcs-too-many-labels");
        add(format!("zone-a.pin._zone.{base}"), "mcs-zonal");
        add(format!("zone-x.prefer._zone.{base}"), "mcs-zonal");
        for ip in &import.ips {
            let v = if ip.contains(':') { "-v6" } else { "" };
            add(reverse(ip), &format!("mcs-reverse-clustersetip{v}"));
        }
        for slice in &import.slices {
            add(format!("{}.{base}", slice.cluster), "mcs-cluster-targeting");
            for ep in &slice.endpoints {
                let nr = if ep.ready == Some(false) {
                    "-not-ready"
                } else {
                    ""
                };
                for ip in &ep.addresses {
                    let host = ep.hostname.clone().unwrap_or_else(|| dashed(ip));
                    add(
                        format!("{host}.{}.{base}", slice.cluster),
                        &format!("mcs-endpoint{nr}"),
                    );
                    add(format!("{host}.{base}"), "mcs-endpoint-no-cluster");
                    add(format!("{host}.mars.{base}"), "mcs-endpoint-other-cluster");
                    add(reverse(ip), &format!("mcs-reverse-endpoint{nr}"));
                }
            }
        }
    }
}

/// Questions for `autopath @kubernetes`, asked from the pod `prod/autopath-client`: names as
/// its resolver writes them with the first search domain (`prod.svc.cluster.local`) appended,
/// which autopath walks on the server.
pub fn autopath(state: &State, seed: u64) -> Vec<Question> {
    let mut rng = Rng::new(seed.wrapping_mul(131).wrapping_add(3));
    let first = "prod.svc.cluster.local";
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for svc in &state.services {
        let (s, n) = (&svc.name, &svc.namespace);
        let tag = if svc.kind == Kind::HeadlessPublishNotReady {
            "@publish-not-ready"
        } else {
            ""
        };
        for (name, form) in [
            (format!("{s}.{n}.{first}"), "autopath-service-in-namespace"),
            (format!("{s}.{n}.svc.{first}"), "autopath-service-fqdn"),
            (format!("{s}.{first}"), "autopath-service-here"),
        ] {
            names.insert(name, format!("{form}{tag}"));
        }
    }
    for (name, form) in [
        (format!("nope.{first}"), "autopath-nxdomain"),
        (
            format!("kubernetes.default.{first}"),
            "autopath-service-in-namespace",
        ),
        (format!("example.org.{first}"), "autopath-outside"),
        (
            format!("dns-version.cluster.local.{first}"),
            "autopath-dns-version",
        ),
        (first.to_string(), "autopath-search-domain"),
    ] {
        names.insert(name, form.to_string());
    }
    let mut questions = Vec::new();
    for (name, form) in names {
        for qtype in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::SRV,
            RecordType::TXT,
        ] {
            questions.push(Question {
                name: if rng.chance(30) {
                    mix_case(&mut rng, &name)
                } else {
                    name.clone()
                },
                qtype,
                form: form.clone(),
                tcp: rng.chance(30),
                edns: if rng.chance(50) {
                    Edns::Plain
                } else {
                    Edns::None
                },
            });
        }
    }
    questions
}

/// Mixes the case of `name`'s letters.
fn mix_case(rng: &mut Rng, name: &str) -> String {
    name.chars()
        .map(|c| {
            if rng.chance(50) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Every name in every type, each with a seeded transport, EDNS and case.
pub fn generate(state: &State, seed: u64) -> Vec<Question> {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let mut questions = Vec::new();
    for (name, form) in names(state) {
        for &qtype in TYPES {
            let name = if rng.chance(30) {
                mix_case(&mut rng, &name)
            } else {
                name.clone()
            };
            let edns = match rng.below(100) {
                0..30 => Edns::None,
                30..60 => Edns::Plain,
                60..85 => Edns::Do,
                _ => Edns::V1,
            };
            questions.push(Question {
                name,
                qtype,
                form: form.clone(),
                tcp: rng.chance(30),
                edns,
            });
        }
    }
    questions
}
