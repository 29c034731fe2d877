//! A seeded generator of cluster states: namespaces with edge-case names, Services of every
//! kind, hand-written EndpointSlices with the awkward cases (the same address twice, IPv6
//! addresses ending in `::`, every readiness condition, hostnames) and Pods with written status.
//! [`State::apply`] puts a state on the test control plane, as an operator would.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use signpost_tests::kube_fixtures::{NODE, TEST_SLICE_MANAGER};

/// A small deterministic generator (splitmix64): the same seed gives the same state and
/// questions on every machine.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5157_4e50_4f53_5421)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with `percent` % probability.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What kind of Service a generated one is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ClusterIP, IPv4 only, no selector, hand-written slices.
    ClusterIpV4,
    /// ClusterIP, RequireDualStack.
    ClusterIpDual,
    /// ClusterIP, IPv6 only.
    ClusterIpV6,
    /// Headless without selector, hand-written slices.
    Headless,
    /// Headless with a selector: the EndpointSlice controller writes the slices from pods.
    HeadlessSelector,
    /// Headless without ports.
    HeadlessNoPorts,
    /// Headless without any endpoint.
    HeadlessEmpty,
    /// Headless, publishNotReadyAddresses, hand-written slices with not-ready endpoints.
    HeadlessPublishNotReady,
    /// ExternalName to a name outside the cluster zones.
    ExternalOut,
    /// ExternalName to another service's name in the zone.
    ExternalIn,
    /// ExternalName to a string that looks like an IPv4 address.
    ExternalIp,
}

const KINDS: &[Kind] = &[
    Kind::ClusterIpV4,
    Kind::Headless,
    Kind::ExternalOut,
    Kind::ClusterIpDual,
    Kind::HeadlessSelector,
    Kind::ExternalIn,
    Kind::ClusterIpV6,
    Kind::HeadlessPublishNotReady,
    Kind::ExternalIp,
    Kind::HeadlessNoPorts,
    Kind::HeadlessEmpty,
];

#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    pub protocol: &'static str,
    pub port: u16,
}

#[derive(Clone, Debug)]
pub struct Svc {
    pub namespace: String,
    pub name: String,
    pub kind: Kind,
    pub ports: Vec<Port>,
    pub external_name: Option<String>,
    /// Filled in from the API once created.
    pub cluster_ips: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Ep {
    pub addresses: Vec<String>,
    pub hostname: Option<String>,
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
    pub pod: Option<String>,
    /// `zone`: what `zonal` names select on.
    pub zone: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Slice {
    pub namespace: String,
    pub name: String,
    pub service: String,
    pub address_type: &'static str,
    pub endpoints: Vec<Ep>,
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug)]
pub struct PodObj {
    pub namespace: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub ips: Vec<String>,
    pub ready: bool,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
}

/// A ServiceImport (Multi-Cluster Services) and the slices an MCS controller writes for it.
#[derive(Clone, Debug)]
pub struct Import {
    pub namespace: String,
    pub name: String,
    /// `ClusterSetIP` or `Headless`.
    pub kind: &'static str,
    pub ips: Vec<String>,
    pub ports: Vec<Port>,
    pub slices: Vec<ImportSlice>,
}

#[derive(Clone, Debug)]
pub struct ImportSlice {
    pub name: String,
    pub cluster: String,
    pub address_type: &'static str,
    pub endpoints: Vec<Ep>,
}

/// One generated cluster state.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub namespaces: Vec<String>,
    pub services: Vec<Svc>,
    pub slices: Vec<Slice>,
    pub pods: Vec<PodObj>,
    pub imports: Vec<Import>,
    /// Objects the API refused (the generator asked for something it does not take).
    pub refused: Vec<String>,
}

/// The address of the pod autopath questions come from (namespace `prod`), and the host's
/// end of its link: both servers of the autopath pair listen there too.
pub const AUTOPATH_POD_IP: &str = "198.19.251.2";
pub const AUTOPATH_HOST_IP: &str = "198.19.251.1";

/// The 63-character namespace name (the longest label).
pub fn long_namespace() -> String {
    let mut name = String::from("a-namespace-name-of-the-longest-length-a-label-may-have");
    while name.len() < 63 {
        name.push('x');
    }
    name
}

