//! `plans/*.toml`: the desired state of one stack.

use super::secret::SecretRef;
use super::valid_name;
use crate::diag::{did_you_mean, from_toml, Diagnostic, Diagnostics, Source};
use crate::model::inventory::Inventory;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// A group, a host, or a list of them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum HostsRef {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackMeta {
    pub name: String,
}

pub use crate::components::etcd::stack::Etcd;

pub use crate::components::postgres::stack::{parse_cidr, valid_guc_name, Database, Postgres};

pub use crate::components::pgbouncer::stack::{Pgbouncer, POOL_MODES};

pub use crate::components::redis::stack::{Redis, Sentinel};

pub use crate::components::qdrant::stack::Qdrant;

pub use crate::components::haproxy::stack::{Haproxy, HaproxyTls};
pub use crate::components::keepalived::stack::Keepalived;
pub use crate::components::services::stack::Service;

pub use crate::components::backup::stack::{Backup, PostgresBackup};

pub use crate::tls::stack::Tls;

/// An instance of a role (built-in or the user's own) on some hosts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInstance {
    /// The role's folder name; defaults to the instance's name.
    pub role: Option<Spanned<String>>,
    pub hosts: Spanned<HostsRef>,
    #[serde(default)]
    pub vars: toml::Table,
    /// Components or `roles.NAME` this one waits for.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
    /// Views whose secrets the role's templates see (`"postgres"`, ...);
    /// none by default.
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
}

/// The stack file as parsed, before its checks. Public only because
/// `Component::validate` names it; `Stack::parse` is what builds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStack {
    pub(crate) stack: StackMeta,
    pub(crate) etcd: Option<Etcd>,
    pub(crate) postgres: Option<Postgres>,
    pub(crate) pgbouncer: Option<Pgbouncer>,
    pub(crate) redis: Option<Redis>,
    pub(crate) qdrant: Option<Qdrant>,
    #[serde(default)]
    pub(crate) services: BTreeMap<Spanned<String>, Service>,
    pub(crate) haproxy: Option<Haproxy>,
    pub(crate) keepalived: Option<Keepalived>,
    pub(crate) backup: Option<Backup>,
    pub(crate) tls: Option<Tls>,
    #[serde(default)]
    pub(crate) roles: BTreeMap<Spanned<String>, RoleInstance>,
}

/// The stack, parsed, with every component's hosts resolved.
#[derive(Debug, Clone)]
pub struct Stack {
    pub source: Source,
    pub name: String,
    pub etcd: Option<Etcd>,
    pub postgres: Option<Postgres>,
    pub pgbouncer: Option<Pgbouncer>,
    pub redis: Option<Redis>,
    pub qdrant: Option<Qdrant>,
    pub services: BTreeMap<String, Service>,
    pub haproxy: Option<Haproxy>,
    pub keepalived: Option<Keepalived>,
    pub backup: Option<Backup>,
    /// `[tls]`: the stack's CA and certificates (`crate::tls`).
    pub tls: Option<Tls>,
    pub roles: BTreeMap<String, RoleInstance>,
    /// Component key (`etcd`, `services.backend`, `roles.x`) -> its hosts, in inventory order.
    pub placement: BTreeMap<String, Vec<String>>,
    /// Component key -> components it waits for (deploy order plus `after`).
    pub after: BTreeMap<String, Vec<String>>,
}

/// The deploy order from DESIGN.md: a component waits for every component
/// of a lower level that the stack has (`Component::level`; none for a
/// `[roles.NAME]`).
pub fn level(component: &str) -> Option<u8> {
    let table = component.split('.').next()?;
    crate::components::ALL
        .iter()
        .find(|c| c.name() == table)
        .map(|c| c.level())
}

