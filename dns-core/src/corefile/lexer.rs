//! Corefile text -> tokens with locations. `{$ENV}` substitution happens per token here.

use std::sync::Arc;

use super::{CorefileError, Location};

/// Longest token accepted: a Corefile argument is a name, path or number, never megabytes.
const MAX_TOKEN: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub text: String,
    pub quoted: bool,
    pub location: Location,
    /// Tokens of one source line share a group; a directive is the tokens of one group.
    pub group: u64,
}

impl Token {
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

pub(super) fn lex(
    source: &str,
    file: &Arc<str>,
    env: &dyn Fn(&str) -> Option<String>,
    groups: &mut u64,
) -> Result<Vec<Token>, CorefileError> {
    let mut tokens = Vec::new();
    let mut chars = source.chars().peekable();
    let (mut line, mut col) = (1u32, 0u32);
    *groups += 1;
    let mut group_line = 1u32;
    let loc = |line, col| Location {
        file: file.clone(),
        line,
        col,
    };
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if c == '#' {
            while chars.peek().is_some_and(|&n| n != '\n') {
                chars.next();
            }
            continue;
        }
        if line != group_line {
            *groups += 1;
            group_line = line;
        }
        let start = loc(line, col);
        let mut text = String::new();
        let quoted = c == '"';
        if quoted {
            let mut closed = false;
            while let Some(n) = chars.next() {
                col += 1;
                match n {
                    '\\' if chars.peek() == Some(&'"') => {
                        chars.next();
                        col += 1;
                        text.push('"');
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\n' => {
                        line += 1;
                        col = 0;
                        text.push('\n');
                    }
                    other => text.push(other),
                }
                if text.len() > MAX_TOKEN {
                    return Err(CorefileError::Unexpected(start, "token too long".into()));
                }
            }
            if !closed {
                return Err(CorefileError::UnterminatedQuote(start));
            }
        } else {
            text.push(c);
            while let Some(&n) = chars.peek() {
                if n.is_whitespace() || n == '"' {
                    break;
                }
                text.push(n);
                chars.next();
                col += 1;
                if text.len() > MAX_TOKEN {
                    return Err(CorefileError::Unexpected(start, "token too long".into()));
                }
            }
        }
        let text = substitute_env(&text, env);
        tokens.push(Token {
            text,
            quoted,
            location: start,
            group: *groups,
        });
    }
    Ok(tokens)
}

/// Replaces `{$NAME}` and `{$NAME:default}` with the environment's value (empty, or the
/// default, when unset).
fn substitute_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    if !text.contains("{$") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{$") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let spec = &after[..end];
        let (name, default) = match spec.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (spec, None),
        };
        match env(name).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(&v),
            None => out.push_str(default.unwrap_or("")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
