//! RFC 1035 master file text -> the zone's records, in file order. Pure: an `$INCLUDE`d file
//! comes through the caller's reader.
//!
//! This module owns the line structure (owners, blank owners, `$ORIGIN`, `$TTL`, `$INCLUDE`,
//! parentheses, quotes, comments, TTL and class before the type) so every error names its file
//! and line; each record's data is handed to hickory-proto's parser, so every type it reads is
//! read here too. TTLs default as miekg/dns (and so CoreDNS) has it: `$TTL`, else the last TTL
//! written, else 3600.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

/// The TTL of a record when neither `$TTL` nor an earlier record gave one (miekg/dns's).
pub const DEFAULT_TTL: u32 = 3600;

/// How deep `$INCLUDE` may nest (miekg/dns's limit), so a file including itself ends.
pub const MAX_INCLUDE_DEPTH: usize = 7;

/// `$INCLUDE`s followed for one zone file, however nested: a file including another many
/// times at each of its levels would otherwise be read an exponential number of times.
pub const MAX_INCLUDES: usize = 64;

/// Records read from one zone file (its includes too); more is refused, so a runaway file
/// cannot take the memory.
pub const MAX_RECORDS: usize = 1 << 20;

/// Where a zone file is wrong, and how.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ZoneFileError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// Reads an `$INCLUDE`d file: its text, or why not.
pub type Include<'a> = &'a dyn Fn(&Path) -> Result<String, String>;

/// The records of the zone file `text` (read from `file`), relative names completed with
/// `origin`. Records outside `origin` are kept: the caller decides what a zone serves.
pub fn parse(
    text: &str,
    file: &Path,
    origin: &Name,
    include: Include<'_>,
) -> Result<Vec<Record>, ZoneFileError> {
    let mut records = Vec::new();
    let mut defaults = Defaults::default();
    read_file(text, file, origin, include, 0, &mut defaults, &mut records)?;
    Ok(records)
}

/// What carries from one record to the next, and into an included file.
#[derive(Default)]
struct Defaults {
    /// `$TTL`.
    directive_ttl: Option<u32>,
    /// The last TTL written on a record.
    last_ttl: Option<u32>,
    /// `$INCLUDE`s followed so far.
    includes: usize,
}

impl Defaults {
    fn ttl(&mut self, written: Option<u32>) -> u32 {
        match written {
            Some(ttl) => {
                self.last_ttl = Some(ttl);
                ttl
            }
            None => self.directive_ttl.or(self.last_ttl).unwrap_or(DEFAULT_TTL),
        }
    }
}

