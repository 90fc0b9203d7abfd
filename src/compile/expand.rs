//! One role instance expanded on its hosts: each host's chain of resources,
//! their `after`/`restart_on`/`on_change` links, serial and cluster gates,
//! and the component's barrier.

use super::context::Rendered;
use super::{
    safe_path, Compiler, Desired, Instance, Kind, Resource, ResourceId, SecretValues, NO_HOST,
};
use crate::diag::Diagnostic;
use crate::model::secret::Secret;
use crate::roles::{HealthScope, Role, RoleResource};
use std::collections::BTreeMap;

/// What every host of one instance shares while it is expanded.
struct Expansion<'a> {
    inst: &'a Instance,
    role: &'a Role,
    origin: &'a str,
    /// What this component waits for: the barriers of the components before it.
    entry_deps: Vec<usize>,
    secret_list: &'a [Secret],
    /// (health index, position in chain) of each cluster-scoped gate.
    cluster_waits: Vec<(usize, usize)>,
}

impl Compiler<'_> {
    pub(super) fn instance(
        &mut self,
        inst: &Instance,
        secrets: &SecretValues,
        secret_list: &[Secret],
    ) {
        let role = self.roles.get(&inst.role).expect("checked above").clone();
        let entry_deps: Vec<usize> = self
            .stack
            .after
            .get(&inst.component)
            .into_iter()
            .flatten()
            .filter_map(|c| self.barrier.get(c).copied())
            .collect();
        let mut x = Expansion {
            inst,
            role: &role,
            origin: &role.origin,
            entry_deps,
            secret_list,
            cluster_waits: Vec::new(),
        };
        let mut last_per_host: Vec<usize> = Vec::new();
        // with `serial_from`: each host's chain and where its rolled part starts
        let mut rolled: Vec<(Vec<usize>, Option<usize>)> = Vec::new();
        // each host's chain, for the cluster-scoped gates
        let mut chains: BTreeMap<String, Vec<usize>> = BTreeMap::new();
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
            let (view, bodies) = prepared.next().expect("one per host");
            self.host_data_dirs(&x, host, &view);
            let chain = self.host_chain(&mut x, host, &view, bodies);
            self.notify_files(&chain);
            if let Some(from) = &role.manifest.serial_from {
                let from = self.render(x.origin, "serial_from", from, &view);
                let pos = from.and_then(|f| {
                    chain.iter().position(|&r| {
                        let id = &self.resources[r].id;
                        f == format!("{}:{}", id.kind, id.name)
                    })
                });
                rolled.push((chain.clone(), pos));
            } else if role.manifest.serial {
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
        self.cluster_gates(&x.cluster_waits, &chains);
        self.serial_from_links(&rolled);
        let b = self.resources.len();
        self.resources.push(Resource {
            id: ResourceId::new(NO_HOST, Kind::Barrier, &inst.component),
            component: inst.component.clone(),
            desired: Desired::Barrier,
            deps: last_per_host,
        });
        self.barrier.insert(inst.component.clone(), b);
    }

    /// `serial_from`: each host's rolled part waits for the previous host's
    /// last resource and for every host's part before it (a host without
    /// the named resource rolls its whole chain).
    fn serial_from_links(&mut self, rolled: &[(Vec<usize>, Option<usize>)]) {
        let before: Vec<usize> = rolled
            .iter()
            .filter_map(|(c, p)| p.filter(|&p| p > 0).map(|p| c[p - 1]))
            .collect();
        let mut prev: Option<usize> = None;
        let mut roll = super::resource::Roll::default();
        for (chain, pos) in rolled {
            let start = chain.get(pos.unwrap_or(0)).copied();
            roll.starts.push(pos.and(start));
            if let Some(start) = start {
                if let Some(p) =
                    prev.filter(|&p| p != start && !self.resources[start].deps.contains(&p))
                {
                    roll.links.push((start, p));
                }
                let wait = prev.into_iter().chain(before.iter().copied());
                for d in wait {
                    if d != start && !self.resources[start].deps.contains(&d) {
                        self.resources[start].deps.push(d);
                    }
                }
            }
            if let Some(&l) = chain.last() {
                prev = Some(l);
            }
        }
        if !rolled.is_empty() {
            self.rolls.push(roll);
        }
    }

    /// The role's `data_dirs` on this host, each checked.
    fn host_data_dirs(&mut self, x: &Expansion, host: &str, view: &handlebars::Context) {
        for d in &x.role.manifest.data_dirs {
            let Some(d) = self.render(x.origin, "data_dirs", d, view) else {
                continue;
            };
            if safe_path(&d) && d.matches('/').count() >= 2 {
                self.data_dirs.entry(host.to_string()).or_default().push(d);
            } else {
                self.diags.push(Diagnostic::plain(
                    x.origin.to_string(),
                    format!("data_dirs: `{d}` is not a safe data directory"),
                    Some(
                        "give an absolute path at least two levels deep, e.g. /var/lib/NAME".into(),
                    ),
                ));
            }
        }
    }

    /// The role's resources on one host, in manifest order (those whose
    /// `when` holds), each after the one before; returns their indices.
    fn host_chain(
        &mut self,
        x: &mut Expansion,
        host: &str,
        view: &handlebars::Context,
        mut bodies: Vec<Option<Result<Rendered, String>>>,
    ) -> Vec<usize> {
        // local name (`kind:name`) -> index
        let mut local: BTreeMap<String, usize> = BTreeMap::new();
        let mut chain: Vec<usize> = Vec::new();
        for (pos, rr) in x.role.manifest.resources.iter().enumerate() {
            let ctx = format!("role {} resource #{}", x.inst.role, pos + 1);
            if let Some(w) = rr.when() {
                match self.render(x.origin, &ctx, w, view) {
                    Some(w) if !w.trim().is_empty() && w.trim() != "false" => {}
                    _ => continue,
                }
            }
            let Some((kind, name, desired, local_key)) = self.desired(
                x.role,
                rr,
                view,
                x.origin,
                &ctx,
                x.secret_list,
                host,
                bodies[pos].take(),
            ) else {
                continue;
            };
            let mut deps: Vec<usize> = match chain.last() {
                Some(&p) => vec![p],
                None => x.entry_deps.clone(),
            };
            deps.extend(self.after(rr, &local, x.origin, &ctx, view));
            let desired = self.linked(desired, rr, &local, x.origin, &ctx, view);
            if let RoleResource::Health {
                scope: HealthScope::Cluster,
                ..
            } = rr
            {
                x.cluster_waits.push((usize::MAX, chain.len()));
            }
            let id = ResourceId {
                host: host.to_string(),
                kind,
                name,
            };
            match self.push(Resource {
                id,
                component: x.inst.component.clone(),
                desired,
                deps,
            }) {
                Ok(i) => {
                    if let Some(last) = x.cluster_waits.last_mut() {
                        if last.0 == usize::MAX {
                            last.0 = i;
                        }
                    }
                    local.insert(local_key, i);
                    chain.push(i);
                }
                Err(e) => self.diags.push(Diagnostic::plain(
                    x.origin.to_string(),
                    e,
                    Some("give each file one owner: rename the path in one role".into()),
                )),
            }
        }
        chain
    }

    /// The resources a manifest entry's `after` names (earlier ones of this role on this host).
    fn after(
        &mut self,
        rr: &RoleResource,
        local: &BTreeMap<String, usize>,
        origin: &str,
        ctx: &str,
        view: &handlebars::Context,
    ) -> Vec<usize> {
        let mut deps = Vec::new();
        for a in rr.after() {
            let a = &self.render(origin, ctx, a, view).unwrap_or_default();
            match local.get(a) {
                Some(&i) => deps.push(i),
                None => self.diags.push(Diagnostic::plain(
                    origin.to_string(),
                    format!("{ctx}: after = \"{a}\" names no earlier resource of this role"),
                    Some(format!(
                        "use kind:name of a resource listed before it, one of: {}",
                        local.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                )),
            }
        }
        deps
    }

    /// A service's `restart_on` and a command's `on_change`, as indices.
    fn linked(
        &mut self,
        desired: Desired,
        rr: &RoleResource,
        local: &BTreeMap<String, usize>,
        origin: &str,
        ctx: &str,
        view: &handlebars::Context,
    ) -> Desired {
        match (desired, rr) {
            (
                Desired::Service {
                    name,
                    enabled,
                    running,
                    no_block,
                    reload,
                    ..
                },
                RoleResource::Service { restart_on, .. },
            ) => Desired::Service {
                name,
                enabled,
                running,
                no_block,
                reload,
                restart_on: self.refs(local, restart_on, origin, ctx, view),
            },
            (
                Desired::Command {
                    run,
                    unless,
                    creates,
                    describe,
                    ..
                },
                RoleResource::Command { on_change, .. },
            ) => Desired::Command {
                run,
                unless,
                creates,
                on_change: self.refs(local, on_change, origin, ctx, view),
                describe,
            },
            (d, _) => d,
        }
    }

    /// The resources a `restart_on` or `on_change` names (empty names skipped).
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

    /// Services notified by files: mark the files with the units they restart.
    fn notify_files(&mut self, chain: &[usize]) {
        for &i in chain {
            let Desired::Service {
                name, restart_on, ..
            } = self.resources[i].desired.clone()
            else {
                continue;
            };
            for t in restart_on {
                if let Desired::File { notify, .. } = &mut self.resources[t].desired {
                    if !notify.contains(&name) {
                        notify.push(name.clone());
                    }
                }
            }
        }
    }

    /// Cluster-scoped gates wait for the step before them on every host.
    fn cluster_gates(
        &mut self,
        cluster_waits: &[(usize, usize)],
        chains: &BTreeMap<String, Vec<usize>>,
    ) {
        for &(hi, pos) in cluster_waits {
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
    }
}
