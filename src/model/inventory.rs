//! `inventory/*.toml`: the machines.

use super::release::{parse_debian, Release, ReleaseFrom};
use super::{valid_address, valid_name};
use crate::diag::{did_you_mean, from_toml, Diagnostics, Source};
use crate::transport::HostKeyPolicy;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Seconds to wait for a host's SSH handshake, and how often to try.
const CONNECT_TIMEOUT: std::ops::RangeInclusive<u64> = 1..=600;
const CONNECT_ATTEMPTS: std::ops::RangeInclusive<u64> = 1..=20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    hosts: BTreeMap<Spanned<String>, RawHost>,
    #[serde(default)]
    groups: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    user: Option<String>,
    port: Option<u16>,
    identity: Option<String>,
    known_hosts: Option<String>,
    host_key_policy: Option<HostKeyPolicy>,
    sudo: Option<bool>,
    connect_timeout: Option<u64>,
    connect_attempts: Option<u32>,
    proxy_jump: Option<Spanned<String>>,
    /// The Debian release of every host that does not say (12 or 13).
    debian: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    address: Spanned<String>,
    zone: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    vars: toml::Table,
    user: Option<String>,
    port: Option<u16>,
    identity: Option<String>,
    /// Another host of the inventory to reach this one through (SSH direct-tcpip).
    proxy_jump: Option<Spanned<String>>,
    /// The Debian release this host runs (12 or 13), over `[defaults]`'.
    debian: Option<Spanned<toml::Value>>,
}

/// Connection settings shared by all hosts unless a host overrides them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Defaults {
    pub user: String,
    pub port: u16,
    pub identity: Option<String>,
    pub known_hosts: String,
    pub host_key_policy: HostKeyPolicy,
    /// None: sudo exactly when the user is not root.
    pub sudo: Option<bool>,
    pub connect_timeout: u64,
    pub connect_attempts: u32,
    /// `debian` of `[defaults]`, when written.
    pub debian: Option<Release>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub zone: Option<String>,
    pub labels: Vec<String>,
    pub vars: toml::Table,
    pub user: String,
    pub port: u16,
    pub identity: Option<String>,
    /// The inventory host this one is reached through.
    pub proxy_jump: Option<String>,
    /// The Debian release it runs (its `debian`, else `[defaults]`', else 13):
    /// what its templates and checks are made for; the plan refuses a host
    /// that runs another.
    pub debian: Release,
    /// Where `debian` was read (for messages).
    pub debian_from: ReleaseFrom,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub source: Source,
    pub defaults: Defaults,
    /// In file order of names (sorted).
    pub hosts: BTreeMap<String, Host>,
    pub groups: BTreeMap<String, Vec<String>>,
}

