//! Record synthesis: (snapshot, question) -> answer. Pure; the rules are docs/records.md.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use smallvec::SmallVec;

use crate::wire::name::{WireName, label_count};

use super::model::{AddressType, Endpoint, Port, Service, ServiceType};
use super::selector::Selector;
use super::snapshot::{ServiceEntry, ServiceIndex, Snapshot, lower};

/// How pod records are answered (`pods` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodMode {
    #[default]
    Disabled,
    Insecure,
    Verified,
}

/// The options of the `kubernetes` plugin that shape answers.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordOptions {
    /// Zones this block is authoritative for, lowercase FQDNs, in Corefile order; the first
    /// is the primary zone (PTR targets use it).
    pub zones: Vec<Name>,
    /// `ttl` (CoreDNS default 5, range 0..=3600).
    pub ttl: u32,
    pub pods: PodMode,
    /// `namespaces`: when non-empty, only these namespaces are exposed.
    pub namespaces: BTreeSet<String>,
    /// `endpoint_pod_names`.
    pub endpoint_pod_names: bool,
    /// `ignore empty_service`.
    pub ignore_empty_service: bool,
    /// `noendpoints`: no endpoint records (headless services and endpoint names go dark).
    pub noendpoints: bool,
    /// `namespace_labels`: only namespaces that exist and whose labels match are exposed.
    pub namespace_labels: Option<Selector>,
    /// `multicluster ZONES...`: zones (each also in `zones`) answered from ServiceImports
    /// by the MCS DNS specification; the first names clusterset PTR targets.
    pub multicluster_zones: Vec<Name>,
    /// `zonal`: `<zone>.pin._zone.<svc>...` and `<zone>.prefer._zone.<svc>...` name the
    /// endpoints of a headless service in one topology zone (R-ZONAL).
    pub zonal: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            ttl: 5,
            pods: PodMode::Disabled,
            namespaces: BTreeSet::new(),
            endpoint_pod_names: false,
            ignore_empty_service: false,
            noendpoints: false,
            namespace_labels: None,
            multicluster_zones: Vec::new(),
            zonal: false,
        }
    }
}

/// What the kubernetes plugin answers for one question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// NoError (with records, or NODATA when `answers` is empty), NXDomain (a name error: the
    /// handler may fall through), Refused (zone transfers).
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Answer {
    /// The response to `request`: authoritative unless refused.
    pub fn into_response(self, request: &hickory_proto::op::Message) -> hickory_proto::op::Message {
        let mut response = response_header(request, self.rcode);
        response.answers = self.answers;
        response.authorities = self.authorities;
        response.additionals = self.additionals;
        response
    }
}

/// The header and question of the response to `request` with `rcode`: authoritative unless
/// refused.
pub fn response_header(
    request: &hickory_proto::op::Message,
    rcode: ResponseCode,
) -> hickory_proto::op::Message {
    let mut response = crate::wire::reply_to(request, rcode);
    response.metadata.authoritative = rcode != ResponseCode::Refused;
    response
}

/// The longest of `zones` that holds `qname`, spelled as the question spells it (owner names
/// and targets keep its case).
fn zone_of(zones: &[Name], qname: &Name) -> Option<Name> {
    zone_labels(zones, &WireName::lowered(qname)).map(|labels| qname.trim_to(labels))
}

/// The label count of the longest of `zones` that holds `qname`.
fn zone_labels(zones: &[Name], qname: &WireName) -> Option<usize> {
    zones
        .iter()
        .filter(|z| qname.in_zone(z))
        .map(|z| usize::from(z.num_labels()))
        .max()
}

/// The schema version `dns-version.<zone>` TXT answers (spec 1.1.0).
pub const DNS_SCHEMA_VERSION: &str = "1.1.0";
/// The schema version `dns-version.<clusterset zone>` TXT answers (MCS DNS spec 1.0.0).
pub const MCS_DNS_SCHEMA_VERSION: &str = "1.0.0";
const DNS_VERSION_TTL: u32 = 28800;
/// How many CNAMEs an in-zone ExternalName chain may follow (CoreDNS stops after 8).
const MAX_CNAME_CHAIN: usize = 8;

