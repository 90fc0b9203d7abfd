//! The host's state manifest: what it holds after the apply.

use super::Status;
use crate::facts::{HostState, STATE_DIR, STATE_FILE};
use crate::plan::Step;
use crate::transport::Session;
use std::collections::BTreeMap;

/// The host's state manifest: what succeeded, plus what was already right.
/// Entries of steps that did not succeed stay managed but lose their recorded
/// hash, so the next plan shows them as changes, never as drift; a removal
/// that did not happen stays managed, to be retried.
pub(super) fn state_body(
    stack: &str,
    hosts: Vec<String>,
    mut desired: BTreeMap<String, crate::facts::ManagedEntry>,
    mine: &[usize],
    steps: &[Step],
    status: &[Status],
) -> Result<Vec<u8>, String> {
    for &i in mine.iter().filter(|&&i| status[i] != Status::Done) {
        if let Some(e) = &steps[i].retires {
            desired
                .entry(steps[i].id.clone())
                .or_insert_with(|| e.clone());
        }
    }
    for &i in mine.iter().filter(|&&i| status[i] != Status::Done) {
        if let Some(e) = desired.get_mut(&steps[i].id) {
            e.sha256 = None;
        }
    }
    let st = HostState {
        version: 1,
        stack: stack.to_string(),
        resources: desired,
        hosts,
    };
    serde_json::to_vec_pretty(&st).map_err(|e| e.to_string())
}

/// Writes the state manifest read by `input` atomically.
pub(super) fn state_script(input: &str) -> String {
    format!("set -e\nmkdir -p {STATE_DIR}\nchmod 0700 {STATE_DIR}\ntmp=$(mktemp {STATE_DIR}/.state.XXXXXX)\n{input} > \"$tmp\"\nmv -f \"$tmp\" {STATE_FILE}\n")
}

/// Writes the host's state manifest atomically.
pub(super) async fn write_state(s: &dyn Session, body: &[u8]) -> Result<(), String> {
    let out = s
        .exec(&state_script("cat"), body)
        .await
        .map_err(|e| e.to_string())?;
    if out.ok() {
        Ok(())
    } else {
        Err(format!(
            "cannot write {STATE_FILE}: {}",
            out.stderr_str().trim()
        ))
    }
}
