//! The user's files: inventory and stack, parsed and checked. Pure: the
//! loaders in `load` read the files; everything else works on text.

pub mod backup_keys;
pub mod cron;
pub mod inventory;
pub mod load;
pub mod release;
pub mod secret;
pub mod stack;
pub mod zones;

use std::path::{Path, PathBuf};

/// Expands `~/` and resolves a relative path against `base`.
pub fn expand_path(p: &str, base: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

/// A name usable in ids, unit names and file names: letters, digits, `-`, `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// An address: an IP literal or a DNS name (no shell or config metacharacters).
pub fn valid_address(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        })
}
