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
    fn secret_fields(&self) -> &'static [&'static str] {
        // `"owner" "password"` lines of userlist.txt
        &["users"]
    }
    fn validate(
        &self,
        v: &mut crate::model::stack::Validator,
        raw: &crate::model::stack::RawStack,
        _placement: &std::collections::BTreeMap<String, Vec<String>>,
    ) {
        if let Some(b) = &raw.pgbouncer {
            stack::validate(v, b);
        }
    }
    fn ports(
        &self,
        raw: &crate::model::stack::RawStack,
        claim: &mut crate::model::stack::Claim<'_>,
    ) {
        if let Some(p) = &raw.pgbouncer {
            claim("pgbouncer", p.port, Some(p.hosts.span()));
        }
    }
    fn template_view(
        &self,
        inv: &crate::model::inventory::Inventory,
        stack: &crate::model::stack::Stack,
        _instance: &str,
        host: &str,
        secrets: &crate::compile::SecretValues,
    ) -> Option<(&'static str, serde_json::Value)> {
        super::keyed_view("pgbouncer", view::pgbouncer(inv, stack, host, secrets))
    }
}
