//! One host's walk: its steps in order, each once its dependencies finished
//! (quick file steps batched), then its state manifest.

use super::batch::{gather_batch, run_batch, Batch};
use super::batch_script::BatchOutcome;
use super::state::{state_body, write_state};
use super::step::run_step;
use super::{wait_deps, Event, HostReport, Outcome, Status, Walk};
use crate::facts::ManagedEntry;
use crate::plan::{Op, Plan};
use crate::transport::Session;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub(super) struct HostRun {
    walk: Arc<Walk>,
    host: String,
    /// This host's steps, as indices into the walk's steps, in order.
    mine: Vec<usize>,
    session: Option<Arc<dyn Session>>,
    /// Why there is no session: each step fails with it.
    why: String,
    /// The state manifest to write when the host's steps succeed.
    state: Option<BTreeMap<String, ManagedEntry>>,
    rep: HostReport,
    installed_packages: bool,
    state_written: bool,
}

impl HostRun {
    pub(super) fn new(
        walk: Arc<Walk>,
        host: String,
        plan: &Plan,
        sessions: &BTreeMap<String, Arc<dyn Session>>,
        unreachable: &BTreeMap<String, String>,
    ) -> HostRun {
        let mine: Vec<usize> = (0..walk.steps.len())
            .filter(|&i| walk.steps[i].host == host)
            .collect();
        HostRun {
            mine,
            session: sessions.get(&host).cloned(),
            why: unreachable
                .get(&host)
                .cloned()
                .unwrap_or_else(|| "no connection".into()),
            state: plan.states.get(&host).cloned(),
            walk,
            host,
            rep: HostReport::default(),
            installed_packages: false,
            state_written: false,
        }
    }

    pub(super) async fn run(mut self) -> (String, HostReport) {
        let start = Instant::now();
        let mut k = 0;
        while k < self.mine.len() {
            k += self.next(k).await;
        }
        self.record_state().await;
        self.rep.seconds = start.elapsed().as_secs_f64();
        (self.host, self.rep)
    }

    /// Runs step `k`, with the ones after it when they can share its exec;
    /// returns how many steps it went through.
    async fn next(&mut self, k: usize) -> usize {
        let walk = self.walk.clone();
        let i = self.mine[k];
        // wait for what this step depends on, wherever it runs
        let blocked = wait_deps(&walk.shared, i, &walk.deps[i], &walk.steps).await;
        if let (None, Some(s)) = (&blocked, self.session.clone()) {
            if let Some(ran) = self.batch(s.as_ref(), k).await {
                return ran;
            }
        }
        let outcome = match (blocked, self.session.clone()) {
            (Some(b), _) => Status::Skipped(b),
            (None, Some(s)) => self.alone(s.as_ref(), k).await,
            (None, None) => Status::Failed(self.why.clone()),
        };
        self.record(k, outcome);
        1
    }

    /// Runs step `k` on its own.
    async fn alone(&mut self, s: &dyn Session, k: usize) -> Status {
        let walk = self.walk.clone();
        let step = &walk.steps[self.mine[k]];
        self.started(k);
        let t = Instant::now();
        let r = run_step(s, step, &walk.contents, self.installed_packages).await;
        self.installed_packages |= step.ops.iter().any(|o| matches!(o, Op::AptInstall { .. }));
        self.finished(k, &r, t.elapsed().as_secs_f64());
        match r {
            Ok(()) => Status::Done,
            Err(e) => Status::Failed(e),
        }
    }

    /// Runs the steps from `k` on in one exec when two or more can share it,
    /// or when they are the host's last steps: its state manifest then goes
    /// in the same exec (even after a single step), written as if they all
    /// succeed: the script gets there only if they do. Returns how many
    /// steps ran, or None: step `k` runs alone.
    async fn batch(&mut self, s: &dyn Session, k: usize) -> Option<usize> {
        let walk = self.walk.clone();
        let batch = gather_batch(
            &self.mine[k..],
            &walk.steps,
            &walk.deps,
            &walk.cross,
            &walk.shared,
            &walk.contents,
            self.installed_packages,
        );
        let last = !batch.is_empty() && k + batch.len() == self.mine.len() && self.state.is_some();
        if batch.len() < 2 && !last {
            return None;
        }
        let body = match (&self.state, last) {
            (Some(desired), true) => self.state_if_done(desired, &batch),
            _ => None,
        };
        self.started(k);
        let t = Instant::now();
        let out = run_batch(s, &batch, body.as_deref()).await;
        let ran = out.done + usize::from(out.failed.is_some());
        let secs = t.elapsed().as_secs_f64() / ran.max(1) as f64;
        self.report_batch(k, out, secs);
        Some(ran)
    }

