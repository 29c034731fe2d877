//! The Corefile: text -> typed server blocks and directives. Pure; files reach it only through
//! a [`SourceReader`], so imports are testable without a disk.
//!
//! Syntax (CoreDNS's Caddyfile dialect): server blocks `KEYS { DIRECTIVES }`, directives with
//! arguments and nested blocks, `#` comments, quoted strings, `{$ENV}` / `{$ENV:default}`
//! substitution, snippets `(name) { ... }` pasted by `import name`, and `import FILE|GLOB`.

mod keys;
mod lexer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use keys::{Scheme, ServerKey};
use lexer::{Token, lex};

/// Where something is in which Corefile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A directive argument and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub value: String,
    pub location: Location,
}

/// `name args... [{ nested directives }]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<Arg>,
    pub block: Vec<Directive>,
    pub location: Location,
}

impl Directive {
    pub fn arg_values(&self) -> impl Iterator<Item = &str> {
        self.args.iter().map(|a| a.value.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBlock {
    pub keys: Vec<ServerKey>,
    pub directives: Vec<Directive>,
    pub location: Location,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Corefile {
    pub blocks: Vec<ServerBlock>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorefileError {
    #[error("{0}: unterminated quoted string")]
    UnterminatedQuote(Location),
    #[error("{0}: unexpected '{1}'")]
    Unexpected(Location, String),
    #[error("{0}: missing '}}' to close the block opened here")]
    UnclosedBlock(Location),
    #[error("{0}: server block has no '{{' after its keys")]
    MissingBlock(Location),
    #[error("{0}: invalid server key {1:?}: {2}")]
    InvalidKey(Location, String, String),
    #[error("{0}: unknown plugin {1:?}")]
    UnknownPlugin(Location, String),
    #[error("{0}: plugin {1:?} is not supported yet by Signpost")]
    UnsupportedPlugin(Location, String),
    /// The retired out-of-tree CoreDNS plugin: CoreDNS now takes it as a kubernetes option.
    #[error(
        "{0}: multicluster is an option of the kubernetes plugin, as in CoreDNS: kubernetes cluster.local clusterset.local {{ multicluster clusterset.local }}"
    )]
    MulticlusterDirective(Location),
    #[error("{0}: import {1:?}: {2}")]
    Import(Location, String, String),
    #[error("{0}: import cycle through {1:?}")]
    ImportCycle(Location, String),
    #[error("{0}: nesting deeper than {1} levels")]
    TooDeep(Location, usize),
    #[error("{0}: snippet {1:?} is defined twice")]
    DuplicateSnippet(Location, String),
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
}

/// Reads imported files. The real one reads the disk; tests give a map.
pub trait SourceReader {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// Paths matching a glob pattern (only `*` in the last component needs support).
    fn glob(&self, pattern: &Path) -> std::io::Result<Vec<PathBuf>>;
}

/// Reads from the file system.
pub struct FsReader;

impl SourceReader for FsReader {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn glob(&self, pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
        let Some(file_pattern) = pattern.file_name().and_then(|f| f.to_str()) else {
            return Ok(Vec::new());
        };
        if !file_pattern.contains('*') {
            return Ok(if pattern.exists() {
                vec![pattern.to_path_buf()]
            } else {
                Vec::new()
            });
        }
        let dir = pattern.parent().unwrap_or(Path::new("."));
        // A glob whose directory does not exist matches nothing, as Go's filepath.Glob (and
        // so CoreDNS) has it: k3s and AKS import from an optional ConfigMap's mount.
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| glob_match(file_pattern, f))
            })
            .collect();
        found.sort();
        Ok(found)
    }
}

/// A duration in Go's syntax, as CoreDNS's options and node-cache's flags take it: a number
/// and a unit (`500ms`, `30s`, `1.5m`, `1h`; `ns`, `us`/`µs` too), or a bare `0`. The error
/// says what is wrong, for command-line flags.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    // Go takes a bare 0 without a unit.
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("invalid duration {text:?}: a unit is needed (ms, s, m, h)"))?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: not a number"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration {text:?}: unknown unit {unit:?}")),
    };
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, rest)) => {
            let Some(tail) = text.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob_match(rest, &tail[i..]))
        }
    }
}

/// Limits that keep hostile input from exhausting the stack or memory.
const MAX_DEPTH: usize = 32;
const MAX_IMPORT_DEPTH: usize = 16;