impl Stack {
    pub fn parse(src: Source, inv: &Inventory) -> Result<Stack, Diagnostics> {
        let raw: RawStack = match toml::from_str(&src.text) {
            Ok(r) => r,
            Err(e) => {
                let mut d = Diagnostics::default();
                d.push(from_toml(&src, &e));
                return Err(d);
            }
        };
        let mut v = Validator {
            src: &src,
            inv,
            diags: Diagnostics::default(),
            placement: BTreeMap::new(),
        };
        if !valid_name(&raw.stack.name) {
            let span = v.at(&["stack", "name"], None);
            v.err(
                span,
                format!(
                    "stack name `{}` is not allowed",
                    raw.stack.name.escape_debug()
                ),
                "use letters, digits, - and _",
            );
        }
        let mut afters: BTreeMap<String, Vec<Spanned<String>>> = BTreeMap::new();
        // the single-table components: where each runs, and what it waits for
        type HostsAfter<'a> = Option<(&'a Spanned<HostsRef>, &'a Vec<Spanned<String>>)>;
        let singles: [(&str, HostsAfter<'_>); 7] = [
            ("etcd", raw.etcd.as_ref().map(|c| (&c.hosts, &c.after))),
            (
                "postgres",
                raw.postgres.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
            (
                "pgbouncer",
                raw.pgbouncer.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
            ("redis", raw.redis.as_ref().map(|c| (&c.hosts, &c.after))),
            ("qdrant", raw.qdrant.as_ref().map(|c| (&c.hosts, &c.after))),
            (
                "haproxy",
                raw.haproxy.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
            (
                "keepalived",
                raw.keepalived.as_ref().map(|c| (&c.hosts, &c.after)),
            ),
        ];
        for (key, c) in singles {
            if let Some((hosts, after)) = c {
                v.place(key, hosts);
                afters.insert(key.into(), after.clone());
            }
        }
        let mut services = BTreeMap::new();
        for (name, s) in &raw.services {
            if !valid_name(name.get_ref()) {
                v.err(
                    Some(name.span()),
                    format!(
                        "service name `{}` is not allowed",
                        name.get_ref().escape_debug()
                    ),
                    "use letters, digits, - and _",
                );
                continue;
            }
            let key = format!("services.{}", name.get_ref());
            v.place(&key, &s.hosts);
            afters.insert(key, s.after.clone());
            services.insert(name.get_ref().clone(), s.clone());
        }
        let mut roles = BTreeMap::new();
        for (name, r) in &raw.roles {
            if !valid_name(name.get_ref()) {
                v.err(
                    Some(name.span()),
                    format!(
                        "role instance name `{}` is not allowed",
                        name.get_ref().escape_debug()
                    ),
                    "use letters, digits, - and _",
                );
                continue;
            }
            let key = format!("roles.{}", name.get_ref());
            v.place(&key, &r.hosts);
            afters.insert(key, r.after.clone());
            roles.insert(name.get_ref().clone(), r.clone());
        }
        // backups run on the PostgreSQL hosts (each dumps only while it is the
        // leader; with pgBackRest, each archives while it leads) and on
        // pgBackRest's repository host (which takes the backups)
        if raw.backup.as_ref().is_some_and(|b| b.postgres.is_some()) {
            if let Some(mut pg) = v.placement.get("postgres").cloned() {
                let repo = crate::components::backup::stack::pgbackrest(raw.backup.as_ref())
                    .and_then(|b| b.repo_host())
                    .filter(|r| inv.hosts.contains_key(*r) && !pg.iter().any(|h| h == r));
                if let Some(r) = repo {
                    pg.push(r.to_string());
                    pg.sort();
                }
                v.placement.insert("backup".into(), pg);
                afters.insert("backup".into(), Vec::new());
            }
        }
        let placement = std::mem::take(&mut v.placement);
        v.check_rules(&raw, &placement);
        v.check_ports(&raw, &placement);
        let after = v.order(&placement, &afters);
        if v.diags.has_errors() {
            return Err(v.diags);
        }
        Ok(Stack {
            source: src.clone(),
            name: raw.stack.name,
            etcd: raw.etcd,
            postgres: raw.postgres,
            pgbouncer: raw.pgbouncer,
            redis: raw.redis,
            qdrant: raw.qdrant,
            services,
            haproxy: raw.haproxy,
            keepalived: raw.keepalived,
            backup: raw.backup,
            tls: raw.tls,
            roles,
            placement,
            after,
        })
    }

    pub fn hosts_of(&self, component: &str) -> &[String] {
        self.placement
            .get(component)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every secret the stack refers to, keyed by where it is used
    /// (`postgres.superuser_password`, `postgres.databases.NAME.password`, `redis.password`).
    pub fn secret_refs(&self) -> Vec<(String, &SecretRef)> {
        let mut v = Vec::new();
        for c in crate::components::ALL {
            c.secret_refs(self, &mut v);
        }
        // the operator's CA for [tls] (`tls::store` reads it back)
        if let Some(t) = self.tls.as_ref().filter(|t| t.on()) {
            if let (Some(c), Some(k)) = (&t.ca, &t.ca_key) {
                v.push((crate::tls::view::CA_KEY.to_string(), c));
                v.push((crate::tls::store::OPERATOR_CA_KEY.to_string(), k));
            }
            for (n, r) in t.trust.iter().enumerate() {
                v.push((Tls::trust_key(n), r));
            }
        }
        v
    }
}

/// `claim(component, port, span)`: a port the component's members serve
/// (`Component::ports`), with the span a clash is blamed on.
pub(crate) type Claim<'a> = dyn FnMut(&str, u16, Option<Range<usize>>) + 'a;

/// The stack's checks under way: their diagnostics and the placement so far.
/// Public only because `Component::validate` names it.
pub struct Validator<'a> {
    src: &'a Source,
    inv: &'a Inventory,
    diags: Diagnostics,
    placement: BTreeMap<String, Vec<String>>,
}

impl<'a> Validator<'a> {
    /// The inventory the stack is checked against.
    pub(crate) fn inv(&self) -> &'a Inventory {
        self.inv
    }

    pub(crate) fn err(
        &mut self,
        span: Option<Range<usize>>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags.push(self.src.diag(span, msg, Some(help.into())));
    }

    /// The span of the value at a key path, else `fallback`.
    pub(crate) fn at(&self, path: &[&str], fallback: Option<Range<usize>>) -> Option<Range<usize>> {
        self.src.find(path).or(fallback)
    }

    /// The span of the key itself at a key path, else `fallback`.
    pub(crate) fn key_at(
        &self,
        path: &[&str],
        fallback: Option<Range<usize>>,
    ) -> Option<Range<usize>> {
        self.src.find_key(path).or(fallback)
    }

    fn place(&mut self, component: &str, hosts: &Spanned<HostsRef>) {
        let names: Vec<&String> = match hosts.get_ref() {
            HostsRef::One(s) => vec![s],
            HostsRef::Many(v) => v.iter().collect(),
        };
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for n in names {
            match self.inv.resolve(n) {
                Some(hs) => {
                    for h in hs {
                        if seen.insert(h.clone()) {
                            out.push(h);
                        }
                    }
                }
                None => {
                    let known = self.inv.names();
                    let help = match did_you_mean(n, known.iter().copied()) {
                        Some(s) => format!(
                            "did you mean `{s}`? groups and hosts in {}: {}",
                            self.inv.source.path,
                            known.join(", ")
                        ),
                        None => format!(
                            "name a group or host of {}: {}",
                            self.inv.source.path,
                            known.join(", ")
                        ),
                    };
                    self.err(
                        Some(hosts.span()),
                        format!(
                            "`{}` is neither a group nor a host of the inventory",
                            n.escape_debug()
                        ),
                        help,
                    );
                }
            }
        }
        if out.is_empty() && matches!(hosts.get_ref(), HostsRef::Many(v) if v.is_empty()) {
            self.err(
                Some(hosts.span()),
                "hosts is empty",
                "name a group or at least one host",
            );
        }
        // inventory order (sorted names) so member lists are stable
        out.sort();
        self.placement.insert(component.to_string(), out);
    }

    fn check_rules(&mut self, raw: &RawStack, placement: &BTreeMap<String, Vec<String>>) {
        for c in crate::components::TABLE_ORDER {
            c.validate(self, raw, placement);
        }
        // what the clusters need of their hosts' Debian releases beyond their own checks
        for c in crate::components::TABLE_ORDER {
            c.validate_releases(self, raw, placement);
        }
        crate::tls::stack::validate(self, raw);
    }

    /// Two components on one port of one host.
    fn check_ports(&mut self, raw: &RawStack, placement: &BTreeMap<String, Vec<String>>) {
        let mut claims: Vec<(String, u16, Option<Range<usize>>)> = Vec::new();
        let mut claim = |comp: &str, port: u16, span: Option<Range<usize>>| {
            claims.push((comp.to_string(), port, span))
        };
        for c in crate::components::TABLE_ORDER {
            c.ports(raw, &mut claim);
        }
        let mut seen: BTreeMap<(String, u16), String> = BTreeMap::new();
        for (comp, port, span) in claims {
            if port == 0 {
                let span = match comp.as_str() {
                    "pgbouncer" => self.at(&["pgbouncer", "port"], span),
                    // the stats port's claim carries the hosts' span; listen ports carry their own
                    "haproxy"
                        if raw
                            .haproxy
                            .as_ref()
                            .is_some_and(|h| span == Some(h.hosts.span())) =>
                    {
                        self.at(&["haproxy", "stats_port"], span)
                    }
                    _ => span,
                };
                self.diags.push(self.src.diag(
                    span,
                    "port 0 is not a port",
                    Some("write a port from 1 to 65535".into()),
                ));
                continue;
            }
            for host in placement.get(&comp).into_iter().flatten() {
                if let Some(other) = seen.get(&(host.clone(), port)) {
                    let msg = if other == &comp {
                        format!("{comp} uses port {port} twice on host {host}")
                    } else {
                        format!("{comp} and {other} both want port {port} on host {host}")
                    };
                    self.diags.push(self.src.diag(
                        span.clone(),
                        msg,
                        Some(
                            "give one of them another port, or put them on different hosts".into(),
                        ),
                    ));
                    break;
                }
                seen.insert((host.clone(), port), comp.clone());
            }
        }
    }

    /// Who waits for whom: the deploy order plus explicit `after`; cycles are errors.
    fn order(
        &mut self,
        placement: &BTreeMap<String, Vec<String>>,
        afters: &BTreeMap<String, Vec<Spanned<String>>>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for comp in placement.keys() {
            let mut deps: Vec<String> = Vec::new();
            if let Some(l) = level(comp) {
                // the nearest lower level present waits; levels below it are reached through it
                for other in placement.keys() {
                    if let Some(ol) = level(other) {
                        if ol < l {
                            deps.push(other.clone());
                        }
                    }
                }
            }
            for a in afters.get(comp).into_iter().flatten() {
                let name = a.get_ref();
                if !placement.contains_key(name) {
                    let help = match did_you_mean(name, placement.keys().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "name one of: {}",
                            placement.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.err(
                        Some(a.span()),
                        format!(
                            "after names `{}`, which is not in this stack",
                            name.escape_debug()
                        ),
                        help,
                    );
                } else if !deps.contains(name) {
                    deps.push(name.clone());
                }
            }
            out.insert(comp.clone(), deps);
        }
        if let Some(cycle) = find_cycle(&out) {
            let span = afters.values().flatten().next().map(|s| s.span());
            self.diags.push(Diagnostic {
                help: Some("remove one of these `after` entries".into()),
                ..self.src.diag(
                    span,
                    format!(
                        "the components wait for each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                    None,
                )
            });
        }
        out
    }
}

/// A cycle in a "waits for" map, printed from its first member back to it.
pub fn find_cycle(deps: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut c = stack[start..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, deps, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in deps.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(n, deps, &mut state, &mut stack) {
            return Some(c);
        }
    }
    None
}
