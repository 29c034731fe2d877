//! API objects parsed with only the fields DNS reads. The API sends each object whole: its
//! `managedFields` (a tree describing every field, often larger than the object), annotations
//! such as `kubectl.kubernetes.io/last-applied-configuration` (the object again, as text), an
//! endpoint's `nodeName` and `targetRef` uid, a pod's containers. Parsed into the k8s-openapi
//! types, all of that is allocated and freed again for every object of every list: at 100k
//! services the freed pieces were interleaved with the cluster state that stays, so the
//! allocator could not give their pages back. [`Trimmed`] parses the same JSON (or YAML) into
//! the same k8s-openapi type with every other field left at its default; serde skips what it
//! does not read without allocating for it.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// The annotation the EndpointSlice controller sets to when the change behind a slice
/// happened in the cluster: where CoreDNS's programming latency starts. The one annotation
/// kept.
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// `K` as DNS reads it: everything the conversion to the model reads, and the metadata the
/// watch itself needs (name, namespace, labels, resourceVersion); the rest is `None` or empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trimmed<K>(pub K);

impl<K> Deref for Trimmed<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.0
    }
}

impl<K: k8s_openapi::Resource> k8s_openapi::Resource for Trimmed<K> {
    const API_VERSION: &'static str = K::API_VERSION;
    const GROUP: &'static str = K::GROUP;
    const KIND: &'static str = K::KIND;
    const VERSION: &'static str = K::VERSION;
    const URL_PATH_SEGMENT: &'static str = K::URL_PATH_SEGMENT;
    type Scope = K::Scope;
}

impl<K: k8s_openapi::ListableResource> k8s_openapi::ListableResource for Trimmed<K> {
    const LIST_KIND: &'static str = K::LIST_KIND;
}

impl<K: k8s_openapi::Metadata<Ty = ObjectMeta>> k8s_openapi::Metadata for Trimmed<K> {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        self.0.metadata()
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        self.0.metadata_mut()
    }
}

/// `metadata`, as far as anything here reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaWire {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "kept_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    resource_version: Option<String>,
}

/// `metadata` with only what DNS reads; for a `#[serde(deserialize_with)]` field.
pub fn object_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = MetaWire::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        labels: m.labels,
        annotations: m.annotations,
        resource_version: m.resource_version,
        ..ObjectMeta::default()
    })
}

/// The annotations, of which only [`TRIGGER_TIME`] is kept: the others' values (the whole
/// object again, for `last-applied-configuration`) are skipped unread.
fn kept_annotations<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Kept;
    impl<'de> Visitor<'de> for Kept {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of annotations")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = BTreeMap::new();
            while let Some(key) = map.next_key::<Key>()? {
                match key {
                    Key::TriggerTime => {
                        kept.insert(TRIGGER_TIME.to_string(), map.next_value()?);
                    }
                    Key::Other => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok((!kept.is_empty()).then_some(kept))
        }
    }
    d.deserialize_option(Kept)
}

/// An annotation's key: the kept one, or another (compared, not allocated).
enum Key {
    TriggerTime,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an annotation key")
            }
            fn visit_str<E>(self, s: &str) -> Result<Key, E> {
                Ok(if s == TRIGGER_TIME {
                    Key::TriggerTime
                } else {
                    Key::Other
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[derive(Deserialize)]
struct ServiceWire {
    #[serde(default, deserialize_with = "object_meta")]
    metadata: ObjectMeta,
    spec: Option<core::ServiceSpec>,
    status: Option<core::ServiceStatus>,
}

impl<'de> Deserialize<'de> for Trimmed<core::Service> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = ServiceWire::deserialize(d)?;
        Ok(Trimmed(core::Service {
            metadata: w.metadata,
            spec: w.spec,
            status: w.status,
        }))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SliceWire {
    #[serde(default, deserialize_with = "object_meta")]
    metadata: ObjectMeta,
    address_type: String,
    endpoints: Vec<EndpointWire>,
    ports: Option<Vec<discovery::EndpointPort>>,
}

/// An endpoint without `nodeName`, `hints`, `deprecatedTopology` and all of `targetRef` but
/// its name: 300k endpoints are most of a large cluster's objects.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointWire {
    addresses: Vec<String>,
    conditions: Option<discovery::EndpointConditions>,
    hostname: Option<String>,
    target_ref: Option<TargetRefWire>,
    zone: Option<String>,
}

#[derive(Deserialize)]
struct TargetRefWire {
    name: Option<String>,
}

impl<'de> Deserialize<'de> for Trimmed<discovery::EndpointSlice> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = SliceWire::deserialize(d)?;
        let endpoints = w
            .endpoints
            .into_iter()
            .map(|e| discovery::Endpoint {
                addresses: e.addresses,
                conditions: e.conditions,
                hostname: e.hostname,
                target_ref: e.target_ref.map(|t| core::ObjectReference {
                    name: t.name,
                    ..Default::default()
                }),
                zone: e.zone,
                ..Default::default()
            })
            .collect();
        Ok(Trimmed(discovery::EndpointSlice {
            metadata: w.metadata,
            address_type: w.address_type,
            endpoints,
            ports: w.ports,
        }))
    }
}

/// A pod without its containers, volumes, conditions and container statuses: what
/// `pods verified` answers from is its IPs, hostname and subdomain.
#[derive(Deserialize)]
struct PodWire {
    #[serde(default, deserialize_with = "object_meta")]
    metadata: ObjectMeta,
    spec: Option<PodSpecWire>,
    status: Option<PodStatusWire>,
}

#[derive(Deserialize)]
struct PodSpecWire {
    hostname: Option<String>,
    subdomain: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatusWire {
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pod_ips: Option<Vec<core::PodIP>>,
}

impl<'de> Deserialize<'de> for Trimmed<core::Pod> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = PodWire::deserialize(d)?;
        Ok(Trimmed(core::Pod {
            metadata: w.metadata,
            spec: w.spec.map(|s| core::PodSpec {
                hostname: s.hostname,
                subdomain: s.subdomain,
                ..Default::default()
            }),
            status: w.status.map(|s| core::PodStatus {
                pod_ip: s.pod_ip,
                pod_ips: s.pod_ips,
                ..Default::default()
            }),
        }))
    }
}

#[derive(Deserialize)]
struct NamespaceWire {
    #[serde(default, deserialize_with = "object_meta")]
    metadata: ObjectMeta,
}

impl<'de> Deserialize<'de> for Trimmed<core::Namespace> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = NamespaceWire::deserialize(d)?;
        Ok(Trimmed(core::Namespace {
            metadata: w.metadata,
            ..Default::default()
        }))
    }
}
