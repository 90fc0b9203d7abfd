//! The Debian release each host runs (`debian = 12 | 13` in the inventory,
//! `[defaults]` or per host; 13 when absent) and what each release ships.
//! Plans are compiled before facts are read, so the release is declared;
//! the plan refuses a host that runs another one (`plan::release`).

use crate::diag::{Diagnostics, Source};
use crate::model::stack::Validator;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// A Debian release rampart supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Release {
    /// Debian 12: PostgreSQL 15, Patroni 3.0, etcd 3.4, Redis 7.0, HAProxy 2.6.
    Bookworm,
    /// Debian 13: PostgreSQL 17, Patroni 4.0, etcd 3.5, Redis 8, Valkey 8, HAProxy 3.0.
    Trixie,
}

impl Release {
    /// The release of a host whose inventory says nothing.
    pub const DEFAULT: Release = Release::Trixie;
    pub const ALL: [Release; 2] = [Release::Bookworm, Release::Trixie];

    pub fn from_number(n: i64) -> Option<Release> {
        Release::ALL
            .into_iter()
            .find(|r| i64::from(r.number()) == n)
    }
    pub fn from_codename(s: &str) -> Option<Release> {
        Release::ALL.into_iter().find(|r| r.codename() == s)
    }
    /// Its version number (`VERSION_ID` in /etc/os-release).
    pub fn number(self) -> u8 {
        match self {
            Release::Bookworm => 12,
            Release::Trixie => 13,
        }
    }
    /// Its codename (`VERSION_CODENAME`).
    pub fn codename(self) -> &'static str {
        match self {
            Release::Bookworm => "bookworm",
            Release::Trixie => "trixie",
        }
    }
    /// The PostgreSQL major version it ships (the only one packaged).
    pub fn postgres(self) -> u32 {
        match self {
            Release::Bookworm => 15,
            Release::Trixie => 17,
        }
    }
    /// The release that ships PostgreSQL `major`, if one does.
    pub fn shipping_postgres(major: u32) -> Option<Release> {
        Release::ALL.into_iter().find(|r| r.postgres() == major)
    }
    /// The Patroni major version it ships (3.0.2 on 12, 4.0.7 on 13).
    pub fn patroni_major(self) -> u32 {
        match self {
            Release::Bookworm => 3,
            Release::Trixie => 4,
        }
    }
    /// Whether it packages Valkey (valkey-server, valkey-sentinel).
    pub fn has_valkey(self) -> bool {
        self == Release::Trixie
    }
}

impl fmt::Display for Release {
    /// `Debian 13 (trixie)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Debian {} ({})", self.number(), self.codename())
    }
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

/// Where a host's `debian` comes from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseFrom {
    /// `debian = N` in `[hosts.NAME]`.
    Host,
    /// `debian = N` in `[defaults]`.
    Defaults,
    /// Not written: the default (13).
    Default,
}

impl ReleaseFrom {
    /// `(the default)`, `(from [defaults])` or `` for the host's own key.
    pub fn note(self) -> &'static str {
        match self {
            ReleaseFrom::Host => "",
            ReleaseFrom::Defaults => " (from [defaults])",
            ReleaseFrom::Default => " (the default)",
        }
    }
}

/// Reads a `debian = N` (`who`: `host NAME: ` in `[hosts.NAME]`, empty in
/// `[defaults]`); a bad value is a diagnostic at the value with what to write.
pub(crate) fn parse_debian(
    src: &Source,
    value: &Spanned<toml::Value>,
    who: &str,
    diags: &mut Diagnostics,
) -> Option<Release> {
    let help =
        "write debian = 13 (trixie) or debian = 12 (bookworm): the Debian release the hosts run";
    let (message, help) = match value.get_ref() {
        toml::Value::Integer(n) => match Release::from_number(*n) {
            Some(r) => return Some(r),
            None => (
                format!("{who}debian {n} is not a release rampart supports"),
                help.to_string(),
            ),
        },
        toml::Value::String(s) => {
            let known = Release::from_codename(&s.to_ascii_lowercase())
                .or_else(|| s.trim().parse().ok().and_then(Release::from_number));
            (
                format!(
                    "{who}debian must be a release number, found string \"{}\"",
                    s.escape_debug()
                ),
                match known {
                    Some(r) => format!("write debian = {} (a number, without quotes)", r.number()),
                    None => help.to_string(),
                },
            )
        }
        other => (
            format!(
                "{who}debian must be a release number, found {}",
                other.type_str()
            ),
            help.to_string(),
        ),
    };
    diags.push(src.diag(Some(value.span()), message, Some(help)));
    None
}

/// What a host's `/etc/os-release` says (read by the facts script).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OsRelease {
    /// `ID`: `debian`, `ubuntu`, ...
    pub id: String,
    /// `VERSION_ID`: `12`, `13` (absent on testing and unstable).
    pub version_id: String,
    /// `VERSION_CODENAME`: `bookworm`, `trixie`.
    pub codename: String,
    /// `PRETTY_NAME`, for messages.
    pub pretty_name: String,
}

