//! The state manifest each host gets when its steps succeed, and the
//! removal of what a host's last manifest holds that the stack no longer does.

use super::remove::destroy_steps;
use super::Step;
use crate::compile::{Compiled, Desired, Kind};
use crate::facts::{HostFacts, ManagedEntry};
use std::collections::BTreeMap;

/// Every host's state manifest to write.
pub(super) type States = BTreeMap<String, BTreeMap<String, ManagedEntry>>;

/// Each host's desired manifest; appends to `out` the removals of what a
/// host's recorded state holds and the stack no longer does, and returns the
/// hosts whose recorded host list is out of date.
pub(super) fn states(
    compiled: &Compiled,
    facts: &BTreeMap<String, HostFacts>,
    out: &mut Vec<Step>,
) -> (States, Vec<String>) {
    let mut states = BTreeMap::new();
    let mut refresh = Vec::new();
    for host in facts.keys() {
        let f = &facts[host];
        let mut desired_state: BTreeMap<String, ManagedEntry> = BTreeMap::new();
        for &i in compiled.host_order(host) {
            let r = &compiled.resources[i];
            let (kind, name, sha) = match &r.desired {
                Desired::Package { name, .. } => (Kind::Package, name.clone(), None),
                Desired::Directory { path, .. } => (Kind::Directory, path.clone(), None),
                Desired::File {
                    path,
                    sha256,
                    daemon_reload,
                    ..
                } => (
                    if *daemon_reload {
                        Kind::Unit
                    } else {
                        Kind::File
                    },
                    path.clone(),
                    Some(sha256.clone()),
                ),
                Desired::Service { name, .. } => (Kind::Service, name.clone(), None),
                _ => continue,
            };
            desired_state.insert(
                r.id.to_string(),
                ManagedEntry {
                    kind: kind.to_string(),
                    name,
                    sha256: sha,
                    data: false,
                },
            );
        }
        for d in compiled.data_dirs.get(host).into_iter().flatten() {
            desired_state.insert(
                // `host/data/PATH`, the path as written (not trimmed as a resource's)
                format!("{host}/{}{d}", Kind::Data),
                ManagedEntry {
                    kind: Kind::Directory.to_string(),
                    name: d.clone(),
                    sha256: None,
                    data: true,
                },
            );
        }
        if let Some(st) = &f.state {
            out.extend(destroy_steps(
                host,
                st.resources
                    .iter()
                    .filter(|(id, _)| !desired_state.contains_key(*id)),
                false,
            ));
            if st.hosts != compiled.hosts {
                refresh.push(host.clone());
            }
        }
        states.insert(host.clone(), desired_state);
    }
    (states, refresh)
}
