//! `[backup]`: the table's fields and the checks of `[backup.postgres]`:
//! `method = "pg_dump"` (the default: a nightly dump on the leader) or
//! `method = "pgbackrest"` (continuous WAL archiving to a repository on an
//! inventory host, full and differential backups on timers, and
//! `rampart restore`).

use crate::model::stack::Validator;
use serde::Deserialize;
use toml::Spanned;

/// Days a PostgreSQL dump is kept.
const BACKUP_KEEP_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
/// Full backups pgBackRest keeps (`repo1-retention-full`).
const KEEP_FULL: std::ops::RangeInclusive<u32> = 1..=100;
/// pgBackRest's defaults: a full backup on Sunday, a differential on the other days, two fulls kept.
pub const DEFAULT_FULL_SCHEDULE: &str = "0 1 * * SUN";
pub const DEFAULT_DIFF_SCHEDULE: &str = "0 1 * * MON-SAT";
pub const DEFAULT_KEEP_FULL: u32 = 2;
/// Hours without a successful backup before the alert fires: a daily
/// differential with two hours of slack.
pub const DEFAULT_ALERT_HOURS: u32 = 26;
const ALERT_HOURS: std::ops::RangeInclusive<u32> = 1..=8760;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    PgDump,
    PgBackRest,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresBackup {
    /// `pg_dump` (default) or `pgbackrest`.
    pub method: Option<Spanned<String>>,
    /// pg_dump: its cron schedule and the days a dump is kept.
    pub schedule: Option<String>,
    pub keep_days: Option<u32>,
    /// pgbackrest: the inventory host holding the repository.
    pub repo_host: Option<Spanned<String>>,
    /// pgbackrest: cron schedules of the full and differential backups.
    pub full_schedule: Option<String>,
    pub diff_schedule: Option<String>,
    /// pgbackrest: full backups kept (their differentials and WAL with them).
    pub keep_full: Option<u32>,
    /// pgbackrest: hours without a successful backup before the alert fires.
    pub alert_hours: Option<u32>,
    /// pgbackrest: the repository in S3-compatible storage (the repo host's
    /// disk when absent).
    pub s3: Option<super::s3::S3>,
}

