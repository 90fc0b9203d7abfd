//! Prometheus alert rules for the Patroni cluster (scrape job `patroni`,
//! Patroni's REST API :8008/metrics): members below the minimum, no primary,
//! replication lag.

use crate::alerts::up_count;
use crate::model::stack::Stack;

/// Adds the Patroni rules through `rule` (name, expr, for, severity, summary), when the stack has PostgreSQL.
pub(crate) fn rules(stack: &Stack, rule: &mut crate::components::AlertRule<'_>) {
    if stack.postgres.is_none() {
        return;
    }
    let n = stack.hosts_of("postgres").len();
    rule(
        "PatroniMembersBelowMinimum",
        format!(
            "{} < {n}",
            up_count("patroni_postgres_running{job=\"patroni\"}")
        ),
        "1m",
        "warning",
        format!("fewer than {n} PostgreSQL members are running"),
    );
    rule(
        "PatroniNoPrimary",
        "(sum(patroni_primary{job=\"patroni\"}) or vector(0)) < 1".into(),
        "30s",
        "critical",
        "no Patroni member is the primary: writes fail".into(),
    );
    rule(
        "PostgresReplicationLag",
        "max(patroni_xlog_location{job=\"patroni\"}) - min(patroni_xlog_replayed_location{job=\"patroni\"} unless on(scope, name) patroni_primary{job=\"patroni\"} == 1) > 1048576".into(),
        "2m",
        "warning",
        "a PostgreSQL replica replays more than 1 MB behind the primary".into(),
    );
}
