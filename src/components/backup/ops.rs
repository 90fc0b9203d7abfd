//! pgBackRest's day-2 operation, typed, pinned here by exact text.

use crate::components::Day2Op;
use crate::plan::op::Op;
use crate::transport::quote::sh;

/// The first full backup, on the repository host, once `check` passes
/// (archiving is on after the rolling restart); guarded by the repository
/// holding a backup already (the role's command may have taken it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstFullBackup {
    /// The stack's name.
    pub stanza: String,
}

impl FirstFullBackup {
    fn pgbackrest(&self, args: &str) -> String {
        format!(
            "runuser -u postgres -- pgbackrest --stanza={} {args}",
            sh(&self.stanza)
        )
    }
    /// Succeeds when the repository holds a backup.
    pub fn taken(&self) -> String {
        format!(
            "cd / && {} | python3 -c 'import json,sys; sys.exit(0 if any(s.get(\"backup\") for s in json.load(sys.stdin)) else 1)'",
            self.pgbackrest("--output=json info")
        )
    }
}

impl Day2Op for FirstFullBackup {
    fn script(&self) -> String {
        format!(
            "cd / && for i in $(seq 1 60); do {check} >/dev/null 2>&1 && break; sleep 5; done; {check} && {backup}",
            check = self.pgbackrest("--archive-timeout=30 check"),
            backup = self.pgbackrest("--type=full backup"),
        )
    }
    /// Unlike the other day-2 ops, guarded: taken already (by the role's
    /// command, when archiving was on after all), it does not run.
    fn op(&self) -> Op {
        Op::RunCommand {
            run: self.script(),
            unless: Some(self.taken()),
            creates: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script and its guard, pinned by exact text.
    #[test]
    fn first_full_backup_exact() {
        let op = FirstFullBackup {
            stanza: "lab".into(),
        };
        assert_eq!(
            op.script(),
            "cd / && for i in $(seq 1 60); do runuser -u postgres -- pgbackrest --stanza=lab --archive-timeout=30 check >/dev/null 2>&1 && break; sleep 5; done; runuser -u postgres -- pgbackrest --stanza=lab --archive-timeout=30 check && runuser -u postgres -- pgbackrest --stanza=lab --type=full backup"
        );
        assert_eq!(
            op.op(),
            Op::RunCommand {
                run: op.script(),
                unless: Some("cd / && runuser -u postgres -- pgbackrest --stanza=lab --output=json info | python3 -c 'import json,sys; sys.exit(0 if any(s.get(\"backup\") for s in json.load(sys.stdin)) else 1)'".into()),
                creates: None,
            }
        );
    }
}