/// Answers one question from the snapshot, or `None` when no zone of `options` holds the name
/// (the next plugin gets it). `ns_addrs` gives the addresses of `ns.dns.<zone>`; it is called
/// only for the few questions that need them.
pub fn answer(
    snapshot: &Snapshot,
    options: &RecordOptions,
    query: &Query,
    ns_addrs: &dyn Fn() -> Vec<IpAddr>,
) -> Option<Answer> {
    let qname = query.name();
    let lowered = WireName::lowered(qname);
    let zone_labels = zone_labels(&options.zones, &lowered)?;
    let multicluster = options
        .multicluster_zones
        .iter()
        .any(|z| usize::from(z.num_labels()) == zone_labels && lowered.in_zone(z));
    let ctx = Ctx {
        snapshot,
        options,
        index: if multicluster {
            snapshot.imports()
        } else {
            snapshot.local()
        },
        multicluster,
        zone: OnceCell::new(),
        zone_spelling: qname,
        zone_labels,
        question: Some((qname, &lowered)),
        ns_addrs,
    };
    let qtype = query.query_type();
    let result = match qtype {
        RecordType::A | RecordType::AAAA | RecordType::CNAME => {
            address_records(&ctx, qname, qtype, &mut Vec::new()).map(|a| (a, Vec::new()))
        }
        RecordType::SRV => srv_records(&ctx, qname),
        RecordType::TXT => txt_records(&ctx, qname).map(|a| (a, Vec::new())),
        RecordType::PTR => ptr_records(&ctx, qname).map(|a| (a, Vec::new())),
        RecordType::SOA if ctx.is_apex(qname) => Ok((vec![ctx.soa()], Vec::new())),
        RecordType::SOA => Ok((Vec::new(), Vec::new())),
        RecordType::NS if ctx.is_apex(qname) => Ok(ctx.ns_records(qname)),
        RecordType::AXFR | RecordType::IXFR => {
            return Some(Answer {
                rcode: ResponseCode::Refused,
                ..Default::default()
            });
        }
        // Anything else: does the name exist at all (CoreDNS's "fake A lookup")?
        _ => address_records(&ctx, qname, RecordType::A, &mut Vec::new())
            .map(|_| (Vec::new(), Vec::new())),
    };
    Some(match result {
        Ok((answers, additionals)) if !answers.is_empty() => Answer {
            rcode: ResponseCode::NoError,
            answers,
            authorities: Vec::new(),
            additionals,
        },
        Ok(_) => ctx.negative(ResponseCode::NoError),
        Err(NameError) => ctx.negative(ResponseCode::NXDomain),
    })
}

/// The name does not exist (NXDOMAIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameError;

type Lookup<T> = Result<T, NameError>;

struct Ctx<'a> {
    snapshot: &'a Snapshot,
    options: &'a RecordOptions,
    /// Services for a cluster zone, ServiceImports for a multicluster zone.
    index: &'a ServiceIndex,
    /// The question is in a multicluster zone: endpoints are `<host>.<clusterid>.<svc>...`.
    multicluster: bool,
    /// The zone as the question spells it, built the first time an answer needs it (an SOA,
    /// SRV targets): most answers need only its label count.
    zone: OnceCell<Name>,
    /// The name `zone` is cut from.
    zone_spelling: &'a Name,
    zone_labels: usize,
    /// The question's name and its lowered form, built once for every lookup of it.
    question: Option<(&'a Name, &'a WireName)>,
    ns_addrs: &'a dyn Fn() -> Vec<IpAddr>,
}

/// What a query name asks for, after the zone is cut off (CoreDNS's parseRequest). The labels
/// are borrowed from the question's name, lowered once.
#[derive(Debug, PartialEq, Eq)]
enum Request<'q> {
    /// The apex, `svc.<zone>` or `pod.<zone>`: exists, holds no records of its own.
    Empty,
    Service {
        namespace: &'q str,
        service: Option<&'q str>,
        endpoint: Option<&'q str>,
        /// The cluster ID of `<host>.<clusterid>.<svc>...` (multicluster zones only).
        cluster: Option<&'q str>,
        port: Option<&'q str>,
        protocol: Option<&'q str>,
        /// `<zone>.pin|prefer._zone.<svc>...` (the `zonal` option, outside multicluster zones).
        zonal: Option<Zonal>,
    },
    Pod {
        namespace: &'q str,
        pod: Option<&'q str>,
    },
}

/// The zone selector of a zonal name (R-ZONAL).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Zonal {
    /// The zone: every label left of the directive, joined with dots (a zone may hold dots).
    /// `None` when a label holds a character no zone can (CoreDNS compares such a label in its
    /// escaped form, which no zone equals): the selector matches no endpoint.
    zone: Option<String>,
    /// `prefer`: every endpoint when none is in the zone. `pin` answers NODATA instead.
    prefer: bool,
}

impl Zonal {
    /// `labels` (lowered) are `<zone labels...>.<directive>._zone`; `None` unless that shape
    /// with a known directive, which leaves the name as long as it was without the option.
    pub(crate) fn parse(labels: &[&str]) -> Option<Zonal> {
        let [zone @ .., directive, "_zone"] = labels else {
            return None;
        };
        if zone.is_empty() {
            return None;
        }
        let prefer = match *directive {
            "pin" => false,
            "prefer" => true,
            _ => return None,
        };
        let plain = |l: &&str| {
            l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let zone = zone.iter().all(plain).then(|| zone.join("."));
        Some(Zonal { zone, prefer })
    }

    /// The zone as the `kubernetes/zone` metadata label gives it.
    pub(crate) fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or("")
    }
}