impl Inventory {
    pub fn parse(src: Source) -> Result<Inventory, Diagnostics> {
        let mut diags = Diagnostics::default();
        let raw: RawInventory = match toml::from_str(&src.text) {
            Ok(r) => r,
            Err(e) => {
                diags.push(from_toml(&src, &e));
                return Err(diags);
            }
        };
        let d = raw.defaults;
        let user = d.user.unwrap_or_else(|| "root".into());
        let default_debian = d
            .debian
            .as_ref()
            .and_then(|v| parse_debian(&src, v, "", &mut diags));
        let defaults = Defaults {
            debian: default_debian,
            port: d.port.unwrap_or(22),
            identity: d.identity,
            known_hosts: d.known_hosts.unwrap_or_else(|| "~/.ssh/known_hosts".into()),
            host_key_policy: d.host_key_policy.unwrap_or(HostKeyPolicy::Strict),
            sudo: d.sudo,
            connect_timeout: d.connect_timeout.unwrap_or(10).max(1),
            connect_attempts: d.connect_attempts.unwrap_or(3).max(1),
            user: user.clone(),
        };
        for (key, value, range) in [
            ("connect_timeout", d.connect_timeout, CONNECT_TIMEOUT),
            (
                "connect_attempts",
                d.connect_attempts.map(u64::from),
                CONNECT_ATTEMPTS,
            ),
        ] {
            if let Some(v) = value.filter(|v| !range.contains(v)) {
                diags.push(src.diag(
                    src.find(&["defaults", key]),
                    format!("{key} {v} is out of range"),
                    Some(format!(
                        "write {key} from {} to {}",
                        range.start(),
                        range.end()
                    )),
                ));
            }
        }
        if !valid_name(&defaults.user) {
            diags.push(src.diag(
                src.find(&["defaults", "user"]),
                format!(
                    "[defaults] user `{}` is not a valid user name",
                    defaults.user
                ),
                Some("use letters, digits, - and _".into()),
            ));
        }
        let mut hosts = BTreeMap::new();
        let mut jumps: Vec<(String, Spanned<String>)> = Vec::new();
        let default_jump = d.proxy_jump.clone();
        let mut by_address: BTreeMap<String, String> = BTreeMap::new();
        for (name, h) in raw.hosts {
            let span = name.span();
            let name = name.into_inner();
            if !valid_name(&name) {
                diags.push(src.diag(Some(span.clone()), format!("host name `{}` is not allowed", name.escape_debug()), Some("use letters, digits, - and _ (at most 63), starting with a letter or digit".into())));
                continue;
            }
            let aspan = h.address.span();
            let address = h.address.into_inner();
            if !valid_address(&address) {
                diags.push(src.diag(
                    Some(aspan),
                    format!(
                        "host {name}: address `{}` is not an IP address or DNS name",
                        address.escape_debug()
                    ),
                    Some("write an address like \"10.0.1.11\" or \"db1.example.net\"".into()),
                ));
                continue;
            }
            if let Some(other) = by_address.insert(address.clone(), name.clone()) {
                diags.push(src.diag(
                    Some(aspan),
                    format!("host {name} has the same address {address} as host {other}"),
                    Some("each host needs its own address".into()),
                ));
            }
            if let Some(u) = &h.user {
                if !valid_name(u) {
                    diags.push(src.diag(
                        src.find(&["hosts", &name, "user"]).or(Some(span.clone())),
                        format!(
                            "host {name}: user `{}` is not a valid user name",
                            u.escape_debug()
                        ),
                        Some("use letters, digits, - and _".into()),
                    ));
                }
            }
            if let Some(z) = &h.zone {
                if !valid_name(z) {
                    diags.push(src.diag(
                        src.find(&["hosts", &name, "zone"]).or(Some(span.clone())),
                        format!("host {name}: zone `{}` is not allowed", z.escape_debug()),
                        Some("use letters, digits, - and _".into()),
                    ));
                }
            }
            if let Some(j) = h.proxy_jump.clone().or_else(|| default_jump.clone()) {
                jumps.push((name.clone(), j));
            }
            let (debian, debian_from) = match (&h.debian, default_debian) {
                (Some(v), _) => (
                    parse_debian(&src, v, &format!("host {name}: "), &mut diags)
                        .unwrap_or(Release::DEFAULT),
                    ReleaseFrom::Host,
                ),
                (None, Some(r)) => (r, ReleaseFrom::Defaults),
                (None, None) => (Release::DEFAULT, ReleaseFrom::Default),
            };
            hosts.insert(
                name.clone(),
                Host {
                    name,
                    address,
                    zone: h.zone,
                    labels: h.labels,
                    vars: h.vars,
                    user: h.user.unwrap_or_else(|| defaults.user.clone()),
                    port: h.port.unwrap_or(defaults.port),
                    identity: h.identity.or_else(|| defaults.identity.clone()),
                    proxy_jump: None,
                    debian,
                    debian_from,
                },
            );
        }
        // jump hosts: another host of this inventory, reached directly
        for (name, j) in &jumps {
            let target = j.get_ref();
            if target == name {
                continue; // a [defaults] proxy_jump does not apply to the jump host itself
            }
            if !hosts.contains_key(target) {
                let help = match did_you_mean(target, hosts.keys().map(String::as_str)) {
                    Some(s) => {
                        format!("did you mean `{s}`? proxy_jump names a host of this inventory")
                    }
                    None => "proxy_jump names a host of this inventory; add it under [hosts]"
                        .to_string(),
                };
                diags.push(src.diag(
                    Some(j.span()),
                    format!(
                        "host {name}: proxy_jump `{}` is not a host of the inventory",
                        target.escape_debug()
                    ),
                    Some(help),
                ));
                continue;
            }
            if jumps.iter().any(|(n, jj)| n == target && jj.get_ref() != n) {
                diags.push(src.diag(Some(j.span()), format!("host {name}: proxy_jump `{target}` is itself reached through a jump host"), Some("chains of jump hosts are not supported: give the jump host no proxy_jump".into())));
                continue;
            }
            if let Some(h) = hosts.get_mut(name) {
                h.proxy_jump = Some(target.clone());
            }
        }
        let mut groups = BTreeMap::new();
        for (gname, members) in raw.groups {
            let gspan = gname.span();
            let gname = gname.into_inner();
            if !valid_name(&gname) {
                diags.push(src.diag(
                    Some(gspan),
                    format!("group name `{}` is not allowed", gname.escape_debug()),
                    Some("use letters, digits, - and _".into()),
                ));
                continue;
            }
            let mut list = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for m in members {
                let mspan = m.span();
                let m = m.into_inner();
                if !hosts.contains_key(&m) {
                    let help = match did_you_mean(&m, hosts.keys().map(String::as_str)) {
                        Some(s) => {
                            format!("did you mean `{s}`? or add [hosts.{}]", m.escape_debug())
                        }
                        None => format!(
                            "add [hosts.{}] with its address, or remove it from the group",
                            m.escape_debug()
                        ),
                    };
                    diags.push(src.diag(
                        Some(mspan),
                        format!(
                            "group {gname} names host `{}`, which is not in [hosts]",
                            m.escape_debug()
                        ),
                        Some(help),
                    ));
                } else if !seen.insert(m.clone()) {
                    diags.push(src.diag(
                        Some(mspan),
                        format!("group {gname} lists host {m} twice"),
                        Some("remove the repeat".into()),
                    ));
                } else {
                    list.push(m);
                }
            }
            groups.insert(gname, list);
        }
        if hosts.is_empty() && !diags.has_errors() {
            diags.push(src.diag(
                None,
                "the inventory has no hosts",
                Some("add [hosts.NAME] tables with address = \"...\"".into()),
            ));
        }
        if diags.has_errors() {
            return Err(diags);
        }
        Ok(Inventory {
            source: src,
            defaults,
            hosts,
            groups,
        })
    }

