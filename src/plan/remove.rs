//! Removal steps for what a host holds and no longer should.

use super::{Action, Op, Step, SystemctlVerb};
use crate::facts::ManagedEntry;

/// Removal steps for managed entries, services first, packages last.
pub fn destroy_steps<'a>(
    host: &str,
    entries: impl Iterator<Item = (&'a String, &'a ManagedEntry)>,
    destroy_data: bool,
) -> Vec<Step> {
    let rank = |k: &str| match k {
        "service" => 0,
        "unit" => 1,
        "file" => 2,
        "directory" => 3,
        "package" => 4,
        _ => 5,
    };
    let mut v: Vec<(&String, &ManagedEntry)> = entries.collect();
    v.sort_by_key(|(id, e)| (rank(&e.kind), (*id).clone()));
    let mut out = Vec::new();
    for (id, e) in v {
        let ops = match e.kind.as_str() {
            "service" => vec![Op::Systemctl {
                verb: SystemctlVerb::DisableNow,
                unit: e.name.clone(),
                no_block: false,
            }],
            "unit" => vec![Op::RemoveFile {
                path: e.name.clone(),
                daemon_reload: true,
            }],
            "file" => vec![Op::RemoveFile {
                path: e.name.clone(),
                daemon_reload: false,
            }],
            "directory" if e.data && !destroy_data => continue,
            "directory" => vec![Op::RemoveDir {
                path: e.name.clone(),
                recursive: e.data,
            }],
            "package" => vec![Op::AptRemove {
                packages: vec![e.name.clone()],
            }],
            _ => continue,
        };
        out.push(Step {
            id: id.clone(),
            host: host.to_string(),
            action: Action::Delete,
            reasons: vec!["no longer in the stack".into()],
            diff: None,
            sensitive: false,
            drift: false,
            ops,
            deps: vec![],
            retires: Some(e.clone()),
        });
    }
    out
}
