//! Diagnostics: problems in the user's files, each with file:line:col and a fix.
//! Validation collects all of them before it stops (Terraform's tfdiags).

use std::fmt;
use std::ops::Range;

/// One source file the user gave us, kept to turn byte offsets into line:col,
/// the key path at an offset (`[redis.sentinel] quorum`) and the quoted line.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    pub text: String,
}

/// Keys whose values are secrets: a quoted line never shows their value.
const SECRET_KEYS: [&str; 5] = [
    "superuser_password",
    "replication_password",
    "password",
    "cert",
    "key",
];

/// One step of a key path: a table key or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor(offset);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    fn floor(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    pub fn diag(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, col) = span
            .clone()
            .map(|s| self.position(s.start))
            .unwrap_or((0, 0));
        let key = span.as_ref().and_then(|s| self.key_at(s.start));
        let snippet = span.map(|s| self.snippet(s, false));
        Diagnostic {
            file: self.path.clone(),
            line,
            col,
            key,
            message: message.into(),
            snippet,
            help,
            warning: false,
        }
    }

    /// The key path at a byte offset: the innermost key whose key or value
    /// holds it. Empty when the file does not parse that far or the offset
    /// is outside every key.
    pub fn path_at(&self, offset: usize) -> Vec<Seg> {
        let (doc, _) = toml::de::DeTable::parse_recoverable(&self.text);
        let mut best: Option<(usize, Vec<Seg>)> = None;
        let mut path = Vec::new();
        search_table(doc.get_ref(), offset, &mut path, &mut best);
        best.map(|(_, p)| p).unwrap_or_default()
    }

    /// `[table] key` (or `[table]`) for the key at a byte offset, as the user wrote it.
    pub fn key_at(&self, offset: usize) -> Option<String> {
        let path = self.path_at(offset);
        if path.is_empty() {
            return None;
        }
        let (doc, _) = toml::de::DeTable::parse_recoverable(&self.text);
        let header_table = lookup(doc.get_ref(), &path).is_some_and(|v| {
            matches!(v.get_ref(), toml::de::DeValue::Table(_))
                && !self.text.get(v.span()).is_some_and(|t| t.starts_with('{'))
        });
        Some(describe_path(&path, header_table))
    }

    /// The span of the value (or, for a table header, the header) at a key
    /// path; numbers index arrays (`["postgres", "databases", "0", "name"]`).
    pub fn find(&self, path: &[&str]) -> Option<Range<usize>> {
        let (doc, _) = toml::de::DeTable::parse_recoverable(&self.text);
        let segs: Vec<Seg> = path
            .iter()
            .map(|p| {
                p.parse::<usize>()
                    .map(Seg::Index)
                    .unwrap_or_else(|_| Seg::Key(p.to_string()))
            })
            .collect();
        lookup(doc.get_ref(), &segs).map(|v| v.span())
    }

    /// The span of the key itself at a key path (its last key).
    pub fn find_key(&self, path: &[&str]) -> Option<Range<usize>> {
        let (doc, _) = toml::de::DeTable::parse_recoverable(&self.text);
        let (last, parent) = path.split_last()?;
        let segs: Vec<Seg> = parent
            .iter()
            .map(|p| {
                p.parse::<usize>()
                    .map(Seg::Index)
                    .unwrap_or_else(|_| Seg::Key(p.to_string()))
            })
            .collect();
        let t = if segs.is_empty() {
            Some(doc.get_ref())
        } else {
            lookup(doc.get_ref(), &segs).and_then(|v| v.get_ref().as_table())
        }?;
        t.iter()
            .find(|(k, _)| k.get_ref() == last)
            .map(|(k, _)| k.span())
    }

    /// The line holding `span.start`, with carets under the span (up to the
    /// line's end). Secret values on the line are shown as `****`; with
    /// `mask_span`, so is the span itself.
    pub fn snippet(&self, span: Range<usize>, mask_span: bool) -> Snippet {
        let start = self.floor(span.start);
        let end = self.floor(span.end.max(span.start));
        let line_start = self.text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = self.text[start..]
            .find('\n')
            .map(|i| start + i)
            .unwrap_or(self.text.len());
        let raw = self.text[line_start..line_end].trim_end_matches('\r');
        let chars: Vec<char> = raw.chars().collect();
        let c0 = self.text[line_start..start]
            .chars()
            .count()
            .min(chars.len());
        let c1 = self.text[line_start..end.min(line_end).max(start)]
            .chars()
            .count()
            .min(chars.len())
            .max(c0);
        let mut regions = secret_regions(&chars);
        if mask_span && c1 > c0 {
            regions.push((c0, c1));
        }
        let (text, map) = mask(&chars, regions);
        let (s, e) = (map(c0, false), map(c1, true));
        let (line, _) = self.position(start);
        Snippet {
            line,
            text,
            start: s,
            len: e.saturating_sub(s).max(1),
        }
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && (offset < span.end || span.is_empty() && offset == span.start)
}

