//! Secret values hidden in quoted lines: where they are on a line, and
//! the line with each shown as `****`.

/// Keys whose values are secrets: a quoted line never shows their value.
const SECRET_KEYS: [&str; 5] = [
    "superuser_password",
    "replication_password",
    "password",
    "cert",
    "key",
];

/// Char ranges of secret values written after a secret key on one line
/// (`password = "x"`, but not `password = { env = "X" }`).
pub(super) fn secret_regions(chars: &[char]) -> Vec<(usize, usize)> {
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
pub(super) fn mask(
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

#[cfg(test)]
mod tests {
    use crate::diag::Source;

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
}