fn read_file(
    text: &str,
    file: &Path,
    origin: &Name,
    include: Include<'_>,
    depth: usize,
    defaults: &mut Defaults,
    records: &mut Vec<Record>,
) -> Result<(), ZoneFileError> {
    let fail = |line: u32, message: String| ZoneFileError {
        file: file.display().to_string(),
        line,
        message,
    };
    let mut origin = origin.clone();
    let mut owner: Option<Name> = None;
    for entry in entries(text).map_err(|(line, m)| fail(line, m))? {
        let at = |m: String| fail(entry.line, m);
        let first = entry.tokens.first().map(String::as_str).unwrap_or("");
        if !entry.blank_owner && first.starts_with('$') {
            let args = &entry.tokens[1..];
            match first.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let [name] = args else {
                        return Err(at("$ORIGIN needs one domain name".into()));
                    };
                    origin = domain(name, &origin).map_err(at)?;
                }
                "$TTL" => {
                    let [ttl] = args else {
                        return Err(at("$TTL needs one TTL".into()));
                    };
                    let ttl = parse_ttl(ttl).map_err(|_| at(format!("invalid $TTL {ttl:?}")))?;
                    defaults.directive_ttl = Some(ttl);
                }
                "$INCLUDE" => {
                    let (path, sub_origin) = match args {
                        [path] => (path, origin.clone()),
                        [path, name] => (path, domain(name, &origin).map_err(at)?),
                        _ => return Err(at("$INCLUDE needs a file and an optional origin".into())),
                    };
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        return Err(at(format!(
                            "$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} levels"
                        )));
                    }
                    defaults.includes += 1;
                    if defaults.includes > MAX_INCLUDES {
                        return Err(at(format!("more than {MAX_INCLUDES} $INCLUDEs")));
                    }
                    // A relative path is relative to the including file, as miekg/dns has it.
                    let path = Path::new(path);
                    let path: PathBuf = if path.is_absolute() {
                        path.to_path_buf()
                    } else {
                        file.parent().unwrap_or(Path::new("")).join(path)
                    };
                    let sub = include(&path)
                        .map_err(|e| at(format!("$INCLUDE {}: {e}", path.display())))?;
                    read_file(
                        &sub,
                        &path,
                        &sub_origin,
                        include,
                        depth + 1,
                        defaults,
                        records,
                    )?;
                }
                other => return Err(at(format!("{other} is not supported"))),
            }
            continue;
        }
        let mut tokens = entry.tokens.iter().map(String::as_str);
        let name = if entry.blank_owner {
            owner
                .clone()
                .ok_or_else(|| at("a record without an owner name before it".into()))?
        } else {
            let written = tokens.next().unwrap_or("");
            let name = if written == "@" {
                origin.clone()
            } else {
                domain(written, &origin).map_err(at)?
            };
            owner = Some(name.clone());
            name
        };
        let Some(record) = record(name, &mut tokens, &origin, defaults).map_err(at)? else {
            continue;
        };
        if records.len() >= MAX_RECORDS {
            return Err(at(format!("more than {MAX_RECORDS} records")));
        }
        records.push(record);
    }
    Ok(())
}

/// A domain name as written, completed with `origin` when relative.
fn domain(written: &str, origin: &Name) -> Result<Name, String> {
    if written == "@" {
        return Ok(origin.clone());
    }
    Name::parse(written, Some(origin)).map_err(|e| format!("invalid domain name {written:?}: {e}"))
}

/// DNSSEC records: skipped, as answers carry no signatures here (hickory-proto reads them
/// only with its DNSSEC feature), so that a signed zone still serves its data.
pub const SKIPPED_TYPES: &[RecordType] = &[
    RecordType::RRSIG,
    RecordType::NSEC,
    RecordType::NSEC3,
    RecordType::NSEC3PARAM,
    RecordType::DNSKEY,
    RecordType::CDNSKEY,
    RecordType::DS,
    RecordType::CDS,
    RecordType::KEY,
    RecordType::SIG,
];

/// `[TTL] [CLASS] TYPE RDATA...` (TTL and class in either order) after the owner `name`;
/// `None` for a type in [`SKIPPED_TYPES`].
fn record<'t>(
    name: Name,
    tokens: &mut impl Iterator<Item = &'t str>,
    origin: &Name,
    defaults: &mut Defaults,
) -> Result<Option<Record>, String> {
    let mut ttl = None;
    let mut class = None;
    let rtype = loop {
        let Some(token) = tokens.next() else {
            return Err("a record without a type".into());
        };
        if ttl.is_none() && token.starts_with(|c: char| c.is_ascii_digit()) {
            ttl = Some(parse_ttl(token).map_err(|_| format!("invalid TTL {token:?}"))?);
            continue;
        }
        let upper = token.to_ascii_uppercase();
        if class.is_none() && is_class(&upper) {
            class = DNSClass::from_str(&upper).ok();
            continue;
        }
        break RecordType::from_str(&upper)
            .map_err(|_| format!("unknown record type {token:?}"))?;
    };
    let ttl = defaults.ttl(ttl);
    if SKIPPED_TYPES.contains(&rtype) {
        return Ok(None);
    }
    let class = class.unwrap_or(DNSClass::IN);
    // `@` in record data is the origin too; hickory-proto reads it as a label.
    let origin_text = origin.to_ascii();
    let rdata: Vec<&str> = tokens
        .map(|t| if t == "@" { origin_text.as_str() } else { t })
        .collect();
    if rdata.is_empty() {
        return Err(format!("{rtype} record without data"));
    }
    let line = format!(
        "{} {ttl} {class} {rtype} {}\n",
        name.to_ascii(),
        rdata.join(" ")
    );
    let parsed = Parser::new(line, None, Some(origin.clone()))
        .parse()
        .map_err(|e| format!("invalid {rtype} record: {e}"))?;
    let mut found = parsed.1.into_values().flat_map(|set| set.into_iter());
    let mut record = found
        .next()
        .ok_or_else(|| format!("invalid {rtype} record"))?;
    // The owner as written (escapes and case), not as hickory-proto re-read it.
    record.name = name;
    Ok(Some(record))
}