/// Parses a Corefile from text with no file imports (an `import` of a file is an error): the
/// entry point for fuzzing and tests.
pub fn parse_str(
    source: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Corefile, CorefileError> {
    struct NoFiles;
    impl SourceReader for NoFiles {
        fn read(&self, _: &Path) -> std::io::Result<String> {
            Err(std::io::Error::other("file imports are not available here"))
        }
        fn glob(&self, _: &Path) -> std::io::Result<Vec<PathBuf>> {
            Err(std::io::Error::other("file imports are not available here"))
        }
    }
    parse(source, Path::new(file_name), env, &NoFiles)
}

/// Reads and parses the Corefile at `path`, with the process environment.
pub fn load(path: &Path) -> Result<Corefile, CorefileError> {
    let source = std::fs::read_to_string(path).map_err(|e| CorefileError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse(&source, path, &|k| std::env::var(k).ok(), &FsReader)
}

/// Parses Corefile `source` read from `path`; imports resolve relative to its directory.
pub fn parse(
    source: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    reader: &dyn SourceReader,
) -> Result<Corefile, CorefileError> {
    let file: Arc<str> = path.display().to_string().into();
    let mut groups = 0u64;
    let tokens = lex(source, &file, env, &mut groups)?;
    let mut snippets = Vec::new();
    let tokens = take_snippets(tokens, &mut snippets)?;
    let mut ctx = ImportCtx {
        snippets: &snippets,
        env,
        reader,
        stack: vec![path.to_path_buf()],
        groups,
    };
    let tokens = ctx.expand(tokens, path)?;
    let blocks = Parser {
        tokens: &tokens,
        pos: 0,
    }
    .server_blocks()?;
    Ok(Corefile { blocks })
}

type Snippet = (String, Location, Vec<Token>);

/// Removes top-level `(name) { ... }` definitions, keeping their tokens for `import name`.
fn take_snippets(
    tokens: Vec<Token>,
    snippets: &mut Vec<Snippet>,
) -> Result<Vec<Token>, CorefileError> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    let mut depth = 0usize;
    while i < tokens.len() {
        let t = &tokens[i];
        let is_def = depth == 0
            && !t.quoted
            && t.text.len() > 2
            && t.text.starts_with('(')
            && t.text.ends_with(')')
            && tokens.get(i + 1).is_some_and(|n| n.is_open());
        if is_def {
            let name = t.text[1..t.text.len() - 1].to_string();
            if snippets.iter().any(|(n, _, _)| *n == name) {
                return Err(CorefileError::DuplicateSnippet(t.location.clone(), name));
            }
            let start = i + 2;
            let end = matching_close(&tokens, i + 1)?;
            snippets.push((name, t.location.clone(), tokens[start..end].to_vec()));
            i = end + 1;
            continue;
        }
        if t.is_open() {
            depth += 1;
        } else if t.is_close() {
            depth = depth.saturating_sub(1);
        }
        out.push(t.clone());
        i += 1;
    }
    Ok(out)
}

/// Index of the `}` matching the `{` at `open`.
fn matching_close(tokens: &[Token], open: usize) -> Result<usize, CorefileError> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is_open() {
            depth += 1;
        } else if t.is_close() {
            depth -= 1;
            if depth == 0 {
                return Ok(i);
            }
        }
    }
    Err(CorefileError::UnclosedBlock(tokens[open].location.clone()))
}

struct ImportCtx<'a> {
    snippets: &'a [Snippet],
    env: &'a dyn Fn(&str) -> Option<String>,
    reader: &'a dyn SourceReader,
    /// Files and snippets being imported, outermost first: a repeat is a cycle.
    stack: Vec<PathBuf>,
    /// Next free line-group id: pasted lines get fresh ones so two pastes never merge.
    groups: u64,
}

