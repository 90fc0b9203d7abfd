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
    pub kind: String,
    pub name: String,
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
