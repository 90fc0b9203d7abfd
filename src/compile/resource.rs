//! What compile produces: resources by id, what each should be, and the
//! compiled stack with its DAG order and per-host lists.

use crate::components::Topology;
use crate::diag::Diagnostics;
use crate::model::release::{Release, ReleaseFrom};
use crate::model::secret::Secret;
use crate::roles::Check;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// `host/kind/name`: the same id in the graph, the plan, the output and the tests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    pub host: String,
    pub kind: Kind,
    pub name: String,
}

impl ResourceId {
    pub fn new(host: &str, kind: Kind, name: &str) -> ResourceId {
        ResourceId {
            host: host.to_string(),
            kind,
            name: name.to_string(),
        }
    }
}

/// The middle of an id: a role resource's kind (as role.toml writes it),
/// a component's barrier, a data directory in a host's state, a day-2
/// step's component (`host/patroni/leave`, `host/member/etcd-join`), or a
/// `rampart restore` step (`host/restore/stop-patroni`). Its text is the
/// id's; ids order as their text does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Package,
    Directory,
    File,
    Unit,
    Service,
    Command,
    Health,
    /// A component finished on all its hosts (`*/barrier/etcd`).
    Barrier,
    /// A data directory in a host's state (`host/data/var/lib/etcd/x`).
    Data,
    /// etcd's membership changes.
    Member,
    /// Patroni's member script (leave, restart-pending).
    Patroni,
    /// Redis' failovers and Sentinel resets.
    Redis,
    /// Qdrant's peer removals.
    Qdrant,
    /// pgBackRest's first full backup after the rolling restart.
    Pgbackrest,
    /// `rampart restore`'s steps.
    Restore,
    /// An app host drained in HAProxy, and made ready again, around its roll.
    Haproxy,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::Package,
        Kind::Directory,
        Kind::File,
        Kind::Unit,
        Kind::Service,
        Kind::Command,
        Kind::Health,
        Kind::Barrier,
        Kind::Data,
        Kind::Member,
        Kind::Patroni,
        Kind::Redis,
        Kind::Qdrant,
        Kind::Pgbackrest,
        Kind::Restore,
        Kind::Haproxy,
    ];
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Package => "package",
            Kind::Directory => "directory",
            Kind::File => "file",
            Kind::Unit => "unit",
            Kind::Service => "service",
            Kind::Command => "command",
            Kind::Health => "health",
            Kind::Barrier => "barrier",
            Kind::Data => "data",
            Kind::Member => "member",
            Kind::Patroni => "patroni",
            Kind::Redis => "redis",
            Kind::Qdrant => "qdrant",
            Kind::Pgbackrest => "pgbackrest",
            Kind::Restore => "restore",
            Kind::Haproxy => "haproxy",
        }
    }
    /// The kind of this text, None for another.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Ord for Kind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Kind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.host,
            self.kind,
            self.name.trim_start_matches('/')
        )
    }
}

/// The host name of barrier nodes (one per component, on no host).
pub const NO_HOST: &str = "*";

