//! `log [NAMES...] [FORMAT] [{ class CLASSES... }]`: one line per query, in CoreDNS's format.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError, zone_arg};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::RequestInfo;

const PLUGIN: &str = "log";

/// CoreDNS's `{common}` format, the default.
pub const COMMON_FORMAT: &str = r#"{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}"#;
/// CoreDNS's `{combined}` format: common plus the request's opcode.
pub const COMBINED_FORMAT: &str = r#"{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration} "{>opcode}""#;

/// Which responses are logged (`class`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    pub success: bool,
    pub denial: bool,
    pub error: bool,
}

impl Classes {
    const ALL: Classes = Classes {
        success: true,
        denial: true,
        error: true,
    };

    fn admits(&self, rcode: ResponseCode, answered: bool) -> bool {
        match rcode {
            ResponseCode::NoError if answered => self.success,
            ResponseCode::NoError | ResponseCode::NXDomain => self.denial,
            _ => self.error,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRule {
    /// Names (zones) this rule logs; `.` is everything.
    pub zones: Vec<Name>,
    pub format: String,
    pub classes: Classes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPlugin {
    pub rules: Vec<LogRule>,
}

pub fn parse(directive: &Directive) -> Result<LogPlugin, SetupError> {
    let mut args: Vec<&crate::corefile::Arg> = directive.args.iter().collect();
    let mut format = COMMON_FORMAT.to_string();
    if let Some(last) = args.last()
        && (last.value.contains('{') || args.len() >= 2 && last.value.contains(' '))
    {
        format = match last.value.as_str() {
            "{common}" => COMMON_FORMAT.to_string(),
            "{combined}" => COMBINED_FORMAT.to_string(),
            other => other.to_string(),
        };
        args.pop();
    }
    let zones = if args.is_empty() {
        vec![Name::root()]
    } else {
        args.iter()
            .map(|a| zone_arg(PLUGIN, a))
            .collect::<Result<_, _>>()?
    };
    let mut classes = Classes::default();
    let mut any_class = false;
    for option in &directive.block {
        if option.name != "class" {
            return Err(SetupError::new(
                PLUGIN,
                &option.location,
                format!("unknown property {:?}", option.name),
            ));
        }
        if option.args.is_empty() {
            return Err(SetupError::new(
                PLUGIN,
                &option.location,
                "class needs success, denial, error or all",
            ));
        }
        for a in &option.args {
            any_class = true;
            match a.value.as_str() {
                "all" => classes = Classes::ALL,
                "success" => classes.success = true,
                "denial" => classes.denial = true,
                "error" => classes.error = true,
                other => {
                    return Err(SetupError::new(
                        PLUGIN,
                        &a.location,
                        format!("invalid class {other:?}"),
                    ));
                }
            }
        }
    }
    if !any_class {
        classes = Classes::ALL;
    }
    Ok(LogPlugin {
        rules: vec![LogRule {
            zones,
            format,
            classes,
        }],
    })
}

impl LogPlugin {
    /// Writes the log line for this exchange (to stdout, as CoreDNS does: see `crate::logging`).
    pub fn emit(
        &self,
        request: &Message,
        response: &Message,
        info: &RequestInfo,
        duration: Duration,
    ) {
        let Some(query) = request.queries.first() else {
            return;
        };
        for rule in &self.rules {
            if !rule.zones.iter().any(|z| z.zone_of(query.name())) {
                continue;
            }
            if !rule.classes.admits(
                response.metadata.response_code,
                !response.answers.is_empty(),
            ) {
                continue;
            }
            let line = render(&rule.format, request, response, info, duration);
            crate::coredns_line!(INFO, "{line}");
            return;
        }
    }
}

impl Plugin for LogPlugin {
    /// Runs the rest of the chain and logs the exchange.
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        let started = std::time::Instant::now();
        let info = next.info;
        next.run(request).then(move |answered| {
            self.emit(request, &answered.response, info, started.elapsed());
            answered
        })
    }
}

/// Every `log` line of a block is one plugin with one rule per line.
pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    let mut rules = Vec::new();
    for d in lines {
        rules.extend(parse(d)?.rules);
    }
    setup.add(LogPlugin { rules });
    Ok(())
}

/// Renders a CoreDNS log format with this exchange's values.
pub fn render(
    format: &str,
    request: &Message,
    response: &Message,
    info: &RequestInfo,
    duration: Duration,
) -> String {
    let query = request.queries.first();
    let edns = request.edns.as_ref();
    let response_size = response.to_vec().map(|b| b.len()).unwrap_or(0);
    let mut flags = Vec::new();
    let m = &response.metadata;
    for (set, name) in [
        (true, "qr"),
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
        (m.authentic_data, "ad"),
        (m.checking_disabled, "cd"),
    ] {
        if set {
            flags.push(name);
        }
    }
    let mut out = String::with_capacity(format.len() + 64);
    let mut rest = format;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &rest[start + 1..start + end];
        let value = match key {
            "remote" => info.src.ip().to_string(),
            "port" => info.src.port().to_string(),
            "local" => info.local.ip().to_string(),
            ">id" => request.metadata.id.to_string(),
            "type" => query
                .map(|q| q.query_type().to_string())
                .unwrap_or_default(),
            "class" => query
                .map(|q| q.query_class().to_string())
                .unwrap_or_default(),
            "name" => query.map(|q| q.name().to_string()).unwrap_or_default(),
            "proto" => info.transport.as_str().to_string(),
            "size" => info.request_size.to_string(),
            ">do" => edns.is_some_and(|e| e.flags().dnssec_ok).to_string(),
            ">bufsize" => edns.map(|e| e.max_payload()).unwrap_or(512).to_string(),
            "rcode" => crate::wire::rcode::name(response.metadata.response_code).into_owned(),
            ">rflags" => flags.join(","),
            "rsize" => response_size.to_string(),
            // Go's FormatFloat(secs, 'f', -1): the shortest exact decimal, then "s".
            "duration" => format!("{}s", duration.as_secs_f64()),
            ">opcode" => request.metadata.op_code.to_string(),
            // CoreDNS's metadata placeholder; "-" when the query has no such value.
            other => match other.strip_prefix('/') {
                Some(label) => {
                    crate::plugin::metadata::get(label).unwrap_or_else(|| "-".to_string())
                }
                None => format!("{{{other}}}"),
            },
        };
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}
