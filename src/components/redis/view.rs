//! Redis with Sentinel as the redis role's templates see it: the members,
//! the initial master, the password and `[redis.settings]` as Redis config
//! strings, and Sentinel's settings.

use crate::compile::view::{Backend, PgParameter};
use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

/// Redis with Sentinel, as the redis role sees it. Names the *initial*
/// master only: after a failover Redis and Sentinel own who is master.
#[derive(Debug, Clone, Serialize)]
pub struct RedisView {
    /// Redis or Valkey: the names of its packages, units, CLI and paths.
    pub server: &'static super::server::Names,
    /// How the role's scripts and gates call the CLI (`server.cli`, with the
    /// TLS flags under `[tls]`: `Names::cli_call`).
    pub cli: String,
    pub size: usize,
    pub members: Vec<Backend>,
    pub initial_master: Backend,
    /// This host is the initial master.
    pub is_initial_master: bool,
    /// The password as a Redis config string (double-quoted, escaped).
    pub password_conf: String,
    pub password: String,
    pub sentinel: Option<SentinelView>,
    /// `[redis.settings]`, each value as a Redis config string.
    pub settings: Vec<PgParameter>,
    /// The durability defaults `[redis.settings]` does not set itself:
    /// `appendonly yes`, `appendfsync everysec`, RDB `save` points.
    pub durability: Vec<PgParameter>,
}

/// Durability by default (the AEGIS seed): an append-only file fsynced every
/// second, plus RDB snapshots (Redis' own save points, written out). Each is
/// left out when `[redis.settings]` sets it (`appendonly = "no"`, `save = ""`).
pub const DURABILITY: [(&str, &str); 3] = [
    ("appendonly", "yes"),
    ("appendfsync", "everysec"),
    ("save", "3600 1 300 100 60 10000"),
];

#[derive(Debug, Clone, Serialize)]
pub struct SentinelView {
    pub master_name: String,
    pub quorum: u32,
    /// Tuned: 5000 ms (the default 30000 misses the seeds' 30 s failover target).
    pub down_after_milliseconds: u64,
    pub failover_timeout: u64,
}

/// A string as Redis' config parser reads it: double-quoted, `\` and `"` escaped.
pub fn redis_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The directives that take several arguments on one line (Redis' and
/// Valkey's multi-argument settings): `save 900 1 300 10`,
/// `client-output-buffer-limit replica 256mb 64mb 60`.
const MULTI_ARG: &[&str] = &[
    "save",
    "client-output-buffer-limit",
    "oom-score-adj-values",
    "latency-tracking-info-percentiles",
];

/// A `[redis.settings]` value as its line in rampart.conf: one quoted
/// argument, or, for a multi-argument directive, its words as separate
/// arguments (`save = "900 1"` is `save 900 1`, as redis.conf writes it;
/// `save = ""` stays `save ""`, which turns snapshots off).
fn setting_value(name: &str, v: &toml::Value) -> String {
    let text = match v {
        toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if !MULTI_ARG.contains(&name) || text.trim().is_empty() {
        return redis_quote(&text);
    }
    text.split_whitespace()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c))
            {
                w.to_string()
            } else {
                redis_quote(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Redis members (port 6379), in stack order.
pub fn redis_members(inv: &Inventory, stack: &Stack) -> Vec<Backend> {
    stack
        .hosts_of("redis")
        .iter()
        .filter_map(|n| inv.hosts.get(n))
        .map(|h| Backend {
            name: h.name.clone(),
            address: h.address.clone(),
            port: 6379,
        })
        .collect()
}

pub fn redis(
    inv: &Inventory,
    stack: &Stack,
    this_host: &str,
    secrets: &SecretValues,
) -> Option<RedisView> {
    let r = stack.redis.as_ref()?;
    let members = redis_members(inv, stack);
    let master_name = r
        .master
        .as_ref()
        .map(|m| m.get_ref().clone())
        .or_else(|| members.first().map(|m| m.name.clone()))?;
    let initial_master = members.iter().find(|m| m.name == master_name)?.clone();
    let password = secrets.get("redis.password");
    Some(RedisView {
        server: r.server().names(),
        cli: r.server().names().cli_call(crate::tls::view::on(stack)),
        size: members.len(),
        is_initial_master: initial_master.name == this_host,
        initial_master,
        members,
        password_conf: redis_quote(&password),
        password,
        sentinel: r.sentinel.as_ref().map(sentinel),
        durability: DURABILITY
            .iter()
            .filter(|(k, _)| !r.settings.contains_key(*k))
            .map(|(k, v)| PgParameter {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        settings: r
            .settings
            .iter()
            .map(|(k, v)| PgParameter {
                name: k.clone(),
                value: setting_value(k, v),
            })
            .collect(),
    })
}

pub fn sentinel(s: &crate::model::stack::Sentinel) -> SentinelView {
    SentinelView {
        master_name: s.master_name.clone(),
        quorum: *s.quorum.get_ref(),
        down_after_milliseconds: s.down_after_milliseconds.unwrap_or(5000),
        failover_timeout: 60000,
    }
}

#[cfg(test)]
mod tests {
    use super::setting_value;

    fn v(s: &str) -> toml::Value {
        toml::Value::String(s.into())
    }

    #[test]
    fn multi_argument_settings_are_written_as_separate_arguments() {
        assert_eq!(setting_value("save", &v("900 1")), "900 1");
        assert_eq!(
            setting_value("save", &v("3600 1  300 100 60 10000")),
            "3600 1 300 100 60 10000"
        );
        // snapshots off: one empty argument
        assert_eq!(setting_value("save", &v("")), "\"\"");
        assert_eq!(
            setting_value("client-output-buffer-limit", &v("replica 256mb 64mb 60")),
            "replica 256mb 64mb 60"
        );
        assert_eq!(
            setting_value("latency-tracking-info-percentiles", &v("50 99 99.9")),
            "50 99 99.9"
        );
        // a word Redis would split or unescape stays one quoted argument
        assert_eq!(setting_value("save", &v("900 \"1")), "900 \"\\\"1\"");
        // every other directive: its value as one quoted argument, spaces and all
        assert_eq!(setting_value("maxmemory", &v("256mb")), "\"256mb\"");
        assert_eq!(
            setting_value("proc-title-template", &v("{title} {listen-addr}")),
            "\"{title} {listen-addr}\""
        );
        assert_eq!(
            setting_value("appendonly", &toml::Value::Boolean(true)),
            "\"yes\""
        );
        assert_eq!(setting_value("hz", &toml::Value::Integer(50)), "\"50\"");
    }
}
