//! Compile: inventory + stack + roles -> resources (`host/kind/name`) in a
//! petgraph DAG. Pure: no network, no file system (secrets come in resolved).

pub mod view;

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::inventory::Inventory;
use crate::model::secret::Secret;
use crate::model::stack::Stack;
use crate::roles::{Check, HealthScope, RoleResource, RoleSet};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

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
    /// The stack's etcd cluster as a whole (no `member`), for membership changes.
    pub etcd: Option<view::EtcdView>,
    /// The hosts of the Patroni cluster, in stack order.
    pub postgres_hosts: Vec<String>,
    /// `[postgres.parameters]` as JSON `{name: "value"}`.
    pub postgres_parameters: String,
    /// The hosts of Redis (and its Sentinels), in stack order, with their addresses.
    pub redis_hosts: Vec<view::Backend>,
    /// Sentinel's name for the master and its quorum.
    pub sentinel: Option<view::SentinelView>,
    /// The Qdrant peers, in stack order.
    pub qdrant_hosts: Vec<String>,
}

impl Compiled {
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

/// How secrets are supplied to rendering.
#[derive(Debug, Clone)]
pub enum SecretValues {
    /// `validate`: no secret is read; a placeholder is rendered.
    Placeholder,
    /// Read values, by the stack key that uses them.
    Values(BTreeMap<String, Secret>),
}

impl SecretValues {
    /// The value for a stack key, or a placeholder when validating.
    pub fn get(&self, key: &str) -> String {
        match self {
            SecretValues::Placeholder => "(sensitive)".to_string(),
            SecretValues::Values(m) => m
                .get(key)
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
        }
    }
}

/// A template file rendered for one host, with its content hash.
#[derive(Clone)]
struct Rendered {
    text: String,
    sha256: String,
}

/// One role applied to some hosts.
struct Instance {
    component: String,
    role: String,
    hosts: Vec<String>,
    vars: toml::Table,
}

pub fn compile(
    inv: &Inventory,
    stack: &Stack,
    roles: &RoleSet,
    secrets: &SecretValues,
) -> Result<Compiled, Diagnostics> {
    let mut c = Compiler {
        inv,
        stack,
        roles,
        r: crate::render::Renderer::default(),
        diags: Diagnostics::default(),
        resources: Vec::new(),
        by_id: HashMap::new(),
        barrier: BTreeMap::new(),
        data_dirs: BTreeMap::new(),
    };
    let mut instances = Vec::new();
    let mut warnings = crate::model::zones::check(stack, inv);
    for comp in stack.placement.keys() {
        let (role, vars) = if let Some(name) = comp.strip_prefix("roles.") {
            let ri = &stack.roles[name];
            let role = ri
                .role
                .as_ref()
                .map(|r| r.get_ref().clone())
                .unwrap_or_else(|| name.to_string());
            if roles.get(&role).is_none() {
                let span = ri.role.as_ref().map(|r| r.span()).or(Some(ri.hosts.span()));
                let help = match crate::diag::did_you_mean(
                    &role,
                    roles.roles.keys().map(String::as_str),
                ) {
                    Some(s) => format!(
                        "did you mean `{s}`? or add roles/{role}/role.toml and pass --roles DIR"
                    ),
                    None => {
                        format!("add roles/{role}/role.toml to a roles folder and pass --roles DIR")
                    }
                };
                c.diags.push(stack.source.diag(
                    span,
                    format!("roles.{name}: there is no role `{role}`"),
                    Some(help),
                ));
                continue;
            }
            (role, ri.vars.clone())
        } else {
            let role = match comp.strip_prefix("services.") {
                // app services: a systemd unit for `command`, a compose project for `image`
                Some(name) if stack.services[name].image.is_some() => "compose".to_string(),
                Some(_) => "service".to_string(),
                None if comp == "backup" => "backup".to_string(),
                None => comp.split('.').next().unwrap_or(comp).to_string(),
            };
            if roles.get(&role).is_none() {
                warnings.push(Diagnostic {
                    warning: true,
                    ..Diagnostic::plain(stack.source.path.clone(), format!("[{comp}] is checked but not deployed: this version of rampart has no `{role}` role yet"), Some("remove the table, or provide roles/{role}/role.toml with --roles".replace("{role}", &role)))
                });
                continue;
            }
            (role, toml::Table::new())
        };
        instances.push(Instance {
            component: comp.clone(),
            role,
            hosts: stack.hosts_of(comp).to_vec(),
            vars,
        });
    }
    let secret_list: Vec<Secret> = match secrets {
        SecretValues::Placeholder => Vec::new(),
        SecretValues::Values(m) => m.values().cloned().collect(),
    };
    // components in dependency order so barriers exist before their waiters
    let order = component_order(stack);
    for comp in order {
        if let Some(inst) = instances.iter().find(|i| i.component == comp) {
            c.instance(inst, secrets, &secret_list);
        }
    }
    if c.diags.has_errors() {
        return Err(c.diags);
    }
    let resources = c.resources;
    let data_dirs = c.data_dirs;
    let order = match stable_toposort(&resources) {
        Some(o) => o,
        None => {
            // petgraph names the cycle (the walk itself reads each resource's `deps`)
            let mut graph =
                DiGraph::<usize, ()>::with_capacity(resources.len(), resources.len() * 2);
            for i in 0..resources.len() {
                graph.add_node(i);
            }
            for (i, r) in resources.iter().enumerate() {
                for &d in &r.deps {
                    graph.add_edge(NodeIndex::new(d), NodeIndex::new(i), ());
                }
            }
            let sccs = petgraph::algo::kosaraju_scc(&graph);
            let members: Vec<String> = sccs
                .into_iter()
                .find(|s| s.len() > 1)
                .unwrap_or_default()
                .into_iter()
                .map(|n| resources[n.index()].id.to_string())
                .collect();
            let mut d = Diagnostics::default();
            d.push(Diagnostic::plain(
                stack.source.path.clone(),
                format!(
                    "resources wait for each other in a cycle: {}",
                    members.join(" -> ")
                ),
                Some(
                    "remove one of the `after` entries that form it (in the roles' role.toml)"
                        .into(),
                ),
            ));
            return Err(d);
        }
    };
    let mut by_host: std::collections::HashMap<String, Vec<usize>> =
        std::collections::HashMap::new();
    for &i in &order {
        let h = &resources[i].id.host;
        if h != NO_HOST {
            by_host.entry(h.clone()).or_default().push(i);
        }
    }
    let mut hosts: Vec<String> = by_host.keys().cloned().collect();
    hosts.sort();
    let etcd = if instances.iter().any(|i| i.component == "etcd") {
        view::etcd(inv, stack, "")
    } else {
        None
    };
    let postgres_hosts = if instances.iter().any(|i| i.component == "postgres") {
        stack.hosts_of("postgres").to_vec()
    } else {
        Vec::new()
    };
    let postgres_parameters = stack
        .postgres
        .as_ref()
        .map(|p| view::parameters_json(&p.parameters).to_string())
        .unwrap_or_else(|| "{}".into());
    let redis_hosts = if instances.iter().any(|i| i.component == "redis") {
        view::redis_members(inv, stack)
    } else {
        Vec::new()
    };
    let sentinel = stack
        .redis
        .as_ref()
        .filter(|_| !redis_hosts.is_empty())
        .and_then(|r| r.sentinel.as_ref())
        .map(view::sentinel);
    let qdrant_hosts = if instances.iter().any(|i| i.component == "qdrant") {
        stack.hosts_of("qdrant").to_vec()
    } else {
        Vec::new()
    };
    Ok(Compiled {
        stack: stack.name.clone(),
        resources,
        order,
        hosts,
        by_host,
        data_dirs,
        secrets: secret_list,
        warnings,
        etcd,
        postgres_hosts,
        postgres_parameters,
        redis_hosts,
        sentinel,
        qdrant_hosts,
    })
}

/// Kahn's algorithm, always taking the lowest ready index: the same order
/// for the same inputs, close to the order resources were declared in.
fn stable_toposort(resources: &[Resource]) -> Option<Vec<usize>> {
    let n = resources.len();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, r) in resources.iter().enumerate() {
        for &d in &r.deps {
            indeg[i] += 1;
            out[d].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &out[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.push(std::cmp::Reverse(j));
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Components sorted so that each comes after what it waits for.
fn component_order(stack: &Stack) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = stack.placement.keys().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|c| {
            let ready = stack
                .after
                .get(*c)
                .into_iter()
                .flatten()
                .all(|d| done.contains(d));
            if ready {
                done.push((*c).clone());
            }
            !ready
        });
        if left.len() == before {
            // a cycle: reported by the stack parser; keep going deterministically
            done.extend(left.drain(..).cloned());
        }
    }
    done
}

struct Compiler<'a> {
    inv: &'a Inventory,
    stack: &'a Stack,
    roles: &'a RoleSet,
    r: crate::render::Renderer,
    diags: Diagnostics,
    resources: Vec<Resource>,
    by_id: HashMap<ResourceId, usize>,
    /// Component -> its barrier resource.
    barrier: BTreeMap<String, usize>,
    data_dirs: BTreeMap<String, Vec<String>>,
}

