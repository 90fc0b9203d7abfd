//! Typed views: topology computed in Rust (member lists, initial-cluster
//! strings, endpoints), handed to templates that only format them.

use crate::model::inventory::{Host, Inventory};
use crate::model::stack::Stack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    pub name: String,
    pub address: String,
    pub zone: Option<String>,
    pub labels: Vec<String>,
    pub vars: toml::Table,
}

impl HostView {
    pub fn of(h: &Host) -> Self {
        HostView {
            name: h.name.clone(),
            address: h.address.clone(),
            zone: h.zone.clone(),
            labels: h.labels.clone(),
            vars: h.vars.clone(),
        }
    }
}

pub use crate::components::etcd::view::{etcd, EtcdMember, EtcdView};

/// `host:port`, with brackets for IPv6 literals.
pub fn join_host_port(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PgMember {
    pub name: String,
    pub address: String,
    /// Patroni REST API.
    pub api_url: String,
    /// `host:port` of the REST API (Patroni's `restapi.connect_address`: no scheme).
    pub api_address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgParameter {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgDatabase {
    pub name: String,
    pub owner: String,
    /// The password as an SQL string literal (quotes doubled).
    pub password_sql: String,
}

/// PostgreSQL under Patroni, as its role sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresView {
    /// Patroni scope: the stack's name.
    pub scope: String,
    pub version: u32,
    pub size: usize,
    pub members: Vec<PgMember>,
    pub member: Option<PgMember>,
    pub data_dir: String,
    pub bin_dir: String,
    pub synchronous_mode: bool,
    pub synchronous_node_count: u32,
    /// Tuned so a lost leader is replaced well within 30 s (Patroni's defaults
    /// measured 35-38 s through HAProxy): loop_wait + 2 * retry_timeout <= ttl.
    pub ttl: u32,
    pub loop_wait: u32,
    pub retry_timeout: u32,
    pub parameters: Vec<PgParameter>,
    /// `{"postgresql":{"parameters":{...}}}`: the body of Patroni's `PATCH /config`.
    pub dynamic_config_json: String,
    /// `name=value, ...` for the plan.
    pub parameters_text: String,
    /// This host is the first member (runs cluster-wide commands once).
    pub is_first: bool,
    /// Addresses allowed to connect (every host of the stack).
    pub client_addresses: Vec<String>,
    /// Networks outside the stack allowed to connect (`client_networks`, validated CIDRs).
    pub client_networks: Vec<String>,
    pub superuser_password: String,
    pub replication_password: String,
    pub databases: Vec<PgDatabase>,
    /// `'a','b'` for a `datname IN (...)` check.
    pub database_names_sql: String,
    pub database_count: usize,
}

pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn toml_to_pg(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
        other => other.to_string(),
    }
}

/// `{name: "value"}` of `[postgres.parameters]`, as Patroni's dynamic configuration holds them.
pub fn parameters_json(t: &toml::Table) -> serde_json::Value {
    t.iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(toml_to_pg(v))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub fn postgres(
    inv: &Inventory,
    stack: &Stack,
    this_host: &str,
    secrets: &super::SecretValues,
) -> Option<PostgresView> {
    let p = stack.postgres.as_ref()?;
    let members: Vec<PgMember> = stack
        .hosts_of("postgres")
        .iter()
        .filter_map(|n| inv.hosts.get(n))
        .map(|h| PgMember {
            name: h.name.clone(),
            address: h.address.clone(),
            api_url: format!("http://{}", join_host_port(&h.address, 8008)),
            api_address: join_host_port(&h.address, 8008),
        })
        .collect();
    let mut client_addresses: Vec<String> = stack
        .placement
        .values()
        .flatten()
        .filter_map(|n| inv.hosts.get(n))
        .map(|h| h.address.clone())
        .collect();
    client_addresses.sort();
    client_addresses.dedup();
    let databases: Vec<PgDatabase> = p
        .databases
        .iter()
        .map(|d| PgDatabase {
            name: d.name.clone(),
            owner: d.owner.clone(),
            password_sql: sql_literal(
                &secrets.get(&format!("postgres.databases.{}.password", d.name)),
            ),
        })
        .collect();
    let is_first = members.first().is_some_and(|m| m.name == this_host);
    Some(PostgresView {
        is_first,
        scope: stack.name.clone(),
        version: p.version,
        size: members.len(),
        member: members.iter().find(|m| m.name == this_host).cloned(),
        members,
        data_dir: format!("/var/lib/postgresql/{}/patroni", p.version),
        bin_dir: format!("/usr/lib/postgresql/{}/bin", p.version),
        synchronous_mode: p.synchronous_mode,
        synchronous_node_count: p.synchronous_node_count.unwrap_or(1),
        ttl: 15,
        loop_wait: 3,
        retry_timeout: 5,
        parameters: p
            .parameters
            .iter()
            .map(|(k, v)| PgParameter {
                name: k.clone(),
                value: toml_to_pg(v),
            })
            .collect(),
        dynamic_config_json:
            serde_json::json!({"postgresql": {"parameters": parameters_json(&p.parameters)}})
                .to_string(),
        parameters_text: p
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={}", toml_to_pg(v)))
            .collect::<Vec<_>>()
            .join(", "),
        client_addresses,
        client_networks: p
            .client_networks
            .iter()
            .map(|c| c.get_ref().clone())
            .collect(),
        superuser_password: secrets.get("postgres.superuser_password"),
        replication_password: secrets.get("postgres.replication_password"),
        database_names_sql: p
            .databases
            .iter()
            .map(|d| sql_literal(&d.name))
            .collect::<Vec<_>>()
            .join(","),
        database_count: p.databases.len(),
        databases,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub name: String,
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    /// The `[haproxy.listen]` key.
    pub name: String,
    pub port: u16,
    /// `postgres_primary`, `postgres_replicas`, `redis_master`, `http`.
    pub kind: String,
    /// For `postgres_*`: the Patroni path checked on 8008; for `http`: the health path.
    pub check_path: String,
    pub backends: Vec<Backend>,
    /// HAProxy `balance` (http listeners).
    pub balance: String,
    /// Terminates TLS with /etc/haproxy/tls.pem.
    pub tls: bool,
}

/// HAProxy's listeners with their backends, computed from the stack.
#[derive(Debug, Clone, Serialize)]
pub struct HaproxyView {
    pub stats_port: u16,
    pub listens: Vec<Listen>,
    /// The certificate chain and key for TLS listeners, as one PEM (sensitive).
    pub tls_pem: Option<String>,
    /// The Redis password escaped for `tcp-check send` (spaces as `\ `), when redis_master is routed.
    pub redis_auth: String,
    /// Tuned checks (the defaults add 3-6 s after a promotion): inter 1s
    /// (fastinter/downinter 200ms) fall 2 rise 1.
    pub inter: String,
    pub fastinter: String,
    pub fall: u32,
    pub rise: u32,
}

pub fn haproxy(
    inv: &Inventory,
    stack: &Stack,
    secrets: &super::SecretValues,
) -> Option<HaproxyView> {
    let h = stack.haproxy.as_ref()?;
    let backends = |comp: &str, port: u16| -> Vec<Backend> {
        stack
            .hosts_of(comp)
            .iter()
            .filter_map(|n| inv.hosts.get(n))
            .map(|h| Backend {
                name: h.name.clone(),
                address: h.address.clone(),
                port,
            })
            .collect()
    };
    let mut listens = Vec::new();
    let tls_for = |name: &str| {
        h.tls
            .as_ref()
            .is_some_and(|t| t.listens.get_ref().iter().any(|l| l.get_ref() == name))
    };
    for (k, p) in &h.listen {
        let name = k.get_ref().clone();
        let port = *p.get_ref();
        let l = |kind: &str, check: &str, backends: Vec<Backend>, balance: &str| Listen {
            kind: kind.into(),
            check_path: check.into(),
            backends,
            balance: balance.into(),
            tls: tls_for(&name),
            name: name.clone(),
            port,
        };
        let l = match name.as_str() {
            "postgres_primary" => l(
                "postgres_primary",
                "/primary",
                backends("postgres", 5432),
                "first",
            ),
            "postgres_replicas" => l(
                "postgres_replicas",
                "/replica",
                backends("postgres", 5432),
                "roundrobin",
            ),
            "redis_master" => l("redis_master", "", backends("redis", 6379), "first"),
            svc => match stack.services.get(svc) {
                Some(s) => {
                    let check = s
                        .ready
                        .clone()
                        .or_else(|| s.health.clone())
                        .unwrap_or_else(|| "/".into());
                    let balance = s
                        .balance
                        .as_ref()
                        .map(|b| b.get_ref().clone())
                        .unwrap_or_else(|| "roundrobin".into());
                    l(
                        "http",
                        &check,
                        backends(&format!("services.{svc}"), *s.port.get_ref()),
                        &balance,
                    )
                }
                None => continue,
            },
        };
        listens.push(l);
    }
    let tls_pem = h.tls.as_ref().map(|_| {
        let cert = secrets.get("haproxy.tls.cert");
        let key = secrets.get("haproxy.tls.key");
        format!("{}\n{}\n", cert.trim_end(), key.trim_end())
    });
    let redis_auth = if stack.redis.is_some() {
        secrets
            .get("redis.password")
            .replace('\\', "\\\\")
            .replace(' ', "\\ ")
    } else {
        String::new()
    };
    Some(HaproxyView {
        stats_port: h.stats_port,
        listens,
        tls_pem,
        redis_auth,
        inter: "1s".into(),
        fastinter: "200ms".into(),
        fall: 2,
        rise: 1,
    })
}

/// Redis with Sentinel, as the redis role sees it. Names the *initial*
/// master only: after a failover Redis and Sentinel own who is master.
#[derive(Debug, Clone, Serialize)]
pub struct RedisView {
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
}

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
    secrets: &super::SecretValues,
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
        size: members.len(),
        is_initial_master: initial_master.name == this_host,
        initial_master,
        members,
        password_conf: redis_quote(&password),
        password,
        sentinel: r.sentinel.as_ref().map(sentinel),
        settings: r
            .settings
            .iter()
            .map(|(k, v)| PgParameter {
                name: k.clone(),
                value: redis_quote(&match v {
                    toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
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

#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    /// `"NAME=value"` quoted for a systemd `Environment=` line.
    pub systemd: String,
}

/// One app service (`[services.NAME]`).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub unit: String,
    pub command: Option<String>,
    pub image: Option<String>,
    pub port: u16,
    pub health: String,
    pub env: Vec<EnvVar>,
    /// The migration command, on the service's first host only.
    pub migrate: Option<String>,
    /// Marker of this version's migration: it runs once, where the marker is missing.
    pub migrate_mark: String,
}

/// Quoting for systemd unit values: `%` doubled, `\` and `"` escaped, in double quotes.
pub fn systemd_quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
    )
}

pub fn service(stack: &Stack, name: &str, this_host: &str) -> Option<ServiceView> {
    let s = stack.services.get(name)?;
    let first = stack
        .hosts_of(&format!("services.{name}"))
        .first()
        .is_some_and(|h| h == this_host);
    let migrate = s
        .migrate
        .as_ref()
        .filter(|_| first)
        .map(|m| m.get_ref().clone());
    let parts = [
        s.command.as_deref(),
        s.image.as_deref(),
        s.migrate.as_ref().map(|m| m.get_ref().as_str()),
    ]
    .map(|p| p.unwrap_or(""));
    let version = crate::util::sha256_hex(parts.join("\0").as_bytes())[..16].to_string();
    Some(ServiceView {
        name: name.to_string(),
        unit: format!("rampart-{}-{name}.service", stack.name),
        command: s.command.as_ref().map(|c| c.replace('%', "%%")),
        image: s.image.clone(),
        port: *s.port.get_ref(),
        health: s.health.clone().unwrap_or_else(|| "/".into()),
        env: s
            .env
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.clone(),
                value: v.clone(),
                systemd: systemd_quote(&format!("{k}={v}")),
            })
            .collect(),
        migrate,
        migrate_mark: format!(
            "/var/lib/rampart/migrations/{}-{name}-{version}",
            stack.name
        ),
    })
}

pub use crate::components::qdrant::view::{qdrant, QdrantView};

/// PgBouncer in front of the current primary (through HAProxy when the
/// stack routes `postgres_primary`, else the local PostgreSQL).
#[derive(Debug, Clone, Serialize)]
pub struct PgbouncerView {
    pub port: u16,
    pub pool_mode: String,
    pub listen_addr: String,
    pub target_host: String,
    pub target_port: u16,
    pub databases: Vec<String>,
    /// `"user" "password"` lines for userlist.txt.
    pub users: Vec<String>,
}

pub fn pgbouncer(
    inv: &Inventory,
    stack: &Stack,
    this_host: &str,
    secrets: &super::SecretValues,
) -> Option<PgbouncerView> {
    let b = stack.pgbouncer.as_ref()?;
    let p = stack.postgres.as_ref()?;
    let me = inv.hosts.get(this_host)?;
    let primary = stack.haproxy.as_ref().and_then(|h| {
        h.listen
            .iter()
            .find(|(k, _)| k.get_ref() == "postgres_primary")
            .map(|(_, v)| *v.get_ref())
    });
    let (target_host, target_port) = match (
        primary,
        stack
            .hosts_of("haproxy")
            .first()
            .and_then(|n| inv.hosts.get(n)),
    ) {
        (Some(port), Some(h)) => {
            let local = stack.hosts_of("haproxy").iter().any(|n| n == this_host);
            (
                if local {
                    "127.0.0.1".to_string()
                } else {
                    h.address.clone()
                },
                port,
            )
        }
        _ => ("127.0.0.1".to_string(), 5432),
    };
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    Some(PgbouncerView {
        port: b.port,
        pool_mode: b.pool_mode.clone().unwrap_or_else(|| "transaction".into()),
        listen_addr: format!("{},127.0.0.1", me.address),
        target_host,
        target_port,
        databases: p.databases.iter().map(|d| d.name.clone()).collect(),
        users: p
            .databases
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    q(&d.owner),
                    q(&secrets.get(&format!("postgres.databases.{}.password", d.name)))
                )
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct KeepalivedView {
    pub vip: String,
    pub interface: String,
    pub virtual_router_id: u8,
    /// Highest on the first host of the group.
    pub priority: u32,
    pub peers: Vec<String>,
    pub address: String,
}

pub fn keepalived(inv: &Inventory, stack: &Stack, this_host: &str) -> Option<KeepalivedView> {
    let k = stack.keepalived.as_ref()?;
    let hosts = stack.hosts_of("keepalived");
    let pos = hosts.iter().position(|h| h == this_host)?;
    let me = inv.hosts.get(this_host)?;
    Some(KeepalivedView {
        vip: k.vip.get_ref().clone(),
        interface: k.interface.get_ref().clone(),
        virtual_router_id: k.virtual_router_id,
        priority: 150u32.saturating_sub(10 * pos as u32),
        peers: hosts
            .iter()
            .filter(|h| *h != this_host)
            .filter_map(|h| inv.hosts.get(h))
            .map(|h| h.address.clone())
            .collect(),
        address: me.address.clone(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// systemd OnCalendar= from the stack's cron schedule.
    pub on_calendar: String,
    pub keep_days: u32,
    pub databases: Vec<String>,
    pub dir: String,
}

pub fn backup(stack: &Stack) -> Option<BackupView> {
    let b = stack.backup.as_ref()?.postgres.as_ref()?.get_ref();
    let p = stack.postgres.as_ref()?;
    Some(BackupView {
        // the stack refuses a schedule it cannot translate exactly; an empty
        // OnCalendar= would make systemd refuse the timer, never run it daily
        on_calendar: crate::model::cron::to_calendar(&b.schedule).unwrap_or_default(),
        keep_days: b.keep_days,
        databases: p.databases.iter().map(|d| d.name.clone()).collect(),
        dir: "/var/backups/rampart/postgres".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(redis_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(systemd_quote("A=50% \"x\""), "\"A=50%% \\\"x\\\"\"");
        assert_eq!(sql_literal("it's"), "'it''s'");
    }
}