impl OsRelease {
    /// Parses os-release(5): `KEY=value` lines, values maybe quoted.
    pub fn parse(text: &str) -> OsRelease {
        let mut o = OsRelease::default();
        for line in text.lines() {
            let Some((k, v)) = line.trim().split_once('=') else {
                continue;
            };
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v)
                .replace("\\\"", "\"")
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>();
            match k.trim() {
                "ID" => o.id = v,
                "VERSION_ID" => o.version_id = v,
                "VERSION_CODENAME" => o.codename = v,
                "PRETTY_NAME" => o.pretty_name = v,
                _ => {}
            }
        }
        o
    }
    /// The supported release it is, if it is one: Debian with VERSION_ID 12
    /// or 13 (or, without one, their codename).
    pub fn release(&self) -> Option<Release> {
        if self.id != "debian" {
            return None;
        }
        match self.version_id.parse::<i64>() {
            Ok(n) => Release::from_number(n),
            Err(_) if self.version_id.is_empty() => Release::from_codename(&self.codename),
            Err(_) => None,
        }
    }
}

impl fmt::Display for OsRelease {
    /// `Debian 12 (bookworm)`, else what the file says.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = self.release() {
            return write!(f, "{r}");
        }
        match (self.id.as_str(), self.pretty_name.as_str()) {
            ("", "") => write!(f, "a system without /etc/os-release"),
            ("debian", _) if !self.version_id.is_empty() => {
                write!(f, "Debian {} ({})", self.version_id, self.codename)
            }
            (_, "") => write!(f, "{} {} ({})", self.id, self.version_id, self.codename),
            (_, p) => write!(f, "{p}"),
        }
    }
}

/// The one Debian release of a cluster's `hosts` (`table`'s); when they run
/// different ones, an error at `span` (its `hosts`) naming them and `why`,
/// and None. None too when it has no hosts.
pub(crate) fn one_release(
    v: &mut Validator,
    table: &str,
    hosts: &[String],
    span: Option<Range<usize>>,
    why: &str,
) -> Option<Release> {
    let inv = v.inv();
    let mut by: BTreeMap<Release, Vec<&str>> = BTreeMap::new();
    for h in hosts.iter().filter_map(|h| inv.hosts.get(h)) {
        by.entry(h.debian).or_default().push(&h.name);
    }
    if by.len() < 2 {
        return by.keys().next().copied();
    }
    let runs: Vec<String> = by
        .iter()
        .rev()
        .map(|(r, names)| {
            let verb = if names.len() == 1 { "runs" } else { "run" };
            format!("{} {verb} {r}", and_list(names))
        })
        .collect();
    v.err(
        span,
        format!(
            "{table} hosts run different Debian releases ({}): {why}",
            runs.join("; ")
        ),
        format!(
            "give every {table} host the same debian = N in {}, or split them into clusters of one release",
            inv.source.path
        ),
    );
    None
}

/// `lab1, lab2 and lab3`.
pub fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_release_ships() {
        assert_eq!(Release::DEFAULT, Release::Trixie);
        assert_eq!(Release::Trixie.to_string(), "Debian 13 (trixie)");
        assert_eq!(Release::Bookworm.to_string(), "Debian 12 (bookworm)");
        assert_eq!(
            (Release::Bookworm.postgres(), Release::Trixie.postgres()),
            (15, 17)
        );
        assert_eq!(
            (
                Release::Bookworm.patroni_major(),
                Release::Trixie.patroni_major()
            ),
            (3, 4)
        );
        assert!(Release::Trixie.has_valkey() && !Release::Bookworm.has_valkey());
        assert_eq!(Release::shipping_postgres(15), Some(Release::Bookworm));
        assert_eq!(Release::shipping_postgres(16), None);
        assert_eq!(Release::from_number(13), Some(Release::Trixie));
        assert_eq!(Release::from_number(11), None);
        assert_eq!(Release::from_codename("bookworm"), Some(Release::Bookworm));
        assert_eq!(serde_json::to_string(&Release::Trixie).unwrap(), "13");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(and_list(&["a"]), "a");
    }

    #[test]
    fn os_release_files_are_read() {
        let trixie = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nID=debian\n";
        let o = OsRelease::parse(trixie);
        assert_eq!(o.release(), Some(Release::Trixie));
        assert_eq!(o.to_string(), "Debian 13 (trixie)");
        let bookworm = "PRETTY_NAME='Debian GNU/Linux 12 (bookworm)'\nVERSION_ID='12'\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(
            OsRelease::parse(bookworm).release(),
            Some(Release::Bookworm)
        );
        let bullseye = "PRETTY_NAME=\"Debian GNU/Linux 11 (bullseye)\"\nVERSION_ID=\"11\"\nVERSION_CODENAME=bullseye\nID=debian\n";
        let o = OsRelease::parse(bullseye);
        assert_eq!(o.release(), None);
        assert_eq!(o.to_string(), "Debian 11 (bullseye)");
        // testing has no VERSION_ID: its codename tells
        let testing =
            "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nVERSION_CODENAME=trixie\nID=debian\n";
        assert_eq!(OsRelease::parse(testing).release(), Some(Release::Trixie));
        let ubuntu = "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\n";
        let o = OsRelease::parse(ubuntu);
        assert_eq!(o.release(), None);
        assert_eq!(o.to_string(), "Ubuntu 24.04.1 LTS");
        assert_eq!(
            OsRelease::parse("").to_string(),
            "a system without /etc/os-release"
        );
    }
}
