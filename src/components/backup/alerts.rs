//! Prometheus alert rules for pgBackRest (scrape job `node`: node_exporter's
//! textfile collector reads what `rampart-pgbackrest-metrics` writes on the
//! repository host every minute): no successful backup in `alert_hours`
//! hours, and WAL archiving failing (the newest segment in the repository
//! older than 15 minutes, while PostgreSQL switches segments at least every
//! minute: archive_timeout 60, and checkpoints write WAL every 5 minutes).

use crate::model::stack::Stack;

pub(crate) fn rules(stack: &Stack, rule: &mut crate::components::AlertRule<'_>) {
    let Some(b) = super::stack::pgbackrest(stack.backup.as_ref()) else {
        return;
    };
    let h = b.alert_hours();
    let sel = format!("{{job=\"node\",stanza={}}}", crate::alerts::q(&stack.name));
    rule(
        "PgBackRestNoRecentBackup",
        format!(
            "time() - (max(rampart_pgbackrest_last_backup_timestamp_seconds{sel}) or vector(0)) > {}",
            u64::from(h) * 3600
        ),
        "10m",
        "critical",
        format!("no successful pgBackRest backup in {h} hours"),
    );
    rule(
        "PgBackRestWalArchivingFailing",
        format!("time() - (max(rampart_pgbackrest_newest_wal_timestamp_seconds{sel}) or vector(0)) > 900"),
        "5m",
        "critical",
        "no WAL segment reached the pgBackRest repository for 15 minutes: archiving is failing, and a restore can reach no later than that".into(),
    );
}