    /// Resolves a group or host name to host names.
    pub fn resolve(&self, name: &str) -> Option<Vec<String>> {
        if let Some(g) = self.groups.get(name) {
            return Some(g.clone());
        }
        if self.hosts.contains_key(name) {
            return Some(vec![name.to_string()]);
        }
        None
    }

    pub fn names(&self) -> Vec<&str> {
        self.groups
            .keys()
            .chain(self.hosts.keys())
            .map(String::as_str)
            .collect()
    }

    /// Whether commands on this host go through sudo.
    pub fn sudo_for(&self, h: &Host) -> bool {
        self.defaults.sudo.unwrap_or(h.user != "root")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Inventory, Diagnostics> {
        Inventory::parse(Source::new("inv.toml", t))
    }

    #[test]
    fn example_parses() {
        let inv = parse("[defaults]\nuser = \"root\"\n[hosts.node1]\naddress = \"10.0.1.11\"\nzone = \"a\"\n[hosts.node2]\naddress = \"10.0.1.12\"\n[groups]\ndata = [\"node1\", \"node2\"]\n").unwrap();
        assert_eq!(inv.resolve("data").unwrap(), vec!["node1", "node2"]);
        assert_eq!(inv.resolve("node2").unwrap(), vec!["node2"]);
        assert_eq!(inv.hosts["node1"].port, 22);
    }

    #[test]
    fn debian_comes_from_the_host_then_defaults_then_13() {
        use crate::model::release::{Release, ReleaseFrom};
        let inv = parse(
            "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\ndebian = 12\n",
        )
        .unwrap();
        assert_eq!(
            (inv.hosts["a"].debian, inv.hosts["a"].debian_from),
            (Release::Trixie, ReleaseFrom::Default)
        );
        assert_eq!(
            (inv.hosts["b"].debian, inv.hosts["b"].debian_from),
            (Release::Bookworm, ReleaseFrom::Host)
        );
        let inv = parse("[defaults]\ndebian = 12\n[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\ndebian = 13\n").unwrap();
        assert_eq!(inv.defaults.debian, Some(Release::Bookworm));
        assert_eq!(
            (inv.hosts["a"].debian, inv.hosts["a"].debian_from),
            (Release::Bookworm, ReleaseFrom::Defaults)
        );
        assert_eq!(inv.hosts["b"].debian, Release::Trixie);
    }

    #[test]
    fn bad_debian_values_are_reported_at_the_value_with_the_fix() {
        let e = parse("[defaults]\ndebian = 11\n[hosts.a]\naddress = \"10.0.0.1\"\ndebian = \"13\"\n[hosts.b]\naddress = \"10.0.0.2\"\ndebian = 12.5\n[hosts.c]\naddress = \"10.0.0.3\"\ndebian = \"sid\"\n").unwrap_err();
        assert_eq!(e.0.len(), 4, "{e}");
        let d = &e.0[0];
        assert_eq!((d.line, d.col), (2, 10), "{d}");
        assert_eq!(d.message, "debian 11 is not a release rampart supports");
        assert!(d
            .help
            .as_deref()
            .unwrap()
            .starts_with("write debian = 13 (trixie) or debian = 12 (bookworm)"));
        assert_eq!((e.0[1].line, e.0[1].col), (5, 10));
        assert_eq!(
            e.0[1].message,
            "host a: debian must be a release number, found string \"13\""
        );
        assert_eq!(
            e.0[1].help.as_deref(),
            Some("write debian = 13 (a number, without quotes)")
        );
        assert_eq!(
            e.0[2].message,
            "host b: debian must be a release number, found float"
        );
        assert!(e.0[3]
            .help
            .as_deref()
            .unwrap()
            .starts_with("write debian = 13 (trixie)"));
    }

    #[test]
    fn unknown_key_says_did_you_mean_with_position() {
        let e = parse("[hosts.a]\nadress = \"10.0.0.1\"\n").unwrap_err();
        let d = &e.0[0];
        assert_eq!((d.line, d.col), (2, 1), "{d}");
        assert!(
            d.help
                .as_deref()
                .unwrap()
                .contains("did you mean `address`"),
            "{d}"
        );
    }

    #[test]
    fn unknown_group_member_and_bad_address_reported_together() {
        let e = parse("[hosts.a]\naddress = \"$(reboot)\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[groups]\ng = [\"b\", \"bb\"]\n").unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.0[0].message.contains("not an IP address"));
        assert_eq!(e.0[0].line, 2);
        assert!(e.0[1].message.contains("`bb`"));
        assert_eq!(e.0[1].line, 6);
    }
}
