//! `[redis]` and `[redis.sentinel]` of the stack file, and their checks.

use super::server::{Server, KEY};
use crate::diag::did_you_mean;
use crate::model::release::{and_list, one_release};
use crate::model::secret::SecretRef;
use crate::model::stack::{HostsRef, Validator};
use crate::model::valid_name;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Sentinel's down-after-milliseconds (ms).
const SENTINEL_DOWN_AFTER: std::ops::RangeInclusive<u64> = 100..=600_000;
/// Redis directives that rampart writes itself (or that Redis and Sentinel
/// own); `primaryauth` and `primaryuser` are Valkey's names for `masterauth`
/// and `masteruser`.
const REDIS_OWNED: [&str; 18] = [
    "port",
    "bind",
    "protected-mode",
    "requirepass",
    "masterauth",
    "replica-announce-ip",
    "replicaof",
    "slaveof",
    "dir",
    "logfile",
    "pidfile",
    "include",
    "daemonize",
    "rename-command",
    "masteruser",
    "aclfile",
    "primaryauth",
    "primaryuser",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sentinel {
    pub quorum: Spanned<u32>,
    #[serde(default = "master_name")]
    pub master_name: String,
    pub down_after_milliseconds: Option<u64>,
}
fn master_name() -> String {
    "mymaster".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub hosts: Spanned<HostsRef>,
    pub password: SecretRef,
    /// `redis` (the default) or `valkey`: see [`Redis::server`].
    pub server: Option<String>,
    /// The initial master; defaults to the first host.
    pub master: Option<Spanned<String>>,
    pub sentinel: Option<Sentinel>,
    /// Redis config directives, written to /etc/redis/rampart.conf (a change restarts Redis, rolling).
    #[serde(default)]
    pub settings: toml::Table,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

impl Redis {
    /// The server it runs (Redis when `server` is not given or not one
    /// rampart knows; `validate` refuses the latter).
    pub fn server(&self) -> Server {
        self.server
            .as_deref()
            .and_then(Server::parse)
            .unwrap_or_default()
    }
}

/// The ports Redis (6379) and its Sentinel (26379) take on each of its hosts.
pub(crate) fn ports(r: &Redis) -> Vec<u16> {
    let mut p = vec![6379];
    if r.sentinel.is_some() {
        p.push(26379);
    }
    p
}

/// The `[redis]` part of the stack's rules (`placement`: each component's hosts).
pub(crate) fn validate(v: &mut Validator, r: &Redis, placement: &BTreeMap<String, Vec<String>>) {
    if r.sentinel.is_none() {
        v.err(
            Some(r.hosts.span()),
            "redis without [redis.sentinel] has no failover; rampart deploys Redis with Sentinel",
            "add [redis.sentinel] with quorum = 2 (a majority of the hosts)",
        );
    }
    server(v, r);
    settings(v, r);
    if let Some(m) = &r.master {
        if !placement
            .get("redis")
            .is_some_and(|h| h.contains(m.get_ref()))
        {
            v.err(
                Some(m.span()),
                format!(
                    "redis master `{}` is not one of the redis hosts",
                    m.get_ref().escape_debug()
                ),
                "name one of the hosts that redis runs on",
            );
        }
    }
    if let Some(s) = &r.sentinel {
        let c = placement.get("redis").map(Vec::len).unwrap_or(0) as u32;
        sentinel(v, s, c);
    }
}

/// What Redis needs of its hosts' Debian releases (`Component::validate_releases`,
/// after every component's `validate`):
///
/// - Redis and its Sentinels must not mix releases (etcd may: 3.4 to 3.5 is
///   a supported rolling upgrade): Redis 8's RDB files cannot be read by
///   Redis 7.0, so after a failover to a Debian 13 host the Debian 12
///   replicas could not resynchronise.
/// - Valkey (`[redis] server = "valkey"`) is packaged on Debian 13 only:
///   a Valkey host on Debian 12 is an error at `[redis] server`.
pub(crate) fn releases(v: &mut Validator, r: &Redis, hosts: &[String]) {
    one_release(
        v,
        "redis",
        hosts,
        Some(r.hosts.span()),
        "Redis 8 (Debian 13) writes RDB files that Redis 7.0 (Debian 12) cannot read, so after a failover the older replicas could not resynchronise",
    );
    let server = r.server();
    let inv = v.inv();
    let without: Vec<&str> = hosts
        .iter()
        .filter_map(|h| inv.hosts.get(h))
        .filter(|h| !server.available_on(u32::from(h.debian.number())))
        .map(|h| h.name.as_str())
        .collect();
    if !without.is_empty() {
        let names = and_list(&without);
        let inv_path = inv.source.path.clone();
        let span = v.at(&["redis", "server"], Some(r.hosts.span()));
        v.err(
            span,
            format!(
                "server `valkey`: Valkey is not packaged on Debian 12 (bookworm), which {names} run{}",
                if without.len() == 1 { "s" } else { "" }
            ),
            format!("write server = \"redis\", or run these hosts on Debian 13 (debian = 13 in {inv_path})"),
        );
    }
}

/// `server`: one of the servers rampart knows.
///
/// Valkey is packaged on Debian 13 only: a Valkey stack on a host whose
/// release fails `Server::available_on` is refused in `releases`, naming
/// the host.
fn server(v: &mut Validator, r: &Redis) {
    let Some(s) = r.server.as_deref().filter(|s| Server::parse(s).is_none()) else {
        return;
    };
    let names = Server::ALL.map(|s| s.names().name);
    let span = v.at(&["redis", KEY], Some(r.hosts.span()));
    let fix = "write server = \"redis\" (the default) or server = \"valkey\" (Valkey 8, Debian 13)";
    v.err(
        span,
        format!(
            "server `{}` is not a server rampart deploys",
            s.escape_debug()
        ),
        match did_you_mean(s, names) {
            Some(n) => format!("did you mean `{n}`? {fix}"),
            None => fix.to_string(),
        },
    );
}

/// `[redis.settings]`: directive names Redis reads, none that rampart owns,
/// one-line values.
fn settings(v: &mut Validator, r: &Redis) {
    for (k, value) in &r.settings {
        let kspan = v.key_at(&["redis", "settings", k], Some(r.hosts.span()));
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            v.err(kspan.clone(), format!("`{}` is not a Redis config directive", k.escape_debug()), "use the directive's name from redis.conf (lowercase letters, digits and -), e.g. maxmemory = \"256mb\"");
        } else if REDIS_OWNED.contains(&k.as_str()) {
            v.err(
                kspan.clone(),
                format!("`{k}` is set by rampart (addresses, password, replication, files)"),
                "remove it from [redis.settings]",
            );
        }
        let ok = match value {
            toml::Value::String(s) => !s.chars().any(char::is_control),
            toml::Value::Integer(_) | toml::Value::Boolean(_) => true,
            _ => false,
        };
        if !ok {
            let span = v.at(&["redis", "settings", k], kspan);
            v.err(
                span,
                "the value must be a one-line string, an integer or a boolean",
                "write it as Redis would read it, e.g. maxmemory-policy = \"allkeys-lru\"",
            );
        }
    }
}

/// `[redis.sentinel]` with `c` Sentinels (one per Redis host).
fn sentinel(v: &mut Validator, s: &Sentinel, c: u32) {
    let q = *s.quorum.get_ref();
    if c > 0 && (q == 0 || q > c) {
        v.err(
            Some(s.quorum.span()),
            format!("sentinel quorum {q} is impossible with {c} Sentinels"),
            format!(
                "use a quorum from 1 to {c}; a majority ({}) is usual",
                c / 2 + 1
            ),
        );
    }
    if let Some(ms) = s
        .down_after_milliseconds
        .filter(|ms| !SENTINEL_DOWN_AFTER.contains(ms))
    {
        let span = v.at(
            &["redis", "sentinel", "down_after_milliseconds"],
            Some(s.quorum.span()),
        );
        v.err(
            span,
            format!("down_after_milliseconds {ms} is out of range"),
            format!(
                "write a value from {} to {} ms; 5000 is rampart's default",
                SENTINEL_DOWN_AFTER.start(),
                SENTINEL_DOWN_AFTER.end()
            ),
        );
    }
    if !valid_name(&s.master_name) {
        let span = v.at(&["redis", "sentinel", "master_name"], Some(s.quorum.span()));
        v.err(
            span,
            format!(
                "sentinel master_name `{}` is not allowed",
                s.master_name.escape_debug()
            ),
            "use letters, digits, - and _",
        );
    }
}
