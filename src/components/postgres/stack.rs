//! `[postgres]`: the table's fields, PostgreSQL settings rampart owns, and
//! the checks of `[postgres]`, its `databases`, `client_networks` and `parameters`.

use crate::model::release::{and_list, one_release, Release};
use crate::model::secret::SecretRef;
use crate::model::stack::{HostsRef, Validator};
use crate::model::valid_name;
use serde::Deserialize;
use std::fmt;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub name: String,
    pub owner: String,
    pub password: SecretRef,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    pub hosts: Spanned<HostsRef>,
    /// The PostgreSQL major version; None: the one the hosts' Debian
    /// release ships (`version_on`).
    pub version: Option<Spanned<u32>>,
    #[serde(default)]
    pub synchronous_mode: SyncMode,
    pub synchronous_node_count: Option<u32>,
    pub superuser_password: SecretRef,
    pub replication_password: SecretRef,
    #[serde(default)]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub parameters: toml::Table,
    /// Networks (CIDRs) outside the stack allowed to connect (pg_hba `host all all CIDR scram-sha-256`).
    #[serde(default)]
    pub client_networks: Vec<Spanned<String>>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

/// `synchronous_mode`: `false` (asynchronous), `true` (Patroni keeps
/// `synchronous_node_count` named synchronous standbys) or `"quorum"`
/// (Patroni 4's quorum commit: `ANY n (...)`); `"off"`/`"on"` are aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    #[default]
    Off,
    On,
    Quorum,
}

impl SyncMode {
    /// As Patroni's configuration (YAML and JSON) holds it: `false`, `true`, `quorum`.
    pub fn patroni(self) -> &'static str {
        match self {
            SyncMode::Off => "false",
            SyncMode::On => "true",
            SyncMode::Quorum => "quorum",
        }
    }
    /// What `bootstrap.dcs` can say (Patroni 4.0's validator takes a boolean
    /// only): quorum starts as `true` and is patched to quorum afterwards.
    pub fn bootstrap(self) -> &'static str {
        match self {
            SyncMode::Off => "false",
            SyncMode::On | SyncMode::Quorum => "true",
        }
    }
    /// The JSON value of Patroni's `PATCH /config`.
    pub fn json(self) -> serde_json::Value {
        match self {
            SyncMode::Off => false.into(),
            SyncMode::On => true.into(),
            SyncMode::Quorum => "quorum".into(),
        }
    }
}

