//! Steps in plan order, each waiting for its nearest steps upstream.

use super::{Action, Step};
use crate::compile::Compiled;
use std::collections::HashSet;

/// The steps in compiled order, each with its deps: the nearest steps
/// upstream (through resources without steps); and for each, its resource.
pub(super) fn sequence(
    compiled: &Compiled,
    mut steps: Vec<Option<Step>>,
) -> (Vec<Step>, Vec<usize>) {
    let n = compiled.resources.len();
    let released = first_installs(compiled, &steps);
    let mut nearest: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &i in &compiled.order {
        let mut acc: Vec<usize> = Vec::new();
        for &d in &compiled.resources[i].deps {
            if released.contains(&(i, d)) {
                continue;
            }
            if steps[d].is_some() {
                acc.push(d);
            } else {
                acc.extend(nearest[d].iter().copied());
            }
        }
        acc.sort_unstable();
        acc.dedup();
        nearest[i] = acc;
    }
    let mut out = Vec::new();
    let mut source = Vec::new();
    for &i in &compiled.order {
        if let Some(mut s) = steps[i].take() {
            s.deps = nearest[i]
                .iter()
                .map(|&d| compiled.resources[d].id.to_string())
                .collect();
            out.push(s);
            source.push(i);
        }
    }
    (out, source)
}

/// The roll links a plan drops: those of a `serial_from` roll that is a
/// first install, where every host's start is the named resource and the
/// plan creates it on every host (nothing of it runs anywhere yet, so
/// there is nothing to keep serving: all hosts go at once). A roll where
/// any host already has it keeps its one-host-at-a-time order.
fn first_installs(compiled: &Compiled, steps: &[Option<Step>]) -> HashSet<(usize, usize)> {
    let mut out = HashSet::new();
    for roll in &compiled.rolls {
        let first = !roll.starts.is_empty()
            && roll.starts.iter().all(|s| {
                s.is_some_and(|i| {
                    steps[i]
                        .as_ref()
                        .is_some_and(|st| st.action == Action::Create)
                })
            });
        if first {
            out.extend(roll.links.iter().copied());
        }
    }
    out
}