impl State {
    /// A state of about `size` services per namespace, from `seed`.
    pub fn generate(seed: u64, size: usize) -> Self {
        let mut rng = Rng::new(seed);
        let mut state = State {
            namespaces: vec![
                "svc".into(),
                "pod".into(),
                long_namespace(),
                "0-starts-with-a-digit".into(),
                "prod".into(),
            ],
            ..Default::default()
        };
        for i in 0..size / 4 {
            state.namespaces.push(format!("ns-{i}"));
        }
        let total = (size * state.namespaces.len()).max(KINDS.len());
        let names = [
            "web", "api", "db", "cache", "svc", "pod", "x", "a-b", "legacy", "peers", "v9",
        ];
        for i in 0..total {
            let kind = KINDS[i % KINDS.len()];
            let namespace = state.namespaces[rng.below(state.namespaces.len())].clone();
            let base = *rng.pick(&names);
            let name = format!("{base}-{i}");
            let ports = match kind {
                Kind::HeadlessNoPorts | Kind::ExternalOut | Kind::ExternalIn | Kind::ExternalIp => {
                    Vec::new()
                }
                _ => gen_ports(&mut rng),
            };
            let external_name = match kind {
                Kind::ExternalOut => Some(
                    rng.pick(&["legacy.example.com", "a.b.example.org"])
                        .to_string(),
                ),
                Kind::ExternalIp => Some(format!("198.18.250.{}", 1 + rng.below(9))),
                Kind::ExternalIn => {
                    // Another service's name, maybe one that does not exist, maybe itself.
                    let target = state
                        .services
                        .iter()
                        .filter(|s| {
                            // Not a publishNotReadyAddresses service: its answers differ by
                            // design (docs/differences.md), and would make the alias differ.
                            !matches!(
                                s.kind,
                                Kind::ExternalOut
                                    | Kind::ExternalIp
                                    | Kind::HeadlessPublishNotReady
                            )
                        })
                        .map(|s| format!("{}.{}.svc.cluster.local", s.name, s.namespace))
                        .collect::<Vec<_>>();
                    Some(match rng.below(5) {
                        0 => format!("nope.{namespace}.svc.cluster.local"),
                        1 => format!("{name}.{namespace}.svc.cluster.local"),
                        _ if !target.is_empty() => rng.pick(&target).clone(),
                        _ => format!("web.{namespace}.svc.cluster.local"),
                    })
                }
                _ => None,
            };
            let svc = Svc {
                namespace,
                name,
                kind,
                ports,
                external_name,
                cluster_ips: Vec::new(),
            };
            match kind {
                Kind::ClusterIpV4
                | Kind::ClusterIpDual
                | Kind::ClusterIpV6
                | Kind::Headless
                | Kind::HeadlessNoPorts
                | Kind::HeadlessPublishNotReady => {
                    let n = rng.below(3) + usize::from(kind != Kind::ClusterIpV4);
                    for s in 0..n {
                        let slice = gen_slice(&mut rng, &svc, i, s);
                        state.slices.push(slice);
                    }
                }
                Kind::HeadlessSelector => {
                    for p in 0..1 + rng.below(3) {
                        let ready = rng.chance(75);
                        let ip = format!("198.19.{}.{}", 100 + i % 100, 10 + p);
                        let mut ips = vec![ip];
                        if rng.chance(30) {
                            ips.push(format!("2001:db8:3:{i:x}::{:x}", 10 + p));
                        }
                        let hostname = rng.chance(50).then(|| format!("member-{p}"));
                        state.pods.push(PodObj {
                            namespace: svc.namespace.clone(),
                            name: format!("{}-pod-{p}", svc.name),
                            labels: vec![("app".into(), svc.name.clone())],
                            ips,
                            ready,
                            subdomain: hostname.as_ref().map(|_| svc.name.clone()),
                            hostname,
                        });
                    }
                }
                _ => {}
            }
            state.services.push(svc);
        }
        // ServiceImports for about half the services that can be exported.
        for (i, svc) in state.services.iter().enumerate() {
            let kind = match svc.kind {
                Kind::ClusterIpV4 | Kind::ClusterIpDual => "ClusterSetIP",
                Kind::Headless | Kind::HeadlessNoPorts | Kind::HeadlessEmpty => "Headless",
                _ => continue,
            };
            if !rng.chance(50) {
                continue;
            }
            let mut ips = Vec::new();
            if kind == "ClusterSetIP" && !rng.chance(10) {
                ips.push(format!("198.18.5.{}", 1 + i % 250));
                if svc.kind == Kind::ClusterIpDual {
                    ips.push(format!("2001:db8:5::{:x}", 1 + i));
                }
            }
            let mut slices = Vec::new();
            for (c, cluster) in ["west", "east"].iter().enumerate() {
                if !rng.chance(60) {
                    continue;
                }
                let v6 = rng.chance(25);
                let endpoints = (0..1 + rng.below(3))
                    .map(|e| Ep {
                        addresses: vec![if v6 {
                            // Canonical form: the API takes no other.
                            format!("2001:db8:6:{i:x}::{:x}", 1 + c * 8 + e)
                                .parse::<std::net::IpAddr>()
                                .map(|ip| ip.to_string())
                                .unwrap_or_default()
                        } else {
                            format!("198.19.{}.{}", 60 + i % 100, 1 + c * 8 + e)
                        }],
                        hostname: rng.chance(40).then(|| format!("m-{e}")),
                        ready: if rng.chance(20) {
                            Some(false)
                        } else {
                            Some(true)
                        },
                        serving: None,
                        terminating: None,
                        pod: None,
                        // Zoned like a local endpoint: a zonal name in the clusterset zone
                        // must stay NXDOMAIN all the same.
                        zone: Some(endpoint_zone(i, e).unwrap_or("zone-a").to_string()),
                    })
                    .collect();
                slices.push(ImportSlice {
                    name: format!("imported-{}-{cluster}", svc.name),
                    cluster: cluster.to_string(),
                    address_type: if v6 { "IPv6" } else { "IPv4" },
                    endpoints,
                });
            }
            let ports = if kind == "ClusterSetIP" && rng.chance(10) {
                Vec::new()
            } else {
                svc.ports.clone()
            };
            state.imports.push(Import {
                namespace: svc.namespace.clone(),
                name: svc.name.clone(),
                kind,
                ips,
                ports,
                slices,
            });
        }
        // The pod the autopath questions come from (its address is in a network namespace
        // the test makes).
        state.pods.push(PodObj {
            namespace: "prod".into(),
            name: "autopath-client".into(),
            labels: vec![("role".into(), "client".into())],
            ips: vec![AUTOPATH_POD_IP.into()],
            ready: true,
            hostname: None,
            subdomain: None,
        });
        // Pods that no service selects, for `pods verified`.
        for p in 0..2 + size / 2 {
            let namespace = state.namespaces[rng.below(state.namespaces.len())].clone();
            let mut ips = vec![format!("198.19.200.{}", 1 + p)];
            if rng.chance(40) {
                ips.push(format!("2001:db8:4::{:x}", 1 + p));
            }
            state.pods.push(PodObj {
                namespace,
                name: format!("lone-{p}"),
                labels: vec![("role".into(), "lone".into())],
                ips,
                ready: rng.chance(80),
                hostname: None,
                subdomain: None,
            });
        }
        state
    }

