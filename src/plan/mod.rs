//! The plan is data: a serializable list of steps computed purely from the
//! compiled desired state and the hosts' facts. Printing, JSON, saving and
//! applying all read this one structure.

pub mod diff;
pub mod op;
pub mod saved;

use crate::compile::{Compiled, Desired};
use crate::components::etcd::day2 as membership;
use crate::components::qdrant::day2 as qdrant;
use crate::components::redis::day2 as redis;
use crate::facts::{HostFacts, ManagedEntry};
pub use op::Op;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// A guarded command that will run.
    Run,
    /// A service restarted or reloaded because an input changed.
    Restart,
    /// A health gate waited on (not a change).
    Wait,
}

impl Action {
    pub fn glyph(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update | Action::Restart => "~",
            Action::Delete => "-",
            Action::Run => ">",
            Action::Wait => "?",
        }
    }
    pub fn is_change(self) -> bool {
        self != Action::Wait
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `host/kind/name`.
    pub id: String,
    pub host: String,
    pub action: Action,
    /// Why, for people (display only).
    pub reasons: Vec<String>,
    /// Unified diff of a file's content; absent for sensitive files.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diff: Option<String>,
    pub sensitive: bool,
    /// Changed outside rampart since the last apply.
    pub drift: bool,
    /// What the executor runs, in order.
    pub ops: Vec<Op>,
    /// Ids of the steps this one waits for (within the plan).
    #[serde(default)]
    pub deps: Vec<String>,
    /// For a removal: the manifest entry it retires. Kept in the host's
    /// manifest if the removal does not succeed, so the next plan retries it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retires: Option<ManagedEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub steps: Vec<Step>,
    /// Host -> the state manifest to write when its steps succeed.
    pub states: BTreeMap<String, BTreeMap<String, ManagedEntry>>,
    /// The stack's hosts, recorded in every host's state.
    #[serde(default)]
    pub stack_hosts: Vec<String>,
    /// Hosts with no step whose recorded state is out of date (its host list).
    #[serde(default)]
    pub refresh: Vec<String>,
    /// Why this plan must not be applied (quorum safety); empty when it may.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.steps {
            match s.action {
                Action::Create => c.add += 1,
                Action::Update | Action::Run | Action::Restart => c.change += 1,
                Action::Delete => c.destroy += 1,
                Action::Wait => {}
            }
        }
        c
    }
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action.is_change())
    }
    pub fn hosts(&self) -> Vec<String> {
        let mut h: Vec<String> = self.steps.iter().map(|s| s.host.clone()).collect();
        h.sort();
        h.dedup();
        h
    }
}

/// Facts of what a host does not have (borrowed, not cloned: file facts carry content).
static NO_FILE: crate::facts::FileFact = crate::facts::FileFact {
    exists: false,
    is_dir: false,
    sha256: None,
    mode: None,
    owner: None,
    group: None,
    content: None,
};
static NO_SERVICE: crate::facts::ServiceFact = crate::facts::ServiceFact {
    enabled: String::new(),
    active: String::new(),
};

fn enabled_ok(s: &str) -> bool {
    matches!(
        s,
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
    )
}

