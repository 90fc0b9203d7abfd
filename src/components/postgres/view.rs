//! PostgreSQL under Patroni as its role's templates see it: members, REST
//! API addresses, parameters (as Patroni's dynamic configuration holds them),
//! databases and the addresses and networks allowed to connect.

use crate::compile::view::join_host_port;
use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::release::Release;
use crate::model::stack::Stack;
use serde::Serialize;

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
    /// The PostgreSQL major version: `[postgres] version`, else what the
    /// members' Debian release ships (15 on 12, 17 on 13).
    pub version: u32,
    /// The members' Debian release (one for all: `stack::validate`): 12 or 13.
    pub debian: u8,
    /// The Patroni major version that release ships: 3 or 4.
    pub patroni: u32,
    pub size: usize,
    pub members: Vec<PgMember>,
    pub member: Option<PgMember>,
    pub data_dir: String,
    pub bin_dir: String,
    /// What `bootstrap.dcs` says: `false` or `true`. Patroni 4.0's
    /// `--validate-config` accepts only a boolean there, so a quorum cluster
    /// is bootstrapped with `true` (named synchronous standbys) and switched
    /// to quorum by `PATCH /config` (the `patroni-dynamic-config` command)
    /// as soon as it is healthy.
    pub synchronous_mode: &'static str,
    pub synchronous_node_count: u32,
    /// Tuned so a lost leader is replaced well within 30 s (Patroni's defaults
    /// measured 35-38 s through HAProxy): loop_wait + 2 * retry_timeout <= ttl.
    /// 15 under Patroni 3 (Debian 12, unchanged); 20 under Patroni 4, which
    /// refuses a ttl below 20.
    pub ttl: u32,
    pub loop_wait: u32,
    pub retry_timeout: u32,
    pub parameters: Vec<PgParameter>,
    /// `{"postgresql":{"parameters":{...}},"synchronous_mode":...,
    /// "synchronous_node_count":N}`: the body of Patroni's `PATCH /config`.
    pub dynamic_config_json: String,
    /// `synchronous_mode=..., synchronous_node_count=N, name=value, ...` for the plan.
    pub dynamic_config_text: String,
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
    /// With `[backup.postgres] method = "pgbackrest"`: archiving, the
    /// restore_command and replicas built from the repository.
    pub pgbackrest: Option<PgArchive>,
    /// `[tls]`: the REST API over https, its unsafe endpoints behind rampart's password.
    pub api_tls: bool,
    /// The pg_hba type of every line but the loopback's: `hostssl` under
    /// `[tls]` (replication and remote clients over TLS only), else `host`.
    pub hba_remote: &'static str,
    /// The REST API on this member's loopback, for rampart's own calls.
    pub api_local: String,
    /// curl's options for a GET of it (the stack's CA under `[tls]`).
    pub curl_tls: String,
    /// curl's options for its unsafe endpoints (the CA and the netrc file).
    pub curl_auth: String,
    /// `restapi.authentication`'s user and password (a secret), under `[tls]`.
    pub api_user: &'static str,
    pub api_password: String,
    pub api_netrc: &'static str,
}

/// What Patroni's configuration holds for pgBackRest.
#[derive(Debug, Clone, Serialize)]
pub struct PgArchive {
    pub stanza: String,
    /// `recovery_conf.restore_command`.
    pub restore_command: String,
    /// The `pgbackrest` replica method's command (a delta restore of the latest backup).
    pub replica_command: String,
}

/// The settings rampart adds to `[postgres.parameters]` with pgBackRest:
/// archive_mode on, the asynchronous archive-push, and a WAL switch at least
/// every 60 s, so a quiet cluster's newest minute is in the repository too.
pub fn archive_parameters(stanza: &str) -> Vec<(String, String)> {
    vec![
        ("archive_mode".into(), "on".into()),
        (
            "archive_command".into(),
            format!("pgbackrest --stanza={stanza} archive-push %p"),
        ),
        ("archive_timeout".into(), "60".into()),
    ]
}

/// `[postgres.parameters]`, then what pgBackRest needs (the stack refuses
/// archive_mode and archive_command of its own alongside pgBackRest).
pub fn effective_parameters(stack: &Stack) -> Vec<(String, String)> {
    let Some(p) = stack.postgres.as_ref() else {
        return Vec::new();
    };
    let mut params: Vec<(String, String)> = p
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_pg(v)))
        .collect();
    if crate::components::backup::stack::pgbackrest(stack.backup.as_ref()).is_some() {
        for (k, v) in archive_parameters(&stack.name) {
            if !params.iter().any(|(n, _)| *n == k) {
                params.push((k, v));
            }
        }
    }
    params
}

