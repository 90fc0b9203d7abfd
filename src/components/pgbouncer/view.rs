//! PgBouncer as its role's templates see it.

use super::stack::PoolMode;
use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

/// PgBouncer in front of the current primary (through HAProxy when the
/// stack routes `postgres_primary`, else the local PostgreSQL).
#[derive(Debug, Clone, Serialize)]
pub struct PgbouncerView {
    pub port: u16,
    pub pool_mode: PoolMode,
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
    secrets: &SecretValues,
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
        // checked by `stack::validate`
        pool_mode: b
            .pool_mode
            .as_deref()
            .and_then(PoolMode::parse)
            .unwrap_or_default(),
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
