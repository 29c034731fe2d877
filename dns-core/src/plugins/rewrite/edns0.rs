//! `edns0` rules: an EDNS0 option set, appended or replaced on the request. Pure.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};

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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edns0Option {
    /// `local CODE DATA`: an option of any code with the given bytes.
    Local(u16, Vec<u8>),
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
            return Err(format!(
                "variable {text} is not supported by Signpost yet; give the data as text or 0x hex"
            ));
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
            Edns0Option::Local(code, _) => code,
            Edns0Option::Nsid => u16::from(EdnsCode::NSID),
            Edns0Option::Subnet(..) => u16::from(EdnsCode::Subnet),
        }
    }

    fn build(&self, client: IpAddr) -> Option<EdnsOption> {
        Some(match &self.option {
            Edns0Option::Local(code, data) => EdnsOption::Unknown(*code, data.clone()),
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

    /// Applies the rule to `request` (adding an OPT record when it has none, as CoreDNS does);
    /// whether it changed anything.
    pub fn apply(&self, request: &mut Message, client: IpAddr) -> bool {
        let Some(option) = self.build(client) else {
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
