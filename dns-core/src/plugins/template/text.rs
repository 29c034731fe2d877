//! The part of Go's text/template that template answers are written in: literal text and the
//! actions `{{ .Name }}`, `{{ .Zone }}`, `{{ .Class }}`, `{{ .Type }}`, `{{ .Remote }}`,
//! `{{ index .Match N }}`, `{{ .Group.NAME }}` and `{{ index .Group "NAME" }}`, with `{{-`
//! and `-}}` trimming spaces. Any other action is refused at setup, so a template that starts
//! renders. Pure.

/// One value a template reads from its query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Name,
    Zone,
    Class,
    Type,
    Remote,
    /// The regex's submatch N (0: the whole match).
    Match(usize),
    /// The regex's group, by name or number.
    Group(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(Field),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(pub Vec<Piece>);

/// What a query gives a template.
pub struct Data<'a> {
    pub name: &'a str,
    pub zone: &'a str,
    pub class: &'a str,
    pub qtype: &'a str,
    pub remote: &'a str,
    /// Submatches, `None` for a group that did not take part.
    pub matches: &'a [Option<&'a str>],
    /// Named groups.
    pub names: &'a [(&'a str, usize)],
}

pub fn parse(source: &str) -> Result<Text, String> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut text = String::new();
    while let Some(open) = rest.find("{{") {
        text.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed action in {source:?}"))?;
        let mut inner = &after[..close];
        if let Some(trimmed) = inner.strip_prefix('-') {
            inner = trimmed;
            text.truncate(text.trim_end().len());
        }
        let trim_after = inner.ends_with('-') && inner.len() > 1;
        if trim_after {
            inner = &inner[..inner.len() - 1];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Field(field(inner.trim())?));
        rest = &after[close + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(Text(pieces))
}

fn field(action: &str) -> Result<Field, String> {
    let words: Vec<&str> = action.split_whitespace().collect();
    let unsupported = || format!("template action {{{{ {action} }}}} is not supported by Signpost");
    match words.as_slice() {
        [".Name"] => Ok(Field::Name),
        [".Zone"] => Ok(Field::Zone),
        [".Class"] => Ok(Field::Class),
        [".Type"] => Ok(Field::Type),
        [".Remote"] => Ok(Field::Remote),
        ["index", ".Match", n] => n.parse().map(Field::Match).map_err(|_| unsupported()),
        ["index", ".Group", key] => {
            let key = key
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .unwrap_or(key);
            Ok(Field::Group(key.to_string()))
        }
        [one] => match one.strip_prefix(".Group.") {
            Some(key) if !key.is_empty() => Ok(Field::Group(key.to_string())),
            _ => Err(unsupported()),
        },
        _ => Err(unsupported()),
    }
}

impl Text {
    pub fn render(&self, data: &Data<'_>) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(value(f, data)?),
            }
        }
        Ok(out)
    }
}

fn value<'a>(field: &Field, data: &Data<'a>) -> Result<&'a str, String> {
    Ok(match field {
        Field::Name => data.name,
        Field::Zone => data.zone,
        Field::Class => data.class,
        Field::Type => data.qtype,
        Field::Remote => data.remote,
        Field::Match(n) => match data.matches.get(*n) {
            Some(m) => m.unwrap_or(""),
            None => return Err(format!("index out of range: {n}")),
        },
        Field::Group(key) => {
            let index = match key.parse::<usize>() {
                Ok(n) => Some(n),
                Err(_) => data.names.iter().find(|(k, _)| k == key).map(|(_, i)| *i),
            };
            // Go's map lookup of a missing key prints the zero value.
            index
                .and_then(|i| data.matches.get(i).copied().flatten())
                .unwrap_or("")
        }
    })
}
