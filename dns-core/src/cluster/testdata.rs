//! The example cluster of `examples/cluster.yaml` as model changes: the fixture of the record
//! table tests, the benchmarks and the fuzz target. cluster-dns has a test that the YAML file
//! parses to exactly these changes, so the two never drift apart.

use std::net::IpAddr;

use super::model::*;

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

fn port(name: &str, port: u16, protocol: Protocol) -> Port {
    Port {
        name: name.into(),
        port,
        protocol,
    }
}

fn ready(ready: bool) -> EndpointConditions {
    EndpointConditions {
        ready: Some(ready),
        ..Default::default()
    }
}

/// A pod `targetRef`, as the model keeps it: the pod's name.
fn pod_ref(name: &str) -> Option<&str> {
    Some(name)
}

fn cluster_ip(ns: &str, name: &str, ips: &[&str], ports: Vec<Port>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        cluster_ips: ips.iter().map(|s| ip(s)).collect(),
        ip_families: ips.iter().map(|s| IpFamily::of(&ip(s))).collect(),
        ports,
        ..Default::default()
    }
}

fn headless(ns: &str, name: &str, ports: Vec<Port>, publish_not_ready: bool) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        headless: true,
        ip_families: if publish_not_ready {
            smallvec::smallvec![]
        } else {
            smallvec::smallvec![IpFamily::V4]
        },
        ports,
        publish_not_ready_addresses: publish_not_ready,
        ..Default::default()
    }
}

fn external(ns: &str, name: &str, target: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        service_type: ServiceType::ExternalName,
        external_name: Some(target.into()),
        ..Default::default()
    }
}

fn endpoint(
    addr: &str,
    conditions: EndpointConditions,
    hostname: Option<&str>,
    target: Option<&str>,
) -> Endpoint {
    Endpoint {
        addresses: [ip(addr)].into_iter().collect(),
        conditions,
        hostname: hostname.map(Box::from),
        target_name: target.map(Box::from),
        zone: None,
    }
}

/// `slice` with its endpoints' `zone`s, in endpoint order (`None`: the endpoint has none).
fn zoned(mut slice: EndpointSlice, zones: &[Option<&str>]) -> EndpointSlice {
    for (i, zone) in zones.iter().enumerate() {
        let index = zone.and_then(|z| slice.zone_index(z));
        if let Some(ep) = slice.endpoints.get_mut(i) {
            ep.zone = index;
        }
    }
    slice
}

fn slice(
    ns: &str,
    name: &str,
    svc: &str,
    address_type: AddressType,
    endpoints: Vec<Endpoint>,
    ports: Vec<Port>,
) -> EndpointSlice {
    EndpointSlice {
        namespace: ns.into(),
        name: name.into(),
        service_name: svc.into(),
        address_type,
        endpoints,
        ports,
        cluster_id: Name::default(),
        zones: Vec::new(),
    }
}

fn import(
    ns: &str,
    name: &str,
    import_type: ImportType,
    ips: &[&str],
    ports: Vec<Port>,
) -> ServiceImport {
    ServiceImport {
        namespace: ns.into(),
        name: name.into(),
        import_type,
        ips: ips.iter().map(|s| ip(s)).collect(),
        ports,
    }
}

/// A slice of an import's endpoints in cluster `cluster`.
fn import_slice(cluster: &str, slice: EndpointSlice) -> EndpointSlice {
    EndpointSlice {
        cluster_id: cluster.into(),
        ..slice
    }
}

fn namespace(name: &str, extra: &[(&str, &str)]) -> Namespace {
    let mut labels: std::collections::BTreeMap<String, String> =
        [("kubernetes.io/metadata.name".to_string(), name.to_string())].into();
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Namespace {
        name: name.into(),
        labels,
    }
}

