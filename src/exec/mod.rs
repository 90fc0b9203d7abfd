//! The executor: walks the plan's steps with as much parallelism as the
//! edges allow (hosts in parallel; one step at a time per host), skips what
//! depends on a failure, and reports progress as events. A host's
//! consecutive quick file steps share one exec (see "batches" below).

mod batch;
mod batch_script;
pub mod event;
mod state;
mod step;
#[cfg(test)]
mod test_util;

use crate::compile::{Compiled, Desired};
use crate::plan::{Op, Plan, Step};
use crate::transport::Session;
use batch::{gather_batch, run_batch};
pub use event::{Event, Outcome};
use state::{state_body, write_state};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use step::run_step;
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