impl PostgresBackup {
    /// The method (an unknown one is refused by `validate`).
    pub fn method(&self) -> Method {
        match self.method.as_ref().map(|m| m.get_ref().as_str()) {
            Some("pgbackrest") => Method::PgBackRest,
            _ => Method::PgDump,
        }
    }
    pub fn full_schedule(&self) -> &str {
        self.full_schedule
            .as_deref()
            .unwrap_or(DEFAULT_FULL_SCHEDULE)
    }
    pub fn diff_schedule(&self) -> &str {
        self.diff_schedule
            .as_deref()
            .unwrap_or(DEFAULT_DIFF_SCHEDULE)
    }
    pub fn keep_full(&self) -> u32 {
        self.keep_full.unwrap_or(DEFAULT_KEEP_FULL)
    }
    pub fn alert_hours(&self) -> u32 {
        self.alert_hours.unwrap_or(DEFAULT_ALERT_HOURS)
    }
    /// The repository host's name, with pgBackRest.
    pub fn repo_host(&self) -> Option<&str> {
        (self.method() == Method::PgBackRest)
            .then(|| self.repo_host.as_ref().map(|r| r.get_ref().as_str()))
            .flatten()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub postgres: Option<Spanned<PostgresBackup>>,
}

/// The pgBackRest configuration of a stack, when it has one.
pub fn pgbackrest(b: Option<&Backup>) -> Option<&PostgresBackup> {
    let pb = b?.postgres.as_ref()?.get_ref();
    (pb.method() == Method::PgBackRest).then_some(pb)
}

/// The checks of `[backup]`.
pub(crate) fn validate(v: &mut Validator, b: &Backup, has_postgres: bool, pg_hosts: &[String]) {
    let Some(pb) = &b.postgres else { return };
    if !has_postgres {
        v.err(
            Some(pb.span()),
            "backup.postgres needs a [postgres] in the stack",
            "add [postgres] or remove [backup.postgres]",
        );
    }
    let table = pb.span();
    let b = pb.get_ref();
    let method = b.method.as_ref().map(|m| m.get_ref().as_str());
    if let Some(m) = &b.method {
        if !matches!(m.get_ref().as_str(), "pg_dump" | "pgbackrest") {
            let hint = crate::diag::did_you_mean(m.get_ref(), ["pg_dump", "pgbackrest"])
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            v.err(
                Some(m.span()),
                format!("method `{}` is not a backup method", m.get_ref().escape_debug()),
                format!("{hint}write method = \"pg_dump\" (a nightly dump, the default) or \"pgbackrest\" (WAL archiving and point-in-time restore)"),
            );
            return;
        }
    }
    // the keys of the other method
    let mine: &[&str] = if method == Some("pgbackrest") {
        &[
            "repo_host",
            "full_schedule",
            "diff_schedule",
            "keep_full",
            "alert_hours",
            "s3",
        ]
    } else {
        &["schedule", "keep_days"]
    };
    let given: [(&str, bool); 8] = [
        ("schedule", b.schedule.is_some()),
        ("keep_days", b.keep_days.is_some()),
        ("repo_host", b.repo_host.is_some()),
        ("full_schedule", b.full_schedule.is_some()),
        ("diff_schedule", b.diff_schedule.is_some()),
        ("keep_full", b.keep_full.is_some()),
        ("alert_hours", b.alert_hours.is_some()),
        ("s3", b.s3.is_some()),
    ];
    let name = method.unwrap_or("pg_dump");
    for (key, set) in given {
        if set && !mine.contains(&key) {
            let span = v.key_at(&["backup", "postgres", key], Some(table.clone()));
            v.err(
                span,
                format!("`{key}` is not a key of method = \"{name}\""),
                format!("the keys of method = \"{name}\" are {}; remove `{key}`, or set the method it belongs to", mine.join(", ")),
            );
        }
    }
    if method == Some("pgbackrest") {
        check_pgbackrest(v, b, table, pg_hosts);
        return;
    }
    match &b.schedule {
        None => {
            let span = v.key_at(&["backup", "postgres"], Some(table.clone()));
            v.err(span, "[backup.postgres] needs a schedule", "write schedule = \"0 2 * * *\" (02:00 daily) and keep_days = 7, or method = \"pgbackrest\"");
        }
        Some(s) => schedule(v, "schedule", s, table.clone()),
    }
    match b.keep_days {
        None => {
            let span = v.key_at(&["backup", "postgres"], Some(table.clone()));
            v.err(
                span,
                "[backup.postgres] needs keep_days",
                "write keep_days = 7 (the days a dump is kept)",
            );
        }
        Some(keep) if !BACKUP_KEEP_DAYS.contains(&keep) => {
            let span = v.at(&["backup", "postgres", "keep_days"], Some(table));
            v.err(
                span,
                format!("keep_days {keep} is out of range"),
                format!(
                    "write keep_days from {} to {}",
                    BACKUP_KEEP_DAYS.start(),
                    BACKUP_KEEP_DAYS.end()
                ),
            );
        }
        Some(_) => {}
    }
}

fn schedule(v: &mut Validator, key: &str, s: &str, table: std::ops::Range<usize>) {
    if let Err(why) = crate::model::cron::to_calendar(s) {
        let span = v.at(&["backup", "postgres", key], Some(table));
        v.err(span, format!("`{}` is not a schedule systemd can run exactly: {why}", s.escape_debug()), format!("write a 5-field cron schedule systemd can run exactly: minute hour day-of-month month day-of-week, e.g. {key} = \"0 2 * * *\" (02:00 daily) or \"0 2 * * MON\"; restrict the day of month or the day of week, not both"));
    }
}

fn check_pgbackrest(
    v: &mut Validator,
    b: &PostgresBackup,
    table: std::ops::Range<usize>,
    pg_hosts: &[String],
) {
    match &b.repo_host {
        None => {
            let span = v.key_at(&["backup", "postgres", "method"], Some(table.clone()));
            v.err(span, "method = \"pgbackrest\" needs a repo_host", "write repo_host = \"NAME\": an inventory host that is not a PostgreSQL member, where the repository lives (the members reach it over SSH with keys rampart makes)");
        }
        Some(r) => {
            let inv = v.inv();
            let name = r.get_ref();
            if !inv.hosts.contains_key(name) {
                let known: Vec<&str> = inv.hosts.keys().map(String::as_str).collect();
                let hint = crate::diag::did_you_mean(name, known.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                v.err(
                    Some(r.span()),
                    format!(
                        "repo_host `{}` is not a host of the inventory",
                        name.escape_debug()
                    ),
                    format!(
                        "{hint}name one host of {} (not a group): {}",
                        inv.source.path,
                        known.join(", ")
                    ),
                );
            } else if pg_hosts.iter().any(|h| h == name) {
                v.err(Some(r.span()), format!("repo_host `{}` is a PostgreSQL member: losing that host would lose the backups with the database", name.escape_debug()), "name a host of the inventory that is not in [postgres] hosts, e.g. a small backup host");
            }
        }
    }
    if let Some(s3) = &b.s3 {
        super::s3::validate(v, s3);
    }
    for (key, s) in [
        ("full_schedule", &b.full_schedule),
        ("diff_schedule", &b.diff_schedule),
    ] {
        if let Some(s) = s {
            schedule(v, key, s, table.clone());
        }
    }
    if let Some(h) = b.alert_hours {
        if !ALERT_HOURS.contains(&h) {
            let span = v.at(&["backup", "postgres", "alert_hours"], Some(table.clone()));
            v.err(
                span,
                format!("alert_hours {h} is out of range"),
                format!(
                    "write alert_hours from {} to {} (hours without a successful backup before the alert fires; longer than the longest gap between your scheduled backups)",
                    ALERT_HOURS.start(),
                    ALERT_HOURS.end()
                ),
            );
        }
    }
    if let Some(k) = b.keep_full {
        if !KEEP_FULL.contains(&k) {
            let span = v.at(&["backup", "postgres", "keep_full"], Some(table));
            v.err(
                span,
                format!("keep_full {k} is out of range"),
                format!(
                    "write keep_full from {} to {} (full backups kept, with their differentials and WAL)",
                    KEEP_FULL.start(),
                    KEEP_FULL.end()
                ),
            );
        }
    }
}
