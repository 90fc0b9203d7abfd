//! Batches: a host's consecutive quick file steps in one exec.

use super::batch_script::{batch_script, nonce, parse_batch, BatchOutcome};
use super::step::resolve;
use super::{Shared, Status};
use crate::plan::{Op, Step, SystemctlVerb};
use crate::transport::Session;
use std::collections::HashMap;

// A host's consecutive steps made only of quick, file-local ops run in one
// exec (one SSH round trip) instead of one exec per op. The rule:
//
// * Batchable ops change files and unit-file state on the host and return at
//   once: WriteFile (with its validate command and daemon-reload), SetAttrs,
//   MakeDir, ClearPending, RemoveFile, RemoveDir when not recursive, and
//   `systemctl enable` / `disable` / `daemon-reload`. Not batched, each in its
//   own exec as before: AptInstall/AptRemove, RunCommand, Wait (health gates),
//   every other systemctl verb (start, stop, restart, reload-or-restart,
//   `disable --now`: service state, and they may block), and recursive
//   RemoveDir (a data directory: can be long).
// * A batch starts at a step whose dependencies were waited for as usual.
//   Each further step joins only if it is batchable, its content checks, and
//   every dependency is already Done or an earlier step of the batch: a
//   batch never waits for anything.
// * A step that a step on another host depends on ends its batch, so other
//   hosts never wait for more than the quick ops before it.
// * A run of steps that each write one file is a write group: its files are
//   uploaded, checked and renamed in a constant number of processes
//   (write_group.rs).
// * The script stops at the first failing op; the steps after it were not
//   run and go back to the one-at-a-time loop (run, or skipped by their deps).
// * When a batch holds the host's last steps, the host's state manifest is
//   written at its end, computed as if they all succeed: the script only gets
//   there if they did. Otherwise the manifest is written after, as before.

/// Whether `op` may share an exec with its neighbours (see the rule above).
fn batchable(op: &Op) -> bool {
    match op {
        Op::WriteFile { .. }
        | Op::SetAttrs { .. }
        | Op::MakeDir { .. }
        | Op::ClearPending { .. }
        | Op::RemoveFile { .. } => true,
        Op::RemoveDir { recursive, .. } => !recursive,
        Op::Systemctl { verb, .. } => {
            matches!(
                verb,
                SystemctlVerb::Enable | SystemctlVerb::Disable | SystemctlVerb::DaemonReload
            )
        }
        Op::AptInstall { .. } | Op::AptRemove { .. } | Op::RunCommand { .. } | Op::Wait { .. } => {
            false
        }
    }
}

/// Longest batch script, quoted as it travels (`sh -c '...'` is one argument,
/// and Linux caps one argument at 128 KiB).
const BATCH_SCRIPT_MAX: usize = 100_000;

pub(super) type Batch<'a> = Vec<(usize, Vec<(Op, &'a [u8])>)>;

/// The steps from `rest[0]` on that may run in one exec (see the rule above);
/// `rest[0]`'s dependencies have finished, none failed. Fewer than two: run
/// one at a time, unless the host's state manifest can come along (a host's
/// last step).
pub(super) fn gather_batch<'a>(
    rest: &[usize],
    steps: &[Step],
    deps: &[Vec<usize>],
    cross: &[bool],
    shared: &Shared,
    contents: &'a HashMap<String, Vec<u8>>,
    after_packages: bool,
) -> Batch<'a> {
    let st = shared.status.lock().expect("status lock").clone();
    let mut out: Batch<'a> = Vec::new();
    // the write group's program (see write_group.rs), quoted
    let mut len = 4000;
    for &i in rest {
        let step = &steps[i];
        if step.ops.is_empty() || !step.ops.iter().all(batchable) {
            break;
        }
        if !out.is_empty()
            && !deps[i]
                .iter()
                .all(|&d| st[d] == Status::Done || out.iter().any(|(j, _)| *j == d))
        {
            break;
        }
        let Ok(ops) = step
            .ops
            .iter()
            .map(|o| resolve(o, step, contents, after_packages))
            .collect::<Result<Vec<_>, _>>()
        else {
            break; // run alone, to fail as it always did
        };
        len += ops
            .iter()
            .map(|(o, d)| {
                let alone = crate::transport::quote::sh(
                    &o.script_with_input(&format!("head -c {} <&3", d.len())),
                )
                .len()
                    + 200;
                // in a write group a file's path is written about six times
                // (once in its lone script) and the group carries its writer
                alone
                    + match o {
                        Op::WriteFile { path, .. } => 6 * path.len() + 600,
                        _ => 0,
                    }
            })
            .sum::<usize>();
        if !out.is_empty() && len > BATCH_SCRIPT_MAX {
            break;
        }
        out.push((i, ops));
        if cross[i] {
            break;
        }
    }
    out
}

