//! Steps in plan order, each waiting for its nearest steps upstream.

use super::Step;
use crate::compile::Compiled;

/// The steps in compiled order, each with its deps: the nearest steps
/// upstream (through resources without steps); and for each, its resource.
pub(super) fn sequence(
    compiled: &Compiled,
    mut steps: Vec<Option<Step>>,
) -> (Vec<Step>, Vec<usize>) {
    let n = compiled.resources.len();
    let mut nearest: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &i in &compiled.order {
        let mut acc: Vec<usize> = Vec::new();
        for &d in &compiled.resources[i].deps {
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