/// `{name: "value"}` of `effective_parameters`, as Patroni's dynamic configuration holds them.
pub fn effective_parameters_json(stack: &Stack) -> serde_json::Value {
    effective_parameters(stack)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The data directory of the stack's PostgreSQL members (their release's version, or `version`).
pub fn data_dir_of(inv: &Inventory, stack: &Stack) -> Option<String> {
    let p = stack.postgres.as_ref()?;
    let release = stack
        .hosts_of("postgres")
        .first()
        .and_then(|m| inv.hosts.get(m))
        .map_or(Release::DEFAULT, |h| h.debian);
    Some(format!(
        "/var/lib/postgresql/{}/patroni",
        p.version_on(release)
    ))
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
    secrets: &SecretValues,
) -> Option<PostgresView> {
    let p = stack.postgres.as_ref()?;
    let tls = crate::tls::view::on(stack);
    let scheme = if tls { "https" } else { "http" };
    let (curl_tls, api_local) = crate::tls::view::patroni_local(tls, false);
    let (curl_auth, _) = crate::tls::view::patroni_local(tls, true);
    let members: Vec<PgMember> = stack
        .hosts_of("postgres")
        .iter()
        .filter_map(|n| inv.hosts.get(n))
        .map(|h| PgMember {
            name: h.name.clone(),
            address: h.address.clone(),
            api_url: format!("{scheme}://{}", join_host_port(&h.address, 8008)),
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
    // the members' release (one for all, or the stack was refused)
    let release = members
        .first()
        .and_then(|m| inv.hosts.get(&m.name))
        .map_or(Release::DEFAULT, |h| h.debian);
    let version = p.version_on(release);
    let synchronous_node_count = p.synchronous_node_count.unwrap_or(1);
    let archiving = crate::components::backup::stack::pgbackrest(stack.backup.as_ref())
        .map(|_| archive_parameters(&stack.name));
    let params = effective_parameters(stack);
    let parameters_text = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let params_json = effective_parameters_json(stack);
    Some(PostgresView {
        is_first,
        scope: stack.name.clone(),
        version,
        debian: release.number(),
        patroni: release.patroni_major(),
        size: members.len(),
        member: members.iter().find(|m| m.name == this_host).cloned(),
        members,
        data_dir: format!("/var/lib/postgresql/{version}/patroni"),
        bin_dir: format!("/usr/lib/postgresql/{version}/bin"),
        synchronous_mode: p.synchronous_mode.bootstrap(),
        synchronous_node_count,
        ttl: if release.patroni_major() >= 4 { 20 } else { 15 },
        loop_wait: 3,
        retry_timeout: 5,
        parameters: params
            .iter()
            .map(|(k, v)| PgParameter {
                name: k.clone(),
                value: v.clone(),
            })
            .collect(),
        dynamic_config_json: serde_json::json!({
            "postgresql": {"parameters": params_json},
            "synchronous_mode": p.synchronous_mode.json(),
            "synchronous_node_count": synchronous_node_count,
        })
        .to_string(),
        dynamic_config_text: [
            format!(
                "synchronous_mode={}, synchronous_node_count={synchronous_node_count}",
                p.synchronous_mode.patroni()
            ),
            parameters_text.clone(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", "),
        parameters_text,
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
        api_tls: tls,
        hba_remote: if tls { "hostssl" } else { "host" },
        api_local: api_local.to_string(),
        curl_tls,
        curl_auth,
        api_user: crate::tls::view::PATRONI_API_USER,
        api_password: if tls {
            secrets.get(crate::tls::view::PATRONI_API_PASSWORD)
        } else {
            String::new()
        },
        api_netrc: crate::tls::view::PATRONI_API_NETRC,
        database_count: p.databases.len(),
        databases,
        pgbackrest: archiving.map(|_| PgArchive {
            stanza: stack.name.clone(),
            restore_command: format!("pgbackrest --stanza={} archive-get %f \"%p\"", stack.name),
            replica_command: format!("pgbackrest --stanza={} --delta restore", stack.name),
        }),
    })
}