pub(super) async fn run_batch(
    s: &dyn Session,
    batch: &Batch<'_>,
    state: Option<&[u8]>,
) -> BatchOutcome {
    let ops: Vec<Vec<(Op, &[u8])>> = batch.iter().map(|(_, o)| o.clone()).collect();
    let nonce = nonce();
    let (script, stdin) = batch_script(&nonce, &ops, state);
    match s.exec(&script, &stdin).await {
        Ok(out) => parse_batch(&nonce, &ops, &out),
        Err(e) => BatchOutcome {
            done: 0,
            failed: Some(e.to_string()),
            state_written: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::test_util::write;
    use std::path::Path;
    use std::sync::Mutex;
    use tokio::sync::watch;

    #[test]
    fn batchable_ops_are_the_quick_file_local_ones() {
        let w = write(Path::new("/x"), b"", None, None);
        assert!(batchable(&w));
        assert!(batchable(&Op::Systemctl {
            verb: SystemctlVerb::Enable,
            unit: "x".into(),
            no_block: false
        }));
        for verb in [
            SystemctlVerb::Start,
            SystemctlVerb::Restart,
            SystemctlVerb::Stop,
            SystemctlVerb::ReloadOrRestart,
            SystemctlVerb::DisableNow,
        ] {
            assert!(
                !batchable(&Op::Systemctl {
                    verb,
                    unit: "x".into(),
                    no_block: true
                }),
                "{verb}"
            );
        }
        assert!(!batchable(&Op::AptInstall {
            packages: vec!["x".into()],
            no_start: true
        }));
        assert!(!batchable(&Op::RunCommand {
            run: "true".into(),
            unless: None,
            creates: None
        }));
        assert!(!batchable(&Op::Wait {
            check: crate::roles::Check::Command("true".into()),
            timeout: 1,
            interval: 1
        }));
        assert!(!batchable(&Op::RemoveDir {
            path: "/var/lib/etcd/x".into(),
            recursive: true
        }));
        assert!(batchable(&Op::RemoveDir {
            path: "/etc/x".into(),
            recursive: false
        }));
    }

    fn shared(n: usize) -> Shared {
        Shared {
            status: Mutex::new(vec![Status::Pending; n]),
            tick: watch::channel(0).0,
        }
    }

    fn file_step(i: usize, content: &[u8]) -> Step {
        let op = Op::WriteFile {
            path: format!("/etc/t/{i}"),
            sha256: crate::util::sha256_hex(content),
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            expect: None,
            validate: None,
            daemon_reload: false,
            notify: vec![],
        };
        Step {
            id: format!("h/file/etc/t/{i}"),
            host: "h".into(),
            action: crate::plan::Action::Create,
            reasons: vec![],
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![op],
            deps: vec![],
            retires: None,
            always: false,
        }
    }

    /// Many files: batches stay under the kernel's limit on one argument,
    /// with long paths too (a write group names each path several times).
    #[test]
    fn batches_stay_under_the_argument_limit() {
        let n = 300;
        let long = format!("/etc/{}", "d".repeat(180));
        let steps: Vec<Step> = (0..n)
            .map(|i| {
                let mut s = file_step(i, b"x");
                if i % 2 == 1 {
                    if let Op::WriteFile { path, .. } = &mut s.ops[0] {
                        *path = format!("{long}/'{i}'");
                    }
                }
                s
            })
            .collect();
        let contents: HashMap<String, Vec<u8>> = steps
            .iter()
            .map(|s| (s.id.clone(), b"x".to_vec()))
            .collect();
        let deps = vec![vec![]; n];
        let cross = vec![false; n];
        let rest: Vec<usize> = (0..n).collect();
        let b = gather_batch(&rest, &steps, &deps, &cross, &shared(n), &contents, false);
        assert!(b.len() > 20 && b.len() < n, "{}", b.len());
        let ops: Vec<Vec<(Op, &[u8])>> = b.iter().map(|(_, o)| o.clone()).collect();
        let (script, _) = batch_script(&nonce(), &ops, Some(&[b'x'; 2000]));
        let line = crate::transport::ssh::command_line(&script, true);
        assert!(line.len() < 128 * 1024, "{}", line.len());
    }

    /// A batch ends before a step whose content no longer checks (it then
    /// fails alone, as before), before a step waiting on a pending one, and
    /// applies the after-packages relaxation to what it takes.
    #[test]
    fn gather_stops_at_what_must_run_alone() {
        let steps: Vec<Step> = (0..4).map(|i| file_step(i, b"x")).collect();
        let mut contents: HashMap<String, Vec<u8>> = steps
            .iter()
            .map(|s| (s.id.clone(), b"x".to_vec()))
            .collect();
        contents.insert(steps[2].id.clone(), b"changed".to_vec());
        let rest = [0, 1, 2, 3];
        let b = gather_batch(
            &rest,
            &steps,
            &vec![vec![]; 4],
            &[false; 4],
            &shared(4),
            &contents,
            true,
        );
        assert_eq!(b.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1]);
        assert!(
            b.iter().all(
                |(_, ops)| matches!(&ops[0].0, Op::WriteFile { expect: Some(e), .. } if e == "*")
            ),
            "after packages: {b:?}"
        );
        contents.insert(steps[2].id.clone(), b"x".to_vec());
        // 2 waits for 3 (pending, e.g. on another host); 1 waits for 0 (in the batch)
        let deps = vec![vec![], vec![0], vec![3], vec![]];
        let b = gather_batch(
            &rest,
            &steps,
            &deps,
            &[false; 4],
            &shared(4),
            &contents,
            false,
        );
        assert_eq!(b.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1]);
        assert!(matches!(&b[0].1[0].0, Op::WriteFile { expect: None, .. }));
        let sh = shared(4);
        sh.set(3, Status::Done);
        assert_eq!(
            gather_batch(
                &rest[..3],
                &steps,
                &deps,
                &[false; 4],
                &sh,
                &contents,
                false
            )
            .len(),
            3,
            "a dependency already done does not end the batch"
        );
        sh.set(3, Status::Failed("x".into()));
        assert_eq!(
            gather_batch(
                &rest[..3],
                &steps,
                &deps,
                &[false; 4],
                &sh,
                &contents,
                false
            )
            .len(),
            2,
            "a failed one does (the step is then skipped)"
        );
        // a step another host waits for ends its batch; a step that is not quick is never in one
        assert_eq!(
            gather_batch(
                &rest,
                &steps,
                &vec![vec![]; 4],
                &[false, true, false, false],
                &shared(4),
                &contents,
                false
            )
            .len(),
            2
        );
        let mut svc = steps.clone();
        svc[1].ops.push(Op::Systemctl {
            verb: SystemctlVerb::Restart,
            unit: "x".into(),
            no_block: true,
        });
        assert_eq!(
            gather_batch(
                &rest,
                &svc,
                &vec![vec![]; 4],
                &[false; 4],
                &shared(4),
                &contents,
                false
            )
            .len(),
            1
        );
    }
}
