//! The PostgreSQL backup timer as its role's templates see it.

use crate::model::stack::Stack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// systemd OnCalendar= from the stack's cron schedule.
    pub on_calendar: String,
    pub keep_days: u32,
    pub databases: Vec<String>,
    pub dir: String,
}

pub fn backup(stack: &Stack) -> Option<BackupView> {
    let b = stack.backup.as_ref()?.postgres.as_ref()?.get_ref();
    let p = stack.postgres.as_ref()?;
    Some(BackupView {
        // the stack refuses a schedule it cannot translate exactly; an empty
        // OnCalendar= would make systemd refuse the timer, never run it daily
        on_calendar: crate::model::cron::to_calendar(&b.schedule).unwrap_or_default(),
        keep_days: b.keep_days,
        databases: p.databases.iter().map(|d| d.name.clone()).collect(),
        dir: "/var/backups/rampart/postgres".into(),
    })
}
