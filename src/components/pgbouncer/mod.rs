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

use super::prelude::*;

/// pgbouncer, through the one component interface (it has no cluster facts or probes).
pub struct Pgbouncer;

impl Component for Pgbouncer {
    fn name(&self) -> &'static str {
        "pgbouncer"
    }
    fn level(&self) -> u8 {
        3
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        // `"owner" "password"` lines of userlist.txt
        &["users"]
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, _: &Placement) {
        if let Some(b) = &raw.pgbouncer {
            stack::validate(v, b);
        }
    }
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        if let Some(p) = &raw.pgbouncer {
            claim_ports(claim, "pgbouncer", [p.port], &p.hosts);
        }
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        let view = view::pgbouncer(cx.inv, cx.stack, cx.host, cx.secrets);
        keyed_view("pgbouncer", view)
    }
}