/// What a resource should be, after rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Desired {
    Package {
        name: String,
        no_start: bool,
    },
    Directory {
        path: String,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
    },
    File {
        path: String,
        #[serde(skip)]
        content: Vec<u8>,
        sha256: String,
        mode: u32,
        owner: String,
        group: String,
        sensitive: bool,
        validate: Option<String>,
        /// A unit file: `systemctl daemon-reload` after it changes.
        daemon_reload: bool,
        /// Units restarted when this changes (marked pending before the write).
        notify: Vec<String>,
    },
    Service {
        name: String,
        enabled: bool,
        running: bool,
        no_block: bool,
        reload: bool,
        restart_on: Vec<usize>,
    },
    Command {
        run: String,
        unless: Option<String>,
        creates: Option<String>,
        on_change: Vec<usize>,
        /// What the plan says it does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        describe: Option<String>,
    },
    Health {
        check: Check,
        timeout: u64,
        interval: u64,
    },
    /// A component finished on all its hosts (no action; ordering only).
    Barrier,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub id: ResourceId,
    /// `etcd`, `services.backend`, `roles.x`.
    pub component: String,
    pub desired: Desired,
    /// Indices of resources this one waits for.
    pub deps: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub stack: String,
    /// Every resource; each one's `deps` are the edges of the DAG.
    pub resources: Vec<Resource>,
    /// A topological order of resource indices.
    pub order: Vec<usize>,
    /// Hosts that have at least one resource, sorted.
    pub hosts: Vec<String>,
    /// Each host's resources in topological order.
    pub by_host: std::collections::HashMap<String, Vec<usize>>,
    /// Each host's data directories (declared by roles, made by the services).
    pub data_dirs: BTreeMap<String, Vec<String>>,
    /// Every secret value used, to detect and mask it.
    pub secrets: Vec<Secret>,
    pub warnings: Diagnostics,
    /// Each deployed component's cluster as a whole, by component name
    /// (`Component::topology`); each reads its own back through its folder's
    /// accessor (`Compiled::topology_of`).
    pub topology: BTreeMap<&'static str, Arc<dyn Topology>>,
    /// Each inventory host's Debian release as the inventory says, and where
    /// it says it: the plan refuses a host that runs another.
    pub releases: BTreeMap<String, (Release, ReleaseFrom)>,
    /// The inventory file's path (for messages).
    pub inventory: String,
    /// Each `serial_from` roll (a role instance rolled one host at a time).
    pub rolls: Vec<Roll>,
}

/// A `serial_from` roll: where each host's rolled part starts, and the
/// links that make each host's start wait for the previous host's last
/// resource. On a first install (every host's start is the named resource
/// and the plan creates it on every host: nothing runs yet) the plan drops
/// the links and all hosts go at once (`plan::order`); the links to every
/// host's part before the roll (its pull) stay.
#[derive(Debug, Clone, Default)]
pub struct Roll {
    /// Each host's start, or None when the host has no resource named by
    /// `serial_from` (its whole chain rolls).
    pub starts: Vec<Option<usize>>,
    /// (start, previous host's last resource).
    pub links: Vec<(usize, usize)>,
}

impl Compiled {
    /// The cluster `component` put in `topology`, as its own type; None when
    /// the stack does not deploy it.
    pub fn topology_of<T: Topology>(&self, component: &str) -> Option<&T> {
        let t: &dyn Any = self.topology.get(component)?.as_ref();
        t.downcast_ref()
    }
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.resources.iter().position(|r| r.id.to_string() == id)
    }
    /// Resources of one host, in topological order.
    pub fn host_order(&self, host: &str) -> &[usize] {
        self.by_host.get(host).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Stable text rendering of the graph: one line per resource with what it waits for.
    pub fn graph_text(&self) -> String {
        let mut out = String::new();
        for &i in &self.order {
            let r = &self.resources[i];
            let mut deps: Vec<String> = r
                .deps
                .iter()
                .map(|&d| self.resources[d].id.to_string())
                .collect();
            deps.sort();
            if deps.is_empty() {
                out.push_str(&format!("{}\n", r.id));
            } else {
                out.push_str(&format!("{} <- {}\n", r.id, deps.join(", ")));
            }
        }
        out
    }
    /// Graphviz DOT.
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph rampart {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for &i in &self.order {
            let r = &self.resources[i];
            let shape = if matches!(r.desired, Desired::Barrier) {
                ", shape=diamond"
            } else {
                ""
            };
            out.push_str(&format!("  \"{}\" [label=\"{}\"{}];\n", r.id, r.id, shape));
        }
        for &i in &self.order {
            for &d in &self.resources[i].deps {
                out.push_str(&format!(
                    "  \"{}\" -> \"{}\";\n",
                    self.resources[d].id, self.resources[i].id
                ));
            }
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind's text is the id's, role.toml's and the state file's; ids
    /// order as their text does.
    #[test]
    fn kinds_keep_their_text_and_order() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(Kind::parse("fiel"), None);
        let id = ResourceId::new("lab1", Kind::File, "/etc/patroni/config.yml");
        assert_eq!(id.to_string(), "lab1/file/etc/patroni/config.yml");
        let mut kinds = Kind::ALL.to_vec();
        kinds.sort();
        let mut texts: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        texts.sort();
        assert_eq!(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(), texts);
    }
}
