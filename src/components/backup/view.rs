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
    /// pgbackrest with `[backup.postgres.s3]`, on the repo host alone: the
    /// access key id and secret (secrets; empty elsewhere).
    pub s3_key: String,
    pub s3_secret: String,
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
    /// The repository's path: on the repo host's disk, or in the S3 bucket.
    pub repo_path: String,
    /// The repository in S3-compatible storage (on the repo host's view alone).
    pub s3: Option<super::s3::S3View>,
    /// The file whose presence says the stanza exists: the repository's
    /// backup.info on disk, or (S3) a mark the stanza-create step leaves.
    pub stanza_marker: String,
    /// The command printing the newest archived WAL segment (`repo::newest_wal`).
    pub newest_wal: String,
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
        s3_key: match &pgbackrest {
            Some(v) if v.s3.is_some() => secrets.get(super::s3::KEY),
            _ => String::new(),
        },
        s3_secret: match &pgbackrest {
            Some(v) if v.s3.is_some() => secrets.get(super::s3::SECRET),
            _ => String::new(),
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
        repo_path: repo_path(b, &stack.name),
        s3: b.s3.as_ref().filter(|_| is_repo).map(|s| s.view()),
        stanza_marker: stanza_marker(b, &stack.name),
        newest_wal: newest_wal_of(b, &stack.name),
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

/// The repository's path: on the repo host's disk, or in the S3 bucket.
fn repo_path(b: &super::stack::PostgresBackup, _stanza: &str) -> String {
    match &b.s3 {
        Some(s3) => s3.path().to_string(),
        None => REPO_PATH.to_string(),
    }
}

/// The command that prints the newest archived WAL segment on the repo host.
pub fn newest_wal_of(b: &super::stack::PostgresBackup, stanza: &str) -> String {
    super::repo::newest_wal(stanza, &repo_path(b, stanza), b.s3.is_some())
}

/// The file on the repo host whose presence says the stanza exists: the
/// repository's own backup.info on disk; with S3, a mark the stanza-create
/// step leaves, named after the bucket and path (another bucket is another
/// repository: its stanza is created, and a first full backup taken, again).
fn stanza_marker(b: &super::stack::PostgresBackup, stanza: &str) -> String {
    match &b.s3 {
        Some(s3) => {
            let v = s3.view();
            let id = crate::util::sha256_hex(
                format!(
                    "{}:{}|{}|{}",
                    v.endpoint,
                    v.port.unwrap_or(443),
                    v.bucket,
                    s3.path()
                )
                .as_bytes(),
            );
            format!("{REPO_PATH}/.rampart-s3-stanza-{stanza}-{}", &id[..12])
        }
        None => format!("{REPO_PATH}/backup/{stanza}/backup.info"),
    }
}