impl<'de> Deserialize<'de> for SyncMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SyncMode, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SyncMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or \"quorum\"")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<SyncMode, E> {
                Ok(if b { SyncMode::On } else { SyncMode::Off })
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SyncMode, E> {
                match s {
                    "quorum" => Ok(SyncMode::Quorum),
                    "on" => Ok(SyncMode::On),
                    "off" => Ok(SyncMode::Off),
                    _ => Err(E::invalid_type(serde::de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// PostgreSQL settings that rampart or Patroni set, and why.
const PG_OWNED: [(&str, &str); 17] = [
    ("listen_addresses", "Patroni sets it from postgresql.listen"),
    (
        "port",
        "rampart serves PostgreSQL on 5432 (HAProxy and PgBouncer reach it there)",
    ),
    ("data_directory", "Patroni sets it from postgresql.data_dir"),
    ("hba_file", "rampart writes pg_hba through Patroni"),
    ("ident_file", "Patroni manages the configuration files"),
    ("config_file", "Patroni manages the configuration files"),
    ("external_pid_file", "Patroni manages the server process"),
    (
        "unix_socket_directories",
        "rampart sets /var/run/postgresql (PgBouncer and the tools connect there)",
    ),
    ("cluster_name", "Patroni sets it to the stack's name"),
    (
        "hot_standby",
        "Patroni needs replicas to serve reads; rampart sets it on",
    ),
    ("wal_log_hints", "pg_rewind needs it; rampart sets it on"),
    ("password_encryption", "rampart's pg_hba uses scram-sha-256"),
    ("primary_conninfo", "Patroni sets it on each replica"),
    ("primary_slot_name", "Patroni manages replication slots"),
    (
        "synchronous_standby_names",
        "Patroni manages it; use synchronous_mode and synchronous_node_count",
    ),
    ("restore_command", "Patroni manages recovery"),
    ("recovery_target", "Patroni manages recovery"),
];

/// A PostgreSQL setting name: letters, digits and `_`, with `.` for an
/// extension's namespace (`pg_stat_statements.max`).
pub fn valid_guc_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !p.starts_with(|c: char| c.is_ascii_digit())
        })
}

impl Postgres {
    /// The PostgreSQL major version on `release`: the one written, else the
    /// one the release ships (validated against each other by `validate`).
    pub fn version_on(&self, release: Release) -> u32 {
        self.version
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(release.postgres())
    }
}

/// Ports every member serves: PostgreSQL (5432) and Patroni's REST API (8008).
pub(crate) const PORTS: [u16; 2] = [5432, 8008];

/// The checks of `[postgres]`: its etcd, its hosts' Debian release (one
/// for all, shipping its version, with Patroni 4 for quorum commit) and
/// synchronous standbys, then its databases, client networks and parameters.
pub(crate) fn validate(v: &mut Validator, p: &Postgres, has_etcd: bool, hosts: &[String]) {
    let members = hosts.len();
    if !has_etcd {
        v.err(
            Some(p.hosts.span()),
            "postgres (Patroni) needs an etcd cluster as its DCS, and the stack has none",
            "add an [etcd] table with hosts = \"...\" (3 or 5 hosts)",
        );
    }
    release(v, p, hosts);
    if let Some(k) = p.synchronous_node_count {
        if k == 0 {
            let span = v.at(
                &["postgres", "synchronous_node_count"],
                Some(p.hosts.span()),
            );
            v.err(span, "synchronous_node_count 0 is out of range", "write synchronous_node_count = 1 or more (Patroni needs at least one synchronous standby), or leave it out");
        } else if k as usize >= members.max(1) {
            let span = v.at(
                &["postgres", "synchronous_node_count"],
                Some(p.hosts.span()),
            );
            v.err(
                span,
                format!("synchronous_node_count = {k} needs more than {k} postgres hosts"),
                "lower it or add hosts",
            );
        }
    }
    databases(v, p);
    client_networks(v, p);
    parameters(v, p);
}

/// What the hosts' Debian release allows: every member on one release
/// (PostgreSQL 15 and 17 cannot stream to each other), the version it
/// ships, and quorum commit only with Patroni 4 (Debian 13).
fn release(v: &mut Validator, p: &Postgres, hosts: &[String]) {
    let why = "a cluster's members must run one PostgreSQL major version, and each Debian release ships one (15 on 12, 17 on 13): replicas of another major cannot stream from the primary";
    let Some(r) = one_release(v, "postgres", hosts, Some(p.hosts.span()), why) else {
        return;
    };
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    if let Some(version) = &p.version {
        let n = *version.get_ref();
        if n != r.postgres() {
            let help = match Release::shipping_postgres(n) {
                Some(other) => format!(
                    "write version = {}, or debian = {} for these hosts",
                    r.postgres(),
                    other.number()
                ),
                None => format!(
                    "write version = {}, or leave version out (it follows the hosts' Debian release)",
                    r.postgres()
                ),
            };
            v.err(
                Some(version.span()),
                format!(
                    "postgres version {n} is not available on {}: {r} ships PostgreSQL {}",
                    and_list(&names),
                    r.postgres()
                ),
                help,
            );
        }
    }
    if p.synchronous_mode == SyncMode::Quorum && r.patroni_major() < 4 {
        let span = v.at(&["postgres", "synchronous_mode"], Some(p.hosts.span()));
        v.err(
            span,
            format!(
                "synchronous_mode \"quorum\" needs Patroni 4 (Debian 13), but {} run {r} with Patroni {}, which has no quorum commit",
                and_list(&names),
                r.patroni_major()
            ),
            "write synchronous_mode = true (named synchronous standbys), or debian = 13 for these hosts",
        );
    }
}

fn databases(v: &mut Validator, p: &Postgres) {
    for (i, d) in p.databases.iter().enumerate() {
        let i = i.to_string();
        for (key, value) in [("name", &d.name), ("owner", &d.owner)] {
            if !valid_name(value) {
                let span = v.at(&["postgres", "databases", &i, key], Some(p.hosts.span()));
                v.err(
                    span,
                    format!("database {key} `{}` is not allowed", value.escape_debug()),
                    "use letters, digits, - and _ (at most 63)",
                );
            }
        }
    }
}

fn client_networks(v: &mut Validator, p: &Postgres) {
    for c in &p.client_networks {
        if let Err(why) = parse_cidr(c.get_ref()) {
            v.err(Some(c.span()), format!("`{}` {why}", c.get_ref().escape_debug()), "write networks in CIDR form, e.g. client_networks = [\"10.20.0.0/16\", \"192.0.2.7/32\", \"2001:db8::/32\"]");
        }
    }
}

fn parameters(v: &mut Validator, p: &Postgres) {
    for (k, value) in &p.parameters {
        let kspan = v.key_at(&["postgres", "parameters", k], Some(p.hosts.span()));
        let vspan = v.at(&["postgres", "parameters", k], kspan.clone());
        if !valid_guc_name(k) {
            v.err(kspan, format!("`{}` is not a PostgreSQL setting name", k.escape_debug()), "use the setting's name from postgresql.conf: letters, digits and _, with a `.` for an extension's settings (e.g. pg_stat_statements.max = 5000)");
            continue;
        }
        let lower = k.to_ascii_lowercase();
        if let Some((_, why)) = PG_OWNED
            .iter()
            .find(|(n, _)| *n == lower || (*n == "recovery_target" && lower.starts_with(n)))
        {
            v.err(
                kspan,
                format!("`{k}` is set by rampart: {why}"),
                "remove it from [postgres.parameters]",
            );
            continue;
        }
        let ok = match value {
            toml::Value::String(s) => !s.chars().any(char::is_control),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => true,
            _ => false,
        };
        if !ok {
            v.err(
                vspan,
                "the value must be a one-line string, a number or a boolean",
                format!(
                    "write it as postgresql.conf would read it, e.g. {k} = \"8MB\" or {k} = 100"
                ),
            );
        } else if lower == "wal_level" && !matches!(value.as_str(), Some("replica" | "logical")) {
            v.err(
                vspan,
                "replication needs wal_level replica or logical",
                "write wal_level = \"replica\" (the default) or \"logical\"",
            );
        }
    }
}

/// An IPv4 or IPv6 network in CIDR form (`10.20.0.0/16`, `2001:db8::/32`),
/// with no host bits set; the error says what is wrong with it.
pub fn parse_cidr(s: &str) -> Result<(std::net::IpAddr, u32), String> {
    use std::net::IpAddr;
    let Some((addr, len)) = s.split_once('/') else {
        return Err(match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => format!("has no prefix length: for this one address write `{s}/32`"),
            Ok(IpAddr::V6(_)) => format!("has no prefix length: for this one address write `{s}/128`"),
            Err(_) => "is not an IPv4 or IPv6 network (host names are not allowed: pg_hba would look them up)".into(),
        });
    };
    let ip: IpAddr = addr.parse().map_err(|_| {
        format!(
            "is not a network: `{}` is not an IPv4 or IPv6 address",
            addr.escape_debug()
        )
    })?;
    let max: u32 = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = match len.parse::<u32>() {
        Ok(n) if n <= max && len.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(format!(
                "has prefix length `{}`; it must be a number from 0 to {max}",
                len.escape_debug()
            ))
        }
    };
    let bits: u128 = match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    };
    // the host part: the low (max - len) bits of the address
    let host_mask: u128 = if len == max {
        0
    } else {
        u128::MAX >> (128 - (max - len))
    };
    if bits & host_mask != 0 {
        let net = bits & !host_mask;
        let net: IpAddr = if ip.is_ipv4() {
            IpAddr::V4((net as u32).into())
        } else {
            IpAddr::V6(net.into())
        };
        return Err(format!(
            "has host bits set after /{len}: the network is {net}/{len}"
        ));
    }
    Ok((ip, len))
}

