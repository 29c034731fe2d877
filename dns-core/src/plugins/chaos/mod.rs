//! `chaos [VERSION] [AUTHORS...]`: answers TXT questions of class CH about the server:
//! `version.bind` and `version.server` (VERSION), `authors.bind` (one TXT per author),
//! `hostname.bind` and `id.server` (this host's name). Anything else goes on down the chain.
//! Without VERSION it is `Signpost-<version>` (CoreDNS says `CoreDNS-<version>`: see
//! docs/differences.md).

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::corefile::Directive;
use crate::plugin::setup::{BlockSetup, SetupError};
use crate::plugin::{Next, Plugin, Serving};
use crate::wire::reply_to;

const PLUGIN: &str = "chaos";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chaos {
    pub version: String,
    pub authors: Vec<String>,
    pub hostname: String,
}

pub fn default_version() -> String {
    format!("Signpost-{}", env!("CARGO_PKG_VERSION"))
}

/// The host's name as the kernel has it (a pod's name in Kubernetes); `localhost` when unknown.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn parse(d: &Directive, hostname: String) -> Result<Chaos, SetupError> {
    if let Some(option) = d.block.first() {
        return Err(crate::plugin::setup::unknown_property(PLUGIN, option));
    }
    let mut args = d.args.iter().map(|a| a.value.clone());
    Ok(Chaos {
        version: args.next().unwrap_or_else(default_version),
        authors: args.collect(),
        hostname,
    })
}

impl Chaos {
    /// The answer's TXT strings, or `None` when the question is not ours.
    pub fn strings(&self, name: &Name, qtype: RecordType, class: DNSClass) -> Option<Vec<&str>> {
        if class != DNSClass::CH || qtype != RecordType::TXT {
            return None;
        }
        let name = name.to_lowercase().to_ascii();
        match name.trim_end_matches('.') {
            "version.bind" | "version.server" => Some(vec![self.version.as_str()]),
            "authors.bind" => Some(self.authors.iter().map(String::as_str).collect()),
            "hostname.bind" | "id.server" => Some(vec![self.hostname.as_str()]),
            _ => None,
        }
    }

    pub fn resolve(&self, request: &Message) -> Option<Message> {
        let query = request.queries.first()?;
        let strings = self.strings(query.name(), query.query_type(), query.query_class())?;
        let mut response = reply_to(request, ResponseCode::NoError);
        for text in strings {
            let mut record = Record::from_rdata(
                query.name().clone(),
                0,
                RData::TXT(TXT::new(vec![text.to_string()])),
            );
            record.dns_class = DNSClass::CH;
            response.answers.push(record);
        }
        Some(response)
    }
}

impl Plugin for Chaos {
    fn serve<'a>(&'a self, request: &'a Message, next: Next<'a>) -> Serving<'a> {
        next.answer_or_run(request, self.resolve(request))
    }
}

pub fn setup(setup: &mut BlockSetup<'_>, lines: &[&Directive]) -> Result<(), SetupError> {
    for d in lines {
        setup.add(parse(d, hostname())?);
        setup.serve_class(DNSClass::CH);
    }
    Ok(())
}
