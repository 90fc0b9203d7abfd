//! The one function that quotes a value for a remote POSIX shell.

/// Quotes `s` as a single POSIX shell word. Every value that reaches a
/// remote shell goes through here.
pub fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::sh;
    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(sh("/etc/default/etcd"), "/etc/default/etcd");
        assert_eq!(sh("etcd-server"), "etcd-server");
    }
    #[test]
    fn hostile_values_are_one_word() {
        assert_eq!(sh(""), "''");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("$(reboot)"), "'$(reboot)'");
        assert_eq!(sh("it's"), "'it'\\''s'");
        assert_eq!(sh("a\nb"), "'a\nb'");
    }
    #[test]
    fn quoted_values_round_trip_through_a_real_shell() {
        for v in [
            "x",
            "a b",
            "$(id)",
            "`id`",
            "it's",
            "a\nb",
            "\"q\"",
            ";rm -rf /",
            "*",
            "~",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh(v)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), v);
        }
    }
}
