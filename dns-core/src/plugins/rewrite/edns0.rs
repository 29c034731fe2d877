//! `edns0` rules: an EDNS0 option set, appended or replaced on the request. Pure.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};

use crate::wire::RequestInfo;

/// `set` adds or replaces, `append` adds only when absent, `replace` only changes one present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Set,
    Append,
    Replace,
}

impl Action {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "set" => Some(Self::Set),
            "append" => Some(Self::Append),
            "replace" => Some(Self::Replace),
            _ => None,
        }
    }
}

/// What an `edns0 local` rule's `{variable}` DATA stands for, as CoreDNS encodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Variable {
    /// The question's name as text, with its final dot.
    QName,
    /// The question's type, 2 bytes.
    QType,
    /// The client's address, 4 or 16 bytes.
    ClientIp,
    /// 2 bytes.
    ClientPort,
    /// `udp` or `tcp`.
    Protocol,
    /// The server's address, in the client's address family.
    ServerIp,
    ServerPort,
    /// `{plugin/name}`: a value another plugin published about the query (`metadata`); the
    /// rule does not apply when there is none, as in CoreDNS.
    Metadata(String),
}

impl Variable {
    /// `{qname}` and friends; `None` for text that is not a variable CoreDNS knows.
    pub fn parse(text: &str) -> Option<Self> {
        let inner = text.strip_prefix('{')?.strip_suffix('}')?;
        Some(match inner {
            "qname" => Self::QName,
            "qtype" => Self::QType,
            "client_ip" => Self::ClientIp,
            "client_port" => Self::ClientPort,
            "protocol" => Self::Protocol,
            "server_ip" => Self::ServerIp,
            "server_port" => Self::ServerPort,
            label if crate::plugin::metadata::is_label(label) => Self::Metadata(label.to_string()),
            _ => return None,
        })
    }

    /// The bytes for one request; `None` when there are none (the rule then does not apply).
    fn data(&self, query: &Query, info: &RequestInfo) -> Option<Vec<u8>> {
        let client = info.src.ip().to_canonical();
        Some(match self {
            Self::QName => query.name().to_string().into_bytes(),
            Self::QType => u16::from(query.query_type()).to_be_bytes().to_vec(),
            Self::ClientIp => ip_bytes(client),
            Self::ClientPort => info.src.port().to_be_bytes().to_vec(),
            Self::Protocol => info.transport.as_str().as_bytes().to_vec(),
            Self::ServerIp => {
                let server = info.local.ip().to_canonical();
                if server.is_ipv4() != client.is_ipv4() {
                    return None;
                }
                ip_bytes(server)
            }
            Self::ServerPort => info.local.port().to_be_bytes().to_vec(),
            Self::Metadata(label) => crate::plugin::metadata::get(label)
                .filter(|v| !v.is_empty())?
                .into_bytes(),
        })
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edns0Option {
    /// `local CODE DATA`: an option of any code with the given bytes.
    Local(u16, Vec<u8>),
    /// `local CODE {variable}`: an option of any code with the variable's bytes.
    LocalVariable(u16, Variable),
    /// `nsid`: an empty NSID option (asks the upstream for its identity).
    Nsid,
    /// `subnet IPV4_BITMASK IPV6_BITMASK`: the client's address, truncated to the mask.
    Subnet(u8, u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edns0Rule {
    pub action: Action,
    pub option: Edns0Option,
}

/// `0x...` is hex, anything else the text's bytes.
pub fn parse_local_data(text: &str) -> Result<Vec<u8>, String> {
    let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) else {
        if text.starts_with('{') && text.ends_with('}') {
            return Err(format!("unsupported variable name {text:?}"));
        }
        return Ok(text.as_bytes().to_vec());
    };
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("invalid hex data {text:?}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// An option code: decimal or `0x` hex, 0-65535.
pub fn parse_code(text: &str) -> Option<u16> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl Edns0Rule {
    fn code(&self) -> u16 {
        match self.option {
            Edns0Option::Local(code, _) | Edns0Option::LocalVariable(code, _) => code,
            Edns0Option::Nsid => u16::from(EdnsCode::NSID),
            Edns0Option::Subnet(..) => u16::from(EdnsCode::Subnet),
        }
    }

    fn build(&self, query: &Query, info: &RequestInfo) -> Option<EdnsOption> {
        let client = info.src.ip();
        Some(match &self.option {
            Edns0Option::Local(code, data) => EdnsOption::Unknown(*code, data.clone()),
            Edns0Option::LocalVariable(code, variable) => {
                EdnsOption::Unknown(*code, variable.data(query, info)?)
            }
            Edns0Option::Nsid => EdnsOption::NSID(NSIDPayload::new(Vec::new()).ok()?),
            Edns0Option::Subnet(v4, v6) => {
                let (addr, bits) = match client.to_canonical() {
                    IpAddr::V4(a) => {
                        let mask = u32::MAX.checked_shl(32 - u32::from(*v4)).unwrap_or(0);
                        (IpAddr::from((u32::from(a) & mask).to_be_bytes()), *v4)
                    }
                    IpAddr::V6(a) => {
                        let mask = u128::MAX.checked_shl(128 - u32::from(*v6)).unwrap_or(0);
                        (IpAddr::from((u128::from(a) & mask).to_be_bytes()), *v6)
                    }
                };
                EdnsOption::Subnet(ClientSubnet::new(addr, bits, 0))
            }
        })
    }

    /// Applies the rule to `request`, whose question is now `query` (adding an OPT record
    /// when it has none, as CoreDNS does); whether it changed anything.
    pub fn apply(&self, request: &mut Message, query: &Query, info: &RequestInfo) -> bool {
        let Some(option) = self.build(query, info) else {
            return false;
        };
        let code = self.code();
        let edns = request.edns.get_or_insert_with(|| {
            let mut edns = Edns::new();
            edns.set_max_payload(4096);
            edns
        });
        let options = edns.options_mut().as_mut();
        match options.iter_mut().find(|(c, _)| u16::from(*c) == code) {
            Some(slot) if self.action != Action::Append => {
                slot.1 = option;
                true
            }
            Some(_) => false,
            None if self.action != Action::Replace => {
                options.push((EdnsCode::from(code), option));
                true
            }
            None => false,
        }
    }
}
