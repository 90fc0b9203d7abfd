//! The executor: walks the plan's steps with as much parallelism as the
//! edges allow (hosts in parallel; one step at a time per host), skips what
//! depends on a failure, and reports progress as events. A host's
//! consecutive quick file steps share one exec (see "batches" below).

pub mod event;

use crate::compile::{Compiled, Desired};
use crate::facts::{HostState, STATE_DIR, STATE_FILE};
use crate::plan::{Op, Plan, Step};
use crate::transport::Session;
pub use event::{Event, Outcome};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pending,
    Done,
    Failed(String),
    Skipped(String),
}

impl Status {
    fn finished(&self) -> bool {
        !matches!(self, Status::Pending)
    }
}

/// What happened on one host.
#[derive(Debug, Clone, Default)]
pub struct HostReport {
    pub done: usize,
    pub failed: Vec<(String, String)>,
    pub skipped: usize,
    pub seconds: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub hosts: BTreeMap<String, HostReport>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.hosts
            .values()
            .all(|h| h.failed.is_empty() && h.skipped == 0)
    }
}

struct Shared {
    status: Mutex<Vec<Status>>,
    tick: watch::Sender<u64>,
}

impl Shared {
    fn set(&self, i: usize, s: Status) {
        self.status.lock().expect("status lock")[i] = s;
        self.tick.send_modify(|t| *t += 1);
    }
}