fn parse_mode(s: &str) -> Option<u32> {
    let t = s.trim_start_matches("0o");
    if t.is_empty() || t.len() > 4 {
        return None;
    }
    u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o7777)
}

fn safe_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains('\n')
        && !p.contains('\0')
        && !p.split('/').any(|s| s == "..")
        && p.len() < 4096
        && !p.ends_with('/')
}

impl Compiler<'_> {
    fn view(
        &self,
        inst: &Instance,
        host: &str,
        secrets: &SecretValues,
        wants_hosts: bool,
    ) -> handlebars::Context {
        let h = &self.inv.hosts[host];
        // every member of the instance, for roles that list them (skipped otherwise: O(hosts) per host)
        let members: Vec<view::HostView> = if wants_hosts {
            inst.hosts
                .iter()
                .filter_map(|n| self.inv.hosts.get(n))
                .map(view::HostView::of)
                .collect()
        } else {
            Vec::new()
        };
        let mut vars = h.vars.clone();
        for (k, v) in &inst.vars {
            vars.insert(k.clone(), v.clone());
        }
        let mut v = serde_json::json!({
            "stack": { "name": self.stack.name },
            "component": inst.component,
            "host": view::HostView::of(h),
            "hosts": members,
            "vars": vars,
        });
        if let Some(e) = view::etcd(self.inv, self.stack, host) {
            v["etcd"] = serde_json::to_value(e).unwrap_or_default();
        }
        if let Some(p) = view::postgres(self.inv, self.stack, host, secrets) {
            v["postgres"] = serde_json::to_value(p).unwrap_or_default();
        }
        if let Some(r) = view::redis(self.inv, self.stack, host, secrets) {
            v["redis"] = serde_json::to_value(r).unwrap_or_default();
        }
        if let Some(name) = inst.component.strip_prefix("services.") {
            if let Some(sv) = view::service(self.stack, name, host) {
                v["service"] = serde_json::to_value(sv).unwrap_or_default();
            }
        }
        if let Some(q) = view::qdrant(self.inv, self.stack, host) {
            v["qdrant"] = serde_json::to_value(q).unwrap_or_default();
        }
        if let Some(b) = view::pgbouncer(self.inv, self.stack, host, secrets) {
            v["pgbouncer"] = serde_json::to_value(b).unwrap_or_default();
        }
        if let Some(k) = view::keepalived(self.inv, self.stack, host) {
            v["keepalived"] = serde_json::to_value(k).unwrap_or_default();
        }
        if let Some(b) = view::backup(self.stack) {
            v["backup"] = serde_json::to_value(b).unwrap_or_default();
        }
        if let Some(h) = view::haproxy(self.inv, self.stack, secrets) {
            v["haproxy"] = serde_json::to_value(h).unwrap_or_default();
        }
        handlebars::Context::from(v)
    }

    fn render(
        &mut self,
        origin: &str,
        what: &str,
        template: &str,
        view: &handlebars::Context,
    ) -> Option<String> {
        match self.r.inline(template, view) {
            Ok(s) => Some(s),
            Err(e) => {
                self.diags.push(Diagnostic::plain(
                    origin.to_string(),
                    format!("{what}: {e}"),
                    Some("fix the template or give the value it needs".into()),
                ));
                None
            }
        }
    }

    fn push(&mut self, r: Resource) -> Result<usize, String> {
        if let Some(&i) = self.by_id.get(&r.id) {
            let same_package = matches!(
                (&self.resources[i].desired, &r.desired),
                (Desired::Package { .. }, Desired::Package { .. })
            );
            if same_package {
                for d in r.deps {
                    if !self.resources[i].deps.contains(&d) {
                        self.resources[i].deps.push(d);
                    }
                }
                return Ok(i);
            }
            return Err(format!(
                "{} is declared by both {} and {}",
                r.id, self.resources[i].component, r.component
            ));
        }
        let i = self.resources.len();
        self.by_id.insert(r.id.clone(), i);
        self.resources.push(r);
        Ok(i)
    }

    fn instance(&mut self, inst: &Instance, secrets: &SecretValues, secret_list: &[Secret]) {
        let role = self.roles.get(&inst.role).expect("checked above").clone();
        let origin = role.origin.clone();
        // what this component waits for: the barriers of the components before it
        let entry_deps: Vec<usize> = self
            .stack
            .after
            .get(&inst.component)
            .into_iter()
            .flatten()
            .filter_map(|c| self.barrier.get(c).copied())
            .collect();
        let mut last_per_host: Vec<usize> = Vec::new();
        // per host: local name (`kind:name`) -> index, and the chain
        let mut chains: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut cluster_waits: Vec<(usize, usize)> = Vec::new(); // (health index, position in chain)
        let wants_hosts = role.templates.values().any(|t| t.contains("hosts"))
            || format!("{:?}", role.manifest).contains("hosts");
        // prepared in batches: views are kept until their host is done, and
        // with `hosts` each view holds every member
        let batch = if wants_hosts { 16 } else { 4096 };
        let mut prepared = Vec::new().into_iter();
        for (hi, host) in inst.hosts.iter().enumerate() {
            if hi % batch == 0 {
                let hosts = &inst.hosts[hi..(hi + batch).min(inst.hosts.len())];
                prepared = self
                    .prepare(inst, hosts, &role, secrets, wants_hosts)
                    .into_iter();
            }
            let (view, mut bodies) = prepared.next().expect("one per host");
            for d in &role.manifest.data_dirs {
                if let Some(d) = self.render(&origin, "data_dirs", d, &view) {
                    if safe_path(&d) && d.matches('/').count() >= 2 {
                        self.data_dirs.entry(host.clone()).or_default().push(d);
                    } else {
                        self.diags.push(Diagnostic::plain(origin.clone(), format!("data_dirs: `{d}` is not a safe data directory"), Some("give an absolute path at least two levels deep, e.g. /var/lib/NAME".into())));
                    }
                }
            }
            let mut local: BTreeMap<String, usize> = BTreeMap::new();
            let mut chain: Vec<usize> = Vec::new();
            for (pos, rr) in role.manifest.resources.iter().enumerate() {
                let ctx = format!("role {} resource #{}", inst.role, pos + 1);
                if let Some(w) = rr.when() {
                    match self.render(&origin, &ctx, w, &view) {
                        Some(w) if !w.trim().is_empty() && w.trim() != "false" => {}
                        _ => continue,
                    }
                }
                let Some((kind, name, desired, local_key)) = self.desired(
                    &role,
                    rr,
                    &view,
                    &origin,
                    &ctx,
                    secret_list,
                    host,
                    bodies[pos].take(),
                ) else {
                    continue;
                };
                let mut deps: Vec<usize> = match chain.last() {
                    Some(&p) => vec![p],
                    None => entry_deps.clone(),
                };
                for a in rr.after() {
                    let a = &self.render(&origin, &ctx, a, &view).unwrap_or_default();
                    match local.get(a) {
                        Some(&i) => deps.push(i),
                        None => self.diags.push(Diagnostic::plain(
                            origin.clone(),
                            format!(
                                "{ctx}: after = \"{a}\" names no earlier resource of this role"
                            ),
                            Some(format!(
                                "use kind:name of a resource listed before it, one of: {}",
                                local.keys().cloned().collect::<Vec<_>>().join(", ")
                            )),
                        )),
                    }
                }
                let desired = match desired {
                    Desired::Service {
                        name,
                        enabled,
                        running,
                        no_block,
                        reload,
                        ..
                    } => {
                        let RoleResource::Service { restart_on, .. } = rr else {
                            unreachable!()
                        };
                        let idx = self.refs(&local, restart_on, &origin, &ctx, &view);
                        Desired::Service {
                            name,
                            enabled,
                            running,
                            no_block,
                            reload,
                            restart_on: idx,
                        }
                    }
                    Desired::Command {
                        run,
                        unless,
                        creates,
                        describe,
                        ..
                    } => {
                        let RoleResource::Command { on_change, .. } = rr else {
                            unreachable!()
                        };
                        let idx = self.refs(&local, on_change, &origin, &ctx, &view);
                        Desired::Command {
                            run,
                            unless,
                            creates,
                            on_change: idx,
                            describe,
                        }
                    }
                    d => d,
                };
                if let RoleResource::Health {
                    scope: HealthScope::Cluster,
                    ..
                } = rr
                {
                    cluster_waits.push((usize::MAX, chain.len()));
                }
                let id = ResourceId {
                    host: host.clone(),
                    kind: kind.to_string(),
                    name,
                };
                match self.push(Resource {
                    id,
                    component: inst.component.clone(),
                    desired,
                    deps,
                }) {
                    Ok(i) => {
                        if let Some(last) = cluster_waits.last_mut() {
                            if last.0 == usize::MAX {
                                last.0 = i;
                            }
                        }
                        local.insert(local_key, i);
                        chain.push(i);
                    }
                    Err(e) => self.diags.push(Diagnostic::plain(
                        origin.clone(),
                        e,
                        Some("give each file one owner: rename the path in one role".into()),
                    )),
                }
            }
            // services notified by files: mark the files with the units they restart
            for &i in &chain {
                if let Desired::Service {
                    name, restart_on, ..
                } = self.resources[i].desired.clone()
                {
                    for t in restart_on {
                        if let Desired::File { notify, .. } = &mut self.resources[t].desired {
                            if !notify.contains(&name) {
                                notify.push(name.clone());
                            }
                        }
                    }
                }
            }
            if role.manifest.serial {
                if let (Some(&first), Some(&prev)) = (chain.first(), last_per_host.last()) {
                    if !self.resources[first].deps.contains(&prev) {
                        self.resources[first].deps.push(prev);
                    }
                }
            }
            if let Some(&l) = chain.last() {
                last_per_host.push(l);
            }
            chains.insert(host.clone(), chain);
        }
        // cluster-scoped gates wait for the step before them on every host
        for (hi, pos) in cluster_waits {
            if hi == usize::MAX || pos == 0 {
                continue;
            }
            for chain in chains.values() {
                if let Some(&prev) = chain.get(pos - 1) {
                    if !self.resources[hi].deps.contains(&prev) && prev != hi {
                        self.resources[hi].deps.push(prev);
                    }
                }
            }
        }
        let b = self.resources.len();
        self.resources.push(Resource {
            id: ResourceId {
                host: NO_HOST.into(),
                kind: "barrier".into(),
                name: inst.component.clone(),
            },
            component: inst.component.clone(),
            desired: Desired::Barrier,
            deps: last_per_host,
        });
        self.barrier.insert(inst.component.clone(), b);
    }

    /// Each host's view (`hosts`: some of the instance's), and the role's
    /// template files rendered with it (by manifest position), on every core
    /// for large instances. Pure: a view
    /// depends only on the stack, and rendering only on the view, so the
    /// result is the same as rendering host after host; errors are kept and
    /// reported by `body` only for resources that exist (`when`), in order.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        inst: &Instance,
        hosts: &[String],
        role: &crate::roles::Role,
        secrets: &SecretValues,
        wants_hosts: bool,
    ) -> Vec<(handlebars::Context, Vec<Option<Result<Rendered, String>>>)> {
        let templated: Vec<(usize, String, &String)> = role
            .manifest
            .resources
            .iter()
            .enumerate()
            .filter_map(|(pos, rr)| match rr {
                RoleResource::File {
                    template: Some(t),
                    content: None,
                    ..
                }
                | RoleResource::Unit {
                    template: Some(t),
                    content: None,
                    ..
                } => role
                    .templates
                    .get(t)
                    .map(|text| (pos, format!("roles/{}/templates/{t}", role.name), text)),
                _ => None,
            })
            .collect();
        let n = role.manifest.resources.len();
        let one = |r: &mut crate::render::Renderer, host: &String| {
            let view = self.view(inst, host, secrets, wants_hosts);
            let mut bodies: Vec<Option<Result<Rendered, String>>> = vec![None; n];
            for (pos, name, text) in &templated {
                bodies[*pos] = Some(r.named(name, text, &view).map(|text| Rendered {
                    sha256: crate::util::sha256_hex(text.as_bytes()),
                    text,
                }));
            }
            (view, bodies)
        };
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        if threads < 2 || inst.hosts.len() < 64 || hosts.len() < 2 {
            let mut r = self.r.clone();
            return hosts.iter().map(|h| one(&mut r, h)).collect();
        }
        let chunk = hosts.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .chunks(chunk)
                .map(|hosts| {
                    let mut r = self.r.clone();
                    let one = &one;
                    s.spawn(move || hosts.iter().map(|h| one(&mut r, h)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a render thread panicked"))
                .collect()
        })
    }

    fn refs(
        &mut self,
        local: &BTreeMap<String, usize>,
        names: &[String],
        origin: &str,
        ctx: &str,
        view: &handlebars::Context,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        for n in names {
            let n = &self.render(origin, ctx, n, view).unwrap_or_default();
            if n.is_empty() {
                continue; // a reference to a resource that exists only sometimes (`when`)
            }
            match local.get(n) {
                Some(&i) => out.push(i),
                None => self.diags.push(Diagnostic::plain(
                    origin.to_string(),
                    format!("{ctx}: `{n}` names no earlier resource of this role"),
                    Some(format!(
                        "use kind:name of a resource listed before it, one of: {}",
                        local.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                )),
            }
        }
        out
    }

    /// Renders one manifest entry. Returns (kind, name, desired, local key).
    #[allow(clippy::too_many_arguments)]
    fn desired(
        &mut self,
        role: &crate::roles::Role,
        rr: &RoleResource,
        view: &handlebars::Context,
        origin: &str,
        ctx: &str,
        secret_list: &[Secret],
        host: &str,
        rendered: Option<Result<Rendered, String>>,
    ) -> Option<(&'static str, String, Desired, String)> {
        let bad = |this: &mut Self, msg: String, help: &str| {
            this.diags.push(Diagnostic::plain(
                origin.to_string(),
                format!("{ctx} on {host}: {msg}"),
                Some(help.to_string()),
            ));
            None
        };
        let mode_of = |this: &mut Self, m: &Option<String>, default: u32| -> Option<u32> {
            match m {
                None => Some(default),
                Some(s) => match parse_mode(s) {
                    Some(m) => Some(m),
                    None => {
                        this.diags.push(Diagnostic::plain(
                            origin.to_string(),
                            format!("{ctx}: mode `{s}` is not an octal mode"),
                            Some("write mode = \"0644\"".into()),
                        ));
                        None
                    }
                },
            }
        };
        let owner_ok =
            |o: &Option<String>| o.as_deref().map(crate::model::valid_name).unwrap_or(true);
        match rr {
            RoleResource::Package { name, no_start, .. } => {
                let name = self.render(origin, ctx, name, view)?;
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c))
                {
                    return bad(
                        self,
                        format!(
                            "package name `{}` is not a Debian package name",
                            name.escape_debug()
                        ),
                        "use the package's name as apt knows it",
                    );
                }
                Some((
                    "package",
                    name.clone(),
                    Desired::Package {
                        name: name.clone(),
                        no_start: *no_start,
                    },
                    format!("package:{name}"),
                ))
            }
            RoleResource::Directory {
                path,
                mode,
                owner,
                group,
                ..
            } => {
                let path = self.render(origin, ctx, path, view)?;
                if !safe_path(&path) || !owner_ok(owner) || !owner_ok(group) {
                    return bad(self, format!("directory `{}`: path must be absolute without `..`, owner/group plain names", path.escape_debug()), "fix the role's path, owner or group");
                }
                let mode = match mode {
                    Some(_) => Some(mode_of(self, mode, 0o755)?),
                    None => None,
                };
                Some((
                    "directory",
                    path.clone(),
                    Desired::Directory {
                        path: path.clone(),
                        mode,
                        owner: owner.clone(),
                        group: group.clone(),
                    },
                    format!("directory:{path}"),
                ))
            }
            RoleResource::File {
                path,
                template,
                content,
                mode,
                owner,
                group,
                sensitive,
                validate,
                ..
            } => {
                let path = self.render(origin, ctx, path, view)?;
                if !safe_path(&path) || !owner_ok(owner) || !owner_ok(group) {
                    return bad(self, format!("file `{}`: path must be absolute without `..`, owner/group plain names", path.escape_debug()), "fix the role's path, owner or group");
                }
                let (body, sha256) =
                    self.body(role, template, content, view, origin, ctx, rendered)?;
                let mode = mode_of(self, mode, 0o644)?;
                let validate = match validate {
                    Some(v) => Some(self.render(origin, ctx, v, view)?),
                    None => None,
                };
                let sensitive = *sensitive || secret_list.iter().any(|s| body.contains(s.expose()));
                Some((
                    "file",
                    path.clone(),
                    file(
                        path.clone(),
                        body,
                        sha256,
                        mode,
                        owner.clone(),
                        group.clone(),
                        sensitive,
                        validate,
                        false,
                    ),
                    format!("file:{path}"),
                ))
            }
            RoleResource::Unit {
                name,
                template,
                content,
                ..
            } => {
                let name = self.render(origin, ctx, name, view)?;
                if !unit_name_ok(&name) {
                    return bad(
                        self,
                        format!(
                            "unit name `{}` is not a systemd unit name",
                            name.escape_debug()
                        ),
                        "write e.g. name = \"myapp.service\"",
                    );
                }
                let (body, sha256) =
                    self.body(role, template, content, view, origin, ctx, rendered)?;
                let sensitive = secret_list.iter().any(|s| body.contains(s.expose()));
                let path = format!("/etc/systemd/system/{name}");
                Some((
                    "unit",
                    name.clone(),
                    file(path, body, sha256, 0o644, None, None, sensitive, None, true),
                    format!("unit:{name}"),
                ))
            }
            RoleResource::Service {
                name,
                enabled,
                running,
                no_block,
                reload,
                ..
            } => {
                let name = self.render(origin, ctx, name, view)?;
                if !unit_name_ok(&name) {
                    return bad(
                        self,
                        format!(
                            "service `{}` is not a systemd unit name",
                            name.escape_debug()
                        ),
                        "write e.g. name = \"etcd\"",
                    );
                }
                Some((
                    "service",
                    name.clone(),
                    Desired::Service {
                        name: name.clone(),
                        enabled: *enabled,
                        running: *running,
                        no_block: *no_block,
                        reload: *reload,
                        restart_on: vec![],
                    },
                    format!("service:{name}"),
                ))
            }
            RoleResource::Command {
                name,
                run,
                unless,
                creates,
                on_change,
                describe,
                ..
            } => {
                let name = self.render(origin, ctx, name, view)?;
                if !crate::model::valid_name(&name) {
                    return bad(
                        self,
                        format!("command name `{}` is not allowed", name.escape_debug()),
                        "use letters, digits, - and _",
                    );
                }
                if unless.is_none() && creates.is_none() && on_change.is_empty() {
                    return bad(
                        self,
                        format!("command {name} has no guard, so it would run on every apply"),
                        "add unless = \"...\", creates = \"/path\" or on_change = [\"file:...\"]",
                    );
                }
                let run = self.render(origin, ctx, run, view)?;
                let unless = match unless {
                    Some(u) => Some(self.render(origin, ctx, u, view)?),
                    None => None,
                };
                let creates = match creates {
                    Some(c) => Some(self.render(origin, ctx, c, view)?),
                    None => None,
                };
                let describe = match describe {
                    Some(d) => Some(self.render(origin, ctx, d, view)?),
                    None => None,
                };
                Some((
                    "command",
                    name.clone(),
                    Desired::Command {
                        run,
                        unless,
                        creates,
                        on_change: vec![],
                        describe,
                    },
                    format!("command:{name}"),
                ))
            }
            RoleResource::Health {
                name,
                command,
                http,
                tcp,
                timeout,
                interval,
                ..
            } => {
                let name = self.render(origin, ctx, name, view)?;
                let check = match (command, http, tcp) {
                    (Some(c), None, None) => Check::Command(self.render(origin, ctx, c, view)?),
                    (None, Some(u), None) => Check::Http(self.render(origin, ctx, u, view)?),
                    (None, None, Some(t)) => Check::Tcp(self.render(origin, ctx, t, view)?),
                    _ => {
                        return bad(
                            self,
                            format!("health {name} needs exactly one of command, http or tcp"),
                            "keep one of them",
                        )
                    }
                };
                Some((
                    "health",
                    name.clone(),
                    Desired::Health {
                        check,
                        timeout: (*timeout).max(1),
                        interval: (*interval).max(1),
                    },
                    format!("health:{name}"),
                ))
            }
        }
    }

    /// A file's content, and its hash when `rendered` (its template already
    /// rendered for this host, see `prepare`) has it.
    #[allow(clippy::too_many_arguments)]
    fn body(
        &mut self,
        role: &crate::roles::Role,
        template: &Option<String>,
        content: &Option<String>,
        view: &handlebars::Context,
        origin: &str,
        ctx: &str,
        rendered: Option<Result<Rendered, String>>,
    ) -> Option<(String, Option<String>)> {
        match (template, content) {
            (Some(t), None) => {
                let text = role.templates.get(t)?;
                let name = format!("roles/{}/templates/{t}", role.name);
                let r = match rendered {
                    Some(r) => r.map(|r| (r.text, Some(r.sha256))),
                    None => self.r.named(&name, text, view).map(|b| (b, None)),
                };
                match r {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.diags.push(Diagnostic::plain(
                            name,
                            format!("{ctx}: {e}"),
                            Some("fix the template or give the value it needs".into()),
                        ));
                        None
                    }
                }
            }
            (None, Some(c)) => self.render(origin, ctx, c, view).map(|b| (b, None)),
            _ => {
                self.diags.push(Diagnostic::plain(
                    origin.to_string(),
                    format!("{ctx}: give exactly one of template or content"),
                    Some("keep template = \"x.hbs\" or content = \"...\"".into()),
                ));
                None
            }
        }
    }
}

/// A unit name (`etcd.service`) or a drop-in (`etcd.service.d/rampart.conf`).
fn unit_name_ok(n: &str) -> bool {
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() < 256
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c))
    };
    match n.split_once(".d/") {
        Some((unit, conf)) => plain(unit) && plain(conf) && conf.ends_with(".conf"),
        None => plain(n),
    }
}

#[allow(clippy::too_many_arguments)]
fn file(
    path: String,
    body: String,
    sha256: Option<String>,
    mode: u32,
    owner: Option<String>,
    group: Option<String>,
    sensitive: bool,
    validate: Option<String>,
    daemon_reload: bool,
) -> Desired {
    let content = body.into_bytes();
    Desired::File {
        sha256: sha256.unwrap_or_else(|| crate::util::sha256_hex(&content)),
        content,
        path,
        mode,
        owner: owner.unwrap_or_else(|| "root".into()),
        group: group.unwrap_or_else(|| "root".into()),
        sensitive,
        validate,
        daemon_reload,
        notify: vec![],
    }
}
