//! pgBackRest's day-2 step: the first full backup of a running cluster that
//! switches from pg_dump. archive_mode needs a restart, which Patroni's
//! rolling restart (the postgres component's day-2 steps) makes after the
//! role's resources; the role's first-backup command steps aside when
//! archiving is not on yet, and this step takes the backup once every member
//! has restarted. It runs last on the repo host: nothing waits for it.

use super::ops::FirstFullBackup;
use super::FIRST_BACKUP;
use crate::compile::{Kind, ResourceId};
use crate::components::Day2Op;
use crate::plan::{Action, Plan, Step};

/// `stanza`: the stack's name.
pub fn steps(stanza: &str, plan: &mut Plan) {
    let Some(first) = plan.steps.iter().find(|s| s.id == FIRST_BACKUP.id(&s.host)) else {
        return; // a backup exists (the role's guard held), or no pgBackRest
    };
    let restarts: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.id == ResourceId::new(&s.host, Kind::Patroni, "restart-pending").to_string())
        .map(|s| s.id.clone())
        .collect();
    if restarts.is_empty() {
        return; // archiving is on already: the role's command takes the backup
    }
    let host = first.host.clone();
    let mut deps = restarts;
    deps.push(first.id.clone());
    plan.steps.push(Step {
        id: ResourceId::new(&host, Kind::Pgbackrest, "first-full-backup-after-restart").to_string(),
        host,
        action: Action::Run,
        reasons: vec![
            "the first full backup, once the rolling restart has turned archiving on (no backup in the repository yet)".into(),
        ],
        diff: None,
        sensitive: false,
        drift: false,
        ops: vec![FirstFullBackup {
            stanza: stanza.to_string(),
        }
        .op()],
        deps,
        retires: None,
        always: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::op::Op;

    fn step(id: &str) -> Step {
        Step {
            id: id.into(),
            host: id.split('/').next().unwrap().into(),
            action: Action::Run,
            reasons: vec![],
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![],
            deps: vec![],
            retires: None,
            always: false,
        }
    }

    #[test]
    fn the_first_backup_follows_the_rolling_restart_and_nothing_waits_for_it() {
        let mut p = Plan {
            steps: vec![
                step("lab4/command/pgbackrest-first-full-backup"),
                step("lab1/patroni/restart-pending"),
                step("lab3/patroni/restart-pending"),
            ],
            ..Default::default()
        };
        steps("lab", &mut p);
        let last = p.steps.last().unwrap();
        assert_eq!(last.id, "lab4/pgbackrest/first-full-backup-after-restart");
        assert_eq!(
            last.deps,
            [
                "lab1/patroni/restart-pending",
                "lab3/patroni/restart-pending",
                "lab4/command/pgbackrest-first-full-backup"
            ]
        );
        match &last.ops[0] {
            Op::RunCommand { run, unless, .. } => {
                assert_eq!(run, "cd / && for i in $(seq 1 60); do runuser -u postgres -- pgbackrest --stanza=lab --archive-timeout=30 check >/dev/null 2>&1 && break; sleep 5; done; runuser -u postgres -- pgbackrest --stanza=lab --archive-timeout=30 check && runuser -u postgres -- pgbackrest --stanza=lab --type=full backup");
                assert!(unless.as_deref().unwrap().contains("--output=json info"));
            }
            o => panic!("{o:?}"),
        }
        // without a restart (a new cluster archives from the start) or with a backup: nothing added
        let mut p = Plan {
            steps: vec![step("lab4/command/pgbackrest-first-full-backup")],
            ..Default::default()
        };
        steps("lab", &mut p);
        assert_eq!(p.steps.len(), 1);
        let mut p = Plan {
            steps: vec![step("lab1/patroni/restart-pending")],
            ..Default::default()
        };
        steps("lab", &mut p);
        assert_eq!(p.steps.len(), 1);
    }
}