/// Applies `plan`. `sessions` holds a session for each host that could be
/// reached; steps on other hosts fail with `unreachable[host]`.
pub async fn apply(
    plan: &Plan,
    compiled: &Compiled,
    sessions: &BTreeMap<String, Arc<dyn Session>>,
    unreachable: &BTreeMap<String, String>,
    events: mpsc::UnboundedSender<Event>,
) -> Report {
    let steps = Arc::new(plan.steps.clone());
    let index: HashMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    let deps: Arc<Vec<Vec<usize>>> = Arc::new(
        steps
            .iter()
            .map(|s| {
                s.deps
                    .iter()
                    .filter_map(|d| index.get(d).copied())
                    .collect()
            })
            .collect(),
    );
    let (tick, _) = watch::channel(0u64);
    let shared = Arc::new(Shared {
        status: Mutex::new(vec![Status::Pending; steps.len()]),
        tick,
    });
    // file contents by id, checked against the planned hash before use
    let contents: Arc<HashMap<String, Vec<u8>>> = Arc::new(
        compiled
            .resources
            .iter()
            .filter_map(|r| match &r.desired {
                Desired::File { content, .. } => Some((r.id.to_string(), content.clone())),
                _ => None,
            })
            .collect(),
    );
    // steps that a step on another host waits for: each closes its batch
    let mut cross = vec![false; steps.len()];
    for (j, ds) in deps.iter().enumerate() {
        for &d in ds {
            cross[d] |= steps[d].host != steps[j].host;
        }
    }
    let cross = Arc::new(cross);
    let mut tasks = Vec::new();
    let mut hosts = plan.hosts();
    hosts.extend(
        plan.refresh
            .iter()
            .filter(|h| plan.states.contains_key(*h))
            .cloned(),
    );
    hosts.sort();
    hosts.dedup();
    for host in hosts {
        let mine: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].host == host)
            .collect();
        let session = sessions.get(&host).cloned();
        let why = unreachable
            .get(&host)
            .cloned()
            .unwrap_or_else(|| "no connection".into());
        let (steps, deps, cross, shared, events, contents) = (
            steps.clone(),
            deps.clone(),
            cross.clone(),
            shared.clone(),
            events.clone(),
            contents.clone(),
        );
        let state = plan.states.get(&host).cloned();
        let stack = plan.stack.clone();
        let stack_hosts = plan.stack_hosts.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut rep = HostReport::default();
            let total = mine.len();
            let mut installed_packages = false;
            let mut state_written = false;
            let record = |rep: &mut HostReport, k: usize, outcome: Status| {
                let step = &steps[mine[k]];
                match &outcome {
                    Status::Done => rep.done += 1,
                    Status::Failed(e) => rep.failed.push((step.id.clone(), e.clone())),
                    Status::Skipped(b) => {
                        rep.skipped += 1;
                        let _ = events.send(Event::Finished {
                            host: host.clone(),
                            id: step.id.clone(),
                            n: k + 1,
                            total,
                            outcome: Outcome::Skipped(b.clone()),
                            seconds: 0.0,
                        });
                    }
                    Status::Pending => {}
                }
                shared.set(mine[k], outcome);
            };
            let started = |k: usize| {
                let step = &steps[mine[k]];
                let _ = events.send(Event::Started {
                    host: host.clone(),
                    id: step.id.clone(),
                    n: k + 1,
                    total,
                    what: step.ops.first().map(Op::describe).unwrap_or_default(),
                });
            };
            let finished = |k: usize, r: &Result<(), String>, seconds: f64| {
                let outcome = match r {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Failed(e.clone()),
                };
                let _ = events.send(Event::Finished {
                    host: host.clone(),
                    id: steps[mine[k]].id.clone(),
                    n: k + 1,
                    total,
                    outcome,
                    seconds,
                });
            };
            let mut k = 0;
            while k < mine.len() {
                let i = mine[k];
                let step = &steps[i];
                // wait for what this step depends on, wherever it runs
                let blocked = wait_deps(&shared, &deps[i], &steps).await;
                if let (None, Some(s)) = (&blocked, &session) {
                    let batch = gather_batch(
                        &mine[k..],
                        &steps,
                        &deps,
                        &cross,
                        &shared,
                        &contents,
                        installed_packages,
                    );
                    // the host's last steps: its state manifest goes in the same exec
                    // (even after a single step), written as if they all succeed: the
                    // script gets there only if they do
                    let last =
                        !batch.is_empty() && k + batch.len() == mine.len() && state.is_some();
                    if batch.len() >= 2 || last {
                        let body = match (&state, last) {
                            (Some(desired), true) => {
                                let mut st = shared.status.lock().expect("status lock").clone();
                                for (j, _) in &batch {
                                    st[*j] = Status::Done;
                                }
                                state_body(
                                    &stack,
                                    stack_hosts.clone(),
                                    desired.clone(),
                                    &mine,
                                    &steps,
                                    &st,
                                )
                                .ok()
                            }
                            _ => None,
                        };
                        started(k);
                        let t = Instant::now();
                        let out = run_batch(s.as_ref(), &batch, body.as_deref()).await;
                        // events as for single steps, each started once and finished once, in
                        // order; the first is started before the exec, the others as the exec's
                        // markers show them done; each gets an even share of the exec's time
                        let ran = out.done + usize::from(out.failed.is_some());
                        let secs = t.elapsed().as_secs_f64() / ran.max(1) as f64;
                        for m in 0..out.done {
                            if m > 0 {
                                started(k + m);
                            }
                            finished(k + m, &Ok(()), secs);
                            record(&mut rep, k + m, Status::Done);
                        }
                        if let Some(e) = out.failed {
                            if out.done > 0 {
                                started(k + out.done);
                            }
                            finished(k + out.done, &Err(e.clone()), secs);
                            record(&mut rep, k + out.done, Status::Failed(e));
                        }
                        state_written = out.state_written;
                        // steps after a failure were not run: they go round again, one at a time
                        k += ran;
                        continue;
                    }
                }
                let outcome = if let Some(b) = blocked {
                    Status::Skipped(b)
                } else if let Some(s) = &session {
                    started(k);
                    let t = Instant::now();
                    let r = run_step(s.as_ref(), step, &contents, installed_packages).await;
                    installed_packages |=
                        step.ops.iter().any(|o| matches!(o, Op::AptInstall { .. }));
                    finished(k, &r, t.elapsed().as_secs_f64());
                    match r {
                        Ok(()) => Status::Done,
                        Err(e) => Status::Failed(e),
                    }
                } else {
                    Status::Failed(why.clone())
                };
                record(&mut rep, k, outcome);
                k += 1;
            }
            // record what this host now holds: what succeeded, plus what was already right
            if let (Some(s), Some(desired), false) = (&session, state, state_written) {
                let st = shared.status.lock().expect("status lock").clone();
                let r = match state_body(&stack, stack_hosts, desired, &mine, &steps, &st) {
                    Ok(body) => write_state(s.as_ref(), &body).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    rep.failed.push((format!("{host}/state"), e));
                }
            }
            rep.seconds = start.elapsed().as_secs_f64();
            (host, rep)
        }));
    }
    let mut report = Report::default();
    for t in tasks {
        if let Ok((h, r)) = t.await {
            report.hosts.insert(h, r);
        }
    }
    report
}

