//! No switch of server in place: a Redis host of the stack that runs the
//! other server (Redis where `[redis] server` now says Valkey, or the
//! reverse) refuses the plan. The new server would start empty in its own
//! data directory and the old one be removed; and Valkey cannot load the RDB
//! files Redis 7.4+/8 writes, so copying the files over is no way either.

use super::server::{Server, KEY};
use crate::compile::Compiled;
use crate::facts::HostFacts;
use crate::plan::Plan;
use std::collections::BTreeMap;

/// The servers a host runs, as its facts show them: the one rampart
/// deployed there (its recorded state) and those whose package is
/// installed (the facts probe asks for every server's, see `facts::probe`).
pub fn running_on(f: &HostFacts, host: &str) -> Vec<Server> {
    let deployed = super::day2::deployed(f, host);
    Server::ALL
        .into_iter()
        .filter(|s| {
            deployed == Some(*s)
                || f.packages
                    .get(s.names().package)
                    .is_some_and(|v| v.is_some())
        })
        .collect()
}

/// A refusal for each of the stack's Redis hosts that runs another server
/// than the stack's.
pub fn refuse_a_switch_of_server(
    compiled: &Compiled,
    facts: &BTreeMap<String, HostFacts>,
    plan: &mut Plan,
) {
    let Some(k) = super::cluster(compiled) else {
        return;
    };
    let want = k.server;
    for h in &k.hosts {
        let Some(f) = facts.get(&h.name) else {
            continue;
        };
        for have in running_on(f, &h.name).into_iter().filter(|s| *s != want) {
            plan.refused.push(message(&h.name, have, want));
        }
    }
}

fn message(host: &str, have: Server, want: Server) -> String {
    let (o, n) = (have.names(), want.names());
    format!(
        "redis: {host} runs {old} ({old_pkg}), but `[redis] {KEY}` says \"{new_key}\". rampart does not switch a running cluster's server in place: {new} would start empty in {new_dir} and {old} would be removed, and the dataset does not move by switching the key (Valkey cannot load RDB files written by Redis 7.4+/8). Keep `{KEY} = \"{old_key}\"` for these hosts; to move to {new}, deploy it on new hosts (a second stack, or hosts not in [redis] now) and migrate the data there (replicate from the running cluster, or dump and restore), then take these hosts out.",
        old = o.title,
        old_pkg = o.package,
        old_key = o.name,
        new = n.title,
        new_key = n.name,
        new_dir = n.data_dir,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_runs_the_server_it_has_installed_or_rampart_deployed() {
        let mut f = HostFacts::default();
        assert!(running_on(&f, "h1").is_empty());
        f.packages
            .insert("redis-server".into(), Some("5:7.0.15-1".into()));
        f.packages.insert("valkey-server".into(), None);
        assert_eq!(running_on(&f, "h1"), [Server::Redis]);
        f.packages.clear();
        f.state = Some(crate::facts::HostState {
            version: 1,
            stack: "s".into(),
            resources: [(
                "h1/service/valkey-server".to_string(),
                crate::facts::ManagedEntry {
                    kind: "service".into(),
                    name: "valkey-server".into(),
                    sha256: None,
                    data: false,
                },
            )]
            .into(),
            hosts: vec![],
        });
        assert_eq!(running_on(&f, "h1"), [Server::Valkey]);
    }

    #[test]
    fn the_refusal_names_the_host_the_key_the_rdb_files_and_the_way_out() {
        let m = message("node2", Server::Redis, Server::Valkey);
        for part in [
            "node2 runs Redis (redis-server)",
            "`[redis] server` says \"valkey\"",
            "Valkey would start empty in /var/lib/valkey",
            "Valkey cannot load RDB files written by Redis 7.4+/8",
            "the dataset does not move by switching the key",
            "Keep `server = \"redis\"`",
            "new hosts",
            "dump and restore",
        ] {
            assert!(m.contains(part), "no `{part}` in {m}");
        }
    }
}
