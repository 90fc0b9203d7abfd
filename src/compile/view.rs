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

pub use crate::components::postgres::view::{
    parameters_json, postgres, sql_literal, toml_to_pg, PgDatabase, PgMember, PgParameter,
    PostgresView,
};

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

pub use crate::components::pgbouncer::view::{pgbouncer, PgbouncerView};

pub use crate::components::backup::view::{backup, BackupView};

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