/// Waits until every dependency finished; returns why this step must be skipped.
async fn wait_deps(shared: &Shared, deps: &[usize], steps: &[Step]) -> Option<String> {
    let mut rx = shared.tick.subscribe();
    loop {
        {
            let st = shared.status.lock().expect("status lock");
            if deps.iter().all(|&d| st[d].finished()) {
                return deps.iter().find_map(|&d| match &st[d] {
                    Status::Failed(_) | Status::Skipped(_) => Some(format!(
                        "skipped: depends on {}, which did not succeed",
                        steps[d].id
                    )),
                    _ => None,
                });
            }
        }
        if rx.changed().await.is_err() {
            return Some("executor stopped".into());
        }
    }
}

/// An op ready to run: the `after_packages` relaxation applied and the
/// file content (checked against the planned hash) it reads on stdin.
fn resolve<'a>(
    op: &Op,
    step: &Step,
    contents: &'a HashMap<String, Vec<u8>>,
    after_packages: bool,
) -> Result<(Op, &'a [u8]), String> {
    let mut op = op.clone();
    // a package installed earlier in this apply may have shipped a file planned as absent
    if let Op::WriteFile { expect, .. } = &mut op {
        if expect.is_none() && after_packages {
            *expect = Some("*".into());
        }
    }
    let stdin: &[u8] = match &op {
        Op::WriteFile { sha256, .. } => match contents.get(&step.id) {
            Some(c) if crate::util::sha256_hex(c) == *sha256 => c,
            Some(_) => return Err(
                "the inputs changed since this plan was made (file content differs); plan again"
                    .into(),
            ),
            None => return Err("this file is no longer in the stack; plan again".into()),
        },
        _ => b"",
    };
    Ok((op, stdin))
}

/// How a failed op is reported: the tail of its stderr and its exit status.
fn failure_message(op: &Op, status: i32, stderr: &str) -> String {
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if status == crate::plan::op::STALE {
        format!("stale plan: {}", tail.join("\n"))
    } else {
        format!(
            "{} failed (exit {status}): {}",
            op.describe(),
            tail.join("\n")
        )
    }
}

async fn run_step(
    s: &dyn Session,
    step: &Step,
    contents: &HashMap<String, Vec<u8>>,
    after_packages: bool,
) -> Result<(), String> {
    for op in &step.ops {
        let (op, stdin) = resolve(op, step, contents, after_packages)?;
        let out = s
            .exec(&op.script(), stdin)
            .await
            .map_err(|e| e.to_string())?;
        if !out.ok() {
            return Err(failure_message(&op, out.status, &out.stderr_str()));
        }
    }
    Ok(())
}

// ---- batches ---------------------------------------------------------------
//
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
            matches!(verb.as_str(), "enable" | "disable" | "daemon-reload")
        }
        Op::AptInstall { .. } | Op::AptRemove { .. } | Op::RunCommand { .. } | Op::Wait { .. } => {
            false
        }
    }
}

/// Longest batch script, quoted as it travels (`sh -c '...'` is one argument,
/// and Linux caps one argument at 128 KiB).
const BATCH_SCRIPT_MAX: usize = 100_000;

type Batch<'a> = Vec<(usize, Vec<(Op, &'a [u8])>)>;

/// The steps from `rest[0]` on that may run in one exec (see the rule above);
/// `rest[0]`'s dependencies have finished, none failed. Fewer than two: run
/// one at a time, unless the host's state manifest can come along (a host's
/// last step).
fn gather_batch<'a>(
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
    let mut len = 0;
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
                crate::transport::quote::sh(
                    &o.script_with_input(&format!("head -c {} <&3", d.len())),
                )
                .len()
                    + 200
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

/// A marker no op prints: a fresh random-looking token per batch.
fn nonce() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "@rampart-{}",
        &crate::util::sha256_hex(format!("{t}.{}.{n}", std::process::id()).as_bytes())[..16]
    )
}

