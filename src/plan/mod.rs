//! The plan is data: a serializable list of steps computed purely from the
//! compiled desired state and the hosts' facts. Printing, JSON, saving and
//! applying all read this one structure.

mod command;
pub mod diff;
mod files;
pub mod op;
mod order;
mod packages;
mod release;
mod remove;
mod roll;
pub mod saved;
mod service;
mod state;
mod systemctl;
mod walk;
use crate::compile::Compiled;
use crate::components::ALL;
use crate::facts::{HostFacts, ManagedEntry};
pub use op::Op;
pub use remove::destroy_steps;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use systemctl::SystemctlVerb;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// A guarded command that will run.
    Run,
    /// A service restarted or reloaded because an input changed.
    Restart,
    /// A health gate waited on (not a change).
    Wait,
}

impl Action {
    pub fn glyph(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update | Action::Restart => "~",
            Action::Delete => "-",
            Action::Run => ">",
            Action::Wait => "?",
        }
    }
    pub fn is_change(self) -> bool {
        self != Action::Wait
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `host/kind/name`.
    pub id: String,
    pub host: String,
    pub action: Action,
    /// Why, for people (display only).
    pub reasons: Vec<String>,
    /// Unified diff of a file's content; absent for sensitive files.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diff: Option<String>,
    pub sensitive: bool,
    /// Changed outside rampart since the last apply.
    pub drift: bool,
    /// What the executor runs, in order.
    pub ops: Vec<Op>,
    /// Ids of the steps this one waits for (within the plan).
    #[serde(default)]
    pub deps: Vec<String>,
    /// For a removal: the manifest entry it retires. Kept in the host's
    /// manifest if the removal does not succeed, so the next plan retries it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retires: Option<ManagedEntry>,
    /// Runs once its deps have finished, even when one of them did not
    /// succeed: a clean-up that must not be skipped (a server drained in
    /// HAProxy set ready again after its replacement failed).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub always: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub steps: Vec<Step>,
    /// Host -> the state manifest to write when its steps succeed.
    pub states: BTreeMap<String, BTreeMap<String, ManagedEntry>>,
    /// The stack's hosts, recorded in every host's state.
    #[serde(default)]
    pub stack_hosts: Vec<String>,
    /// Hosts with no step whose recorded state is out of date (its host list).
    #[serde(default)]
    pub refresh: Vec<String>,
    /// Why this plan must not be applied (a host on another Debian release
    /// than the inventory says, quorum safety); empty when it may.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.steps {
            match s.action {
                Action::Create => c.add += 1,
                Action::Update | Action::Run | Action::Restart => c.change += 1,
                Action::Delete => c.destroy += 1,
                Action::Wait => {}
            }
        }
        c
    }
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action.is_change())
    }
    pub fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = self.steps.iter().map(|s| s.host.clone()).collect();
        h.sort();
        h.dedup();
        h
    }
}

/// Computes the plan. `facts` has an entry for every host of `compiled`.
pub fn plan(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Plan {
    let steps = walk::steps(compiled, facts);
    let (mut out, mut source) = order::sequence(compiled, steps);
    packages::one_transaction_per_host(compiled, &mut out, &mut source);
    // what each cluster's roll leaves out, and the hosts that restart last in every roll
    let mut not_rolled = BTreeMap::new();
    let mut last = Vec::new();
    for c in ALL {
        let h = c.roll_hints(compiled, facts);
        not_rolled.insert(c.name(), h.not_rolled);
        last.extend(h.last);
    }
    roll::roll(compiled, &mut out, &source, &not_rolled, &last);
    // what the hosts hold now and no longer should: destroy, in reverse order of kinds
    let (states, refresh) = state::states(compiled, facts, &mut out);
    let mut p = Plan {
        format_version: FORMAT_VERSION,
        stack: compiled.stack.clone(),
        steps: out,
        states,
        stack_hosts: compiled.hosts.clone(),
        refresh,
        refused: release::refusals(compiled, facts),
    };
    // day-2 steps, in `ALL`'s order (etcd, postgres, redis, qdrant, ...): the plan depends on it
    for c in ALL {
        c.day2(compiled, facts, &mut p);
    }
    // a CA change rolls only while every host trusts both CAs
    p.refused
        .extend(crate::tls::roll::refusals(compiled, facts));
    p
}

pub fn check_text(c: &crate::roles::Check) -> String {
    match c {
        crate::roles::Check::Command(s) => format!("`{s}`"),
        crate::roles::Check::Http(u) => format!("GET {u}"),
        crate::roles::Check::Tcp(t) => format!("tcp {t}"),
    }
}