    /// Creates every object on the API server (namespaces first), waits for the
    /// EndpointSlice controller to publish the selected pods, and records the cluster IPs the
    /// API assigned.
    pub async fn apply(&mut self, client: &kube::Client) {
        let pp = PostParams::default();
        for ns in &self.namespaces {
            let object: Namespace =
                serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
            match Api::<Namespace>::all(client.clone())
                .create(&pp, &object)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => panic!("create namespace {ns}: {e}"),
            }
        }
        for (i, svc) in self.services.iter_mut().enumerate() {
            let object = service_json(svc, i);
            match Api::<Service>::namespaced(client.clone(), &svc.namespace)
                .create(&pp, &serde_json::from_value(object).expect("service"))
                .await
            {
                Ok(created) => {
                    svc.cluster_ips = created
                        .spec
                        .and_then(|s| s.cluster_ips)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|ip| ip != "None")
                        .collect();
                }
                Err(e) => self
                    .refused
                    .push(format!("service {}/{}: {e}", svc.namespace, svc.name)),
            }
        }
        for slice in &self.slices {
            let object = slice_json(slice);
            if let Err(e) = Api::<EndpointSlice>::namespaced(client.clone(), &slice.namespace)
                .create(&pp, &serde_json::from_value(object).expect("slice"))
                .await
            {
                self.refused
                    .push(format!("slice {}/{}: {e}", slice.namespace, slice.name));
            }
        }
        if !self.imports.is_empty() {
            signpost_tests::mcs::install_crds(client).await;
        }
        for import in &self.imports {
            let ns = signpost_tests::kube_fixtures::TestNamespace {
                client: client.clone(),
                name: import.namespace.clone(),
            };
            let ports: Vec<Value> = import.ports.iter().map(|p| port_json(p, false)).collect();
            let object = json!({"metadata": {"name": import.name},
                "spec": {"type": import.kind, "ips": import.ips, "ports": ports}});
            if let Err(e) = ns.try_service_import(object).await {
                self.refused
                    .push(format!("import {}/{}: {e}", import.namespace, import.name));
            }
            for slice in &import.slices {
                let mut object = slice_json(&Slice {
                    namespace: import.namespace.clone(),
                    name: slice.name.clone(),
                    service: import.name.clone(),
                    address_type: slice.address_type,
                    endpoints: slice.endpoints.clone(),
                    ports: import.ports.clone(),
                });
                object["metadata"]["labels"] = json!({
                    "multicluster.kubernetes.io/service-name": import.name,
                    "multicluster.kubernetes.io/source-cluster": slice.cluster,
                    "endpointslice.kubernetes.io/managed-by": TEST_SLICE_MANAGER,
                });
                if let Err(e) = Api::<EndpointSlice>::namespaced(client.clone(), &import.namespace)
                    .create(&pp, &serde_json::from_value(object).expect("slice"))
                    .await
                {
                    self.refused.push(format!(
                        "import slice {}/{}: {e}",
                        import.namespace, slice.name
                    ));
                }
            }
        }
        if !self.pods.is_empty() {
            ControlPlaneNode::ensure(client).await;
        }
        for pod in &self.pods {
            wait_default_account(client, &pod.namespace).await;
            if let Err(e) = create_pod(client, pod).await {
                self.refused
                    .push(format!("pod {}/{}: {e}", pod.namespace, pod.name));
            }
        }
        self.wait_controller_slices(client).await;
    }

    /// Waits until the controller's slices of every selector service hold each of its pods
    /// with its readiness.
    async fn wait_controller_slices(&self, client: &kube::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for svc in self
            .services
            .iter()
            .filter(|s| s.kind == Kind::HeadlessSelector)
        {
            let want: Vec<(String, bool)> = self
                .pods
                .iter()
                .filter(|p| {
                    p.namespace == svc.namespace && p.labels.iter().any(|(_, v)| *v == svc.name)
                })
                .flat_map(|p| {
                    // The service is IPv4 (single stack): its slices hold IPv4 addresses.
                    p.ips
                        .iter()
                        .filter(|ip| !ip.contains(':'))
                        .map(|ip| (ip.clone(), p.ready))
                })
                .collect();
            loop {
                let list = Api::<EndpointSlice>::namespaced(client.clone(), &svc.namespace)
                    .list(
                        &ListParams::default()
                            .labels(&format!("kubernetes.io/service-name={}", svc.name)),
                    )
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default();
                let mut have: Vec<(String, bool)> = list
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .flat_map(|ep| {
                        let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                        ep.addresses.iter().map(move |a| (a.clone(), ready))
                    })
                    .collect();
                have.sort();
                let mut want = want.clone();
                want.sort();
                if have == want && !list.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the EndpointSlice controller did not publish {}/{}: want {want:?}, have {have:?}",
                    svc.namespace,
                    svc.name
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        format!(
            "{} namespaces, {} services, {} hand-written slices, {} pods, {} ServiceImports ({} objects refused by the API)",
            self.namespaces.len(),
            self.services.len(),
            self.slices.len(),
            self.pods.len(),
            self.imports.len(),
            self.refused.len()
        )
    }
}

fn gen_ports(rng: &mut Rng) -> Vec<Port> {
    let n = 1 + rng.below(3);
    if n == 1 && rng.chance(30) {
        // A single unnamed port.
        return vec![Port {
            name: String::new(),
            protocol: ["TCP", "UDP", "SCTP"][rng.below(3)],
            port: 8080,
        }];
    }
    let mut names = vec!["http", "https", "dns", "grpc", "metrics", "x-y"];
    let mut ports = Vec::new();
    for k in 0..n {
        let name = names.remove(rng.below(names.len()));
        ports.push(Port {
            name: name.to_string(),
            protocol: ["TCP", "TCP", "UDP", "SCTP"][rng.below(4)],
            port: 80 + k as u16 * 100 + rng.below(3) as u16,
        });
    }
    ports
}

/// One hand-written slice of `svc` (service number `i`, slice number `s`).
fn gen_slice(rng: &mut Rng, svc: &Svc, i: usize, s: usize) -> Slice {
    let v6 = match svc.kind {
        Kind::ClusterIpV6 => true,
        Kind::ClusterIpV4 => rng.chance(15),
        _ => rng.chance(40),
    };
    let mut endpoints = Vec::new();
    for e in 0..1 + rng.below(3) {
        let address = if v6 {
            match rng.below(6) {
                0 => "2001:db8:2:99::".to_string(),
                1 => format!("2001:db8:2:{i:x}::"),
                2 => "2001:db8:2::5".to_string(),
                _ => format!("2001:db8:2:{i:x}::{:x}", 1 + rng.below(4)),
            }
        } else {
            match rng.below(7) {
                0 => "198.19.250.1".to_string(),
                1 => format!("198.19.{}.0", i % 250),
                _ => format!("198.19.{}.{}", i % 250, 1 + rng.below(4)),
            }
        };
        let ready = match rng.below(6) {
            0 => Some(false),
            1 => None,
            _ => Some(true),
        };
        let terminating = rng.chance(15).then_some(true);
        let serving = if terminating.is_some() {
            Some(rng.chance(50))
        } else {
            ready
        };
        let hostname = match rng.below(5) {
            0 => Some(format!("host-{e}")),
            1 => Some("host-0".to_string()),
            _ => None,
        };
        let pod = rng.chance(30).then(|| format!("{}-pod-{e}", svc.name));
        // The API takes addresses in canonical form only.
        let address = address
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_string())
            .unwrap_or(address);
        endpoints.push(Ep {
            addresses: vec![address],
            hostname,
            ready,
            serving,
            terminating,
            pod,
            zone: endpoint_zone(i + s, e).map(String::from),
        });
    }
    // The slice's ports: the service's, sometimes one fewer. (The API refuses two ports of
    // one name in a slice, so duplicate names cannot be generated.)
    let mut ports = svc.ports.clone();
    if ports.len() > 1 && rng.chance(20) {
        ports.pop();
    }
    Slice {
        namespace: svc.namespace.clone(),
        name: format!("{}-s{s}", svc.name),
        service: svc.name.clone(),
        address_type: if v6 { "IPv6" } else { "IPv4" },
        endpoints,
        ports,
    }
}

