//! Typed views: topology computed in Rust (member lists, initial-cluster
//! strings, endpoints), handed to templates that only format them.

use crate::model::inventory::{Host, Inventory};
use crate::model::stack::Stack;
use serde::Serialize;

pub use crate::components::haproxy::view::{haproxy, HaproxyView, Listen};
pub use crate::components::keepalived::view::{keepalived, KeepalivedView};
pub use crate::components::services::view::{service, systemd_quote, EnvVar, ServiceView};

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

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EtcdMember {
    pub name: String,
    pub address: String,
    pub peer_url: String,
    pub client_url: String,
}

/// The stack's etcd cluster, as every role sees it.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdView {
    pub members: Vec<EtcdMember>,
    pub size: usize,
    /// `name=http://ip:2380,...`
    pub initial_cluster: String,
    pub initial_cluster_state: String,
    pub cluster_token: String,
    /// `http://ip:2379,...`
    pub endpoints: String,
    /// `ip:2379,...` (Patroni's etcd3.hosts)
    pub hosts_list: String,
    pub data_dir: String,
    pub heartbeat_interval: u32,
    pub election_timeout: u32,
    /// This host's member entry, when the host is a member.
    pub member: Option<EtcdMember>,
}

pub fn etcd(inv: &Inventory, stack: &Stack, this_host: &str) -> Option<EtcdView> {
    let e = stack.etcd.as_ref()?;
    let members: Vec<EtcdMember> = stack
        .hosts_of("etcd")
        .iter()
        .filter_map(|n| inv.hosts.get(n))
        .map(|h| EtcdMember {
            name: h.name.clone(),
            address: h.address.clone(),
            peer_url: format!("http://{}", join_host_port(&h.address, 2380)),
            client_url: format!("http://{}", join_host_port(&h.address, 2379)),
        })
        .collect();
    let token = e
        .cluster_token
        .clone()
        .unwrap_or_else(|| format!("{}-etcd", stack.name));
    Some(EtcdView {
        size: members.len(),
        initial_cluster: members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(","),
        initial_cluster_state: "new".into(),
        endpoints: members
            .iter()
            .map(|m| m.client_url.clone())
            .collect::<Vec<_>>()
            .join(","),
        hosts_list: members
            .iter()
            .map(|m| join_host_port(&m.address, 2379))
            .collect::<Vec<_>>()
            .join(","),
        data_dir: format!("/var/lib/etcd/{token}"),
        heartbeat_interval: e
            .heartbeat_interval
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(100),
        election_timeout: e
            .election_timeout
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(1000),
        member: members.iter().find(|m| m.name == this_host).cloned(),
        cluster_token: token,
        members,
    })
}

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

pub use crate::components::redis::view::{
    redis, redis_members, redis_quote, sentinel, RedisView, SentinelView,
};

/// Qdrant in cluster mode, as a compose project.
#[derive(Debug, Clone, Serialize)]
pub struct QdrantView {
    pub image: String,
    pub replication_factor: u32,
    pub shard_number: u32,
    pub uri: String,
    /// None on the first peer; the first peer's p2p URL on the others.
    pub bootstrap: Option<String>,
    /// p2p (6335) binds this address only, never all interfaces.
    pub p2p_bind: String,
}

pub fn qdrant(inv: &Inventory, stack: &Stack, this_host: &str) -> Option<QdrantView> {
    let q = stack.qdrant.as_ref()?;
    let hosts = stack.hosts_of("qdrant");
    let first = inv.hosts.get(hosts.first()?)?;
    let me = inv.hosts.get(this_host)?;
    Some(QdrantView {
        image: q.image.clone(),
        replication_factor: *q.replication_factor.get_ref(),
        shard_number: q.shard_number,
        uri: format!("http://{}", join_host_port(&me.address, 6335)),
        bootstrap: (first.name != me.name)
            .then(|| format!("http://{}", join_host_port(&first.address, 6335))),
        p2p_bind: me.address.clone(),
    })
}

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