fn search_table(
    t: &toml::de::DeTable<'_>,
    offset: usize,
    path: &mut Vec<Seg>,
    best: &mut Option<(usize, Vec<Seg>)>,
) {
    for (k, v) in t.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        for span in [k.span(), v.span()] {
            if contains(&span, offset)
                && best.as_ref().is_none_or(|(len, p)| {
                    span.len() < *len || span.len() == *len && path.len() > p.len()
                })
            {
                *best = Some((span.len(), path.clone()));
            }
        }
        search_value(v.get_ref(), offset, path, best);
        path.pop();
    }
}

fn search_value(
    v: &toml::de::DeValue<'_>,
    offset: usize,
    path: &mut Vec<Seg>,
    best: &mut Option<(usize, Vec<Seg>)>,
) {
    match v {
        toml::de::DeValue::Table(t) => search_table(t, offset, path, best),
        toml::de::DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                // an entry of an array of tables counts as itself; a scalar in a list belongs to its key
                if matches!(item.get_ref(), toml::de::DeValue::Table(_))
                    && contains(&item.span(), offset)
                    && best
                        .as_ref()
                        .is_none_or(|(len, _)| item.span().len() < *len)
                {
                    *best = Some((item.span().len(), path.clone()));
                }
                search_value(item.get_ref(), offset, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn lookup<'a, 'i>(
    t: &'a toml::de::DeTable<'i>,
    path: &[Seg],
) -> Option<&'a toml::Spanned<toml::de::DeValue<'i>>> {
    let (first, rest) = path.split_first()?;
    let Seg::Key(k) = first else { return None };
    let mut cur = t.iter().find(|(kk, _)| kk.get_ref() == k).map(|(_, v)| v)?;
    for seg in rest {
        cur = match (seg, cur.get_ref()) {
            (Seg::Key(k), toml::de::DeValue::Table(t)) => {
                t.iter().find(|(kk, _)| kk.get_ref() == k).map(|(_, v)| v)?
            }
            (Seg::Index(i), toml::de::DeValue::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn key_text(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        format!("\"{}\"", k.escape_debug())
    }
}

/// `[redis.sentinel] quorum`, `[etcd]`, `[postgres.databases] password (entry 2)`.
/// A trailing index into a list of values belongs to its key.
pub fn describe_path(path: &[Seg], header_table: bool) -> String {
    let mut path = path.to_vec();
    let mut header_table = header_table;
    while matches!(path.last(), Some(Seg::Index(_))) {
        path.pop();
        header_table = false;
    }
    let mut table: Vec<String> = Vec::new();
    let mut entry = None;
    let split = if header_table {
        path.len()
    } else {
        path.len().saturating_sub(1)
    };
    for seg in &path[..split] {
        match seg {
            Seg::Key(k) => table.push(key_text(k)),
            Seg::Index(i) => entry = Some(i + 1),
        }
    }
    let key = if header_table {
        None
    } else {
        path.last().and_then(|s| {
            if let Seg::Key(k) = s {
                Some(key_text(k))
            } else {
                None
            }
        })
    };
    let mut out = match (table.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("[{}] {k}", table.join(".")),
        (_, None) => format!("[{}]", table.join(".")),
    };
    if let Some(n) = entry {
        out.push_str(&format!(" (entry {n})"));
    }
    out
}

/// Char ranges of secret values written after a secret key on one line
/// (`password = "x"`, but not `password = { env = "X" }`).
fn secret_regions(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let word_start = i == 0
            || !(chars[i - 1].is_ascii_alphanumeric()
                || chars[i - 1] == '_'
                || chars[i - 1] == '-');
        let hit = word_start
            .then(|| {
                SECRET_KEYS
                    .iter()
                    .find(|k| chars[i..].starts_with(&k.chars().collect::<Vec<_>>()))
            })
            .flatten();
        let Some(k) = hit else {
            i += 1;
            continue;
        };
        let mut j = i + k.len();
        while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
        if j >= chars.len() || chars[j] != '=' {
            i += k.len();
            continue;
        }
        j += 1;
        while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
        if j >= chars.len() || chars[j] == '{' {
            i = j;
            continue;
        }
        let start = j;
        let end = match chars[j] {
            q @ ('"' | '\'') => {
                let mut e = j + 1;
                while e < chars.len() && chars[e] != q {
                    e += if q == '"' && chars[e] == '\\' { 2 } else { 1 };
                }
                (e + 1).min(chars.len())
            }
            _ => {
                let mut e = j;
                while e < chars.len() && !matches!(chars[e], ',' | '}' | '#') {
                    e += 1;
                }
                while e > j && chars[e - 1].is_whitespace() {
                    e -= 1;
                }
                e
            }
        };
        if end > start {
            out.push((start, end));
        }
        i = end.max(i + 1);
    }
    out
}

/// Replaces each region with `****`; returns the text and a map of old char
/// columns to new ones (a column inside a region goes to its start, or with
/// `end`, to its end).
fn mask(
    chars: &[char],
    mut regions: Vec<(usize, usize)>,
) -> (String, impl Fn(usize, bool) -> usize) {
    regions.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in regions {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mut text = String::new();
    let mut i = 0;
    for (a, b) in &merged {
        text.extend(&chars[i..*a]);
        text.push_str("****");
        i = *b;
    }
    text.extend(&chars[i.min(chars.len())..]);
    let map = move |col: usize, end: bool| {
        let mut shift: isize = 0;
        for (a, b) in &merged {
            if col <= *a {
                break;
            }
            if col < *b {
                let base = (*a as isize + shift) as usize;
                return if end { base + 4 } else { base };
            }
            shift += 4 - (*b as isize - *a as isize);
        }
        (col as isize + shift) as usize
    };
    (text, map)
}

/// The quoted source line of a diagnostic, with the caret range (0-based chars).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snippet {
    pub line: usize,
    pub text: String,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem has no single position.
    pub line: usize,
    pub col: usize,
    /// The table and key it is about, as written: `[redis.sentinel] quorum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message: String,
    /// The offending line, secrets masked, with a caret under the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<Snippet>,
    /// What to write instead.
    pub help: Option<String>,
    pub warning: bool,
}

impl Diagnostic {
    pub fn plain(
        file: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line: 0,
            col: 0,
            key: None,
            message: message.into(),
            snippet: None,
            help,
            warning: false,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        let key = self
            .key
            .as_ref()
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        if self.line > 0 {
            write!(
                f,
                "{level}: {}:{}:{}: {key}{}",
                self.file, self.line, self.col, self.message
            )?;
        } else {
            write!(f, "{level}: {}: {key}{}", self.file, self.message)?;
        }
        let width = self
            .snippet
            .as_ref()
            .map(|s| s.line.to_string().len())
            .unwrap_or(1);
        if let Some(s) = &self.snippet {
            let pad = " ".repeat(width);
            let lead: String = s
                .text
                .chars()
                .take(s.start)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{pad} |\n{} | {}\n{pad} | {lead}{}",
                s.line,
                s.text,
                "^".repeat(s.len)
            )?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n{} = help: {h}", " ".repeat(width))?;
        }
        Ok(())
    }
}

/// Everything wrong with the inputs, in the order found.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| !d.warning)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.iter().filter(|d| !d.warning).count();
        if n > 0 {
            write!(
                f,
                "{n} error{} found; nothing was contacted.",
                if n == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Turns a toml deserialization error into a diagnostic: the key path, the
/// line with a caret, and what to write. Type errors are reworded
/// (`[redis.sentinel] quorum: expected a whole number from 0 to 4294967295,
/// found string "two"`); a literal secret is masked in the quoted line.
pub fn from_toml(src: &Source, err: &toml::de::Error) -> Diagnostic {
    let msg = err.message().trim().to_string();
    let span = err.span();
    let key = span
        .as_ref()
        .map(|s| src.path_at(s.start))
        .and_then(|p| {
            p.iter().rev().find_map(|s| {
                if let Seg::Key(k) = s {
                    Some(key_text(k))
                } else {
                    None
                }
            })
        })
        .unwrap_or_else(|| "key".into());
    let mut message = msg.clone();
    let mut help = None;
    let mut secret = false;
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((bad, tail)) = rest.split_once('`') {
            let expected: Vec<String> = tail
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            help = Some(
                match did_you_mean(bad, expected.iter().map(String::as_str)) {
                    Some(best) => format!(
                        "did you mean `{best}`? known keys here: {}",
                        expected.join(", ")
                    ),
                    None => format!("remove `{bad}`; known keys here: {}", expected.join(", ")),
                },
            );
        }
    } else if let Some(rest) = msg.strip_prefix("unknown variant `") {
        if let Some((bad, tail)) = rest.split_once('`') {
            let expected: Vec<String> = tail
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            help = Some(
                match did_you_mean(bad, expected.iter().map(String::as_str)) {
                    Some(best) => {
                        format!("did you mean `{best}`? allowed: {}", expected.join(", "))
                    }
                    None => format!("allowed: {}", expected.join(", ")),
                },
            );
        }
    } else if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| f.to_string())
    {
        help = Some(format!(
            "add `{field} = ...` to this table; the README lists every key of each table"
        ));
    } else if msg.contains("never written literally") || msg.starts_with("a secret is either") {
        secret = true;
        help = Some(format!("write `{key} = {{ env = \"NAME\" }}` (read from the environment) or `{key} = {{ file = \"path\" }}` (a file readable only by you); the value is not shown here"));
    } else if let Some((what, rest)) = msg
        .strip_prefix("invalid type: ")
        .map(|r| ("type", r))
        .or_else(|| msg.strip_prefix("invalid value: ").map(|r| ("value", r)))
    {
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            let (want, h) = expected_help(expected, &key);
            message = if what == "type" {
                format!("expected {want}, found {found}")
            } else {
                format!("{found} is out of range: expected {want}")
            };
            help = Some(h);
        }
    } else if let Some(name) = msg.strip_prefix("data did not match any variant of untagged enum ")
    {
        if name.starts_with("HostsRef") {
            message = "hosts must name a group or host of the inventory, or list them".into();
            help = Some(format!(
                "write `{key} = \"GROUP\"` or `{key} = [\"host1\", \"host2\"]`"
            ));
        }
    }
    if help.is_none() {
        help = Some(if msg.contains("is not an environment variable name") {
            format!("write `{key} = {{ env = \"NAME\" }}` with a variable name of letters, digits and _")
        } else if span
            .as_ref()
            .is_some_and(|s| src.path_at(s.start).is_empty())
            || msg.starts_with("invalid")
            || msg.starts_with("unclosed")
            || msg.starts_with("expected")
        {
            "fix the TOML at the caret: `key = value` one per line, strings in double quotes, tables as [name] (see https://toml.io)".to_string()
        } else {
            "see the README for the keys of each table and what they take".to_string()
        });
    }
    let mut d = src.diag(span.clone(), message, help);
    if secret {
        d.snippet = span.map(|s| src.snippet(s, true));
    }
    d
}

/// What a serde `expected ...` means in the user's words, and what to write.
fn expected_help(expected: &str, key: &str) -> (String, String) {
    let range = match expected {
        "u8" => Some("0 to 255"),
        "u16" => Some("0 to 65535"),
        "u32" => Some("0 to 4294967295"),
        "u64" | "usize" => Some("0 to 18446744073709551615"),
        "i64" | "i32" | "an integer" => Some(""),
        _ => None,
    };
    if let Some(r) = range {
        let want = if r.is_empty() {
            "a whole number".to_string()
        } else {
            format!("a whole number from {r}")
        };
        return (
            want,
            format!("write a number without quotes, e.g. `{key} = 3`"),
        );
    }
    match expected {
        "a boolean" => ("true or false".into(), format!("write `{key} = true` or `{key} = false`, without quotes")),
        "a string" => ("a string".into(), format!("write the value in double quotes, e.g. `{key} = \"...\"`")),
        "a sequence" => ("a list".into(), format!("write a list, e.g. `{key} = [\"a\", \"b\"]`")),
        e if e == "a map" || e.starts_with("struct ") => ("a table".into(), format!("write a table: `[...{key}]` on its own line with its keys below it, or `{key} = {{ ... }}`")),
        e => (e.to_string(), format!("write {e} for `{key}`")),
    }
}

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(
    bad: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(bad, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let s = Source::new("f.toml", "a = 1\nbb = 2\n");
        assert_eq!(s.position(0), (1, 1));
        assert_eq!(s.position(6), (2, 1));
        assert_eq!(s.position(9), (2, 4));
    }

    #[test]
    fn key_paths_name_table_and_key() {
        let s = Source::new("s.toml", "[stack]\nname = \"x\"\n[redis]\nhosts = [\"a\", \"b\"]\n[redis.sentinel]\nquorum = 4\n[[postgres.databases]]\nname = \"a\"\n[[postgres.databases]]\nname = \"b\"\n[services.\"we b\"]\nenv = { A = \"1\" }\n");
        let at = |needle: &str| s.key_at(s.text.find(needle).unwrap());
        assert_eq!(at("4").as_deref(), Some("[redis.sentinel] quorum"));
        assert_eq!(at("quorum").as_deref(), Some("[redis.sentinel] quorum"));
        assert_eq!(at("\"b\"]").as_deref(), Some("[redis] hosts"));
        assert_eq!(at("\"x\"").as_deref(), Some("[stack] name"));
        assert_eq!(
            at("\"b\"\n[serv").as_deref(),
            Some("[postgres.databases] name (entry 2)")
        );
        assert_eq!(at("\"1\"").as_deref(), Some("[services.\"we b\".env] A"));
        assert_eq!(
            s.find(&["redis", "sentinel", "quorum"]).map(|r| &s.text[r]),
            Some("4")
        );
        assert_eq!(
            s.find(&["postgres", "databases", "1", "name"])
                .map(|r| &s.text[r]),
            Some("\"b\"")
        );
        assert_eq!(
            s.find_key(&["services", "we b", "env", "A"])
                .map(|r| &s.text[r]),
            Some("A")
        );
        assert_eq!(s.find(&["redis", "nope"]), None);
    }

    #[test]
    fn rendering_quotes_the_line_with_a_caret_under_the_value() {
        let s = Source::new("stack.toml", "[redis.sentinel]\nquorum = 4\n");
        let d = s.diag(
            s.find(&["redis", "sentinel", "quorum"]),
            "sentinel quorum 4 is impossible with 3 Sentinels",
            Some("use a quorum from 1 to 3".into()),
        );
        assert_eq!(
            d.to_string(),
            "error: stack.toml:2:10: [redis.sentinel] quorum: sentinel quorum 4 is impossible with 3 Sentinels\n  |\n2 | quorum = 4\n  |          ^\n  = help: use a quorum from 1 to 3"
        );
    }

    #[test]
    fn type_errors_are_reworded_with_the_key() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            sentinel: T,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            quorum: u32,
            on: Option<bool>,
        }
        for (text, want, help) in [
            ("[sentinel]\nquorum = \"two\"\n", "[sentinel] quorum: expected a whole number from 0 to 4294967295, found string \"two\"", "e.g. `quorum = 3`"),
            ("[sentinel]\nquorum = -1\n", "[sentinel] quorum: integer `-1` is out of range: expected a whole number from 0 to 4294967295", "without quotes"),
            ("[sentinel]\nquorum = 1\non = \"yes\"\n", "[sentinel] on: expected true or false, found string \"yes\"", "write `on = true` or `on = false`"),
            ("sentinel = 3\n", "sentinel: expected a table", "`sentinel = { ... }`"),
        ] {
            let src = Source::new("s.toml", text);
            let e = toml::from_str::<S>(text).unwrap_err();
            let d = from_toml(&src, &e).to_string();
            assert!(d.contains(want) && d.contains(help) && d.contains('^'), "{d}");
        }
    }

    #[test]
    fn secret_values_are_masked_in_quoted_lines() {
        let s = Source::new("s.toml", "password = \"hun,ter2\" # x\ntls = { cert = 'c', key = { env = \"K\" } }\nsuperuser_password = 1234\nname = \"keyring\"\n");
        let line = |n: &str| {
            let o = s.text.find(n).unwrap();
            s.snippet(o..o + n.len(), false)
        };
        assert_eq!(line("password").text, "password = **** # x");
        assert_eq!(
            line("tls").text,
            "tls = { cert = ****, key = { env = \"K\" } }"
        );
        assert_eq!(line("superuser_password").text, "superuser_password = ****");
        assert_eq!(line("name").text, "name = \"keyring\"");
        // a caret under a masked value sits under the mask
        let o = s.text.find("'c'").unwrap();
        let sn = s.snippet(o..o + 3, false);
        assert_eq!((sn.start, sn.len), (15, 4));
        // after a mask, carets move with the shorter text
        let o = s.text.find("# x").unwrap();
        let sn = s.snippet(o..o + 3, false);
        assert_eq!(&sn.text[sn.start..sn.start + sn.len], "# x");
        // with mask_span, the span itself is hidden even under another key
        let s = Source::new("s.toml", "token = \"hunter2\"\n");
        let sn = s.snippet(8..17, true);
        assert_eq!((sn.text.as_str(), sn.start, sn.len), ("token = ****", 8, 4));
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("hots", ["hosts", "groups"]), Some("hosts"));
        assert_eq!(did_you_mean("zzzzzz", ["hosts", "groups"]), None);
    }
}
