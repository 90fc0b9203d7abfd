//! PostgreSQL backups (`[backup.postgres]`): a timer on every PostgreSQL
//! host that dumps while its host leads. Everything rampart knows about it
//! outside its role's templates (roles/backup).
//!
//! - `stack`: the `[backup]` table, its method and the checks of its keys
//! - `s3`: `[backup.postgres.s3]`, the repository in S3-compatible storage
//! - `view`: what the role's templates see (OnCalendar=, databases, dir;
//!   pgBackRest's configuration on the members and the repository host)
//! - `target`, `repo`, `restore`: `rampart restore`'s target, what the
//!   repository holds and the choice of a backup, and the restore's steps
//! - `discard`: `rampart restore --discard-old`, the set-aside data
//!   directories listed and removed
//! - `day2`, `ops`: the first full backup after the restart that turns
//!   archiving on, and its typed operation
//! - `status`, `alerts`: `rampart status` and the Prometheus rules for pgBackRest
//!
//! Left in shared code: the generated SSH keys' loader (`model::backup_keys`),
//! Patroni's archive settings in the postgres view, and its placement on the
//! PostgreSQL hosts (and pgBackRest's repository host) in `Stack::parse`.

pub mod alerts;
pub mod day2;
pub mod discard;
pub mod ops;
pub mod repo;
pub mod restore;
pub mod s3;
pub mod stack;
pub mod status;
pub mod target;
pub mod view;

use super::prelude::*;

/// pgBackRest's first full backup (on the repository host): when the rolling
/// restart turns archiving on, the day-2 step takes it after the restarts.
pub const FIRST_BACKUP: RoleRef =
    RoleRef::new("backup", Kind::Command, "pgbackrest-first-full-backup");

/// backup, through the one component interface (it has no cluster facts).
pub struct Backup;

impl Component for Backup {
    fn name(&self) -> &'static str {
        "backup"
    }
    fn level(&self) -> u8 {
        2
    }
    fn relies_on(&self) -> &'static [RoleRef] {
        &[FIRST_BACKUP]
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        // pgBackRest's SSH key (the members' or the repository host's), and
        // the S3 access key and secret (the repository host's)
        &["ssh_private_key", "s3_key", "s3_secret"]
    }
    fn secret_refs<'a>(&self, stack: &'a Stack, out: &mut Vec<(String, &'a SecretRef)>) {
        if let Some(s3) = stack::pgbackrest(stack.backup.as_ref()).and_then(|b| b.s3.as_ref()) {
            out.push((s3::KEY.to_string(), &s3.key));
            out.push((s3::SECRET.to_string(), &s3.secret));
        }
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, placement: &Placement) {
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
    fn alert_rules(&self, stack: &Stack, rule: &mut AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn day2(&self, compiled: &Compiled, _: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
        day2::steps(&compiled.stack, plan)
    }
    fn status_probe(&self, stack: &Stack, host: &str) -> String {
        status::probe(stack, host)
    }
    fn status(&self, stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
        status::evaluate(stack, probes)
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view(
            "backup",
            view::backup(cx.inv, cx.stack, cx.host, cx.secrets),
        )
    }
}