/// Every object of `examples/cluster.yaml`, in file order.
pub fn example_cluster() -> Vec<Change> {
    use AddressType::{Ipv4, Ipv6};
    use Protocol::{Tcp, Udp};
    vec![
        Change::UpsertNamespace(namespace("default", &[])),
        Change::UpsertNamespace(namespace("kube-system", &[])),
        Change::UpsertNamespace(namespace("prod", &[("team", "shop")])),
        Change::UpsertService(cluster_ip(
            "default",
            "kubernetes",
            &["198.18.0.1"],
            vec![port("https", 443, Tcp)],
        )),
        Change::UpsertEndpointSlice(slice(
            "default",
            "kubernetes",
            "kubernetes",
            Ipv4,
            vec![endpoint("198.19.255.1", ready(true), None, None)],
            vec![port("https", 6443, Tcp)],
        )),
        Change::UpsertService(cluster_ip(
            "kube-system",
            "kube-dns",
            &["198.18.0.10"],
            vec![
                port("dns", 53, Udp),
                port("dns-tcp", 53, Tcp),
                port("metrics", 9153, Tcp),
            ],
        )),
        Change::UpsertEndpointSlice(slice(
            "kube-system",
            "kube-dns-x7k2p",
            "kube-dns",
            Ipv4,
            vec![endpoint(
                "198.19.0.10",
                EndpointConditions {
                    ready: Some(true),
                    serving: Some(true),
                    terminating: Some(false),
                },
                None,
                pod_ref("coredns-5d78c9869d-4kx8q"),
            )],
            vec![
                port("dns", 53, Udp),
                port("dns-tcp", 53, Tcp),
                port("metrics", 9153, Tcp),
            ],
        )),
        Change::UpsertService(cluster_ip(
            "prod",
            "web",
            &["198.18.0.20", "2001:db8::20"],
            vec![port("http", 80, Tcp), port("https", 443, Tcp)],
        )),
        Change::UpsertEndpointSlice(slice(
            "prod",
            "web-4xq9z",
            "web",
            Ipv4,
            vec![
                endpoint(
                    "198.19.1.1",
                    ready(true),
                    None,
                    pod_ref("web-6d4b9c7f5-abcde"),
                ),
                endpoint(
                    "198.19.1.2",
                    ready(true),
                    None,
                    pod_ref("web-6d4b9c7f5-fghij"),
                ),
            ],
            vec![port("http", 8080, Tcp), port("https", 8443, Tcp)],
        )),
        Change::UpsertEndpointSlice(slice(
            "prod",
            "web-v6-k2m4n",
            "web",
            Ipv6,
            vec![endpoint(
                "2001:db8:1::1",
                ready(true),
                None,
                pod_ref("web-6d4b9c7f5-abcde"),
            )],
            vec![port("http", 8080, Tcp), port("https", 8443, Tcp)],
        )),
        Change::UpsertService(headless(
            "prod",
            "db",
            vec![port("postgres", 5432, Tcp)],
            false,
        )),
        Change::UpsertEndpointSlice(zoned(
            slice(
                "prod",
                "db-7hd2k",
                "db",
                Ipv4,
                vec![endpoint(
                    "198.19.2.1",
                    ready(true),
                    Some("db-0"),
                    pod_ref("db-0"),
                )],
                vec![port("postgres", 5432, Tcp)],
            ),
            &[Some("zone-a")],
        )),
        Change::UpsertEndpointSlice(zoned(
            slice(
                "prod",
                "db-p9x3c",
                "db",
                Ipv4,
                vec![
                    endpoint("198.19.2.2", ready(true), Some("db-1"), pod_ref("db-1")),
                    endpoint("198.19.2.3", ready(false), Some("db-2"), pod_ref("db-2")),
                ],
                vec![port("postgres", 5432, Tcp)],
            ),
            &[Some("zone-b"), Some("zone-a")],
        )),
        Change::UpsertService(cluster_ip(
            "prod",
            "api-v6",
            &["2001:db8::30"],
            vec![port("http", 80, Tcp)],
        )),
        Change::UpsertService(external("prod", "legacy", "legacy.example.com")),
        Change::UpsertService(external("prod", "alias", "web.prod.svc.cluster.local")),
        Change::UpsertService(Service {
            ip_families: smallvec::smallvec![],
            ..cluster_ip("prod", "noports", &["198.18.0.40"], vec![])
        }),
        Change::UpsertService(headless(
            "prod",
            "peers",
            vec![port("gossip", 7946, Udp)],
            true,
        )),
        Change::UpsertEndpointSlice(slice(
            "prod",
            "peers-5mz8w",
            "peers",
            Ipv4,
            vec![endpoint("198.19.3.1", ready(false), None, None)],
            vec![port("gossip", 7946, Udp)],
        )),
        Change::UpsertPod(Pod {
            namespace: "prod".into(),
            name: "web-6d4b9c7f5-abcde".into(),
            ips: vec![ip("198.19.1.1"), ip("2001:db8:1::1")],
            hostname: None,
            subdomain: None,
        }),
        Change::UpsertPod(Pod {
            namespace: "prod".into(),
            name: "db-0".into(),
            ips: vec![ip("198.19.2.1")],
            hostname: Some("db-0".into()),
            subdomain: Some("db".into()),
        }),
        // Multi-Cluster Services: `web` and `db` exported from this cluster (`east`) and
        // `west`, as an MCS controller imports them.
        Change::UpsertServiceImport(import(
            "prod",
            "web",
            ImportType::ClusterSetIp,
            &["198.18.5.20", "2001:db8::5:20"],
            vec![port("http", 80, Tcp), port("https", 443, Tcp)],
        )),
        Change::UpsertImportSlice(import_slice(
            "east",
            slice(
                "prod",
                "imported-web-east",
                "web",
                Ipv4,
                vec![
                    endpoint("198.19.1.1", ready(true), None, None),
                    endpoint("198.19.1.2", ready(true), None, None),
                ],
                vec![port("http", 8080, Tcp), port("https", 8443, Tcp)],
            ),
        )),
        Change::UpsertImportSlice(import_slice(
            "west",
            slice(
                "prod",
                "imported-web-west",
                "web",
                Ipv4,
                vec![endpoint("198.19.6.1", ready(true), None, None)],
                vec![port("http", 8080, Tcp), port("https", 8443, Tcp)],
            ),
        )),
        Change::UpsertServiceImport(import(
            "prod",
            "db",
            ImportType::Headless,
            &[],
            vec![port("postgres", 5432, Tcp)],
        )),
        Change::UpsertImportSlice(import_slice(
            "east",
            slice(
                "prod",
                "imported-db-east",
                "db",
                Ipv4,
                vec![
                    endpoint("198.19.2.1", ready(true), Some("db-0"), None),
                    endpoint("198.19.2.3", ready(false), Some("db-2"), None),
                ],
                vec![port("postgres", 5432, Tcp)],
            ),
        )),
        Change::UpsertImportSlice(import_slice(
            "west",
            slice(
                "prod",
                "imported-db-west",
                "db",
                Ipv4,
                vec![endpoint("198.19.4.1", ready(true), Some("db-0"), None)],
                vec![port("postgres", 5432, Tcp)],
            ),
        )),
        Change::UpsertImportSlice(import_slice(
            "west",
            slice(
                "prod",
                "imported-db-west-v6",
                "db",
                Ipv6,
                vec![endpoint("2001:db8:4::1", ready(true), Some("db-0"), None)],
                vec![port("postgres", 5432, Tcp)],
            ),
        )),
        // Imported before the controller assigned its clusterset IP.
        Change::UpsertServiceImport(import(
            "prod",
            "pending",
            ImportType::ClusterSetIp,
            &[],
            vec![port("http", 80, Tcp)],
        )),
        // Headless, and no cluster has endpoints for it.
        Change::UpsertServiceImport(import(
            "prod",
            "lonely",
            ImportType::Headless,
            &[],
            vec![port("http", 80, Tcp)],
        )),
        // A slice whose import is gone (or not there yet).
        Change::UpsertImportSlice(import_slice(
            "west",
            slice(
                "prod",
                "imported-gone-west",
                "gone",
                Ipv4,
                vec![endpoint("198.19.9.1", ready(true), None, None)],
                vec![port("http", 8080, Tcp)],
            ),
        )),
    ]
}
