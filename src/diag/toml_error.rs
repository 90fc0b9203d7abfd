//! TOML deserialization errors in the user's words: the key path, the
//! line with a caret, and what to write.

use super::keypath::key_text;
use super::{did_you_mean, Diagnostic, Seg, Source};

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
    let Reworded {
        message,
        help,
        secret,
    } = reworded(&msg, &key);
    let help = help.unwrap_or_else(|| fallback_help(src, &msg, &key, span.as_ref()));
    let mut d = src.diag(span.clone(), message, Some(help));
    if secret {
        d.snippet = span.map(|s| src.snippet(s, true));
    }
    d
}

/// A toml error in the user's words.
struct Reworded {
    message: String,
    /// The fix, when the kind of error is known.
    help: Option<String>,
    /// A literal secret: the quoted line hides the value at the caret too.
    secret: bool,
}

/// The message in the user's words (or as toml said it), and the fix when
/// the kind of error is known.
fn reworded(msg: &str, key: &str) -> Reworded {
    let plain = |help: Option<String>| Reworded {
        message: msg.to_string(),
        help,
        secret: false,
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        return plain(rest.split_once('`').map(|(bad, tail)| {
            let expected = backquoted(tail);
            match did_you_mean(bad, expected.iter().map(String::as_str)) {
                Some(best) => format!(
                    "did you mean `{best}`? known keys here: {}",
                    expected.join(", ")
                ),
                None => format!("remove `{bad}`; known keys here: {}", expected.join(", ")),
            }
        }));
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        return plain(rest.split_once('`').map(|(bad, tail)| {
            let expected = backquoted(tail);
            match did_you_mean(bad, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`? allowed: {}", expected.join(", ")),
                None => format!("allowed: {}", expected.join(", ")),
            }
        }));
    }
    if let Some((field, _)) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
    {
        return plain(Some(format!(
            "add `{field} = ...` to this table; the README lists every key of each table"
        )));
    }
    if msg.contains("never written literally") || msg.starts_with("a secret is either") {
        return Reworded {
            secret: true,
            ..plain(Some(format!("write `{key} = {{ env = \"NAME\" }}` (read from the environment) or `{key} = {{ file = \"path\" }}` (a file readable only by you); the value is not shown here")))
        };
    }
    if let Some((what, rest)) = msg
        .strip_prefix("invalid type: ")
        .map(|r| ("type", r))
        .or_else(|| msg.strip_prefix("invalid value: ").map(|r| ("value", r)))
    {
        let Some((found, expected)) = rest.rsplit_once(", expected ") else {
            return plain(None);
        };
        let (want, help) = expected_help(expected, key);
        let message = if what == "type" {
            format!("expected {want}, found {found}")
        } else {
            format!("{found} is out of range: expected {want}")
        };
        return Reworded {
            message,
            help: Some(help),
            secret: false,
        };
    }
    let hosts_ref = msg
        .strip_prefix("data did not match any variant of untagged enum ")
        .is_some_and(|name| name.starts_with("HostsRef"));
    if hosts_ref {
        return Reworded {
            message: "hosts must name a group or host of the inventory, or list them".into(),
            help: Some(format!(
                "write `{key} = \"GROUP\"` or `{key} = [\"host1\", \"host2\"]`"
            )),
            secret: false,
        };
    }
    plain(None)
}

/// The names in backquotes after the first one: serde's `expected ...` list.
fn backquoted(tail: &str) -> Vec<String> {
    tail.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The fix for an error of no known kind: TOML syntax, or see the README.
fn fallback_help(
    src: &Source,
    msg: &str,
    key: &str,
    span: Option<&std::ops::Range<usize>>,
) -> String {
    if msg.contains("is not an environment variable name") {
        format!(
            "write `{key} = {{ env = \"NAME\" }}` with a variable name of letters, digits and _"
        )
    } else if span.is_some_and(|s| src.path_at(s.start).is_empty())
        || msg.starts_with("invalid")
        || msg.starts_with("unclosed")
        || msg.starts_with("expected")
    {
        "fix the TOML at the caret: `key = value` one per line, strings in double quotes, tables as [name] (see https://toml.io)".to_string()
    } else {
        "see the README for the keys of each table and what they take".to_string()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