impl ImportCtx<'_> {
    fn regroup(&mut self, tokens: &[Token]) -> Vec<Token> {
        let mut map = std::collections::HashMap::new();
        tokens
            .iter()
            .map(|t| {
                let group = *map.entry(t.group).or_insert_with(|| {
                    self.groups += 1;
                    self.groups
                });
                Token { group, ..t.clone() }
            })
            .collect()
    }

    fn expand(&mut self, tokens: Vec<Token>, path: &Path) -> Result<Vec<Token>, CorefileError> {
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        while i < tokens.len() {
            let t = &tokens[i];
            let starts_line = i == 0 || tokens[i - 1].group != t.group;
            if !(starts_line && !t.quoted && t.text == "import") {
                out.push(t.clone());
                i += 1;
                continue;
            }
            let Some(arg) = tokens.get(i + 1).filter(|a| a.group == t.group) else {
                return Err(CorefileError::Import(
                    t.location.clone(),
                    String::new(),
                    "missing argument".into(),
                ));
            };
            if self.stack.len() > MAX_IMPORT_DEPTH {
                return Err(CorefileError::TooDeep(t.location.clone(), MAX_IMPORT_DEPTH));
            }
            if let Some((name, _, body)) = self.snippets.iter().find(|(n, _, _)| *n == arg.text) {
                let marker = PathBuf::from(format!("({name})"));
                if self.stack.contains(&marker) {
                    return Err(CorefileError::ImportCycle(t.location.clone(), name.clone()));
                }
                self.stack.push(marker);
                let pasted = self.regroup(body);
                let expanded = self.expand(pasted, path)?;
                out.extend(expanded);
                self.stack.pop();
            } else {
                let base = path.parent().unwrap_or(Path::new("."));
                let pattern = base.join(&arg.text);
                let files = self.reader.glob(&pattern).map_err(|e| {
                    CorefileError::Import(arg.location.clone(), arg.text.clone(), e.to_string())
                })?;
                if files.is_empty() && !arg.text.contains('*') {
                    return Err(CorefileError::Import(
                        arg.location.clone(),
                        arg.text.clone(),
                        "no such file or snippet".into(),
                    ));
                }
                for file in files {
                    if self.stack.contains(&file) {
                        return Err(CorefileError::ImportCycle(
                            arg.location.clone(),
                            file.display().to_string(),
                        ));
                    }
                    let text = self.reader.read(&file).map_err(|e| {
                        CorefileError::Import(
                            arg.location.clone(),
                            file.display().to_string(),
                            e.to_string(),
                        )
                    })?;
                    let name: Arc<str> = file.display().to_string().into();
                    let imported = lex(&text, &name, self.env, &mut self.groups)?;
                    self.stack.push(file.clone());
                    let expanded = self.expand(imported, &file)?;
                    out.extend(expanded);
                    self.stack.pop();
                }
            }
            // Skip the rest of the import line.
            let group = t.group;
            i += 1;
            while i < tokens.len() && tokens[i].group == group {
                i += 1;
            }
        }
        Ok(out)
    }
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn server_blocks(&mut self) -> Result<Vec<ServerBlock>, CorefileError> {
        let mut blocks = Vec::new();
        while let Some(first) = self.peek().cloned() {
            if first.is_open() || first.is_close() {
                return Err(CorefileError::Unexpected(
                    first.location.clone(),
                    first.text.clone(),
                ));
            }
            let mut keys = Vec::new();
            while let Some(t) = self.peek() {
                if t.is_open() {
                    break;
                }
                if t.is_close() || (t.group != first.group && !keys.is_empty()) {
                    // Keys end at the line end; the block must open on the same line.
                    if t.is_close() {
                        return Err(CorefileError::Unexpected(
                            t.location.clone(),
                            t.text.clone(),
                        ));
                    }
                    return Err(CorefileError::MissingBlock(first.location.clone()));
                }
                for part in t.text.split(',').filter(|p| !p.is_empty()) {
                    let key = ServerKey::parse(part).map_err(|reason| {
                        CorefileError::InvalidKey(t.location.clone(), part.to_string(), reason)
                    })?;
                    keys.push(key);
                }
                self.pos += 1;
            }
            let Some(open) = self.peek().cloned() else {
                return Err(CorefileError::MissingBlock(first.location.clone()));
            };
            self.pos += 1;
            let directives = self.directives(&open, 1)?;
            blocks.push(ServerBlock {
                keys,
                directives,
                location: first.location.clone(),
            });
        }
        Ok(blocks)
    }

    /// Directives up to and including the `}` that closes `open`.
    fn directives(&mut self, open: &Token, depth: usize) -> Result<Vec<Directive>, CorefileError> {
        if depth > MAX_DEPTH {
            return Err(CorefileError::TooDeep(open.location.clone(), MAX_DEPTH));
        }
        let mut out = Vec::new();
        loop {
            let Some(name) = self.peek().cloned() else {
                return Err(CorefileError::UnclosedBlock(open.location.clone()));
            };
            self.pos += 1;
            if name.is_close() {
                return Ok(out);
            }
            if name.is_open() {
                return Err(CorefileError::Unexpected(
                    name.location.clone(),
                    name.text.clone(),
                ));
            }
            let mut args = Vec::new();
            let mut block = Vec::new();
            while let Some(t) = self.peek().cloned() {
                if t.group != name.group || t.is_close() {
                    break;
                }
                self.pos += 1;
                if t.is_open() {
                    block = self.directives(&t, depth + 1)?;
                    break;
                }
                args.push(Arg {
                    value: t.text.clone(),
                    location: t.location.clone(),
                });
            }
            out.push(Directive {
                name: name.text.clone(),
                args,
                block,
                location: name.location.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