/// The script and stdin of a batch. Contents are concatenated on stdin (moved
/// to fd 3; the ops themselves get /dev/null) and each write reads exactly its
/// own length with `head -c N <&3` (GNU head reads no further than N from a
/// pipe); a misframed content would fail the write's own hash check, never
/// land. Each op runs in a subshell, so its `set -e`, `exit`, traps and
/// variables are its own, exactly as in its own exec; the first op to fail
/// ends the batch with its status. On stderr, `<nonce> B k j` precedes op j
/// of step k and `<nonce> E k` follows step k; `S` stands for the state
/// manifest, written last when `state` is given.
fn batch_script(
    nonce: &str,
    batch: &[Vec<(Op, &[u8])>],
    state: Option<&[u8]>,
) -> (String, Vec<u8>) {
    let mut s = String::from("exec 3<&0 </dev/null\ntrap 'exit 129' HUP INT TERM PIPE\n");
    let mut stdin = Vec::new();
    // not `( ... ) || exit`: a subshell tested by || would run with set -e off
    let part = |s: &mut String, begin: String, body: String, end: Option<String>| {
        s.push_str(&format!("printf '\\n%s\\n' '{nonce} {begin}' >&2\n(\n{body})\nr=$?; [ \"$r\" -eq 0 ] || exit \"$r\"\n"));
        if let Some(e) = end {
            s.push_str(&format!("printf '\\n%s\\n' '{nonce} {e}' >&2\n"));
        }
    };
    for (k, ops) in batch.iter().enumerate() {
        for (j, (op, data)) in ops.iter().enumerate() {
            let input = format!("head -c {} <&3", data.len());
            part(
                &mut s,
                format!("B {k} {j}"),
                op.script_with_input(&input),
                (j + 1 == ops.len()).then(|| format!("E {k}")),
            );
            stdin.extend_from_slice(data);
        }
    }
    if let Some(body) = state {
        part(
            &mut s,
            "B S".into(),
            state_script(&format!("head -c {} <&3", body.len())),
            Some("E S".into()),
        );
        stdin.extend_from_slice(body);
    }
    (s, stdin)
}

/// What a batch did: `done` steps succeeded, in order; `failed` is the error
/// of the step after them, when one failed.
#[derive(Debug, PartialEq)]
struct BatchOutcome {
    done: usize,
    failed: Option<String>,
    state_written: bool,
}

/// Reads the markers of a finished batch (see `batch_script`).
fn parse_batch(
    nonce: &str,
    batch: &[Vec<(Op, &[u8])>],
    out: &crate::transport::ExecOutput,
) -> BatchOutcome {
    let err = out.stderr_str();
    let tag = format!("\n{nonce} ");
    let mut done = 0;
    let mut state_written = false;
    // the op running (step, op) and where its own stderr starts
    let mut current: Option<(usize, usize)> = None;
    let mut from = 0;
    while let Some(at) = err[from..].find(&tag).map(|a| a + from) {
        let line = err[at + tag.len()..].split('\n').next().unwrap_or("");
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["B", "S"] => current = None,
            ["E", "S"] => state_written = true,
            ["B", k, j] => current = k.parse().ok().zip(j.parse().ok()),
            ["E", k] if k.parse() == Ok(done) => done += 1,
            _ => {}
        }
        from = (at + tag.len() + line.len() + 1).min(err.len());
    }
    // what the failing op printed: everything after the last marker
    let own = &err[from..];
    if done >= batch.len() {
        return BatchOutcome {
            done: batch.len(),
            failed: None,
            state_written: state_written && out.ok(),
        };
    }
    // the first step without its end marker failed, at the last op begun in it
    let j = match current {
        Some((k, j)) if k == done && j < batch[done].len() => j,
        _ => 0,
    };
    let op = &batch[done][j].0;
    let failed = if out.ok() {
        format!(
            "{} did not report back (the batch ended early); plan again",
            op.describe()
        )
    } else {
        failure_message(op, out.status, own)
    };
    BatchOutcome {
        done,
        failed: Some(failed),
        state_written: false,
    }
}

