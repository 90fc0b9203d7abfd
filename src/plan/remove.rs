//! Removal steps for what a host holds and no longer should.

use super::{Action, Op, Step, SystemctlVerb};
use crate::compile::Kind;
use crate::facts::ManagedEntry;

/// Removal steps for managed entries, services first, packages last.
pub fn destroy_steps<'a>(
    host: &str,
    entries: impl Iterator<Item = (&'a String, &'a ManagedEntry)>,
    destroy_data: bool,
) -> Vec<Step> {
    let rank = |k: &str| match Kind::parse(k) {
        Some(Kind::Service) => 0,
        Some(Kind::Unit) => 1,
        Some(Kind::File) => 2,
        Some(Kind::Directory) => 3,
        Some(Kind::Package) => 4,
        _ => 5,
    };
    let mut v: Vec<(&String, &ManagedEntry)> = entries.collect();
    v.sort_by_key(|(id, e)| (rank(&e.kind), (*id).clone()));
    let mut out = Vec::new();
    for (id, e) in v {
        let ops = match Kind::parse(&e.kind) {
            Some(Kind::Service) => vec![Op::Systemctl {
                verb: SystemctlVerb::DisableNow,
                unit: e.name.clone(),
                no_block: false,
            }],
            Some(Kind::Unit) => vec![Op::RemoveFile {
                path: e.name.clone(),
                daemon_reload: true,
            }],
            Some(Kind::File) => vec![Op::RemoveFile {
                path: e.name.clone(),
                daemon_reload: false,
            }],
            Some(Kind::Directory) if e.data && !destroy_data => continue,
            Some(Kind::Directory) => vec![Op::RemoveDir {
                path: e.name.clone(),
                recursive: e.data,
            }],
            Some(Kind::Package) => vec![Op::AptRemove {
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