/// One thing a name resolves to, before it becomes a record (CoreDNS's msg.Service). The
/// names SRV points at are built only when SRV asks, so A and AAAA answers build no names.
#[derive(Debug, Clone)]
struct Target<'a> {
    host: Host,
    /// `None` for a service or endpoint without ports: it resolves, but has no SRV.
    port: Option<u16>,
    /// The service this came from: SRV targets are `svc.ns.svc.<zone>`...
    service: Option<&'a Service>,
    /// ...or `<endpoint>.svc.ns.svc.<zone>` for an endpoint (`<endpoint>.<clusterid>.svc...`
    /// in a multicluster zone; the third field is the slice's cluster ID).
    endpoint: Option<(&'a Endpoint, IpAddr, &'a str)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    /// An ExternalName service's target.
    Alias(Name),
}

impl<'a> Ctx<'a> {
    /// For a question about `zone` itself, a cluster zone (a transfer, `k8s_external`).
    fn local_zone(
        snapshot: &'a Snapshot,
        options: &'a RecordOptions,
        zone: &'a Name,
        ns_addrs: &'a dyn Fn() -> Vec<IpAddr>,
    ) -> Self {
        Ctx {
            snapshot,
            options,
            index: snapshot.local(),
            multicluster: false,
            zone: OnceCell::from(zone.clone()),
            zone_spelling: zone,
            zone_labels: label_count(zone),
            question: None,
            ns_addrs,
        }
    }

    fn zone(&self) -> &Name {
        self.zone
            .get_or_init(|| self.zone_spelling.trim_to(self.zone_labels))
    }

    fn is_apex(&self, qname: &Name) -> bool {
        label_count(qname) == self.zone_labels
    }