async fn run_batch(s: &dyn Session, batch: &Batch<'_>, state: Option<&[u8]>) -> BatchOutcome {
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

/// The host's state manifest: what succeeded, plus what was already right.
/// Entries of steps that did not succeed stay managed but lose their recorded
/// hash, so the next plan shows them as changes, never as drift; a removal
/// that did not happen stays managed, to be retried.
fn state_body(
    stack: &str,
    hosts: Vec<String>,
    mut desired: BTreeMap<String, crate::facts::ManagedEntry>,
    mine: &[usize],
    steps: &[Step],
    status: &[Status],
) -> Result<Vec<u8>, String> {
    for &i in mine.iter().filter(|&&i| status[i] != Status::Done) {
        if let Some(e) = &steps[i].retires {
            desired
                .entry(steps[i].id.clone())
                .or_insert_with(|| e.clone());
        }
    }
    for &i in mine.iter().filter(|&&i| status[i] != Status::Done) {
        if let Some(e) = desired.get_mut(&steps[i].id) {
            e.sha256 = None;
        }
    }
    let st = HostState {
        version: 1,
        stack: stack.to_string(),
        resources: desired,
        hosts,
    };
    serde_json::to_vec_pretty(&st).map_err(|e| e.to_string())
}

/// Writes the state manifest read by `input` atomically.
fn state_script(input: &str) -> String {
    format!("set -e\nmkdir -p {STATE_DIR}\nchmod 0700 {STATE_DIR}\ntmp=$(mktemp {STATE_DIR}/.state.XXXXXX)\n{input} > \"$tmp\"\nmv -f \"$tmp\" {STATE_FILE}\n")
}

/// Writes the host's state manifest atomically.
async fn write_state(s: &dyn Session, body: &[u8]) -> Result<(), String> {
    let out = s
        .exec(&state_script("cat"), body)
        .await
        .map_err(|e| e.to_string())?;
    if out.ok() {
        Ok(())
    } else {
        Err(format!(
            "cannot write {STATE_FILE}: {}",
            out.stderr_str().trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn me() -> (String, String) {
        let id = |a: &str| {
            String::from_utf8(Command::new("id").arg(a).output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_string()
        };
        (id("-un"), id("-gn"))
    }

    fn write(path: &Path, content: &[u8], expect: Option<&str>, validate: Option<&str>) -> Op {
        let (o, g) = me();
        Op::WriteFile {
            path: path.display().to_string(),
            sha256: crate::util::sha256_hex(content),
            mode: 0o640,
            owner: o,
            group: g,
            expect: expect.map(String::from),
            validate: validate.map(String::from),
            daemon_reload: false,
            notify: vec![],
        }
    }

    /// Runs `script` with the local sh, stdin through a pipe (as sshd gives it).
    fn run(script: &str, stdin: &[u8]) -> crate::transport::ExecOutput {
        crate::transport::fake::run_local_sh(script, stdin)
    }

    fn run_batch_locally(
        batch: &[Vec<(Op, &[u8])>],
        state: Option<&[u8]>,
        state_dir: Option<&Path>,
    ) -> (BatchOutcome, crate::transport::ExecOutput) {
        let n = nonce();
        let (mut script, stdin) = batch_script(&n, batch, state);
        if let Some(d) = state_dir {
            script = script.replace(STATE_DIR, &d.display().to_string());
        }
        let out = run(&script, &stdin);
        (parse_batch(&n, batch, &out), out)
    }

    fn temps(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".rampart."))
            .collect()
    }

    #[test]
    fn batchable_ops_are_the_quick_file_local_ones() {
        let w = write(Path::new("/x"), b"", None, None);
        assert!(batchable(&w));
        assert!(batchable(&Op::Systemctl {
            verb: "enable".into(),
            unit: "x".into(),
            no_block: false
        }));
        for verb in [
            "start",
            "restart",
            "stop",
            "reload-or-restart",
            "disable --now",
        ] {
            assert!(
                !batchable(&Op::Systemctl {
                    verb: verb.into(),
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

    /// Binary content (every byte value, NULs, newlines, no final newline),
    /// an empty file and text, one after the other on one stdin pipe: each
    /// write reads exactly its own bytes.
    #[test]
    fn a_batch_frames_binary_and_empty_contents_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let binary: Vec<u8> = (0..3)
            .flat_map(|_| 0u8..=255)
            .chain([0, b'\n', 0])
            .collect();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files: Vec<(std::path::PathBuf, Vec<u8>)> = vec![
            (dir.path().join("bin"), binary),
            (dir.path().join("empty"), vec![]),
            (
                dir.path().join("sub/dir/text.conf"),
                b"a = 1\nb = 'two'\n".to_vec(),
            ),
            (dir.path().join("empty2"), vec![]),
            (dir.path().join("big"), big),
            (dir.path().join("last"), b"no newline".to_vec()),
        ];
        let batch: Vec<Vec<(Op, &[u8])>> = files
            .iter()
            .map(|(p, c)| vec![(write(p, c, None, None), c.as_slice())])
            .collect();
        let (res, out) = run_batch_locally(&batch, None, None);
        assert_eq!(
            res,
            BatchOutcome {
                done: files.len(),
                failed: None,
                state_written: false
            },
            "{}",
            out.stderr_str()
        );
        for (p, c) in &files {
            assert_eq!(&std::fs::read(p).unwrap(), c, "{}", p.display());
        }
        assert!(temps(dir.path()).is_empty());
        // the content is on stdin only, never in the script
        let (script, _) = batch_script("n", &batch, None);
        assert!(
            !script.contains("a = 1")
                && script.contains("head -c 0 <&3")
                && script.contains("head -c 200000 <&3")
        );
    }

    /// A step in the middle fails: the ones before it are done, it is reported
    /// exactly as on its own (stderr tail and status, stale plan included),
    /// and nothing after it ran.
    #[test]
    fn a_failure_in_a_batch_stops_it_and_is_reported_as_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&b, b"changed by hand\n").unwrap();
        let stale = write(&b, b"new b\n", Some(&"1".repeat(64)), None);
        // an earlier op's stderr is not part of the failure's tail
        let noisy = write(&a, b"a\n", None, Some("echo noise-from-a >&2"));
        let batch: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(noisy, b"a\n")],
            vec![(stale.clone(), b"new b\n")],
            vec![(write(&c, b"c\n", None, None), b"c\n")],
        ];
        let (res, _) = run_batch_locally(&batch, None, None);
        let alone = run(&stale.script(), b"new b\n");
        assert_eq!(alone.status, crate::plan::op::STALE);
        let want = failure_message(&stale, alone.status, &alone.stderr_str());
        assert!(
            want.starts_with("stale plan: ")
                && want.contains("changed on the host since it was planned"),
            "{want}"
        );
        assert_eq!(
            res,
            BatchOutcome {
                done: 1,
                failed: Some(want),
                state_written: false
            }
        );
        assert_eq!(std::fs::read(&a).unwrap(), b"a\n");
        assert_eq!(std::fs::read(&b).unwrap(), b"changed by hand\n");
        assert!(!c.exists(), "the step after the failure did not run");

        // a failing op that is not a step's first: its own describe, status and stderr
        let v = write(&c, b"c\n", None, Some("echo bad config >&2; exit 3"));
        let batch: Vec<Vec<(Op, &[u8])>> = vec![vec![
            (
                Op::MakeDir {
                    path: dir.path().join("d").display().to_string(),
                    mode: Some(0o750),
                    owner: None,
                    group: None,
                },
                b"",
            ),
            (v.clone(), b"c\n"),
        ]];
        let two = vec![
            batch[0].clone(),
            vec![(write(&a, b"a2\n", None, None), b"a2\n")],
        ];
        let (res, _) = run_batch_locally(&two, None, None);
        let alone = run(&v.script(), b"c\n");
        assert_eq!(
            res,
            BatchOutcome {
                done: 0,
                failed: Some(failure_message(&v, alone.status, &alone.stderr_str())),
                state_written: false
            }
        );
        assert!(res
            .failed
            .unwrap()
            .starts_with(&format!("write {} failed (exit 1): ", c.display())));
        assert_eq!(std::fs::read(&a).unwrap(), b"a\n");
    }

    /// `set -e` inside each op still holds (a subshell tested by `||` would
    /// silently drop it): a failed chown fails its step.
    #[test]
    fn each_op_keeps_set_e() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        let mk = Op::MakeDir {
            path: d.display().to_string(),
            mode: Some(0o700),
            owner: Some("no-such-user-rampart".into()),
            group: None,
        };
        let f = dir.path().join("f");
        let batch: Vec<Vec<(Op, &[u8])>> =
            vec![vec![(mk, b"")], vec![(write(&f, b"x", None, None), b"x")]];
        let (res, out) = run_batch_locally(&batch, None, None);
        assert_eq!(res.done, 0, "{}", out.stderr_str());
        assert!(
            res.failed
                .as_deref()
                .unwrap_or("")
                .starts_with(&format!("mkdir {} failed (exit 1)", d.display())),
            "{res:?}"
        );
        assert!(!f.exists());
    }

    #[test]
    fn the_state_manifest_is_written_last_and_only_if_all_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let f = dir.path().join("f");
        let ok: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&f, b"1", None, None), b"1")],
            vec![(Op::ClearPending { unit: "x".into() }, b"")],
        ];
        let (res, out) = run_batch_locally(&ok, Some(b"{\"state\": 1}\n"), Some(&state));
        assert_eq!(
            res,
            BatchOutcome {
                done: 2,
                failed: None,
                state_written: true
            },
            "{}",
            out.stderr_str()
        );
        assert_eq!(
            std::fs::read(state.join("state.json")).unwrap(),
            b"{\"state\": 1}\n"
        );
        let bad: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&dir.path().join("g"), b"2", None, None), b"2")],
            vec![(write(&f, b"3", Some(&"0".repeat(64)), None), b"3")],
        ];
        let (res, _) = run_batch_locally(&bad, Some(b"{\"state\": 2}\n"), Some(&state));
        assert_eq!((res.done, res.state_written), (1, false));
        assert_eq!(
            std::fs::read(state.join("state.json")).unwrap(),
            b"{\"state\": 1}\n",
            "a failed batch leaves the manifest to the executor"
        );
    }

    /// rampart killed mid-batch (sshd hangs up on the script's process group):
    /// the files written before are whole, the one under way is not there and
    /// leaves no temp file, nothing after it runs.
    #[test]
    fn a_batch_cut_off_by_a_hangup_leaves_whole_files_and_no_temp_file() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        let bc = vec![b'b'; 4096];
        let batch: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&a, b"whole\n", None, None), b"whole\n")],
            vec![(write(&b, &bc, None, None), &bc)],
            vec![(write(&c, b"c", None, None), b"c")],
        ];
        let (script, stdin) = batch_script(&nonce(), &batch, None);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut w = child.stdin.take().unwrap();
        w.write_all(&stdin[..6 + 1000]).unwrap();
        let t = std::time::Instant::now();
        // a is in place and a temp file exists: b's upload is under way
        let under_way = || a.exists() && !temps(dir.path()).is_empty();
        while !under_way() && t.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(under_way(), "b's upload is under way");
        unsafe { libc::kill(-(child.id() as i32), libc::SIGHUP) };
        let _ = child.wait();
        drop(w);
        assert_eq!(std::fs::read(&a).unwrap(), b"whole\n");
        assert!(!b.exists() && !c.exists());
        assert!(temps(dir.path()).is_empty(), "{:?}", temps(dir.path()));
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
        }
    }

    /// Many files: batches stay under the kernel's limit on one argument.
    #[test]
    fn batches_stay_under_the_argument_limit() {
        let n = 300;
        let steps: Vec<Step> = (0..n).map(|i| file_step(i, b"x")).collect();
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
            verb: "restart".into(),
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

    #[test]
    fn markers_are_parsed_whatever_the_ops_print() {
        let w = write(Path::new("/x"), b"", None, None);
        let batch: Vec<Vec<(Op, &[u8])>> = vec![vec![(w.clone(), b"")], vec![(w.clone(), b"")]];
        let out = |status: i32, err: &str| crate::transport::ExecOutput {
            status,
            stdout: vec![],
            stderr: err.as_bytes().to_vec(),
        };
        // an op's output without a final newline, and a fake marker with another nonce
        let r = parse_batch(
            "N",
            &batch,
            &out(2, "\nN B 0 0\npartial\nN E 0\n\nN B 1 0\n\nM E 1\nboom"),
        );
        assert_eq!(
            r,
            BatchOutcome {
                done: 1,
                failed: Some(failure_message(&w, 2, "\nM E 1\nboom")),
                state_written: false
            }
        );
        // nothing ran (sudo refused): the first step failed
        let r = parse_batch("N", &batch, &out(1, "sudo: a password is required\n"));
        assert_eq!(r.done, 0);
        assert!(r.failed.unwrap().ends_with("sudo: a password is required"));
        // success without markers is not taken for success
        assert_eq!(parse_batch("N", &batch, &out(0, "")).done, 0);
    }
}