fn is_class(upper: &str) -> bool {
    matches!(upper, "IN" | "CH" | "CS" | "HS" | "NONE") || upper.starts_with("CLASS")
}

/// One entry of a zone file: the tokens of one line, or of several lines joined by
/// parentheses.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    /// The line its first token is on.
    line: u32,
    /// The line starts with a blank: the record belongs to the previous owner.
    blank_owner: bool,
    /// Tokens as written; a quoted string keeps its quotes and escapes.
    tokens: Vec<String>,
}

/// Splits zone file text into entries: `;` comments, `( )` grouping across lines, `"`
/// quoted strings (with `\"` inside), `\` escapes. Errors carry their line.
fn entries(text: &str) -> Result<Vec<Entry>, (u32, String)> {
    let mut out = Vec::new();
    let mut line: u32 = 1;
    let mut open_paren_line: Option<u32> = None;
    let mut depth = 0usize;
    let mut current: Option<Entry> = None;
    let mut token = String::new();
    let mut at_line_start = true;
    let mut blank_start = false;
    let mut chars = text.chars().peekable();

    fn push_token(current: &mut Option<Entry>, token: &mut String, line: u32, blank: bool) {
        if token.is_empty() {
            return;
        }
        let entry = current.get_or_insert_with(|| Entry {
            line,
            blank_owner: blank,
            tokens: Vec::new(),
        });
        entry.tokens.push(std::mem::take(token));
    }

    while let Some(c) = chars.next() {
        if at_line_start {
            at_line_start = false;
            if depth == 0 {
                blank_start = c == ' ' || c == '\t';
            }
        }
        match c {
            '\n' => {
                push_token(&mut current, &mut token, line, blank_start);
                if depth == 0 {
                    out.extend(current.take());
                }
                line = line.saturating_add(1);
                at_line_start = true;
            }
            ';' => {
                push_token(&mut current, &mut token, line, blank_start);
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' | '\r' => push_token(&mut current, &mut token, line, blank_start),
            '(' => {
                push_token(&mut current, &mut token, line, blank_start);
                if depth == 0 {
                    open_paren_line = Some(line);
                }
                depth += 1;
            }
            ')' => {
                push_token(&mut current, &mut token, line, blank_start);
                depth = depth
                    .checked_sub(1)
                    .ok_or((line, "')' without '('".to_string()))?;
            }
            '\\' => {
                token.push(c);
                if let Some(n) = chars.next() {
                    if n == '\n' {
                        return Err((line, "'\\' at the end of a line".into()));
                    }
                    token.push(n);
                }
            }
            '"' => {
                push_token(&mut current, &mut token, line, blank_start);
                let start = line;
                token.push('"');
                loop {
                    match chars.next() {
                        None | Some('\n') => {
                            return Err((start, "unterminated quoted string".into()));
                        }
                        Some('\\') => {
                            token.push('\\');
                            match chars.next() {
                                None | Some('\n') => {
                                    return Err((start, "unterminated quoted string".into()));
                                }
                                Some(n) => token.push(n),
                            }
                        }
                        Some('"') => break,
                        Some(n) => token.push(n),
                    }
                }
                token.push('"');
                push_token(&mut current, &mut token, line, blank_start);
            }
            _ => token.push(c),
        }
    }
    if depth > 0 {
        return Err((
            open_paren_line.unwrap_or(line),
            "'(' without ')'".to_string(),
        ));
    }
    push_token(&mut current, &mut token, line, blank_start);
    out.extend(current.take());
    Ok(out)
}