    /// `qname` lowered: the question's, built once in [`answer`], or built now for another
    /// name (a target an ExternalName chain follows).
    fn lowered(&self, qname: &Name) -> Cow<'a, WireName> {
        match self.question {
            // The same reference: the question itself, not merely an equal name.
            Some((question, lowered)) if std::ptr::eq(question, qname) => Cow::Borrowed(lowered),
            _ => Cow::Owned(WireName::lowered(qname)),
        }
    }

    /// Labels of `lower` left of the zone, leftmost first, borrowed from it: comparing them
    /// copies nothing. A label that is not UTF-8 names nothing. On the stack for any name a
    /// cluster answers (a port, protocol, service, namespace and `svc` are five labels below
    /// the zone).
    fn base_labels<'q>(&self, lower: &'q WireName) -> Lookup<SmallVec<[&'q str; 8]>> {
        let n = lower.label_count().saturating_sub(self.zone_labels);
        (0..n)
            .map(|i| {
                let label = lower.label(i).ok_or(NameError)?;
                std::str::from_utf8(label).map_err(|_| NameError)
            })
            .collect()
    }

    fn parse_request<'q>(&self, lower: &'q WireName) -> Lookup<Request<'q>> {
        let segs = self.base_labels(lower)?;
        let Some((&kind, rest)) = segs.split_last() else {
            return Ok(Request::Empty);
        };
        let pod = match kind {
            "svc" => false,
            "pod" => true,
            _ => return Err(NameError),
        };
        let Some((&namespace, rest)) = rest.split_last() else {
            return Ok(Request::Empty);
        };
        let (name, rest) = match rest.split_last() {
            Some((&name, rest)) => (Some(name), rest),
            None => (None, rest),
        };
        if pod {
            // Pods have no sub-names.
            if !rest.is_empty() {
                return Err(NameError);
            }
            return Ok(Request::Pod {
                namespace,
                pod: name,
            });
        }
        let mut zonal = None;
        let (endpoint, cluster, port, protocol) = match *rest {
            [] => (None, None, None, None),
            [endpoint] => (Some(endpoint), None, None, None),
            // Two labels are an endpoint and its cluster in a multicluster zone unless either
            // is underscored (CoreDNS's parseRequest).
            [endpoint, cluster]
                if self.multicluster && !endpoint.starts_with('_') && !cluster.starts_with('_') =>
            {
                (Some(endpoint), Some(cluster), None, None)
            }
            [port, protocol] => (
                None,
                None,
                Some(strip_underscore(port)),
                Some(strip_underscore(protocol)),
            ),
            // Zonal names are not defined in multicluster zones; any other longer name is too
            // long to exist, as without the option.
            _ if self.options.zonal && !self.multicluster => {
                zonal = Some(Zonal::parse(rest).ok_or(NameError)?);
                (None, None, None, None)
            }
            _ => return Err(NameError),
        };
        Ok(Request::Service {
            namespace,
            service: name,
            endpoint,
            cluster,
            port,
            protocol,
            zonal,
        })
    }

    /// CoreDNS's namespaceExposed: listed by `namespaces` (when given) and existing (with
    /// labels matching `namespace_labels`, when given).
    fn namespace_exposed(&self, namespace: &str) -> bool {
        let configured =
            self.options.namespaces.is_empty() || self.options.namespaces.contains(namespace);
        configured
            && match &self.options.namespace_labels {
                Some(selector) => self
                    .snapshot
                    .namespace(namespace)
                    .is_some_and(|ns| selector.matches(&ns.labels)),
                None => self.snapshot.namespace_exists(namespace),
            }
    }

    /// Everything `qname` resolves to (CoreDNS's Records). Ok(empty) is NODATA.
    fn targets(&self, qname: &Name) -> Lookup<Vec<Target<'a>>> {
        if is_reverse(qname) {
            // The apex of a reverse zone exists (NODATA); names below it hold PTRs only.
            return if self.is_apex(qname) {
                Ok(Vec::new())
            } else {
                Err(NameError)
            };
        }
        // The name lowered once for the whole lookup; the request borrows its labels.
        let lower = self.lowered(qname);
        match self.parse_request(&lower)? {
            Request::Empty => Ok(Vec::new()),
            Request::Pod { namespace, pod } => self.pod_targets(namespace, pod),
            Request::Service {
                namespace,
                service,
                endpoint,
                cluster,
                port,
                protocol,
                zonal,
            } => {
                let Some(service) = service else {
                    return if self.namespace_exposed(namespace) {
                        Ok(Vec::new())
                    } else {
                        Err(NameError)
                    };
                };
                let endpoint = endpoint.map(|e| (e, cluster));
                self.service_targets(namespace, service, endpoint, port, protocol, zonal.as_ref())
            }
        }
    }

    fn service_domain(&self, namespace: &str, service: &str) -> Option<Name> {
        Name::from_labels([service.as_bytes(), namespace.as_bytes(), b"svc"])
            .ok()?
            .append_domain(self.zone())
            .ok()
    }

    fn service_targets(
        &self,
        namespace: &str,
        service: &str,
        endpoint: Option<(&str, Option<&str>)>,
        port: Option<&str>,
        protocol: Option<&str>,
        zonal: Option<&Zonal>,
    ) -> Lookup<Vec<Target<'a>>> {
        if !self.namespace_exposed(namespace) {
            return Err(NameError);
        }
        let index: &'a ServiceIndex = self.index;
        let entry = index.service(namespace, service).ok_or(NameError)?;
        let svc: &'a Service = &entry.service;
        // A cluster IP has no zone, and ExternalName has no endpoints: zonal names exist for
        // headless services only (R-ZONAL).
        if zonal.is_some() && !svc.headless {
            return Err(NameError);
        }
        let port_matches = |p: &Port| {
            port.is_none_or(|want| want.eq_ignore_ascii_case(&p.name))
                && protocol.is_none_or(|want| want.eq_ignore_ascii_case(p.protocol.as_label()))
        };
        // No port named in the question matches a port-less service or endpoint (the
        // sentinel): it resolves, with no SRV.
        let sentinel_matches = port.is_none() && protocol.is_none();

        if svc.service_type == ServiceType::ExternalName {
            // Only the service's own name has the CNAME: nothing exists below it, neither
            // endpoint names nor port and protocol names (R-EXTERNAL-ENDPOINT).
            if endpoint.is_some() || port.is_some() || protocol.is_some() {
                return Err(NameError);
            }
            let target = svc
                .external_name
                .as_deref()
                .filter(|n| n.parse::<IpAddr>().is_err())
                .and_then(|n| Name::from_ascii(n).ok())
                .map(|mut n| {
                    n.set_fqdn(true);
                    n
                })
                .ok_or(NameError)?;
            return Ok(vec![Target {
                host: Host::Alias(target),
                port: None,
                service: Some(svc),
                endpoint: None,
            }]);
        }

        let mut targets = Vec::new();
        if svc.headless || endpoint.is_some() {
            if self.options.noendpoints {
                return Err(NameError);
            }
            // `zone`: only endpoints in this zone (`Some(None)`: a zone no endpoint is in).
            let in_zone = |zone: Option<Option<&str>>| {
                let mut targets = Vec::new();
                for slice in &entry.slices {
                    if slice.address_type == AddressType::Fqdn {
                        continue;
                    }
                    // An endpoint name in a multicluster zone names its cluster too; a name
                    // without one matches no endpoint (CoreDNS compares it with the slice's).
                    if let Some((_, cluster)) = endpoint
                        && self.multicluster
                        && !cluster.is_some_and(|c| c.eq_ignore_ascii_case(&slice.cluster_id))
                    {
                        continue;
                    }
                    for ep in &slice.endpoints {
                        if !endpoint_published(ep, svc.publish_not_ready_addresses)
                            || zone.is_some_and(|want| want.is_none() || slice.zone_of(ep) != want)
                        {
                            continue;
                        }
                        for ip in &ep.addresses {
                            if let Some((want, _)) = endpoint
                                && !want.eq_ignore_ascii_case(&self.endpoint_name(ep, ip))
                            {
                                continue;
                            }
                            let target = |port| Target {
                                host: Host::Ip(*ip),
                                port,
                                service: Some(svc),
                                endpoint: Some((ep, *ip, slice.cluster_id.as_str())),
                            };
                            if slice.ports.is_empty() {
                                if sentinel_matches {
                                    targets.push(target(None));
                                }
                            } else {
                                let matching = slice.ports.iter().filter(|p| port_matches(p));
                                targets.extend(matching.map(|p| target(Some(p.port))));
                            }
                        }
                    }
                }
                targets
            };
            let Some(zonal) = zonal else {
                let targets = in_zone(None);
                return if targets.is_empty() {
                    Err(NameError)
                } else {
                    Ok(targets)
                };
            };
            let mut targets = in_zone(Some(zonal.zone.as_deref()));
            if targets.is_empty() && zonal.prefer {
                targets = in_zone(None);
            }
            // The name exists whatever the zone holds: none is NODATA, on every replica alike.
            return Ok(targets);
        }

        if self.options.ignore_empty_service && !has_ready_endpoint(entry) {
            return Err(NameError);
        }
        let ports: SmallVec<[Option<u16>; 4]> = if svc.ports.is_empty() {
            if sentinel_matches {
                smallvec::smallvec![None]
            } else {
                SmallVec::new()
            }
        } else {
            svc.ports
                .iter()
                .filter(|p| port_matches(p))
                .map(|p| Some(p.port))
                .collect()
        };
        if ports.is_empty() {
            return Err(NameError);
        }
        targets.reserve_exact(ports.len() * svc.cluster_ips.len());
        for port in ports {
            for ip in &svc.cluster_ips {
                targets.push(Target {
                    host: Host::Ip(*ip),
                    port,
                    service: Some(svc),
                    endpoint: None,
                });
            }
        }
        Ok(targets)
    }

    /// The endpoint's name: its hostname, else (with endpoint_pod_names) its pod's name, else
    /// its address with dashes.
    fn endpoint_name(&self, ep: &Endpoint, ip: &IpAddr) -> String {
        if let Some(h) = ep.hostname.as_deref().filter(|h| !h.is_empty()) {
            return h.to_string();
        }
        if self.options.endpoint_pod_names
            && let Some(pod) = ep.target_name.as_deref().filter(|n| !n.is_empty())
        {
            return pod.to_string();
        }
        dashed_ip(ip)
    }

    fn pod_targets(&self, namespace: &str, pod: Option<&str>) -> Lookup<Vec<Target<'a>>> {
        if self.options.pods == PodMode::Disabled || !self.namespace_exposed(namespace) {
            return Err(NameError);
        }
        let Some(pod) = pod else {
            return Ok(Vec::new());
        };
        let ip = pod_ip_from_name(pod).ok_or(NameError)?;
        let target = Target {
            host: Host::Ip(ip),
            port: None,
            service: None,
            endpoint: None,
        };
        match self.options.pods {
            PodMode::Insecure => {
                if self.snapshot.namespace(namespace).is_none() {
                    return Err(NameError);
                }
                Ok(vec![target])
            }
            PodMode::Verified => {
                let found = self
                    .snapshot
                    .pods_by_ip(&ip)
                    .iter()
                    .any(|p| p.namespace.eq_ignore_ascii_case(namespace));
                if found {
                    Ok(vec![target])
                } else {
                    Err(NameError)
                }
            }
            PodMode::Disabled => Err(NameError),
        }
    }

    fn record(&self, name: &Name, rdata: RData) -> Record {
        Record::from_rdata(name.clone(), self.options.ttl, rdata)
    }

    fn soa(&self) -> Record {
        let ttl = self.options.ttl.min(300);
        let zone = self.zone();
        let mname = Name::from_labels([&b"ns"[..], b"dns"])
            .ok()
            .and_then(|n| n.append_domain(zone).ok());
        let rname = Name::from_labels([&b"hostmaster"[..]])
            .ok()
            .and_then(|n| n.append_domain(zone).ok());
        let soa = SOA::new(
            mname.unwrap_or_else(|| zone.clone()),
            rname.unwrap_or_else(|| zone.clone()),
            self.snapshot.serial(),
            7200,
            1800,
            86400,
            self.options.ttl,
        );
        Record::from_rdata(zone.clone(), ttl, RData::SOA(soa))
    }

    fn negative(&self, rcode: ResponseCode) -> Answer {
        Answer {
            rcode,
            answers: Vec::new(),
            authorities: vec![self.soa()],
            additionals: Vec::new(),
        }
    }

    fn ns_name(&self) -> Option<Name> {
        Name::from_labels([&b"ns"[..], b"dns"])
            .ok()?
            .append_domain(self.zone())
            .ok()
    }

    fn ns_records(&self, qname: &Name) -> (Vec<Record>, Vec<Record>) {
        let Some(ns) = self.ns_name() else {
            return (Vec::new(), Vec::new());
        };
        let glue = (self.ns_addrs)()
            .into_iter()
            .map(|ip| self.record(&ns, address_rdata(ip)))
            .collect();
        (vec![self.record(qname, RData::NS(NS(ns)))], glue)
    }

    /// `ns.dns.<zone>`: the addresses of this DNS server. Compares labels, so the common
    /// case (any other name) builds nothing.
    fn is_ns_name(&self, qname: &Name) -> bool {
        let mut labels = qname.iter();
        label_count(qname) == self.zone_labels + 2
            && labels.next().is_some_and(|l| l.eq_ignore_ascii_case(b"ns"))
            && labels
                .next()
                .is_some_and(|l| l.eq_ignore_ascii_case(b"dns"))
    }
}