/// The zone of endpoint `e` of slice or import `n`: three zones (one with a dot, as zone
/// label values may have) and none, chosen from the numbers and not the seeded generator, so
/// the rest of a seed's state is what it was before endpoints had zones.
pub fn endpoint_zone(n: usize, e: usize) -> Option<&'static str> {
    [Some("zone-a"), Some("zone-b"), Some("corp.example"), None][(n + e) % 4]
}

fn port_json(p: &Port, service: bool) -> Value {
    let mut v = json!({"port": p.port, "protocol": p.protocol});
    if !p.name.is_empty() || !service {
        v["name"] = json!(p.name);
    }
    v
}

/// Service number `i` as the API takes it. Cluster IPs are chosen here, not by the API, so a
/// seed gives the same names and questions on every run (198.18.0.1 is the `kubernetes`
/// service's).
fn service_json(svc: &Svc, i: usize) -> Value {
    let ports: Vec<Value> = svc.ports.iter().map(|p| port_json(p, true)).collect();
    let v4 = format!("198.18.{}.{}", 10 + i / 250, 1 + i % 250);
    let v6 = format!("2001:db8:1::{:x}", 0x100 + i);
    let mut spec = match svc.kind {
        Kind::ClusterIpV4 => json!({"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                                    "clusterIP": v4, "clusterIPs": [v4]}),
        Kind::ClusterIpDual => {
            json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"],
                   "clusterIP": v4, "clusterIPs": [v4, v6]})
        }
        Kind::ClusterIpV6 => json!({"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack",
                                    "clusterIP": v6, "clusterIPs": [v6]}),
        Kind::Headless | Kind::HeadlessNoPorts | Kind::HeadlessEmpty => {
            json!({"clusterIP": "None"})
        }
        Kind::HeadlessSelector => json!({"clusterIP": "None", "selector": {"app": svc.name}}),
        Kind::HeadlessPublishNotReady => {
            json!({"clusterIP": "None", "publishNotReadyAddresses": true})
        }
        Kind::ExternalOut | Kind::ExternalIn | Kind::ExternalIp => {
            json!({"type": "ExternalName", "externalName": svc.external_name})
        }
    };
    if !ports.is_empty() {
        spec["ports"] = json!(ports);
    }
    json!({"metadata": {"name": svc.name}, "spec": spec})
}

