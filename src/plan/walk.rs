//! The walk over the compiled resources in order: each resource's step
//! from its desired state and its host's facts, and file diffs made after.

use super::{Action, Op, Step};
use crate::compile::{Compiled, Desired, Resource};
use crate::facts::{HostFacts, ManagedEntry};
use std::collections::BTreeMap;

/// A resource's step before it becomes a `Step`: action, reasons, ops, diff, drift.
pub(super) type Proto = (Action, Vec<String>, Vec<Op>, Option<String>, bool);

/// A file diff to make after the walk: (resource, path, old, new).
pub(super) type Diff<'a> = (usize, &'a str, &'a [u8], &'a [u8]);

/// What a resource's step is computed from.
pub(super) struct Cx<'a, 'w> {
    pub compiled: &'a Compiled,
    pub r: &'a Resource,
    pub f: &'a HostFacts,
    pub managed: Option<&'a ManagedEntry>,
    /// The steps of the resources before it in order.
    pub steps: &'w [Option<Step>],
    /// Whether each resource before it changed, or has a change upstream.
    pub changed: &'w [bool],
}

/// Every resource's step (None: nothing to do), indexed like `compiled.resources`.
pub(super) fn steps(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Vec<Option<Step>> {
    let n = compiled.resources.len();
    let mut steps: Vec<Option<Step>> = vec![None; n];
    let mut changed = vec![false; n];
    let empty = HostFacts::default();
    // file diffs, made after the walk (on every core when there are many): (step, path, old, new)
    let mut diffs: Vec<Diff> = Vec::new();
    for &i in &compiled.order {
        let r = &compiled.resources[i];
        let f = facts.get(&r.id.host).unwrap_or(&empty);
        let managed = f
            .state
            .as_ref()
            .and_then(|s| s.resources.get(&r.id.to_string()));
        let cx = Cx {
            compiled,
            r,
            f,
            managed,
            steps: &steps,
            changed: &changed,
        };
        let step = match &r.desired {
            Desired::Barrier => None,
            Desired::Package { .. } => package(&cx),
            Desired::Directory { .. } => super::files::directory(&cx),
            Desired::File { .. } => super::files::file(&cx, i, &mut diffs),
            Desired::Service { .. } => super::service::service(&cx),
            Desired::Command { .. } => super::command::command(&cx),
            Desired::Health { .. } => super::command::health(&cx),
        };
        if let Some((action, reasons, ops, diff, drift)) = step {
            let sensitive = matches!(
                &r.desired,
                Desired::File {
                    sensitive: true,
                    ..
                }
            );
            steps[i] = Some(Step {
                id: r.id.to_string(),
                host: r.id.host.clone(),
                action,
                reasons,
                diff,
                sensitive,
                drift,
                ops,
                deps: vec![],
                retires: None,
                always: false,
            });
        }
        changed[i] = steps[i].as_ref().is_some_and(|s| s.action.is_change())
            || r.deps.iter().any(|&d| changed[d]);
    }
    for (i, d) in super::diff::many(&diffs) {
        if let Some(s) = steps[i].as_mut() {
            s.diff = Some(d);
        }
    }
    steps
}

fn package(cx: &Cx) -> Option<Proto> {
    let Desired::Package { name, no_start } = &cx.r.desired else {
        return None;
    };
    match cx.f.packages.get(name) {
        Some(Some(_)) => None,
        _ => Some((
            Action::Create,
            vec!["not installed".to_string()],
            vec![Op::AptInstall {
                packages: vec![name.clone()],
                no_start: *no_start,
            }],
            None,
            false,
        )),
    }
}

/// Whether resource `t`'s own step is a change.
pub(super) fn changed_self(steps: &[Option<Step>], t: usize) -> bool {
    steps[t].as_ref().is_some_and(|s| s.action.is_change())
}