/// A, AAAA and CNAME answers for `qname` (CoreDNS's plugin.A / AAAA / CNAME), following
/// ExternalName aliases that stay inside the zone.
fn address_records(
    ctx: &Ctx<'_>,
    qname: &Name,
    qtype: RecordType,
    chain: &mut Vec<Name>,
) -> Lookup<Vec<Record>> {
    if ctx.is_ns_name(qname) {
        return Ok((ctx.ns_addrs)()
            .into_iter()
            .filter(|ip| matches_family(ip, qtype))
            .map(|ip| ctx.record(qname, address_rdata(ip)))
            .collect());
    }
    let targets = ctx.targets(qname)?;
    let mut records = Vec::with_capacity(targets.len());
    // One target (a ClusterIP service with one port, the common question) has nothing to
    // repeat, so the set is only filled when there are more.
    let single = targets.len() == 1;
    let mut seen = BTreeSet::new();
    for target in targets {
        match target.host {
            Host::Ip(ip) => {
                if qtype != RecordType::CNAME
                    && matches_family(&ip, qtype)
                    && (single || seen.insert(ip))
                {
                    records.push(ctx.record(qname, address_rdata(ip)));
                }
            }
            Host::Alias(alias) => {
                let cname = ctx.record(qname, RData::CNAME(CNAME(alias.clone())));
                // A CNAME question gets the record as it is, even one pointing at itself:
                // nothing is followed (R-EXTERNAL-LOOP).
                if qtype == RecordType::CNAME {
                    records.push(cname);
                    continue;
                }
                // Following a CNAME to itself or already in the chain is a loop: no record.
                if alias == *qname || chain.contains(&alias) || chain.len() >= MAX_CNAME_CHAIN - 1 {
                    continue;
                }
                if !ctx.options.zones.iter().any(|z| z.zone_of(&alias)) {
                    // Out of zone: the client's resolver follows it.
                    records.push(cname);
                    continue;
                }
                chain.push(qname.clone());
                let next = address_records(ctx, &alias, qtype, chain);
                chain.pop();
                if let Ok(next) = next
                    && !next.is_empty()
                {
                    records.push(cname);
                    records.extend(next);
                }
            }
        }
    }
    Ok(records)
}

