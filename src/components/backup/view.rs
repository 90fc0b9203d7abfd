//! PostgreSQL backups as the backup role's templates see them: the pg_dump
//! timer, or pgBackRest's configuration on the members and the repository
//! host, their SSH trust and the backup timers.

use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

use super::stack::Method;

/// Where pgBackRest keeps its repository on the repo host.
pub const REPO_PATH: &str = "/var/lib/pgbackrest";
/// Where the members queue WAL for the asynchronous archive-push.
pub const SPOOL_PATH: &str = "/var/spool/pgbackrest";
/// The SSH key pair names under ~postgres/.ssh on each side.
pub const KEY_FILE: &str = "/var/lib/postgresql/.ssh/rampart_pgbackrest";
/// node_exporter's textfile collector folder (Debian's prometheus-node-exporter).
pub const METRICS_DIR: &str = "/var/lib/prometheus/node-exporter";

#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// `pg_dump` or `pgbackrest`.
    pub method: &'static str,
    pub is_pg_dump: bool,
    pub is_pgbackrest: bool,
    /// pgbackrest: this host holds the repository (and takes the backups).
    pub is_repo: bool,
    /// pg_dump: systemd OnCalendar= from the stack's cron schedule.
    pub on_calendar: String,
    pub keep_days: u32,
    pub databases: Vec<String>,
    pub dir: String,
    /// pgbackrest, else absent.
    pub pgbackrest: Option<PgBackRestView>,
    /// pgbackrest: this side's private SSH key (a secret, seen by the backup
    /// role alone: the members share one, the repo host has its own).
    pub ssh_private_key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoMember {
    /// pgBackRest's index (pg1, pg2, ...).
    pub index: usize,
    pub name: String,
    pub address: String,
    pub ssh_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgBackRestView {
    pub stanza: String,
    /// This host is the repository host (else a PostgreSQL member).
    pub is_repo: bool,
    pub is_member: bool,
    /// The directory this host keeps: the repository, or a member's spool.
    pub own_dir: &'static str,
    pub repo_name: String,
    pub repo_address: String,
    pub repo_ssh_port: u16,
    pub repo_path: &'static str,
    pub spool_path: &'static str,
    pub data_dir: String,
    pub members: Vec<RepoMember>,
    pub full_on_calendar: String,
    pub diff_on_calendar: String,
    pub keep_full: u32,
    pub key_file: &'static str,
    pub metrics_dir: &'static str,
    /// The other side's public key, authorized to run pgBackRest here.
    pub authorized_key: String,
    /// The other side's host keys, from the inventory's known_hosts.
    pub known_hosts: String,
}

/// The stack keys under which the loader hands over the generated keys (see `model::backup_keys`).
pub const MEMBER_KEY: &str = "backup.postgres.member_ssh_key";
pub const MEMBER_PUB: &str = "backup.postgres.member_ssh_pub";
pub const REPO_KEY: &str = "backup.postgres.repo_ssh_key";
pub const REPO_PUB: &str = "backup.postgres.repo_ssh_pub";
/// `backup.postgres.host_keys.NAME`: a host's known_hosts lines.
pub fn host_keys_key(host: &str) -> String {
    format!("backup.postgres.host_keys.{host}")
}

pub fn backup(
    inv: &Inventory,
    stack: &Stack,
    host: &str,
    secrets: &SecretValues,
) -> Option<BackupView> {
    let b = stack.backup.as_ref()?.postgres.as_ref()?.get_ref();
    let p = stack.postgres.as_ref()?;
    let pgbackrest = (b.method() == Method::PgBackRest)
        .then(|| pgbackrest(inv, stack, host, secrets))
        .flatten();
    Some(BackupView {
        method: if pgbackrest.is_some() {
            "pgbackrest"
        } else {
            "pg_dump"
        },
        // the stack refuses a schedule it cannot translate exactly; an empty
        // OnCalendar= would make systemd refuse the timer, never run it daily
        on_calendar: b
            .schedule
            .as_deref()
            .and_then(|s| crate::model::cron::to_calendar(s).ok())
            .unwrap_or_default(),
        keep_days: b.keep_days.unwrap_or_default(),
        databases: p.databases.iter().map(|d| d.name.clone()).collect(),
        dir: "/var/backups/rampart/postgres".into(),
        is_pg_dump: pgbackrest.is_none(),
        is_pgbackrest: pgbackrest.is_some(),
        is_repo: pgbackrest.as_ref().is_some_and(|v| v.is_repo),
        ssh_private_key: match &pgbackrest {
            Some(v) if v.is_repo => secrets.get(REPO_KEY),
            Some(_) => secrets.get(MEMBER_KEY),
            None => String::new(),
        },
        pgbackrest,
    })
}

fn pgbackrest(
    inv: &Inventory,
    stack: &Stack,
    host: &str,
    secrets: &SecretValues,
) -> Option<PgBackRestView> {
    let b = super::stack::pgbackrest(stack.backup.as_ref())?;
    let repo = inv.hosts.get(b.repo_host()?)?;
    let members: Vec<RepoMember> = stack
        .hosts_of("postgres")
        .iter()
        .filter_map(|n| inv.hosts.get(n))
        .enumerate()
        .map(|(i, h)| RepoMember {
            index: i + 1,
            name: h.name.clone(),
            address: h.address.clone(),
            ssh_port: h.port,
        })
        .collect();
    let is_repo = repo.name == host;
    let pg = crate::components::postgres::view::data_dir_of(inv, stack)?;
    let (authorized, known) = if is_repo {
        let known: String = members
            .iter()
            .map(|m| secrets.get(&host_keys_key(&m.name)))
            .collect();
        (secrets.get(MEMBER_PUB), known)
    } else {
        (
            secrets.get(REPO_PUB),
            secrets.get(&host_keys_key(&repo.name)),
        )
    };
    Some(PgBackRestView {
        stanza: stack.name.clone(),
        is_repo,
        is_member: members.iter().any(|m| m.name == host),
        own_dir: if is_repo { REPO_PATH } else { SPOOL_PATH },
        repo_name: repo.name.clone(),
        repo_address: repo.address.clone(),
        repo_ssh_port: repo.port,
        repo_path: REPO_PATH,
        spool_path: SPOOL_PATH,
        data_dir: pg,
        members,
        full_on_calendar: crate::model::cron::to_calendar(b.full_schedule()).unwrap_or_default(),
        diff_on_calendar: crate::model::cron::to_calendar(b.diff_schedule()).unwrap_or_default(),
        keep_full: b.keep_full(),
        key_file: KEY_FILE,
        metrics_dir: METRICS_DIR,
        authorized_key: authorized.trim().to_string(),
        known_hosts: known,
    })
}
