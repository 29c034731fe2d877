//! `kubernetes [ZONES...] { options }` -> [`KubernetesConfig`]. Every error names the line.

use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;

use super::{KubernetesConfig, TlsFiles};
use crate::cluster::records::{PodMode, RecordOptions};
use crate::cluster::selector::Selector;
use crate::corefile::Directive;
use crate::plugin::fallthrough::Fallthrough;
use crate::plugin::setup::{SetupError, args_exact, duration_arg, zone_arg};

const PLUGIN: &str = "kubernetes";

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            records: RecordOptions::default(),
            endpoint: None,
            tls: None,
            kubeconfig: None,
            labels: None,
            fallthrough: Fallthrough::none(),
            startup_timeout: Duration::from_secs(5),
            apiserver_qps: None,
            apiserver_burst: None,
            apiserver_max_inflight: None,
        }
    }
}

/// Parses the directive; `block_zones` are the server block's zones, the default when the
/// directive names none.
pub fn parse(directive: &Directive, block_zones: &[Name]) -> Result<KubernetesConfig, SetupError> {
    let err = |loc, msg: String| SetupError::new(PLUGIN, loc, msg);
    let mut config = KubernetesConfig::default();
    let mut zones = Vec::new();
    for arg in &directive.args {
        let zone = zone_arg(PLUGIN, arg)?;
        // CoreDNS keeps only the zones the server block serves.
        if !block_zones.iter().any(|b| b.zone_of(&zone)) {
            return Err(err(
                &arg.location,
                format!("zone {zone} is not inside this server block's zones"),
            ));
        }
        zones.push(zone);
    }
    config.records.zones = if zones.is_empty() {
        block_zones.to_vec()
    } else {
        zones
    };

    for option in &directive.block {
        let loc = &option.location;
        let values: Vec<&str> = option.arg_values().collect();
        match option.name.as_str() {
            "endpoint_pod_names" => {
                args_exact(PLUGIN, option, 0)?;
                config.records.endpoint_pod_names = true;
            }
            "pods" => {
                let mode = one_arg(option)?;
                config.records.pods = match mode.value.as_str() {
                    "disabled" => PodMode::Disabled,
                    "insecure" => PodMode::Insecure,
                    "verified" => PodMode::Verified,
                    other => {
                        return Err(err(&mode.location, format!("invalid pods mode {other:?} (disabled, insecure or verified)")));
                    }
                };
            }
            "namespaces" => {
                if values.is_empty() {
                    return Err(err(loc, "namespaces needs at least one namespace".into()));
                }
                config.records.namespaces.extend(values.iter().map(|v| v.to_string()));
            }
            "endpoint" => {
                let url = one_arg(option)?;
                config.endpoint = Some(url.value.clone());
            }
            "tls" => {
                let files = args_exact(PLUGIN, option, 3)?;
                let (cert, key, ca) = (&files[0], &files[1], &files[2]);
                config.tls = Some(TlsFiles {
                    cert: PathBuf::from(&cert.value),
                    key: PathBuf::from(&key.value),
                    ca: PathBuf::from(&ca.value),
                });
            }
            "kubeconfig" => match values.as_slice() {
                [path] => config.kubeconfig = Some((PathBuf::from(path), None)),
                [path, context] => config.kubeconfig = Some((PathBuf::from(path), Some(context.to_string()))),
                _ => return Err(err(loc, "kubeconfig needs KUBECONFIG [CONTEXT]".into())),
            },
            "labels" => {
                if values.is_empty() {
                    return Err(err(loc, "labels needs a label selector".into()));
                }
                config.labels = Some(selector_arg(option)?);
            }
            "namespace_labels" => {
                if values.is_empty() {
                    return Err(err(loc, "namespace_labels needs a label selector".into()));
                }
                config.records.namespace_labels = Some(selector_arg(option)?);
            }
            "ttl" => {
                let ttl = one_arg(option)?;
                let value: u32 = ttl
                    .value
                    .parse()
                    .ok()
                    .filter(|v| *v <= 3600)
                    .ok_or_else(|| err(&ttl.location, format!("ttl must be an integer from 0 to 3600, not {:?}", ttl.value)))?;
                config.records.ttl = value;
            }
            "noendpoints" => {
                args_exact(PLUGIN, option, 0)?;
                config.records.noendpoints = true;
            }
            "zonal" => {
                args_exact(PLUGIN, option, 0)?;
                config.records.zonal = true;
            }
            "fallthrough" => {
                config.fallthrough = if option.args.is_empty() {
                    Fallthrough::all()
                } else {
                    Fallthrough::zones(option.args.iter().map(|a| zone_arg(PLUGIN, a)).collect::<Result<_, _>>()?)
                };
            }
            "ignore" => {
                let what = one_arg(option)?;
                if what.value != "empty_service" {
                    return Err(err(&what.location, format!("unknown ignore option {:?} (only empty_service)", what.value)));
                }
                config.records.ignore_empty_service = true;
            }
            "startup_timeout" => {
                let d = one_arg(option)?;
                config.startup_timeout = duration_arg(PLUGIN, d)?;
            }
            "apiserver_qps" => {
                let v = one_arg(option)?;
                config.apiserver_qps = Some(
                    v.value.parse().ok().filter(|q: &f64| *q > 0.0).ok_or_else(|| err(&v.location, "apiserver_qps must be a positive number".into()))?,
                );
            }
            "apiserver_burst" => {
                let v = one_arg(option)?;
                config.apiserver_burst =
                    Some(v.value.parse().map_err(|_| err(&v.location, "apiserver_burst must be a positive integer".into()))?);
            }
            "apiserver_max_inflight" => {
                let v = one_arg(option)?;
                config.apiserver_max_inflight = Some(
                    v.value.parse().map_err(|_| err(&v.location, "apiserver_max_inflight must be a positive integer".into()))?,
                );
            }
            "multicluster" => {
                for arg in &option.args {
                    let zone = zone_arg(PLUGIN, arg)?;
                    // CoreDNS: the plugin must be authoritative for a multicluster zone.
                    if !config.records.zones.contains(&zone) {
                        let zones: Vec<String> = config.records.zones.iter().map(Name::to_string).collect();
                        return Err(err(
                            &arg.location,
                            format!("is not authoritative for the multicluster zone {zone} (authoritative zones: {})", zones.join(" ")),
                        ));
                    }
                    config.records.multicluster_zones.push(zone);
                }
            }
            // Removed from CoreDNS: it refuses them, and so do we, naming the replacement.
            "upstream" => return Err(err(loc, "upstream was removed from CoreDNS (1.7); CNAME targets resolve through the server itself".into())),
            "resyncperiod" => return Err(err(loc, "resyncperiod was removed from CoreDNS (1.7)".into())),
            "transfer" => return Err(err(loc, "transfer moved to the transfer plugin".into())),
            other => return Err(err(loc, format!("unknown property {other:?}"))),
        }
    }
    // Zonal names are answered from endpoints, which noendpoints promises not to answer.
    if config.records.zonal && config.records.noendpoints {
        return Err(err(
            &directive.location,
            "zonal requires the endpoint cache; remove noendpoints".into(),
        ));
    }
    if !config.records.namespaces.is_empty() && config.records.namespace_labels.is_some() {
        return Err(err(
            &directive.location,
            "namespaces and namespace_labels cannot both be set".into(),
        ));
    }
    Ok(config)
}

/// The option's arguments as one label selector (`env in (a, b)` arrives as several tokens).
fn selector_arg(option: &Directive) -> Result<Selector, SetupError> {
    let text = option.arg_values().collect::<Vec<_>>().join(" ");
    Selector::parse(&text).map_err(|e| SetupError::new(PLUGIN, &option.location, e.to_string()))
}

fn one_arg(option: &Directive) -> Result<&crate::corefile::Arg, SetupError> {
    Ok(&args_exact(PLUGIN, option, 1)?[0])
}
