//! The executor: walks the plan's steps with as much parallelism as the
//! edges allow (hosts in parallel; one step at a time per host), skips what
//! depends on a failure, and reports progress as events.

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
        self.hosts.values().all(|h| h.failed.is_empty() && h.skipped == 0)
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
pub async fn apply(plan: &Plan, compiled: &Compiled, sessions: &BTreeMap<String, Arc<dyn Session>>, unreachable: &BTreeMap<String, String>, events: mpsc::UnboundedSender<Event>) -> Report {
    let steps = Arc::new(plan.steps.clone());
    let index: HashMap<String, usize> = steps.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
    let deps: Arc<Vec<Vec<usize>>> = Arc::new(steps.iter().map(|s| s.deps.iter().filter_map(|d| index.get(d).copied()).collect()).collect());
    let (tick, _) = watch::channel(0u64);
    let shared = Arc::new(Shared { status: Mutex::new(vec![Status::Pending; steps.len()]), tick });
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
    let mut tasks = Vec::new();
    let mut hosts = plan.hosts();
    hosts.extend(plan.refresh.iter().filter(|h| plan.states.contains_key(*h)).cloned());
    hosts.sort();
    hosts.dedup();
    for host in hosts {
        let mine: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].host == host).collect();
        let session = sessions.get(&host).cloned();
        let why = unreachable.get(&host).cloned().unwrap_or_else(|| "no connection".into());
        let (steps, deps, shared, events, contents) = (steps.clone(), deps.clone(), shared.clone(), events.clone(), contents.clone());
        let state = plan.states.get(&host).cloned();
        let stack = plan.stack.clone();
        let stack_hosts = plan.stack_hosts.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut rep = HostReport::default();
            let total = mine.len();
            let mut installed_packages = false;
            for (k, &i) in mine.iter().enumerate() {
                let step = &steps[i];
                // wait for what this step depends on, wherever it runs
                let blocked = wait_deps(&shared, &deps[i], &steps).await;
                let outcome = if let Some(b) = blocked {
                    Status::Skipped(b)
                } else if let Some(s) = &session {
                    let _ = events.send(Event::Started { host: host.clone(), id: step.id.clone(), n: k + 1, total, what: step.ops.first().map(Op::describe).unwrap_or_default() });
                    let t = Instant::now();
                    let r = run_step(s.as_ref(), step, &contents, installed_packages).await;
                    installed_packages |= step.ops.iter().any(|o| matches!(o, Op::AptInstall { .. }));
                    let secs = t.elapsed().as_secs_f64();
                    match r {
                        Ok(()) => {
                            let _ = events.send(Event::Finished { host: host.clone(), id: step.id.clone(), n: k + 1, total, outcome: Outcome::Ok, seconds: secs });
                            Status::Done
                        }
                        Err(e) => {
                            let _ = events.send(Event::Finished { host: host.clone(), id: step.id.clone(), n: k + 1, total, outcome: Outcome::Failed(e.clone()), seconds: secs });
                            Status::Failed(e)
                        }
                    }
                } else {
                    Status::Failed(why.clone())
                };
                match &outcome {
                    Status::Done => rep.done += 1,
                    Status::Failed(e) => rep.failed.push((step.id.clone(), e.clone())),
                    Status::Skipped(b) => {
                        rep.skipped += 1;
                        let _ = events.send(Event::Finished { host: host.clone(), id: step.id.clone(), n: k + 1, total, outcome: Outcome::Skipped(b.clone()), seconds: 0.0 });
                    }
                    Status::Pending => {}
                }
                shared.set(i, outcome);
            }
            // record what this host now holds: what succeeded, plus what was already right
            if let (Some(s), Some(desired)) = (&session, state) {
                let st = shared.status.lock().expect("status lock").clone();
                let failed_ids: Vec<&str> = mine.iter().filter(|&&i| st[i] != Status::Done).map(|&i| steps[i].id.as_str()).collect();
                let mut desired = desired;
                // a removal that did not happen stays managed, to be retried
                for &i in mine.iter().filter(|&&i| st[i] != Status::Done) {
                    if let Some(e) = &steps[i].retires {
                        desired.entry(steps[i].id.clone()).or_insert_with(|| e.clone());
                    }
                }
                if let Err(e) = write_state(s.as_ref(), &stack, stack_hosts, desired, &failed_ids).await {
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
                    Status::Failed(_) | Status::Skipped(_) => Some(format!("skipped: depends on {}, which did not succeed", steps[d].id)),
                    _ => None,
                });
            }
        }
        if rx.changed().await.is_err() {
            return Some("executor stopped".into());
        }
    }
}

async fn run_step(s: &dyn Session, step: &Step, contents: &HashMap<String, Vec<u8>>, after_packages: bool) -> Result<(), String> {
    for op in &step.ops {
        // a package installed earlier in this apply may have shipped a file planned as absent
        let relaxed;
        let op = match op {
            Op::WriteFile { expect: None, .. } if after_packages => {
                let mut o = op.clone();
                if let Op::WriteFile { expect, .. } = &mut o {
                    *expect = Some("*".into());
                }
                relaxed = o;
                &relaxed
            }
            _ => op,
        };
        let stdin: &[u8] = match op {
            Op::WriteFile { sha256, .. } => match contents.get(&step.id) {
                Some(c) if crate::util::sha256_hex(c) == *sha256 => c,
                Some(_) => return Err("the inputs changed since this plan was made (file content differs); plan again".into()),
                None => return Err("this file is no longer in the stack; plan again".into()),
            },
            _ => b"",
        };
        let out = s.exec(&op.script(), stdin).await.map_err(|e| e.to_string())?;
        if !out.ok() {
            let err = out.stderr_str();
            let tail: Vec<&str> = err.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
            let msg = if out.status == crate::plan::op::STALE {
                format!("stale plan: {}", tail.join("\n"))
            } else {
                format!("{} failed (exit {}): {}", op.describe(), out.status, tail.join("\n"))
            };
            return Err(msg);
        }
    }
    Ok(())
}

/// Writes the host's state manifest atomically. Entries of steps that did not
/// succeed stay managed but lose their recorded hash, so the next plan shows
/// them as changes, never as drift.
async fn write_state(s: &dyn Session, stack: &str, hosts: Vec<String>, mut desired: BTreeMap<String, crate::facts::ManagedEntry>, failed: &[&str]) -> Result<(), String> {
    for f in failed {
        if let Some(e) = desired.get_mut(*f) {
            e.sha256 = None;
        }
    }
    let st = HostState { version: 1, stack: stack.to_string(), resources: desired, hosts };
    let body = serde_json::to_vec_pretty(&st).map_err(|e| e.to_string())?;
    let script = format!("set -e\nmkdir -p {STATE_DIR}\nchmod 0700 {STATE_DIR}\ntmp=$(mktemp {STATE_DIR}/.state.XXXXXX)\ncat > \"$tmp\"\nmv -f \"$tmp\" {STATE_FILE}\n");
    let out = s.exec(&script, &body).await.map_err(|e| e.to_string())?;
    if out.ok() {
        Ok(())
    } else {
        Err(format!("cannot write {STATE_FILE}: {}", out.stderr_str().trim()))
    }
}
