//! Key paths in a TOML source: the key at an offset (`[redis.sentinel]
//! quorum`), the span at a path, and a path as the user wrote it.

use super::Source;
use std::ops::Range;

/// One step of a key path: a table key or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Source {
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

pub(super) fn key_text(k: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
