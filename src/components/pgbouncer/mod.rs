//! PgBouncer (`[pgbouncer]`) in front of the current PostgreSQL primary:
//! everything rampart knows about it outside its role's templates
//! (roles/pgbouncer).
//!
//! - `stack`: the `[pgbouncer]` table and the check of its pool mode
//! - `view`: what the role's templates see (target, databases, users)
//!
//! Left in shared code: its port in `Validator::check_ports`.

pub mod stack;
pub mod view;

/// pgbouncer, through the one component interface (it has no cluster facts or probes).
pub struct Pgbouncer;

impl super::Component for Pgbouncer {
    fn name(&self) -> &'static str {
        "pgbouncer"
    }
}