fn slice_json(slice: &Slice) -> Value {
    let endpoints: Vec<Value> = slice
        .endpoints
        .iter()
        .map(|ep| {
            let mut conditions = serde_json::Map::new();
            for (key, value) in [
                ("ready", ep.ready),
                ("serving", ep.serving),
                ("terminating", ep.terminating),
            ] {
                if let Some(v) = value {
                    conditions.insert(key.into(), json!(v));
                }
            }
            let mut v = json!({"addresses": ep.addresses, "conditions": conditions});
            if let Some(h) = &ep.hostname {
                v["hostname"] = json!(h);
            }
            if let Some(p) = &ep.pod {
                v["targetRef"] = json!({"kind": "Pod", "name": p, "namespace": slice.namespace});
            }
            if let Some(z) = &ep.zone {
                v["zone"] = json!(z);
            }
            v
        })
        .collect();
    let ports: Vec<Value> = slice.ports.iter().map(|p| port_json(p, false)).collect();
    json!({
        "metadata": {"name": slice.name, "labels": {
            "kubernetes.io/service-name": slice.service,
            "endpointslice.kubernetes.io/managed-by": TEST_SLICE_MANAGER,
        }},
        "addressType": slice.address_type,
        "endpoints": endpoints,
        "ports": ports,
    })
}

