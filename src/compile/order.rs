//! Ordering: components after what they wait for, resources in a stable
//! topological order, and the error naming a cycle.

use super::Resource;
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::stack::Stack;
use petgraph::graph::{DiGraph, NodeIndex};

/// Kahn's algorithm, always taking the lowest ready index: the same order
/// for the same inputs, close to the order resources were declared in.
pub(super) fn stable_toposort(resources: &[Resource]) -> Option<Vec<usize>> {
    let n = resources.len();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, r) in resources.iter().enumerate() {
        for &d in &r.deps {
            indeg[i] += 1;
            out[d].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &out[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(std::cmp::Reverse(j));
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Components sorted so that each comes after what it waits for.
pub(super) fn component_order(stack: &Stack) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = stack.placement.keys().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|c| {
            let ready = stack
                .after
                .get(*c)
                .into_iter()
                .flatten()
                .all(|d| done.contains(d));
            if ready {
                done.push((*c).clone());
            }
            !ready
        });
        if left.len() == before {
            // a cycle: reported by the stack parser; keep going deterministically
            done.extend(left.drain(..).cloned());
        }
    }
    done
}

/// The error for resources that wait for each other in a cycle, naming its
/// members (petgraph finds them; the walk itself reads each resource's `deps`).
pub(super) fn cycle_error(resources: &[Resource], stack: &Stack) -> Diagnostics {
    let mut graph = DiGraph::<usize, ()>::with_capacity(resources.len(), resources.len() * 2);
    for i in 0..resources.len() {
        graph.add_node(i);
    }
    for (i, r) in resources.iter().enumerate() {
        for &d in &r.deps {
            graph.add_edge(NodeIndex::new(d), NodeIndex::new(i), ());
        }
    }
    let sccs = petgraph::algo::kosaraju_scc(&graph);
    let members: Vec<String> = sccs
        .into_iter()
        .find(|s| s.len() > 1)
        .unwrap_or_default()
        .into_iter()
        .map(|n| resources[n.index()].id.to_string())
        .collect();
    let mut d = Diagnostics::default();
    d.push(Diagnostic::plain(
        stack.source.path.clone(),
        format!(
            "resources wait for each other in a cycle: {}",
            members.join(" -> ")
        ),
        Some("remove one of the `after` entries that form it (in the roles' role.toml)".into()),
    ));
    d
}