/// SRV answers with A/AAAA for their targets in the additional section (CoreDNS's plugin.SRV).
fn srv_records(ctx: &Ctx<'_>, qname: &Name) -> Lookup<(Vec<Record>, Vec<Record>)> {
    if ctx.is_apex(qname) || ctx.is_ns_name(qname) {
        return Ok((Vec::new(), Vec::new()));
    }
    let targets: Vec<Target> = ctx
        .targets(qname)?
        .into_iter()
        .filter(|t| matches!(t.host, Host::Ip(_)))
        .collect();
    let Some(service_domain) = targets
        .first()
        .and_then(|t| t.service)
        .and_then(|svc| ctx.service_domain(&svc.namespace, &svc.name))
    else {
        return Ok((Vec::new(), Vec::new()));
    };
    // All entries share priority 0, so each weighs 100 / their number (CoreDNS counts every
    // entry, port-less and duplicate ones too).
    let weight = if targets.is_empty() {
        0
    } else {
        (100 / targets.len()).max(1) as u16
    };
    let mut answers: Vec<Record> = Vec::new();
    let mut additionals: Vec<Record> = Vec::new();
    let mut seen_srv = BTreeSet::new();
    let mut seen_addr = BTreeSet::new();
    for target in &targets {
        let (Host::Ip(ip), Some(port)) = (&target.host, target.port) else {
            continue;
        };
        let domain = match target.endpoint {
            None => service_domain.clone(),
            Some((ep, ep_ip, cluster)) => {
                let label = ctx.endpoint_name(ep, &ep_ip);
                let name = if cluster.is_empty() {
                    Name::from_labels([label.as_bytes()])
                } else {
                    Name::from_labels([label.as_bytes(), cluster.as_bytes()])
                };
                match name
                    .ok()
                    .and_then(|n| n.append_domain(&service_domain).ok())
                {
                    Some(d) => d,
                    None => continue,
                }
            }
        };
        if seen_srv.insert((domain.to_lowercase(), port)) {
            let srv = SRV::new(0, weight, port, domain.clone());
            answers.push(ctx.record(qname, RData::SRV(srv)));
        }
        if seen_addr.insert((domain.to_lowercase(), *ip)) {
            additionals.push(ctx.record(&domain, address_rdata(*ip)));
        }
    }
    Ok((answers, additionals))
}