    /// The state manifest as it will be if every step of `batch` succeeds.
    fn state_if_done(
        &self,
        desired: &BTreeMap<String, ManagedEntry>,
        batch: &Batch<'_>,
    ) -> Option<Vec<u8>> {
        let mut st = self.walk.shared.status.lock().expect("status lock").clone();
        for (j, _) in batch {
            st[*j] = Status::Done;
        }
        state_body(
            &self.walk.stack,
            self.walk.stack_hosts.clone(),
            desired.clone(),
            &self.mine,
            &self.walk.steps,
            &st,
        )
        .ok()
    }

    /// Events and records for a batch's steps, as for single steps: each
    /// started once and finished once, in order; the first was started
    /// before the exec, the others as the exec's markers show them done; each
    /// gets an even share (`secs`) of the exec's time. Steps after a failure
    /// were not run: they go round again, one at a time.
    fn report_batch(&mut self, k: usize, out: BatchOutcome, secs: f64) {
        for m in 0..out.done {
            if m > 0 {
                self.started(k + m);
            }
            self.finished(k + m, &Ok(()), secs);
            self.record(k + m, Status::Done);
        }
        if let Some(e) = out.failed {
            if out.done > 0 {
                self.started(k + out.done);
            }
            self.finished(k + out.done, &Err(e.clone()), secs);
            self.record(k + out.done, Status::Failed(e));
        }
        self.state_written = out.state_written;
    }

    /// Records what became of step `k` for the report and for the steps
    /// waiting on it; a skipped step's event is sent here (it never started).
    fn record(&mut self, k: usize, outcome: Status) {
        let step = &self.walk.steps[self.mine[k]];
        match &outcome {
            Status::Done => self.rep.done += 1,
            Status::Failed(e) => self.rep.failed.push((step.id.clone(), e.clone())),
            Status::Skipped(b) => {
                self.rep.skipped += 1;
                let _ = self.walk.events.send(Event::Finished {
                    host: self.host.clone(),
                    id: step.id.clone(),
                    n: k + 1,
                    total: self.mine.len(),
                    outcome: Outcome::Skipped(b.clone()),
                    seconds: 0.0,
                });
            }
            Status::Pending => {}
        }
        self.walk.shared.set(self.mine[k], outcome);
    }

    fn started(&self, k: usize) {
        let step = &self.walk.steps[self.mine[k]];
        let _ = self.walk.events.send(Event::Started {
            host: self.host.clone(),
            id: step.id.clone(),
            n: k + 1,
            total: self.mine.len(),
            what: step.ops.first().map(Op::describe).unwrap_or_default(),
        });
    }

    fn finished(&self, k: usize, r: &Result<(), String>, seconds: f64) {
        let outcome = match r {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Failed(e.clone()),
        };
        let _ = self.walk.events.send(Event::Finished {
            host: self.host.clone(),
            id: self.walk.steps[self.mine[k]].id.clone(),
            n: k + 1,
            total: self.mine.len(),
            outcome,
            seconds,
        });
    }

    /// Records what this host now holds: what succeeded, plus what was
    /// already right (unless its last batch wrote it).
    async fn record_state(&mut self) {
        let (Some(s), Some(desired), false) =
            (self.session.clone(), self.state.take(), self.state_written)
        else {
            return;
        };
        let st = self.walk.shared.status.lock().expect("status lock").clone();
        let body = state_body(
            &self.walk.stack,
            self.walk.stack_hosts.clone(),
            desired,
            &self.mine,
            &self.walk.steps,
            &st,
        );
        let r = match body {
            Ok(body) => write_state(s.as_ref(), &body).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            self.rep.failed.push((format!("{}/state", self.host), e));
        }
    }
}
