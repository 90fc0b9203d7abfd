//! `plans/*.toml`: the desired state of one stack.

use super::secret::SecretRef;
use super::valid_name;
use crate::diag::{did_you_mean, from_toml, Diagnostic, Diagnostics, Source};
use crate::model::inventory::Inventory;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// A group, a host, or a list of them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum HostsRef {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackMeta {
    pub name: String,
}

pub use crate::components::etcd::stack::Etcd;

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
    #[serde(default = "pg_version")]
    pub version: u32,
    #[serde(default)]
    pub synchronous_mode: bool,
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
/// Redis directives that rampart writes itself (or that Redis and Sentinel own).
/// Sentinel's down-after-milliseconds (ms).
const SENTINEL_DOWN_AFTER: std::ops::RangeInclusive<u64> = 100..=600_000;
/// Days a PostgreSQL backup is kept.
const BACKUP_KEEP_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
const REDIS_OWNED: [&str; 16] = [
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
];

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

/// PgBouncer's pool modes.
pub const POOL_MODES: [&str; 3] = ["session", "transaction", "statement"];

fn pg_version() -> u32 {
    15
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pgbouncer {
    pub hosts: Spanned<HostsRef>,
    #[serde(default = "pgb_port")]
    pub port: u16,
    pub pool_mode: Option<String>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}
fn pgb_port() -> u16 {
    6432
}

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
    /// The initial master; defaults to the first host.
    pub master: Option<Spanned<String>>,
    pub sentinel: Option<Sentinel>,
    /// Redis config directives, written to /etc/redis/rampart.conf (a change restarts Redis, rolling).
    #[serde(default)]
    pub settings: toml::Table,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

pub use crate::components::qdrant::stack::Qdrant;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub hosts: Spanned<HostsRef>,
    pub image: Option<String>,
    pub command: Option<String>,
    pub port: Spanned<u16>,
    pub health: Option<String>,
    /// The path HAProxy checks before sending traffic (readiness); defaults to `health`.
    pub ready: Option<String>,
    /// HAProxy's balance for this service: `roundrobin` (default), `leastconn` or `source`.
    pub balance: Option<Spanned<String>>,
    /// A command run once per version of the service (its command or image
    /// and this line), on the service's first host, before any host is updated.
    pub migrate: Option<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Haproxy {
    pub hosts: Spanned<HostsRef>,
    #[serde(default)]
    pub listen: BTreeMap<Spanned<String>, Spanned<u16>>,
    #[serde(default = "stats_port")]
    pub stats_port: u16,
    pub tls: Option<HaproxyTls>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

/// TLS termination: one certificate (with its chain) and key for the listed listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaproxyTls {
    pub cert: SecretRef,
    pub key: SecretRef,
    pub listens: Spanned<Vec<Spanned<String>>>,
}
fn stats_port() -> u16 {
    7000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalived {
    pub hosts: Spanned<HostsRef>,
    pub vip: Spanned<String>,
    pub interface: Spanned<String>,
    #[serde(default = "vrid")]
    pub virtual_router_id: u8,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}
fn vrid() -> u8 {
    51
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresBackup {
    pub schedule: String,
    pub keep_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub postgres: Option<Spanned<PostgresBackup>>,
}

/// An instance of a role (built-in or the user's own) on some hosts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInstance {
    /// The role's folder name; defaults to the instance's name.
    pub role: Option<Spanned<String>>,
    pub hosts: Spanned<HostsRef>,
    #[serde(default)]
    pub vars: toml::Table,
    /// Components or `roles.NAME` this one waits for.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    stack: StackMeta,
    etcd: Option<Etcd>,
    postgres: Option<Postgres>,
    pgbouncer: Option<Pgbouncer>,
    redis: Option<Redis>,
    qdrant: Option<Qdrant>,
    #[serde(default)]
    services: BTreeMap<Spanned<String>, Service>,
    haproxy: Option<Haproxy>,
    keepalived: Option<Keepalived>,
    backup: Option<Backup>,
    #[serde(default)]
    roles: BTreeMap<Spanned<String>, RoleInstance>,
}

/// The stack, parsed, with every component's hosts resolved.
#[derive(Debug, Clone)]
pub struct Stack {
    pub source: Source,
    pub name: String,
    pub etcd: Option<Etcd>,
    pub postgres: Option<Postgres>,
    pub pgbouncer: Option<Pgbouncer>,
    pub redis: Option<Redis>,
    pub qdrant: Option<Qdrant>,
    pub services: BTreeMap<String, Service>,
    pub haproxy: Option<Haproxy>,
    pub keepalived: Option<Keepalived>,
    pub backup: Option<Backup>,
    pub roles: BTreeMap<String, RoleInstance>,
    /// Component key (`etcd`, `services.backend`, `roles.x`) -> its hosts, in inventory order.
    pub placement: BTreeMap<String, Vec<String>>,
    /// Component key -> components it waits for (deploy order plus `after`).
    pub after: BTreeMap<String, Vec<String>>,
}

/// The deploy order from DESIGN.md: a component waits for every component
/// of a lower level that the stack has.
pub fn level(component: &str) -> Option<u8> {
    Some(match component.split('.').next()? {
        "etcd" => 0,
        "postgres" | "redis" | "qdrant" => 1,
        "services" | "backup" => 2,
        "haproxy" | "pgbouncer" | "keepalived" => 3,
        _ => return None,
    })
}

impl Stack {
    pub fn parse(src: Source, inv: &Inventory) -> Result<Stack, Diagnostics> {
        let raw: RawStack = match toml::from_str(&src.text) {
            Ok(r) => r,
            Err(e) => {
                let mut d = Diagnostics::default();
                d.push(from_toml(&src, &e));
                return Err(d);
            }
        };
        let mut v = Validator {
            src: &src,
            inv,
            diags: Diagnostics::default(),
            placement: BTreeMap::new(),
        };
        if !valid_name(&raw.stack.name) {
            let span = v.at(&["stack", "name"], None);
            v.err(
                span,
                format!(
                    "stack name `{}` is not allowed",
                    raw.stack.name.escape_debug()
                ),
                "use letters, digits, - and _",
            );
        }
        let mut afters: BTreeMap<String, Vec<Spanned<String>>> = BTreeMap::new();
        // the single-table components: where each runs, and what it waits for
        let singles: [(&str, Option<(&Spanned<HostsRef>, &Vec<Spanned<String>>)>); 7] = [
            ("etcd", raw.etcd.as_ref().map(|c| (&c.hosts, &c.after))),
            (
                "postgres",
                raw.postgres.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
            (
                "pgbouncer",
                raw.pgbouncer.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
            ("redis", raw.redis.as_ref().map(|c| (&c.hosts, &c.after))),
            ("qdrant", raw.qdrant.as_ref().map(|c| (&c.hosts, &c.after))),
            (
                "haproxy",
                raw.haproxy.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
            (
                "keepalived",
                raw.keepalived.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
        ];
        for (key, c) in singles {
            if let Some((hosts, after)) = c {
                v.place(key, hosts);
                afters.insert(key.into(), after.clone());
            }
        }
        let mut services = BTreeMap::new();
        for (name, s) in &raw.services {
            if !valid_name(name.get_ref()) {
                v.err(
                    Some(name.span()),
                    format!(
                        "service name `{}` is not allowed",
                        name.get_ref().escape_debug()
                    ),
                    "use letters, digits, - and _",
                );
                continue;
            }
            let key = format!("services.{}", name.get_ref());
            v.place(&key, &s.hosts);
            afters.insert(key, s.after.clone());
            services.insert(name.get_ref().clone(), s.clone());
        }
        let mut roles = BTreeMap::new();
        for (name, r) in &raw.roles {
            if !valid_name(name.get_ref()) {
                v.err(
                    Some(name.span()),
                    format!(
                        "role instance name `{}` is not allowed",
                        name.get_ref().escape_debug()
                    ),
                    "use letters, digits, - and _",
                );
                continue;
            }
            let key = format!("roles.{}", name.get_ref());
            v.place(&key, &r.hosts);
            afters.insert(key, r.after.clone());
            roles.insert(name.get_ref().clone(), r.clone());
        }
        // backups run on the PostgreSQL hosts (each dumps only while it is the leader)
        if raw.backup.as_ref().is_some_and(|b| b.postgres.is_some()) {
            if let Some(pg) = v.placement.get("postgres").cloned() {
                v.placement.insert("backup".into(), pg);
                afters.insert("backup".into(), Vec::new());
            }
        }
        let placement = std::mem::take(&mut v.placement);
        v.check_rules(&raw, &placement);
        v.check_ports(&raw, &placement);
        let after = v.order(&placement, &afters);
        if v.diags.has_errors() {
            return Err(v.diags);
        }
        Ok(Stack {
            source: src.clone(),
            name: raw.stack.name,
            etcd: raw.etcd,
            postgres: raw.postgres,
            pgbouncer: raw.pgbouncer,
            redis: raw.redis,
            qdrant: raw.qdrant,
            services,
            haproxy: raw.haproxy,
            keepalived: raw.keepalived,
            backup: raw.backup,
            roles,
            placement,
            after,
        })
    }

    pub fn hosts_of(&self, component: &str) -> &[String] {
        self.placement
            .get(component)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every secret the stack refers to, keyed by where it is used
    /// (`postgres.superuser_password`, `postgres.databases.NAME.password`, `redis.password`).
    pub fn secret_refs(&self) -> Vec<(String, &SecretRef)> {
        let mut v = Vec::new();
        if let Some(p) = &self.postgres {
            v.push((
                "postgres.superuser_password".to_string(),
                &p.superuser_password,
            ));
            v.push((
                "postgres.replication_password".to_string(),
                &p.replication_password,
            ));
            for d in &p.databases {
                v.push((
                    format!("postgres.databases.{}.password", d.name),
                    &d.password,
                ));
            }
        }
        if let Some(r) = &self.redis {
            v.push(("redis.password".to_string(), &r.password));
        }
        if let Some(t) = self.haproxy.as_ref().and_then(|h| h.tls.as_ref()) {
            v.push(("haproxy.tls.cert".to_string(), &t.cert));
            v.push(("haproxy.tls.key".to_string(), &t.key));
        }
        v
    }
}

pub(crate) struct Validator<'a> {
    src: &'a Source,
    inv: &'a Inventory,
    diags: Diagnostics,
    placement: BTreeMap<String, Vec<String>>,
}

impl Validator<'_> {
    pub(crate) fn err(
        &mut self,
        span: Option<Range<usize>>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(self.src.diag(span, msg, Some(help.into())));
    }

    /// The span of the value at a key path, else `fallback`.
    pub(crate) fn at(&self, path: &[&str], fallback: Option<Range<usize>>) -> Option<Range<usize>> {
        self.src.find(path).or(fallback)
    }

    /// The span of the key itself at a key path, else `fallback`.
    fn key_at(&self, path: &[&str], fallback: Option<Range<usize>>) -> Option<Range<usize>> {
        self.src.find_key(path).or(fallback)
    }

    fn place(&mut self, component: &str, hosts: &Spanned<HostsRef>) {
        let names: Vec<&String> = match hosts.get_ref() {
            HostsRef::One(s) => vec![s],
            HostsRef::Many(v) => v.iter().collect(),
        };
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for n in names {
            match self.inv.resolve(n) {
                Some(hs) => {
                    for h in hs {
                        if seen.insert(h.clone()) {
                            out.push(h);
                        }
                    }
                }
                None => {
                    let known = self.inv.names();
                    let help = match did_you_mean(n, known.iter().copied()) {
                        Some(s) => format!(
                            "did you mean `{s}`? groups and hosts in {}: {}",
                            self.inv.source.path,
                            known.join(", ")
                        ),
                        None => format!(
                            "name a group or host of {}: {}",
                            self.inv.source.path,
                            known.join(", ")
                        ),
                    };
                    self.err(
                        Some(hosts.span()),
                        format!(
                            "`{}` is neither a group nor a host of the inventory",
                            n.escape_debug()
                        ),
                        help,
                    );
                }
            }
        }
        if out.is_empty() && matches!(hosts.get_ref(), HostsRef::Many(v) if v.is_empty()) {
            self.err(
                Some(hosts.span()),
                "hosts is empty",
                "name a group or at least one host",
            );
        }
        // inventory order (sorted names) so member lists are stable
        out.sort();
        self.placement.insert(component.to_string(), out);
    }

    fn check_rules(&mut self, raw: &RawStack, placement: &BTreeMap<String, Vec<String>>) {
        let n = |k: &str| placement.get(k).map(Vec::len).unwrap_or(0);
        crate::components::etcd::stack::validate(self, raw.etcd.as_ref(), placement);
        if let Some(p) = &raw.postgres {
            if raw.etcd.is_none() {
                self.err(
                    Some(p.hosts.span()),
                    "postgres (Patroni) needs an etcd cluster as its DCS, and the stack has none",
                    "add an [etcd] table with hosts = \"...\" (3 or 5 hosts)",
                );
            }
            if p.version != 15 {
                let span = self.at(&["postgres", "version"], Some(p.hosts.span()));
                self.err(
                    span,
                    format!(
                        "postgres version {} is not supported; Debian bookworm ships 15",
                        p.version
                    ),
                    "write version = 15",
                );
            }
            if let Some(k) = p.synchronous_node_count {
                if k == 0 {
                    let span = self.at(
                        &["postgres", "synchronous_node_count"],
                        Some(p.hosts.span()),
                    );
                    self.err(span, "synchronous_node_count 0 is out of range", "write synchronous_node_count = 1 or more (Patroni needs at least one synchronous standby), or leave it out");
                } else if k as usize >= n("postgres").max(1) {
                    let span = self.at(
                        &["postgres", "synchronous_node_count"],
                        Some(p.hosts.span()),
                    );
                    self.err(
                        span,
                        format!("synchronous_node_count = {k} needs more than {k} postgres hosts"),
                        "lower it or add hosts",
                    );
                }
            }
            for (i, d) in p.databases.iter().enumerate() {
                let i = i.to_string();
                for (key, value) in [("name", &d.name), ("owner", &d.owner)] {
                    if !valid_name(value) {
                        let span =
                            self.at(&["postgres", "databases", &i, key], Some(p.hosts.span()));
                        self.err(
                            span,
                            format!("database {key} `{}` is not allowed", value.escape_debug()),
                            "use letters, digits, - and _ (at most 63)",
                        );
                    }
                }
            }
            for c in &p.client_networks {
                if let Err(why) = parse_cidr(c.get_ref()) {
                    self.err(Some(c.span()), format!("`{}` {why}", c.get_ref().escape_debug()), "write networks in CIDR form, e.g. client_networks = [\"10.20.0.0/16\", \"192.0.2.7/32\", \"2001:db8::/32\"]");
                }
            }
            for (k, v) in &p.parameters {
                let kspan = self.key_at(&["postgres", "parameters", k], Some(p.hosts.span()));
                let vspan = self.at(&["postgres", "parameters", k], kspan.clone());
                if !valid_guc_name(k) {
                    self.err(kspan, format!("`{}` is not a PostgreSQL setting name", k.escape_debug()), "use the setting's name from postgresql.conf: letters, digits and _, with a `.` for an extension's settings (e.g. pg_stat_statements.max = 5000)");
                    continue;
                }
                let lower = k.to_ascii_lowercase();
                if let Some((_, why)) = PG_OWNED
                    .iter()
                    .find(|(n, _)| *n == lower || (*n == "recovery_target" && lower.starts_with(n)))
                {
                    self.err(
                        kspan,
                        format!("`{k}` is set by rampart: {why}"),
                        "remove it from [postgres.parameters]",
                    );
                    continue;
                }
                let ok = match v {
                    toml::Value::String(s) => !s.chars().any(char::is_control),
                    toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                        true
                    }
                    _ => false,
                };
                if !ok {
                    self.err(vspan, "the value must be a one-line string, a number or a boolean", format!("write it as postgresql.conf would read it, e.g. {k} = \"8MB\" or {k} = 100"));
                } else if lower == "wal_level" && !matches!(v.as_str(), Some("replica" | "logical"))
                {
                    self.err(
                        vspan,
                        "replication needs wal_level replica or logical",
                        "write wal_level = \"replica\" (the default) or \"logical\"",
                    );
                }
            }
        }
        if let Some(b) = &raw.pgbouncer {
            if let Some(m) = b.pool_mode.as_deref().filter(|m| !POOL_MODES.contains(m)) {
                let span = self.at(&["pgbouncer", "pool_mode"], Some(b.hosts.span()));
                let help = match did_you_mean(m, POOL_MODES) {
                    Some(s) => format!("did you mean `{s}`? write pool_mode = \"session\", \"transaction\" (the default) or \"statement\""),
                    None => "write pool_mode = \"session\", \"transaction\" (the default) or \"statement\"".to_string(),
                };
                self.err(
                    span,
                    format!(
                        "pool_mode `{}` is not a PgBouncer pool mode",
                        m.escape_debug()
                    ),
                    help,
                );
            }
        }
        if let Some(r) = &raw.redis {
            if r.sentinel.is_none() {
                self.err(Some(r.hosts.span()), "redis without [redis.sentinel] has no failover; rampart deploys Redis with Sentinel", "add [redis.sentinel] with quorum = 2 (a majority of the hosts)");
            }
            for (k, v) in &r.settings {
                let kspan = self.key_at(&["redis", "settings", k], Some(r.hosts.span()));
                if k.is_empty()
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    self.err(kspan.clone(), format!("`{}` is not a Redis config directive", k.escape_debug()), "use the directive's name from redis.conf (lowercase letters, digits and -), e.g. maxmemory = \"256mb\"");
                } else if REDIS_OWNED.contains(&k.as_str()) {
                    self.err(
                        kspan.clone(),
                        format!(
                            "`{k}` is set by rampart (addresses, password, replication, files)"
                        ),
                        "remove it from [redis.settings]",
                    );
                }
                let ok = match v {
                    toml::Value::String(s) => !s.chars().any(char::is_control),
                    toml::Value::Integer(_) | toml::Value::Boolean(_) => true,
                    _ => false,
                };
                if !ok {
                    let span = self.at(&["redis", "settings", k], kspan);
                    self.err(
                        span,
                        "the value must be a one-line string, an integer or a boolean",
                        "write it as Redis would read it, e.g. maxmemory-policy = \"allkeys-lru\"",
                    );
                }
            }
            if let Some(m) = &r.master {
                if !placement
                    .get("redis")
                    .is_some_and(|h| h.contains(m.get_ref()))
                {
                    self.err(
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
                let q = *s.quorum.get_ref();
                let c = n("redis") as u32;
                if c > 0 && (q == 0 || q > c) {
                    self.err(
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
                    let span = self.at(
                        &["redis", "sentinel", "down_after_milliseconds"],
                        Some(s.quorum.span()),
                    );
                    self.err(
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
                    let span =
                        self.at(&["redis", "sentinel", "master_name"], Some(s.quorum.span()));
                    self.err(
                        span,
                        format!(
                            "sentinel master_name `{}` is not allowed",
                            s.master_name.escape_debug()
                        ),
                        "use letters, digits, - and _",
                    );
                }
            }
        }
        crate::components::qdrant::stack::validate(self, raw.qdrant.as_ref(), placement);
        for (name, s) in &raw.services {
            match (&s.image, &s.command) {
                (Some(_), Some(_)) | (None, None) => self.err(
                    Some(name.span()),
                    "give exactly one of image (compose) or command (systemd)",
                    "keep `image = \"...\"` or `command = \"...\"`",
                ),
                _ => {}
            }
            if let Some(b) = &s.balance {
                if !matches!(b.get_ref().as_str(), "roundrobin" | "leastconn" | "source") {
                    self.err(
                        Some(b.span()),
                        format!(
                            "balance `{}` is not one rampart writes",
                            b.get_ref().escape_debug()
                        ),
                        "write balance = \"roundrobin\", \"leastconn\" or \"source\"",
                    );
                }
            }
            if let Some(m) = &s.migrate {
                if m.get_ref().contains('\n') || m.get_ref().trim().is_empty() {
                    self.err(
                        Some(m.span()),
                        "migrate must be one non-empty line",
                        "write the migration command on one line",
                    );
                }
            }
            let sn = name.get_ref().as_str();
            for (key, h) in [("health", &s.health), ("ready", &s.ready)] {
                let Some(h) = h else { continue };
                if !h.starts_with('/')
                    || h.chars()
                        .any(|c| c.is_whitespace() || c == '"' || c == '\'')
                {
                    let span = self.at(&["services", sn, key], Some(name.span()));
                    self.err(
                        span,
                        format!("{key} `{}` is not an HTTP path", h.escape_debug()),
                        "write a path like \"/health\"",
                    );
                }
            }
            for k in s.env.keys() {
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    let span = self.key_at(&["services", sn, "env", k], Some(name.span()));
                    self.err(
                        span,
                        format!("env name `{}` is not allowed", k.escape_debug()),
                        "use letters, digits and _",
                    );
                }
            }
            for (k, v) in &s.env {
                if v.contains('\n') || v.contains('\0') {
                    let span = self.at(&["services", sn, "env", k], Some(name.span()));
                    self.err(
                        span,
                        format!("env {} holds a newline", k.escape_debug()),
                        "write the value on one line",
                    );
                }
            }
            if let Some(c) = &s.command {
                if c.contains('\n') || c.trim().is_empty() {
                    let span = self.at(&["services", sn, "command"], Some(name.span()));
                    self.err(
                        span,
                        "command must be one non-empty line",
                        "write the command on one line",
                    );
                }
            }
        }
        if let Some(h) = &raw.haproxy {
            for (k, _) in &h.listen {
                let ok = match k.get_ref().as_str() {
                    "postgres_primary" | "postgres_replicas" => raw.postgres.is_some(),
                    "redis_master" => raw.redis.is_some(),
                    other => raw.services.keys().any(|s| s.get_ref() == other),
                };
                if !ok {
                    let mut known = vec!["postgres_primary", "postgres_replicas", "redis_master"];
                    known.extend(raw.services.keys().map(|s| s.get_ref().as_str()));
                    self.err(
                        Some(k.span()),
                        format!(
                            "`{}` routes to nothing in this stack",
                            k.get_ref().escape_debug()
                        ),
                        format!(
                            "use one of: {}, and make sure that component is in the stack",
                            known.join(", ")
                        ),
                    );
                }
            }
            if let Some(t) = &h.tls {
                for l in t.listens.get_ref() {
                    if !raw.services.keys().any(|s| s.get_ref() == l.get_ref())
                        || !h.listen.keys().any(|k| k.get_ref() == l.get_ref())
                    {
                        let known: Vec<&str> = h
                            .listen
                            .keys()
                            .map(|k| k.get_ref().as_str())
                            .filter(|k| raw.services.keys().any(|s| s.get_ref() == k))
                            .collect();
                        self.err(
                            Some(l.span()),
                            format!(
                                "`{}` is not an app service listener of [haproxy.listen]",
                                l.get_ref().escape_debug()
                            ),
                            format!(
                                "TLS terminates HTTP listeners only; name one of: {}",
                                if known.is_empty() {
                                    "(none)".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                }
                if t.listens.get_ref().is_empty() {
                    self.err(
                        Some(t.listens.span()),
                        "listens is empty",
                        "name the listeners to serve over TLS, e.g. listens = [\"vault\"]",
                    );
                }
            }
        }
        if let Some(k) = &raw.keepalived {
            if k.virtual_router_id == 0 {
                let span = self.at(&["keepalived", "virtual_router_id"], Some(k.vip.span()));
                self.err(span, "virtual_router_id 0 is out of range", "write virtual_router_id from 1 to 255, unique on the network segment (51 is the default)");
            }
            if k.vip.get_ref().parse::<std::net::Ipv4Addr>().is_err() {
                self.err(
                    Some(k.vip.span()),
                    format!(
                        "keepalived vip `{}` is not an IPv4 address",
                        k.vip.get_ref().escape_debug()
                    ),
                    "write vip = \"10.0.1.100\"",
                );
            }
            if !valid_name(k.interface.get_ref()) {
                self.err(
                    Some(k.interface.span()),
                    format!(
                        "keepalived interface `{}` is not an interface name",
                        k.interface.get_ref().escape_debug()
                    ),
                    "write interface = \"eth0\"",
                );
            }
        }
        if let Some(b) = &raw.backup {
            if let Some(pb) = &b.postgres {
                if raw.postgres.is_none() {
                    self.err(
                        Some(pb.span()),
                        "backup.postgres needs a [postgres] in the stack",
                        "add [postgres] or remove [backup.postgres]",
                    );
                }
                if let Err(why) = super::cron::to_calendar(&pb.get_ref().schedule) {
                    let span = self.at(&["backup", "postgres", "schedule"], Some(pb.span()));
                    self.err(span, format!("`{}` is not a schedule systemd can run exactly: {why}", pb.get_ref().schedule.escape_debug()), "write a 5-field cron schedule systemd can run exactly: minute hour day-of-month month day-of-week, e.g. schedule = \"0 2 * * *\" (02:00 daily) or \"0 2 * * MON\"; restrict the day of month or the day of week, not both");
                }
                let keep = pb.get_ref().keep_days;
                if !BACKUP_KEEP_DAYS.contains(&keep) {
                    let span = self.at(&["backup", "postgres", "keep_days"], Some(pb.span()));
                    self.err(
                        span,
                        format!("keep_days {keep} is out of range"),
                        format!(
                            "write keep_days from {} to {}",
                            BACKUP_KEEP_DAYS.start(),
                            BACKUP_KEEP_DAYS.end()
                        ),
                    );
                }
            }
        }
    }

    /// Two components on one port of one host.
    fn check_ports(&mut self, raw: &RawStack, placement: &BTreeMap<String, Vec<String>>) {
        let mut claims: Vec<(String, u16, Option<Range<usize>>)> = Vec::new();
        let mut claim = |comp: &str, port: u16, span: Option<Range<usize>>| {
            claims.push((comp.to_string(), port, span))
        };
        if let Some(e) = &raw.etcd {
            for p in crate::components::etcd::stack::PORTS {
                claim("etcd", p, Some(e.hosts.span()));
            }
        }
        if let Some(p) = &raw.postgres {
            claim("postgres", 5432, Some(p.hosts.span()));
            claim("postgres", 8008, Some(p.hosts.span()));
        }
        if let Some(p) = &raw.pgbouncer {
            claim("pgbouncer", p.port, Some(p.hosts.span()));
        }
        if let Some(r) = &raw.redis {
            claim("redis", 6379, Some(r.hosts.span()));
            if r.sentinel.is_some() {
                claim("redis", 26379, Some(r.hosts.span()));
            }
        }
        if let Some(q) = &raw.qdrant {
            for p in crate::components::qdrant::stack::PORTS {
                claim("qdrant", p, Some(q.hosts.span()));
            }
        }
        for (name, s) in &raw.services {
            claim(
                &format!("services.{}", name.get_ref()),
                *s.port.get_ref(),
                Some(s.port.span()),
            );
        }
        if let Some(h) = &raw.haproxy {
            claim("haproxy", h.stats_port, Some(h.hosts.span()));
            for p in h.listen.values() {
                claim("haproxy", *p.get_ref(), Some(p.span()));
            }
        }
        let mut seen: BTreeMap<(String, u16), String> = BTreeMap::new();
        for (comp, port, span) in claims {
            if port == 0 {
                let span = match comp.as_str() {
                    "pgbouncer" => self.at(&["pgbouncer", "port"], span),
                    // the stats port's claim carries the hosts' span; listen ports carry their own
                    "haproxy"
                        if raw
                            .haproxy
                            .as_ref()
                            .is_some_and(|h| span == Some(h.hosts.span())) =>
                    {
                        self.at(&["haproxy", "stats_port"], span)
                    }
                    _ => span,
                };
                self.diags.push(self.src.diag(
                    span,
                    "port 0 is not a port",
                    Some("write a port from 1 to 65535".into()),
                ));
                continue;
            }
            for host in placement.get(&comp).into_iter().flatten() {
                if let Some(other) = seen.get(&(host.clone(), port)) {
                    let msg = if other == &comp {
                        format!("{comp} uses port {port} twice on host {host}")
                    } else {
                        format!("{comp} and {other} both want port {port} on host {host}")
                    };
                    self.diags.push(self.src.diag(
                        span.clone(),
                        msg,
                        Some(
                            "give one of them another port, or put them on different hosts".into(),
                        ),
                    ));
                    break;
                }
                seen.insert((host.clone(), port), comp.clone());
            }
        }
    }

    /// Who waits for whom: the deploy order plus explicit `after`; cycles are errors.
    fn order(
        &mut self,
        placement: &BTreeMap<String, Vec<String>>,
        afters: &BTreeMap<String, Vec<Spanned<String>>>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for comp in placement.keys() {
            let mut deps: Vec<String> = Vec::new();
            if let Some(l) = level(comp) {
                // the nearest lower level present waits; levels below it are reached through it
                for other in placement.keys() {
                    if let Some(ol) = level(other) {
                        if ol < l {
                            deps.push(other.clone());
                        }
                    }
                }
            }
            for a in afters.get(comp).into_iter().flatten() {
                let name = a.get_ref();
                if !placement.contains_key(name) {
                    let help = match did_you_mean(name, placement.keys().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "name one of: {}",
                            placement.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.err(
                        Some(a.span()),
                        format!(
                            "after names `{}`, which is not in this stack",
                            name.escape_debug()
                        ),
                        help,
                    );
                } else if !deps.contains(name) {
                    deps.push(name.clone());
                }
            }
            out.insert(comp.clone(), deps);
        }
        if let Some(cycle) = find_cycle(&out) {
            let span = afters.values().flatten().next().map(|s| s.span());
            self.diags.push(Diagnostic {
                help: Some("remove one of these `after` entries".into()),
                ..self.src.diag(
                    span,
                    format!(
                        "the components wait for each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                    None,
                )
            });
        }
        out
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

/// A cycle in a "waits for" map, printed from its first member back to it.
pub fn find_cycle(deps: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut c = stack[start..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, deps, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in deps.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(n, deps, &mut state, &mut stack) {
            return Some(c);
        }
    }
    None
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