struct ControlPlaneNode;

impl ControlPlaneNode {
    async fn ensure(_client: &kube::Client) {
        signpost_tests::ControlPlane::shared().node(NODE).await;
    }
}

/// Waits until `namespace` has its `default` ServiceAccount (pods are refused before).
async fn wait_default_account(client: &kube::Client, namespace: &str) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(accounts.get_opt("default").await, Ok(Some(_))) {
        assert!(
            Instant::now() < deadline,
            "namespace {namespace}: no default ServiceAccount"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_pod(client: &kube::Client, pod: &PodObj) -> Result<(), kube::Error> {
    let labels: serde_json::Map<String, Value> = pod
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut spec = json!({
        "nodeName": NODE,
        "automountServiceAccountToken": false,
        "containers": [{"name": "main", "image": "registry.invalid/main"}],
    });
    if let Some(h) = &pod.hostname {
        spec["hostname"] = json!(h);
    }
    if let Some(s) = &pod.subdomain {
        spec["subdomain"] = json!(s);
    }
    let object: Pod = serde_json::from_value(
        json!({"metadata": {"name": pod.name, "labels": labels}, "spec": spec}),
    )
    .expect("pod");
    let api = Api::<Pod>::namespaced(client.clone(), &pod.namespace);
    api.create(&PostParams::default(), &object).await?;
    let status = json!({"status": {
        "phase": "Running",
        "podIP": pod.ips.first(),
        "podIPs": pod.ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "conditions": [{"type": "Ready", "status": if pod.ready { "True" } else { "False" }}],
    }});
    api.patch_status(&pod.name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}
