//! PostgreSQL backups (`[backup.postgres]`): a timer on every PostgreSQL
//! host that dumps while its host leads. Everything rampart knows about it
//! outside its role's templates (roles/backup).
//!
//! - `stack`: the `[backup]` table, its method and the checks of its keys
//! - `view`: what the role's templates see (OnCalendar=, databases, dir;
//!   pgBackRest's configuration on the members and the repository host)
//! - `target`, `repo`, `restore`: `rampart restore`'s target, what the
//!   repository holds and the choice of a backup, and the restore's steps
//!
//! Left in shared code: the generated SSH keys' loader (`model::backup_keys`),
//! Patroni's archive settings in the postgres view.
//!
//! Left in shared code: its placement on the PostgreSQL hosts in `Stack::parse`.

pub mod alerts;
pub mod day2;
pub mod repo;
pub mod restore;
pub mod stack;
pub mod status;
pub mod target;
pub mod view;

/// backup, through the one component interface (it has no cluster facts or probes).
pub struct Backup;

impl super::Component for Backup {
    fn name(&self) -> &'static str {
        "backup"
    }
    fn validate(
        &self,
        v: &mut crate::model::stack::Validator,
        raw: &crate::model::stack::RawStack,
        placement: &std::collections::BTreeMap<String, Vec<String>>,
    ) {
        if let Some(b) = &raw.backup {
            let pg = placement.get("postgres").map(Vec::as_slice).unwrap_or(&[]);
            stack::validate(v, b, raw.postgres.is_some(), pg);
            // pgBackRest owns archiving: Patroni's archive settings are rampart's
            if let (Some(_), Some(p)) = (stack::pgbackrest(Some(b)), &raw.postgres) {
                for k in ["archive_mode", "archive_command", "restore_command"] {
                    if p.parameters.contains_key(k) {
                        let span = v.key_at(&["postgres", "parameters", k], Some(p.hosts.span()));
                        v.err(
                            span,
                            format!("`{k}` is set by rampart: [backup.postgres] method = \"pgbackrest\" archives WAL through pgBackRest"),
                            "remove it from [postgres.parameters] (archive_timeout may stay: rampart's default is 60 s)",
                        );
                    }
                }
            }
        }
    }
    fn alert_rules(&self, stack: &crate::model::stack::Stack, rule: &mut super::AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn day2(
        &self,
        compiled: &crate::compile::Compiled,
        _facts: &std::collections::BTreeMap<String, crate::facts::HostFacts>,
        plan: &mut crate::plan::Plan,
    ) {
        day2::steps(&compiled.stack, plan)
    }
    fn status_probe(&self, stack: &crate::model::stack::Stack, host: &str) -> String {
        status::probe(stack, host)
    }
    fn status(
        &self,
        stack: &crate::model::stack::Stack,
        probes: &crate::status::Probes,
    ) -> Vec<crate::status::ComponentHealth> {
        status::evaluate(stack, probes)
    }
    fn template_view(
        &self,
        inv: &crate::model::inventory::Inventory,
        stack: &crate::model::stack::Stack,
        _instance: &str,
        host: &str,
        secrets: &crate::compile::SecretValues,
    ) -> Option<(&'static str, serde_json::Value)> {
        super::keyed_view("backup", view::backup(inv, stack, host, secrets))
    }
}