fn txt_records(ctx: &Ctx<'_>, qname: &Name) -> Lookup<Vec<Record>> {
    let lower = ctx.lowered(qname);
    if ctx
        .base_labels(&lower)
        .is_ok_and(|base| base.as_slice() == ["dns-version"])
    {
        let version = if ctx.multicluster {
            MCS_DNS_SCHEMA_VERSION
        } else {
            DNS_SCHEMA_VERSION
        };
        let txt = TXT::new(vec![version.to_string()]);
        return Ok(vec![Record::from_rdata(
            qname.clone(),
            DNS_VERSION_TTL,
            RData::TXT(txt),
        )]);
    }
    // A name that holds records (a service, an endpoint, a pod) with other types: NODATA.
    // Names that only hold names below them (the apex, `svc`, `pod`, a namespace) and names
    // that do not exist: NXDOMAIN, as CoreDNS answers TXT (R-TXT-OTHER).
    if ctx.is_apex(qname) {
        return Err(NameError);
    }
    match ctx.parse_request(&lower) {
        Ok(Request::Empty)
        | Ok(Request::Service { service: None, .. })
        | Ok(Request::Pod { pod: None, .. }) => return Err(NameError),
        _ => {}
    }
    ctx.targets(qname).map(|_| Vec::new())
}

fn ptr_records(ctx: &Ctx<'_>, qname: &Name) -> Lookup<Vec<Record>> {
    let Some(ip) = ip_from_reverse(qname) else {
        // Not a full reverse name: only an existing forward name gives NODATA.
        return ctx.targets(qname).map(|_| Vec::new());
    };
    let primary = ctx
        .options
        .zones
        .iter()
        .find(|z| !is_reverse(z) && !ctx.options.multicluster_zones.contains(z));
    if let Some(primary) = primary {
        let records = reverse_in(ctx, qname, ctx.snapshot.local(), &ip, primary, false);
        if !records.is_empty() {
            return Ok(records);
        }
    }
    // The MCS spec asks for clusterset PTRs only where the cluster zone has none.
    let records = match ctx.options.multicluster_zones.first() {
        Some(zone) => reverse_in(ctx, qname, ctx.snapshot.imports(), &ip, zone, true),
        None => Vec::new(),
    };
    if records.is_empty() {
        Err(NameError)
    } else {
        Ok(records)
    }
}

/// PTRs for `ip` from one index, with targets in `zone`: the service whose cluster IP it is,
/// else every published endpoint with that address (named under its cluster in a
/// multicluster zone).
fn reverse_in(
    ctx: &Ctx<'_>,
    qname: &Name,
    index: &ServiceIndex,
    ip: &IpAddr,
    zone: &Name,
    multicluster: bool,
) -> Vec<Record> {
    let domain = |labels: &[&str]| {
        Name::from_labels(
            labels
                .iter()
                .filter(|l| !l.is_empty())
                .map(|l| l.as_bytes()),
        )
        .ok()
        .and_then(|n| n.append_domain(zone).ok())
    };
    let exposed = |ns: &str| ctx.namespace_exposed(ns);
    // A cluster IP names its service; only when none has it do endpoints count.
    if let Some(entry) = index
        .services_by_cluster_ip(ip)
        .iter()
        .find(|e| exposed(&lower(&e.service.namespace)))
        && let Some(target) = domain(&[
            &lower(&entry.service.name),
            &lower(&entry.service.namespace),
            "svc",
        ])
    {
        return vec![ctx.record(qname, RData::PTR(PTR(target)))];
    }
    let mut records = Vec::new();
    // `noendpoints`: no endpoint records, PTRs included (R-NOENDPOINTS).
    if ctx.options.noendpoints {
        return records;
    }
    for entry in index
        .services_by_endpoint_ip(ip)
        .iter()
        .filter(|e| exposed(&lower(&e.service.namespace)))
    {
        let (name, namespace) = (lower(&entry.service.name), lower(&entry.service.namespace));
        for slice in &entry.slices {
            for ep in &slice.endpoints {
                if !ep.addresses.contains(ip)
                    || !endpoint_published(ep, entry.service.publish_not_ready_addresses)
                {
                    continue;
                }
                let host = ctx.endpoint_name(ep, ip);
                let cluster = if multicluster {
                    slice.cluster_id.as_str()
                } else {
                    ""
                };
                // The same address twice (in two slices, or twice in one) is one PTR: an RRset
                // holds no duplicate records (RFC 2181 5). Names compare without case, and the
                // set is small: a scan, no copies.
                if let Some(target) = domain(&[&host, cluster, &name, &namespace, "svc"])
                    && !records
                        .iter()
                        .any(|r: &Record| matches!(&r.data, RData::PTR(PTR(t)) if *t == target))
                {
                    records.push(ctx.record(qname, RData::PTR(PTR(target))));
                }
            }
        }
    }
    records
}

