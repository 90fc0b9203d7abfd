//! One step on its own: its ops, each in its own exec, in order.

use crate::plan::{Op, Step};
use crate::transport::Session;
use std::collections::HashMap;

/// An op ready to run: the `after_packages` relaxation applied and the
/// file content (checked against the planned hash) it reads on stdin.
pub(super) fn resolve<'a>(
    op: &Op,
    step: &Step,
    contents: &'a HashMap<String, Vec<u8>>,
    after_packages: bool,
) -> Result<(Op, &'a [u8]), String> {
    let mut op = op.clone();
    // a package installed earlier in this apply may have shipped a file planned as absent
    if let Op::WriteFile { expect, .. } = &mut op {
        if expect.is_none() && after_packages {
            *expect = Some("*".into());
        }
    }
    let stdin: &[u8] = match &op {
        Op::WriteFile { sha256, .. } => match contents.get(&step.id) {
            Some(c) if crate::util::sha256_hex(c) == *sha256 => c,
            Some(_) => return Err(
                "the inputs changed since this plan was made (file content differs); plan again"
                    .into(),
            ),
            None => return Err("this file is no longer in the stack; plan again".into()),
        },
        _ => b"",
    };
    Ok((op, stdin))
}

/// How a failed op is reported: the tail of its stderr and its exit status.
pub(super) fn failure_message(op: &Op, status: i32, stderr: &str) -> String {
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if status == crate::plan::op::STALE {
        format!("stale plan: {}", tail.join("\n"))
    } else {
        format!(
            "{} failed (exit {status}): {}",
            op.describe(),
            tail.join("\n")
        )
    }
}

pub(super) async fn run_step(
    s: &dyn Session,
    step: &Step,
    contents: &HashMap<String, Vec<u8>>,
    after_packages: bool,
) -> Result<(), String> {
    for op in &step.ops {
        let (op, stdin) = resolve(op, step, contents, after_packages)?;
        let out = s
            .exec(&op.script(), stdin)
            .await
            .map_err(|e| e.to_string())?;
        if !out.ok() {
            return Err(failure_message(&op, out.status, &out.stderr_str()));
        }
    }
    Ok(())
}