#[cfg(test)]
mod tests {
    use super::parse_cidr;

    #[test]
    fn cidrs_are_checked_with_the_reason() {
        assert_eq!(
            parse_cidr("10.20.0.0/16").unwrap(),
            ("10.20.0.0".parse().unwrap(), 16)
        );
        assert_eq!(parse_cidr("192.0.2.7/32").unwrap().1, 32);
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap().1, 0);
        assert_eq!(parse_cidr("2001:db8::/32").unwrap().1, 32);
        assert_eq!(parse_cidr("::/0").unwrap().1, 0);
        assert_eq!(parse_cidr("2001:db8::7/128").unwrap().1, 128);
        assert!(parse_cidr("192.0.2.7")
            .unwrap_err()
            .contains("write `192.0.2.7/32`"));
        assert!(parse_cidr("2001:db8::7")
            .unwrap_err()
            .contains("write `2001:db8::7/128`"));
        assert!(parse_cidr("bastion")
            .unwrap_err()
            .contains("host names are not allowed"));
        assert!(parse_cidr("10.20.0.0/33")
            .unwrap_err()
            .contains("from 0 to 32"));
        assert!(parse_cidr("2001:db8::/129")
            .unwrap_err()
            .contains("from 0 to 128"));
        assert!(parse_cidr("10.20.0.0/+8")
            .unwrap_err()
            .contains("from 0 to 32"));
        assert!(parse_cidr("10.20.0.0/")
            .unwrap_err()
            .contains("prefix length"));
        assert!(parse_cidr("app-tier/24")
            .unwrap_err()
            .contains("`app-tier` is not an IPv4 or IPv6 address"));
        assert!(parse_cidr("10.0.0.0/8 trust")
            .unwrap_err()
            .contains("prefix length"));
        assert!(parse_cidr("10.20.0.5/16")
            .unwrap_err()
            .contains("the network is 10.20.0.0/16"));
        assert!(parse_cidr("2001:db8::1/64")
            .unwrap_err()
            .contains("the network is 2001:db8::/64"));
    }
}