mod external;
pub use external::{ExternalOptions, external_answer};
mod transfer;
pub use transfer::zone_transfer;

/// An endpoint is published when ready (an unset condition counts as ready, as the
/// EndpointSlice API says), or when its service publishes not-ready addresses.
fn endpoint_published(ep: &Endpoint, publish_not_ready: bool) -> bool {
    publish_not_ready || ep.conditions.ready != Some(false)
}

fn has_ready_endpoint(entry: &ServiceEntry) -> bool {
    entry
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .any(|ep| {
            !ep.addresses.is_empty()
                && endpoint_published(ep, entry.service.publish_not_ready_addresses)
        })
}

fn matches_family(ip: &IpAddr, qtype: RecordType) -> bool {
    matches!(
        (ip, qtype),
        (IpAddr::V4(_), RecordType::A) | (IpAddr::V6(_), RecordType::AAAA)
    )
}

fn address_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// `198.18.0.5` -> `198-18-0-5`; `2001:db8::5` -> `2001-db8--5` (CoreDNS replaces the colons
/// of the address as Go prints it). A label may not end in a hyphen, so an IPv6 address
/// ending in `::` gets a `0`: `2001:db8:2:99::` -> `2001-db8-2-99--0`, as CoreDNS writes it.
pub fn dashed_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut label = v6.to_string().replace(':', "-");
            if label.ends_with('-') {
                label.push('0');
            }
            label
        }
    }
}

/// The address a pod name spells: `198-18-0-5` (exactly three dashes, none doubled) is IPv4,
/// anything else is tried as IPv6 with dashes for colons.
fn pod_ip_from_name(name: &str) -> Option<IpAddr> {
    let text = if name.matches('-').count() == 3 && !name.contains("--") {
        name.replace('-', ".")
    } else {
        name.replace('-', ":")
    };
    text.parse().ok()
}

fn is_reverse(name: &Name) -> bool {
    // From the end, without collecting the labels: this runs on every question.
    let mut labels = name.iter().rev();
    match (labels.next(), labels.next()) {
        (Some(b), Some(a)) => {
            b.eq_ignore_ascii_case(b"arpa")
                && (a.eq_ignore_ascii_case(b"in-addr") || a.eq_ignore_ascii_case(b"ip6"))
        }
        _ => false,
    }
}

/// The address a complete reverse name stands for: 4 octets under in-addr.arpa, 32 nibbles
/// under ip6.arpa; anything shorter is not an address.
pub(crate) fn ip_from_reverse(name: &Name) -> Option<IpAddr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let (rest, suffix) = labels.split_at(labels.len().checked_sub(2)?);
    if suffix[1].eq_ignore_ascii_case(b"arpa") && suffix[0].eq_ignore_ascii_case(b"in-addr") {
        if rest.len() != 4 {
            return None;
        }
        let mut octets = [0u8; 4];
        for (i, label) in rest.iter().rev().enumerate() {
            let text = std::str::from_utf8(label).ok()?;
            if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            octets[i] = text.parse().ok()?;
        }
        return Some(IpAddr::from(octets));
    }
    if suffix[1].eq_ignore_ascii_case(b"arpa") && suffix[0].eq_ignore_ascii_case(b"ip6") {
        if rest.len() != 32 {
            return None;
        }
        let mut bits: u128 = 0;
        for label in rest.iter().rev() {
            let [nibble] = label else { return None };
            let digit = (*nibble as char).to_digit(16)?;
            bits = (bits << 4) | u128::from(digit);
        }
        return Some(IpAddr::from(bits.to_be_bytes()));
    }
    None
}