/// Computes the plan. `facts` has an entry for every host of `compiled`.
pub fn plan(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Plan {
    let n = compiled.resources.len();
    let mut steps: Vec<Option<Step>> = vec![None; n];
    let mut changed = vec![false; n];
    let empty = HostFacts::default();
    // file diffs, made after the walk (on every core when there are many): (step, path, old, new)
    let mut diffs: Vec<(usize, &str, &[u8], &[u8])> = Vec::new();
    for &i in &compiled.order {
        let r = &compiled.resources[i];
        let f = facts.get(&r.id.host).unwrap_or(&empty);
        let managed = f
            .state
            .as_ref()
            .and_then(|s| s.resources.get(&r.id.to_string()));
        let step = match &r.desired {
            Desired::Barrier => None,
            Desired::Package { name, no_start } => match f.packages.get(name) {
                Some(Some(_)) => None,
                _ => Some((
                    Action::Create,
                    vec!["not installed".to_string()],
                    vec![Op::AptInstall {
                        packages: vec![name.clone()],
                        no_start: *no_start,
                    }],
                    None,
                    false,
                )),
            },
            Desired::Directory {
                path,
                mode,
                owner,
                group,
            } => {
                let fact = f.files.get(path).unwrap_or(&NO_FILE);
                if !fact.exists {
                    Some((
                        Action::Create,
                        vec!["missing".into()],
                        vec![Op::MakeDir {
                            path: path.clone(),
                            mode: *mode,
                            owner: owner.clone(),
                            group: group.clone(),
                        }],
                        None,
                        false,
                    ))
                } else {
                    let mut why = Vec::new();
                    if let (Some(m), Some(have)) = (mode, fact.mode) {
                        if *m != have {
                            why.push(format!("mode {have:04o} -> {m:04o}"));
                        }
                    }
                    if owner.is_some() && owner != &fact.owner {
                        why.push(format!(
                            "owner {} -> {}",
                            fact.owner.clone().unwrap_or_default(),
                            owner.clone().unwrap_or_default()
                        ));
                    }
                    if group.is_some() && group != &fact.group {
                        why.push(format!(
                            "group {} -> {}",
                            fact.group.clone().unwrap_or_default(),
                            group.clone().unwrap_or_default()
                        ));
                    }
                    (!why.is_empty()).then(|| {
                        (
                            Action::Update,
                            why,
                            vec![Op::MakeDir {
                                path: path.clone(),
                                mode: *mode,
                                owner: owner.clone(),
                                group: group.clone(),
                            }],
                            None,
                            managed.is_some(),
                        )
                    })
                }
            }
            Desired::File {
                path,
                content,
                sha256,
                mode,
                owner,
                group,
                sensitive,
                validate,
                daemon_reload,
                notify,
            } => {
                let fact = f.files.get(path).unwrap_or(&NO_FILE);
                let write = Op::WriteFile {
                    path: path.clone(),
                    sha256: sha256.clone(),
                    mode: *mode,
                    owner: owner.clone(),
                    group: group.clone(),
                    expect: fact.sha256.clone(),
                    validate: validate.clone(),
                    daemon_reload: *daemon_reload,
                    notify: notify.clone(),
                };
                if !fact.exists {
                    if !sensitive {
                        diffs.push((i, path, b"", content));
                    }
                    Some((
                        Action::Create,
                        vec![format!("{mode:04o} {owner}:{group}")],
                        vec![write],
                        None,
                        false,
                    ))
                } else if fact.sha256.as_deref() != Some(sha256.as_str()) {
                    let drift = managed
                        .and_then(|m| m.sha256.as_deref())
                        .is_some_and(|s| Some(s) != fact.sha256.as_deref());
                    let d = match &fact.content {
                        _ if *sensitive => None,
                        Some(old) => {
                            diffs.push((i, path, old, content));
                            None
                        }
                        None => {
                            Some("(the current file is too large to show a diff)\n".to_string())
                        }
                    };
                    let why = if *sensitive {
                        "content changed (sensitive value changed)"
                    } else {
                        "content changed"
                    };
                    Some((Action::Update, vec![why.to_string()], vec![write], d, drift))
                } else {
                    let mut why = Vec::new();
                    if fact.mode != Some(*mode) {
                        why.push(format!("mode {:04o} -> {mode:04o}", fact.mode.unwrap_or(0)));
                    }
                    if fact.owner.as_deref() != Some(owner) || fact.group.as_deref() != Some(group)
                    {
                        why.push(format!(
                            "owner {}:{} -> {owner}:{group}",
                            fact.owner.clone().unwrap_or_default(),
                            fact.group.clone().unwrap_or_default()
                        ));
                    }
                    (!why.is_empty()).then(|| {
                        (
                            Action::Update,
                            why,
                            vec![Op::SetAttrs {
                                path: path.clone(),
                                mode: *mode,
                                owner: owner.clone(),
                                group: group.clone(),
                            }],
                            None,
                            managed.is_some(),
                        )
                    })
                }
            }
            Desired::Service {
                name,
                enabled,
                running,
                no_block,
                reload,
                restart_on,
            } => {
                let fact = f.services.get(name).unwrap_or(&NO_SERVICE);
                let mut ops = Vec::new();
                let mut why = Vec::new();
                let mut action = Action::Update;
                if *enabled && !enabled_ok(&fact.enabled) {
                    ops.push(Op::Systemctl {
                        verb: "enable".into(),
                        unit: name.clone(),
                        no_block: false,
                    });
                    why.push(format!(
                        "enable ({})",
                        if fact.enabled.is_empty() {
                            "not installed yet"
                        } else {
                            &fact.enabled
                        }
                    ));
                } else if !*enabled && fact.enabled == "enabled" {
                    ops.push(Op::Systemctl {
                        verb: "disable".into(),
                        unit: name.clone(),
                        no_block: false,
                    });
                    why.push("disable".into());
                }
                let active = fact.active == "active";
                let triggers: Vec<String> = restart_on
                    .iter()
                    .filter(|&&t| changed_self(&steps, t))
                    .map(|&t| compiled.resources[t].id.to_string())
                    .collect();
                let pending = f.pending.contains(name);
                if *running && (!triggers.is_empty() || pending) {
                    // restart (or reload) also covers a service that a package
                    // install started with its default config during this apply
                    let verb = if *reload {
                        "reload-or-restart"
                    } else {
                        "restart"
                    };
                    ops.push(Op::Systemctl {
                        verb: verb.into(),
                        unit: name.clone(),
                        no_block: *no_block,
                    });
                    if !triggers.is_empty() {
                        why.push(format!(
                            "{}: {} changed",
                            if *reload { "reload" } else { "restart" },
                            triggers.join(", ")
                        ));
                    }
                    if pending {
                        why.push(
                            "restart owed by an earlier apply that stopped before it".to_string(),
                        );
                    }
                    if ops.len() == 1 && active {
                        action = Action::Restart;
                    }
                } else if *running && !active {
                    ops.push(Op::Systemctl {
                        verb: "start".into(),
                        unit: name.clone(),
                        no_block: *no_block,
                    });
                    why.push(format!(
                        "start ({})",
                        if fact.active.is_empty() {
                            "not installed yet"
                        } else {
                            &fact.active
                        }
                    ));
                } else if !*running && active {
                    ops.push(Op::Systemctl {
                        verb: "stop".into(),
                        unit: name.clone(),
                        no_block: false,
                    });
                    why.push("stop".into());
                }
                if pending || (!triggers.is_empty() && !ops.is_empty()) {
                    ops.push(Op::ClearPending { unit: name.clone() });
                }
                // managed before, and now stopped or disabled with no change of ours behind it: drift
                let drift = managed.is_some() && triggers.is_empty() && !pending && !why.is_empty();
                (!why.is_empty()).then_some((action, why, ops, None, drift))
            }
            Desired::Command {
                run,
                unless,
                creates,
                on_change,
                describe,
            } => {
                let guard = f.guards.get(&r.id.to_string()).copied().unwrap_or(false);
                let triggers: Vec<String> = on_change
                    .iter()
                    .filter(|&&t| changed_self(&steps, t))
                    .map(|&t| compiled.resources[t].id.to_string())
                    .collect();
                let has_guard = unless.is_some() || creates.is_some();
                if !triggers.is_empty() {
                    Some((
                        Action::Run,
                        vec![format!("{} changed", triggers.join(", "))],
                        vec![Op::RunCommand {
                            run: run.clone(),
                            unless: None,
                            creates: None,
                        }],
                        None,
                        false,
                    ))
                } else if has_guard && !guard {
                    let why = match (describe, unless, creates) {
                        (Some(d), _, _) => d.clone(),
                        (_, _, Some(c)) => format!("{c} does not exist"),
                        _ => "its `unless` check fails".to_string(),
                    };
                    Some((
                        Action::Run,
                        vec![why],
                        vec![Op::RunCommand {
                            run: run.clone(),
                            unless: unless.clone(),
                            creates: creates.clone(),
                        }],
                        None,
                        false,
                    ))
                } else {
                    None
                }
            }
            Desired::Health {
                check,
                timeout,
                interval,
            } => {
                let upstream = r.deps.iter().any(|&d| changed[d]);
                upstream.then(|| {
                    (
                        Action::Wait,
                        vec![format!("wait up to {timeout}s for {}", check_text(check))],
                        vec![Op::Wait {
                            check: check.clone(),
                            timeout: *timeout,
                            interval: *interval,
                        }],
                        None,
                        false,
                    )
                })
            }
        };
        if let Some((action, reasons, ops, diff, drift)) = step {
            let sensitive = matches!(
                &r.desired,
                Desired::File {
                    sensitive: true,
                    ..
                }
            );
            steps[i] = Some(Step {
                id: r.id.to_string(),
                host: r.id.host.clone(),
                action,
                reasons,
                diff,
                sensitive,
                drift,
                ops,
                deps: vec![],
                retires: None,
            });
        }
        changed[i] = steps[i].as_ref().is_some_and(|s| s.action.is_change())
            || r.deps.iter().any(|&d| changed[d]);
    }
    for (i, d) in diff::many(&diffs) {
        if let Some(s) = steps[i].as_mut() {
            s.diff = Some(d);
        }
    }
    drop(diffs);
    // steps wait for the nearest steps upstream (through resources without steps)
    let mut nearest: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &i in &compiled.order {
        let mut acc: Vec<usize> = Vec::new();
        for &d in &compiled.resources[i].deps {
            if steps[d].is_some() {
                acc.push(d);
            } else {
                acc.extend(nearest[d].iter().copied());
            }
        }
        acc.sort_unstable();
        acc.dedup();
        nearest[i] = acc;
    }
    let mut out = Vec::new();
    let mut source = Vec::new();
    for &i in &compiled.order {
        if let Some(mut s) = steps[i].take() {
            s.deps = nearest[i]
                .iter()
                .map(|&d| compiled.resources[d].id.to_string())
                .collect();
            out.push(s);
            source.push(i);
        }
    }
    // members joining a running etcd start once, after `member add`: not part of a roll
    let joining: Vec<String> = membership::etcd_change(compiled, facts)
        .map(|c| c.joiners.into_iter().map(|m| m.name).collect())
        .unwrap_or_default();
    // Redis' master restarts last, after a failover (`redis::steps`)
    let redis_master = redis::master(compiled, facts);
    let last: Vec<String> = redis_master.iter().cloned().collect();
    roll(compiled, &mut out, &source, &joining, &last);
    // what the hosts hold now and no longer should: destroy, in reverse order of kinds
    let mut states = BTreeMap::new();
    let mut refresh = Vec::new();
    for host in facts.keys() {
        let f = &facts[host];
        let mut desired_state: BTreeMap<String, ManagedEntry> = BTreeMap::new();
        for &i in compiled.host_order(host) {
            let r = &compiled.resources[i];
            let (kind, name, sha) = match &r.desired {
                Desired::Package { name, .. } => ("package", name.clone(), None),
                Desired::Directory { path, .. } => ("directory", path.clone(), None),
                Desired::File {
                    path,
                    sha256,
                    daemon_reload,
                    ..
                } => (
                    if *daemon_reload { "unit" } else { "file" },
                    path.clone(),
                    Some(sha256.clone()),
                ),
                Desired::Service { name, .. } => ("service", name.clone(), None),
                _ => continue,
            };
            desired_state.insert(
                r.id.to_string(),
                ManagedEntry {
                    kind: kind.into(),
                    name,
                    sha256: sha,
                    data: false,
                },
            );
        }
        for d in compiled.data_dirs.get(host).into_iter().flatten() {
            desired_state.insert(
                format!("{host}/data{d}"),
                ManagedEntry {
                    kind: "directory".into(),
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
    let mut p = Plan {
        format_version: FORMAT_VERSION,
        stack: compiled.stack.clone(),
        steps: out,
        states,
        stack_hosts: compiled.hosts.clone(),
        refresh,
        refused: Vec::new(),
    };
    membership::etcd(compiled, facts, &mut p);
    crate::components::postgres::day2::steps(compiled, facts, &mut p);
    redis::steps(compiled, facts, redis_master.as_deref(), &mut p);
    qdrant::steps(compiled, facts, &mut p);
    p
}

/// Quorum clusters whose running members restart one at a time.
pub const ROLLING: [&str; 3] = ["etcd", "postgres", "redis"];

/// Restarts of running members of a quorum cluster (etcd, Patroni, Redis and
/// Sentinel) roll: one member at a time, in host order, each waiting for the
/// one before it and then for the cluster's health gates (run on its own host)
/// before it goes down, so at most one member is ever down.
/// Members on the hosts in `last` (Redis' current master) restart after the others.
fn roll(
    compiled: &Compiled,
    out: &mut [Step],
    source: &[usize],
    joining: &[String],
    last: &[String],
) {
    for comp in ROLLING {
        let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, s) in out.iter().enumerate() {
            let r = &compiled.resources[source[k]];
            if s.action == Action::Restart
                && r.component == comp
                && !(comp == "etcd" && joining.contains(&s.host))
            {
                // a reload (Patroni's) keeps the member up: nothing to roll; the
                // restarts it leaves owed are rolled by `postgres::day2::steps`
                if let Desired::Service {
                    name,
                    reload: false,
                    ..
                } = &r.desired
                {
                    by_service.entry(name.as_str()).or_default().push(k);
                }
            }
        }
        for (_, mut ks) in by_service {
            ks.sort_by_key(|&k| last.contains(&out[k].host));
            if ks.len() < 2 {
                continue;
            }
            let n = ks.len();
            for (pos, &k) in ks.iter().enumerate() {
                // the cluster's gates as seen from this host: its health checks after the service
                let ri = source[k];
                let host = &compiled.resources[ri].id.host;
                let order = compiled.host_order(host);
                let gates: Vec<Op> = order
                    .iter()
                    .skip_while(|&&j| j != ri)
                    .filter_map(|&j| match &compiled.resources[j].desired {
                        Desired::Health {
                            check,
                            timeout,
                            interval,
                        } if compiled.resources[j].component == comp => Some(Op::Wait {
                            check: check.clone(),
                            timeout: *timeout,
                            interval: *interval,
                        }),
                        _ => None,
                    })
                    .collect();
                let prev = (pos > 0).then(|| out[ks[pos - 1]].id.clone());
                let s = &mut out[k];
                for op in s.ops.iter_mut() {
                    if let Op::Systemctl { no_block, .. } = op {
                        *no_block = false; // a member of a running cluster: back when restart returns
                    }
                }
                match prev {
                    None => s.reasons.push(format!("rolling restart: member 1 of {n}")),
                    Some(p) => {
                        s.reasons.push(format!("rolling restart: member {} of {n}, after {p} once the cluster is healthy", pos + 1));
                        s.deps.push(p);
                        s.ops.splice(0..0, gates);
                    }
                }
            }
        }
    }
}

fn changed_self(steps: &[Option<Step>], t: usize) -> bool {
    steps[t].as_ref().is_some_and(|s| s.action.is_change())
}

pub fn check_text(c: &crate::roles::Check) -> String {
    match c {
        crate::roles::Check::Command(s) => format!("`{s}`"),
        crate::roles::Check::Http(u) => format!("GET {u}"),
        crate::roles::Check::Tcp(t) => format!("tcp {t}"),
    }
}

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
                verb: "disable --now".into(),
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
