//! Typed views: topology computed in Rust (member lists, initial-cluster
//! strings, endpoints), handed to templates that only format them.

use crate::model::inventory::Host;
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
    /// The Debian release it runs, as the inventory says: 12 or 13.
    pub debian: u8,
    /// Its codename: `bookworm` or `trixie`.
    pub codename: &'static str,
}

impl HostView {
    pub fn of(h: &Host) -> Self {
        HostView {
            name: h.name.clone(),
            address: h.address.clone(),
            zone: h.zone.clone(),
            labels: h.labels.clone(),
            vars: h.vars.clone(),
            debian: h.debian.number(),
            codename: h.debian.codename(),
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

pub use crate::components::qdrant::view::{qdrant, QdrantView};

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
