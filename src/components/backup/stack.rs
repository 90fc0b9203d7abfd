//! `[backup]`: the table's fields and the checks of `[backup.postgres]`.

use crate::model::stack::Validator;
use serde::Deserialize;
use toml::Spanned;

/// Days a PostgreSQL backup is kept.
const BACKUP_KEEP_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;

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

/// The checks of `[backup]`.
pub(crate) fn validate(v: &mut Validator, b: &Backup, has_postgres: bool) {
    if let Some(pb) = &b.postgres {
        if !has_postgres {
            v.err(
                Some(pb.span()),
                "backup.postgres needs a [postgres] in the stack",
                "add [postgres] or remove [backup.postgres]",
            );
        }
        if let Err(why) = crate::model::cron::to_calendar(&pb.get_ref().schedule) {
            let span = v.at(&["backup", "postgres", "schedule"], Some(pb.span()));
            v.err(span, format!("`{}` is not a schedule systemd can run exactly: {why}", pb.get_ref().schedule.escape_debug()), "write a 5-field cron schedule systemd can run exactly: minute hour day-of-month month day-of-week, e.g. schedule = \"0 2 * * *\" (02:00 daily) or \"0 2 * * MON\"; restrict the day of month or the day of week, not both");
        }
        let keep = pb.get_ref().keep_days;
        if !BACKUP_KEEP_DAYS.contains(&keep) {
            let span = v.at(&["backup", "postgres", "keep_days"], Some(pb.span()));
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
    }
}
