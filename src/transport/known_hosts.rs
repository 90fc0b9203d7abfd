//! known_hosts lookups (plain and hashed `|1|` entries), as OpenSSH reads them.
//! Pure functions over the file's text, plus the append for `accept-new`.

use base64::Engine;
use hmac::{KeyInit, Mac};

/// What known_hosts says about a host's offered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known,
    /// No line for this host.
    Unknown,
    /// A line for this host holds another key: (line number, its key type).
    Changed {
        line: usize,
        recorded: String,
    },
}

/// The name OpenSSH files a host under: `addr`, or `[addr]:port` off port 22.
pub fn host_entry(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

fn pattern_matches(entry: &str, pattern: &str) -> bool {
    for p in pattern.split(',') {
        if let Some(rest) = p.strip_prefix("|1|") {
            let mut parts = rest.split('|');
            let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
                continue;
            };
            let b64 = base64::engine::general_purpose::STANDARD;
            let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
                continue;
            };
            let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
                continue;
            };
            mac.update(entry.as_bytes());
            if mac.verify_slice(&hash).is_ok() {
                return true;
            }
        } else if !p.starts_with('!') && p == entry {
            return true;
        }
    }
    false
}

/// Every key known_hosts records for a host (`entry` as `host_entry` names
/// it): (key type, base64 key data), in file order; revoked and CA lines left out.
pub fn keys_for(text: &str, entry: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (hosts, kt, kd) = (f.next()?, f.next()?, f.next()?);
            pattern_matches(entry, hosts).then(|| (kt.to_string(), kd.to_string()))
        })
        .collect()
}

/// Checks an offered key (`key_type`, base64 `key_data`) against known_hosts text.
pub fn check(text: &str, entry: &str, key_type: &str, key_data: &str) -> Verdict {
    let mut changed = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(hosts), Some(kt), Some(kd)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !pattern_matches(entry, hosts) {
            continue;
        }
        if kt == key_type && kd == key_data {
            return Verdict::Known;
        }
        if changed.is_none() {
            changed = Some(Verdict::Changed {
                line: n + 1,
                recorded: kt.to_string(),
            });
        }
    }
    changed.unwrap_or(Verdict::Unknown)
}

/// The line `accept-new` appends.
pub fn line(entry: &str, key_type: &str, key_data: &str) -> String {
    format!("{entry} {key_type} {key_data}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_for_finds_plain_and_hashed_lines_of_one_host() {
        let text = "10.0.0.1 ssh-ed25519 AAAA1\n10.0.0.2 ssh-ed25519 AAAA2\n# 10.0.0.1 ssh-rsa no\n@revoked 10.0.0.1 ssh-rsa R\n[10.0.0.1]:2222 ssh-ed25519 P\n10.0.0.9,10.0.0.1 ecdsa-sha2-nistp256 E\n";
        assert_eq!(
            keys_for(text, "10.0.0.1"),
            vec![
                ("ssh-ed25519".to_string(), "AAAA1".to_string()),
                ("ecdsa-sha2-nistp256".to_string(), "E".to_string())
            ]
        );
        assert_eq!(keys_for(text, "[10.0.0.1]:2222").len(), 1);
        assert!(keys_for(text, "10.0.0.3").is_empty());
    }

    #[test]
    fn plain_hashed_changed_unknown() {
        let text = "# comment\n10.0.0.1 ssh-ed25519 AAAA1\n[10.0.0.2]:2222 ssh-ed25519 AAAA2\n";
        assert_eq!(
            check(text, "10.0.0.1", "ssh-ed25519", "AAAA1"),
            Verdict::Known
        );
        assert_eq!(
            check(text, "10.0.0.1", "ssh-ed25519", "BBBB"),
            Verdict::Changed {
                line: 2,
                recorded: "ssh-ed25519".into()
            }
        );
        assert_eq!(
            check(text, "10.0.0.1", "ecdsa-sha2-nistp256", "CCCC"),
            Verdict::Changed {
                line: 2,
                recorded: "ssh-ed25519".into()
            }
        );
        assert_eq!(
            check(text, "10.0.0.9", "ssh-ed25519", "AAAA1"),
            Verdict::Unknown
        );
        assert_eq!(
            check(text, &host_entry("10.0.0.2", 2222), "ssh-ed25519", "AAAA2"),
            Verdict::Known
        );
        assert_eq!(
            check(text, "10.0.0.2", "ssh-ed25519", "AAAA2"),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_entries_match_like_openssh() {
        // produced by `ssh-keygen -H` for host 10.0.0.1
        let salt = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdefghij");
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"0123456789abcdefghij").unwrap();
        mac.update(b"10.0.0.1");
        let hash = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let text = format!("|1|{salt}|{hash} ssh-ed25519 AAAA1\n");
        assert_eq!(
            check(&text, "10.0.0.1", "ssh-ed25519", "AAAA1"),
            Verdict::Known
        );
        assert_eq!(
            check(&text, "10.0.0.2", "ssh-ed25519", "AAAA1"),
            Verdict::Unknown
        );
    }
}
