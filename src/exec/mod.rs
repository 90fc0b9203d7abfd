//! The executor: walks the plan's steps with as much parallelism as the
//! edges allow (hosts in parallel; one step at a time per host), skips what
//! depends on a failure, and reports progress as events. A host's
//! consecutive quick file steps share one exec (see batch.rs).

mod batch;
mod batch_script;
pub mod event;
mod host;
mod state;
mod step;
#[cfg(test)]
mod test_util;
mod write_group;

use crate::compile::{Compiled, Desired};
use crate::plan::{Plan, Step};
use crate::transport::Session;
pub use event::{Event, Outcome};
use host::HostRun;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
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

/// What every host's walk reads: the plan's steps and their edges, the file
/// contents, and the status of every step.
struct Walk {
    steps: Vec<Step>,
    /// Each step's dependencies, as indices into `steps`.
    deps: Vec<Vec<usize>>,
    /// Steps that a step on another host waits for: each closes its batch.
    cross: Vec<bool>,
    /// File contents by id, checked against the planned hash before use.
    contents: HashMap<String, Vec<u8>>,
    shared: Shared,
    stack: String,
    stack_hosts: Vec<String>,
    events: mpsc::UnboundedSender<Event>,
}

impl Walk {
    fn new(plan: &Plan, compiled: &Compiled, events: mpsc::UnboundedSender<Event>) -> Walk {
        let steps = plan.steps.clone();
        let deps = step_deps(&steps);
        let cross = cross_host(&steps, &deps);
        let (tick, _) = watch::channel(0u64);
        let shared = Shared {
            status: Mutex::new(vec![Status::Pending; steps.len()]),
            tick,
        };
        Walk {
            steps,
            deps,
            cross,
            contents: file_contents(compiled),
            shared,
            stack: plan.stack.clone(),
            stack_hosts: plan.stack_hosts.clone(),
            events,
        }
    }
}

/// Each step's dependencies, as indices into `steps`.
fn step_deps(steps: &[Step]) -> Vec<Vec<usize>> {
    let index: HashMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    steps
        .iter()
        .map(|s| {
            s.deps
                .iter()
                .filter_map(|d| index.get(d).copied())
                .collect()
        })
        .collect()
}

/// The steps that a step on another host waits for.
fn cross_host(steps: &[Step], deps: &[Vec<usize>]) -> Vec<bool> {
    let mut cross = vec![false; steps.len()];
    for (j, ds) in deps.iter().enumerate() {
        for &d in ds {
            cross[d] |= steps[d].host != steps[j].host;
        }
    }
    cross
}

/// The compiled file contents by resource id.
fn file_contents(compiled: &Compiled) -> HashMap<String, Vec<u8>> {
    compiled
        .resources
        .iter()
        .filter_map(|r| match &r.desired {
            Desired::File { content, .. } => Some((r.id.to_string(), content.clone())),
            _ => None,
        })
        .collect()
}

/// The hosts to walk: those with steps, and those whose recorded state is
/// to be refreshed.
fn hosts_to_walk(plan: &Plan) -> Vec<String> {
    let mut hosts = plan.hosts();
    hosts.extend(
        plan.refresh
            .iter()
            .filter(|h| plan.states.contains_key(*h))
            .cloned(),
    );
    hosts.sort();
    hosts.dedup();
    hosts
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
    let walk = Arc::new(Walk::new(plan, compiled, events));
    let tasks: Vec<_> = hosts_to_walk(plan)
        .into_iter()
        .map(|host| {
            let run = HostRun::new(walk.clone(), host, plan, sessions, unreachable);
            tokio::spawn(run.run())
        })
        .collect();
    let mut report = Report::default();
    for t in tasks {
        if let Ok((h, r)) = t.await {
            report.hosts.insert(h, r);
        }
    }
    report
}

/// Waits until every dependency of step `i` finished; returns why it must
/// be skipped (never for an `always` step, unless the executor stopped).
async fn wait_deps(shared: &Shared, i: usize, deps: &[usize], steps: &[Step]) -> Option<String> {
    let mut rx = shared.tick.subscribe();
    loop {
        {
            let st = shared.status.lock().expect("status lock");
            if deps.iter().all(|&d| st[d].finished()) {
                if steps[i].always {
                    return None;
                }
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
