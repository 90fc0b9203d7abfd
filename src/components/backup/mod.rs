//! PostgreSQL backups (`[backup.postgres]`): a timer on every PostgreSQL
//! host that dumps while its host leads. Everything rampart knows about it
//! outside its role's templates (roles/backup).
//!
//! - `stack`: the `[backup]` table and the checks of its schedule and keep_days
//! - `view`: what the role's templates see (OnCalendar=, databases, dir)
//!
//! Left in shared code: its placement on the PostgreSQL hosts in `Stack::parse`.

pub mod stack;
pub mod view;

use super::prelude::*;

/// backup, through the one component interface (it has no cluster facts or probes).
pub struct Backup;

impl Component for Backup {
    fn name(&self) -> &'static str {
        "backup"
    }
    fn level(&self) -> u8 {
        2
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, _: &Placement) {
        if let Some(b) = &raw.backup {
            stack::validate(v, b, raw.postgres.is_some());
        }
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view("backup", view::backup(cx.stack))
    }
}
