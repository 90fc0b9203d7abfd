//! Facts of hosts where every compiled resource is in place (or none is),
//! for the plan tests that run without SSH and for `bench/scale.rs` (which
//! includes this file by its path).

use rampart::compile::{Compiled, Desired};
use rampart::facts::{FileFact, HostFacts, ServiceFact};
use std::collections::BTreeMap;

/// Facts of every host of `c` with nothing of it in place yet.
pub fn fresh(c: &Compiled) -> BTreeMap<String, HostFacts> {
    c.hosts
        .iter()
        .map(|h| (h.clone(), HostFacts::default()))
        .collect()
}

/// Facts of a host where the compiled resources are all in place.
pub fn converged(c: &Compiled, host: &str) -> HostFacts {
    let mut f = converged_hashes(c, host);
    for &i in c.host_order(host) {
        if let Desired::File { path, content, .. } = &c.resources[i].desired {
            if let Some(fact) = f.files.get_mut(path) {
                fact.content = Some(content.clone());
            }
        }
    }
    f
}

/// `converged` as the facts probe sends it back: files by hash alone (it
/// sends a file's content only where the hash is not the planned one).
pub fn converged_hashes(c: &Compiled, host: &str) -> HostFacts {
    let mut f = HostFacts::default();
    for &i in c.host_order(host) {
        match &c.resources[i].desired {
            Desired::Package { name, .. } => {
                f.packages.insert(name.clone(), Some("1.0".into()));
            }
            Desired::File {
                path,
                sha256,
                mode,
                owner,
                group,
                ..
            } => {
                f.files.insert(
                    path.clone(),
                    FileFact {
                        exists: true,
                        is_dir: false,
                        sha256: Some(sha256.clone()),
                        mode: Some(*mode),
                        owner: Some(owner.clone()),
                        group: Some(group.clone()),
                        content: None,
                    },
                );
            }
            Desired::Service { name, .. } => {
                f.services.insert(
                    name.clone(),
                    ServiceFact {
                        enabled: "enabled".into(),
                        active: "active".into(),
                    },
                );
            }
            _ => {}
        }
    }
    f
}

/// `converged`, with the directories in place and every command's guard holding.
pub fn converged_guards_hold(c: &Compiled, host: &str) -> HostFacts {
    let mut f = converged(c, host);
    for &i in c.host_order(host) {
        match &c.resources[i].desired {
            Desired::Command { .. } => {
                f.guards.insert(c.resources[i].id.to_string(), true);
            }
            Desired::Directory {
                path,
                mode,
                owner,
                group,
            } => {
                f.files.insert(
                    path.clone(),
                    FileFact {
                        exists: true,
                        is_dir: true,
                        sha256: None,
                        mode: *mode,
                        owner: owner.clone(),
                        group: group.clone(),
                        content: None,
                    },
                );
            }
            _ => {}
        }
    }
    f
}
