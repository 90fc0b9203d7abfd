//! Guarded commands (run when a guard fails or an input changed) and
//! health gates (waited on when something upstream changed).

use super::walk::{changed_self, Cx, Proto};
use super::{check_text, Action, Op};
use crate::compile::Desired;

pub(super) fn command(cx: &Cx) -> Option<Proto> {
    let Desired::Command {
        run,
        unless,
        creates,
        on_change,
        describe,
    } = &cx.r.desired
    else {
        return None;
    };
    let (compiled, f, r, steps) = (cx.compiled, cx.f, cx.r, cx.steps);
    let guard = f.guards.get(&r.id.to_string()).copied().unwrap_or(false);
    let triggers: Vec<String> = on_change
        .iter()
        .filter(|&&t| changed_self(steps, t))
        .map(|&t| compiled.resources[t].id.to_string())
        .collect();
    let has_guard = unless.is_some() || creates.is_some();
    if !triggers.is_empty() {
        Some((
            Action::Run,
            vec![format!("{} changed", triggers.join(", "))],
            vec![Op::RunCommand {
                run: run.clone(),
                unless: None,
                creates: None,
            }],
            None,
            false,
        ))
    } else if has_guard && !guard {
        let why = match (describe, unless, creates) {
            (Some(d), _, _) => d.clone(),
            (_, _, Some(c)) => format!("{c} does not exist"),
            _ => "its `unless` check fails".to_string(),
        };
        Some((
            Action::Run,
            vec![why],
            vec![Op::RunCommand {
                run: run.clone(),
                unless: unless.clone(),
                creates: creates.clone(),
            }],
            None,
            false,
        ))
    } else {
        None
    }
}

pub(super) fn health(cx: &Cx) -> Option<Proto> {
    let Desired::Health {
        check,
        timeout,
        interval,
    } = &cx.r.desired
    else {
        return None;
    };
    let (r, changed) = (cx.r, cx.changed);
    let upstream = r.deps.iter().any(|&d| changed[d]);
    upstream.then(|| {
        (
            Action::Wait,
            vec![format!("wait up to {timeout}s for {}", check_text(check))],
            vec![Op::Wait {
                check: check.clone(),
                timeout: *timeout,
                interval: *interval,
            }],
            None,
            false,
        )
    })
}
