//! The one rcode table: names as miekg/dns spells them (CoreDNS's `rcode.ToString`), used by
//! metrics labels, log lines and the Corefile options that name an rcode.

use std::borrow::Cow;

use hickory_proto::op::ResponseCode;

/// Names by code, 0..=23; empty where miekg/dns has none. 16 is `BADSIG`, the name miekg/dns
/// keeps for the code BADVERS shares.
const NAMES: [&str; 24] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "",
    "",
    "",
    "",
    "",
    "BADSIG",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
];

/// Codes below this have a slot in [`NAMES`] (callers may size per-code tables with it).
pub const NAMED: usize = NAMES.len();

/// miekg/dns's name of `rcode`, or its number for codes it has no name for.
pub fn name(rcode: ResponseCode) -> Cow<'static, str> {
    let code = u16::from(rcode);
    match NAMES.get(usize::from(code)) {
        Some(name) if !name.is_empty() => Cow::Borrowed(name),
        _ => Cow::Owned(code.to_string()),
    }
}

/// The rcode a mnemonic names (any case; `BADVERS` too, the RFC 6891 name of 16).
pub fn from_name(text: &str) -> Option<ResponseCode> {
    if text.eq_ignore_ascii_case("BADVERS") {
        return Some(<ResponseCode as From<u16>>::from(16));
    }
    NAMES
        .iter()
        .position(|n| !n.is_empty() && n.eq_ignore_ascii_case(text))
        .and_then(|code| u16::try_from(code).ok())
        .map(<ResponseCode as From<u16>>::from)
}

/// An rcode by mnemonic or by number (0-4095), as `rewrite ... rcode` takes it.
pub fn parse(text: &str) -> Option<ResponseCode> {
    match text.parse::<u16>() {
        Ok(n) => (n <= 0xfff).then(|| <ResponseCode as From<u16>>::from(n)),
        Err(_) => from_name(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_miekg_spells_them() {
        let table = [
            (ResponseCode::NoError, "NOERROR"),
            (ResponseCode::FormErr, "FORMERR"),
            (ResponseCode::ServFail, "SERVFAIL"),
            (ResponseCode::NXDomain, "NXDOMAIN"),
            (ResponseCode::NotImp, "NOTIMP"),
            (ResponseCode::Refused, "REFUSED"),
            (ResponseCode::YXDomain, "YXDOMAIN"),
            (ResponseCode::NotZone, "NOTZONE"),
            // BADVERS and BADSIG share 16; miekg/dns names it BADSIG.
            (ResponseCode::BADVERS, "BADSIG"),
            (ResponseCode::BADCOOKIE, "BADCOOKIE"),
            (ResponseCode::Unknown(3000), "3000"),
        ];
        for (rcode, want) in table {
            assert_eq!(name(rcode), want, "{rcode:?}");
        }
    }

    #[test]
    fn from_names_and_numbers() {
        assert_eq!(from_name("NXDOMAIN"), Some(ResponseCode::NXDomain));
        assert_eq!(from_name("refused"), Some(ResponseCode::Refused));
        assert_eq!(from_name("NOERROR"), Some(ResponseCode::NoError));
        assert_eq!(from_name("badvers").map(u16::from), Some(16));
        assert_eq!(from_name("NOPE"), None);
        assert_eq!(from_name(""), None);
        assert_eq!(parse("3"), Some(ResponseCode::NXDomain));
        assert_eq!(parse("4095"), Some(ResponseCode::Unknown(4095)));
        assert_eq!(parse("4096"), None);
        assert_eq!(parse("yxdomain"), Some(ResponseCode::YXDomain));
    }
}
