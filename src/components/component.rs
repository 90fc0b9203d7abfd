//! The one interface the rest of rampart reaches a component through, and
//! the typed references to the role resources its day-2 steps rely on.

use crate::compile::{Compiled, Kind, ResourceId, SecretValues};
use crate::facts::{ClusterFact, HostFacts};
use crate::model::inventory::Inventory;
use crate::model::secret::SecretRef;
use crate::model::stack::{Claim, RawStack, Stack, Validator};
use crate::model::zones::{Quorum, Warn};
use crate::plan::Plan;
use crate::status::{ComponentHealth, Probes};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

/// `rule(name, expr, for, severity, summary)`: one Prometheus alert rule
/// (`alerts::rules` prefixes the name with the stack's).
pub(crate) type AlertRule<'a> = dyn FnMut(&str, String, &'static str, &'static str, String) + 'a;

/// A resource of a component's role that its day-2 steps find by id on each
/// of its hosts (a restart to order, a config whose change they watch).
/// Checked against the role when roles load (`RoleSet::load`): an override
/// that renames or drops it is an error there, never a silent no-op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleRef {
    /// The role folder (`roles/NAME/`).
    pub role: &'static str,
    /// The resource kind (`service`, `file`, `command`, `health`, ...).
    pub kind: Kind,
    /// Its name, or for files and directories its path, as role.toml writes
    /// it (it may use the view: `{{redis.server.unit}}`, see `redis::id`).
    pub name: &'static str,
}

impl RoleRef {
    pub const fn new(role: &'static str, kind: Kind, name: &'static str) -> RoleRef {
        RoleRef { role, kind, name }
    }
    /// The resource's id on `host`: `host/kind/name` (a path without its leading `/`).
    pub fn id(&self, host: &str) -> String {
        ResourceId::new(host, self.kind, self.name).to_string()
    }
}

/// What a component's day-2 steps need of the rolling restarts
/// (`plan::roll`), known from the facts before the plan's steps are ordered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollHints {
    /// Hosts whose members of this component are left out of its roll (they
    /// start on their own, e.g. etcd members joining after `member add`).
    pub not_rolled: Vec<String>,
    /// Hosts whose members restart last in every cluster's roll (Redis'
    /// master, after its failover).
    pub last: Vec<String>,
}

/// A deployed component's cluster as a whole (its hosts, addresses, the
/// settings its day-2 steps apply), made at compile time by
/// `Component::topology` and kept in `Compiled.topology` under the
/// component's name. Each component reads its own back through a typed
/// accessor in its folder (`etcd::cluster(compiled)`); the rest of rampart
/// never looks inside.
pub trait Topology: Any + Debug + Send + Sync {}
impl<T: Any + Debug + Send + Sync> Topology for T {}

/// Each component's hosts, by component name, as the stack places them.
pub type Placement = BTreeMap<String, Vec<String>>;

/// `template_view`'s answer: the key in every role's template context and
/// the view under it.
pub type View = Option<(&'static str, serde_json::Value)>;

/// What `template_view` is asked about: the instance `instance` (`etcd`,
/// `services.api`, `roles.x`, ...) on `host`.
pub struct ViewCx<'a> {
    pub inv: &'a Inventory,
    pub stack: &'a Stack,
    pub instance: &'a str,
    pub host: &'a str,
    pub secrets: &'a SecretValues,
}

/// `template_view`'s answer: a view under its key in the template context.
pub(crate) fn keyed_view<T: serde::Serialize>(key: &'static str, view: Option<T>) -> View {
    view.map(|v| (key, serde_json::to_value(v).unwrap_or_default()))
}

/// Claims each of `ports` for `component` at its table's `hosts`.
pub(crate) fn claim_ports<T>(
    claim: &mut Claim<'_>,
    component: &str,
    ports: impl IntoIterator<Item = u16>,
    hosts: &toml::Spanned<T>,
) {
    for p in ports {
        claim(component, p, Some(hosts.span()));
    }
}

/// What the rest of rampart asks of a component. Every method has a
/// default, so a component implements only what it has.
pub trait Component: Sync {
    /// Its stack table (`etcd`, `postgres`, `redis`, `services`, ...).
    fn name(&self) -> &'static str;
    /// Its deploy level: it waits for every component of a lower level that
    /// the stack has (`model::stack::level`): 0 etcd; 1 the data stores; 2
    /// the app services and backups; 3 what fronts them.
    fn level(&self) -> u8;
    /// A quorum cluster whose running members restart one at a time
    /// (`plan::roll`, in `ALL`'s order).
    fn rolling(&self) -> bool {
        false
    }
    /// Its checks of the stack file (its table, and what it needs of
    /// others'); `Validator::check_rules` calls them in `TABLE_ORDER`.
    fn validate(&self, _v: &mut Validator, _raw: &RawStack, _placement: &Placement) {}
    /// What it needs of its hosts' Debian releases, when not checked in its
    /// `validate`: `Validator::check_rules` calls these after every
    /// component's `validate`, so their problems come after all others.
    fn validate_releases(&self, _v: &mut Validator, _raw: &RawStack, _placement: &Placement) {}
    /// The ports its members serve, each claimed as `claim(component, port,
    /// span)`; `Validator::check_ports` finds two on one port of one host.
    fn ports(&self, _raw: &RawStack, _claim: &mut Claim<'_>) {}
    /// Its failure-domain checks: a quorum that must survive the loss of
    /// one zone through `quorum`, any other warning through `warn`
    /// (`model::zones::check`, in `TABLE_ORDER`).
    fn zones(
        &self,
        _stack: &Stack,
        _inv: &Inventory,
        _quorum: &mut Quorum<'_>,
        _warn: &mut Warn<'_>,
    ) {
    }
    /// Its Prometheus alert rules (`alerts::rules`, in `TABLE_ORDER`).
    fn alert_rules(&self, _stack: &Stack, _rule: &mut AlertRule<'_>) {}
    /// What its templates see on one host of one instance: the key in every
    /// role's template context and its view, None when the stack has none
    /// for it there.
    fn template_view(&self, _cx: &ViewCx<'_>) -> View {
        None
    }
    /// Its cluster as a whole when the stack deploys it (compile calls this
    /// only for a component with an instance), for its facts probe, day-2
    /// steps and status; read back through its folder's typed accessor.
    fn topology(&self, _inv: &Inventory, _stack: &Stack) -> Option<Arc<dyn Topology>> {
        None
    }
    /// The secrets its table names, each under the stack key that uses it
    /// (`redis.password`); `Stack::secret_refs` collects them in `ALL`'s order.
    fn secret_refs<'a>(&self, _stack: &'a Stack, _out: &mut Vec<(String, &'a SecretRef)>) {}
    /// The secret-bearing fields of its template view (`a[].b`: field `b`
    /// of every entry of list `a`), withheld from every other component's
    /// templates; its view is under its name in the context.
    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }
    /// The role resources its day-2 steps find by id.
    fn relies_on(&self) -> &'static [RoleRef] {
        &[]
    }
    /// The facts script's lines for its cluster fact on `host` (None when
    /// the host is not a member); `facts::parse` reads them back.
    fn facts_probe(&self, _compiled: &Compiled, _host: &str) -> Option<String> {
        None
    }
    /// The facts script's tag of its cluster fact line (`E`, `T`, ...), when it has one.
    fn fact_tag(&self) -> Option<&'static str> {
        None
    }
    /// Parses the payload of its fact line (what follows the tag): `Ok(None)`
    /// when the cluster did not answer, `Err` when the line is damaged.
    fn parse_fact(&self, _payload: &str) -> Result<Option<ClusterFact>, String> {
        Ok(None)
    }
    /// The items of its fact that a saved plan relies on (roles and
    /// membership in words, never what moves on its own: lag, link, state).
    fn fingerprint(&self, _fact: &ClusterFact) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Every key `fingerprint` can give (a saved plan names one that is gone
    /// as "not answering").
    fn fingerprint_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// `rampart status`'s probe lines on `host` (empty when it has none there).
    fn status_probe(&self, _stack: &Stack, _host: &str) -> String {
        String::new()
    }
    /// Its live health from every host's probe output.
    fn status(&self, _stack: &Stack, _probes: &Probes) -> Vec<ComponentHealth> {
        Vec::new()
    }
    /// What its day-2 steps need of the rolling restarts, from the facts.
    fn roll_hints(&self, _compiled: &Compiled, _facts: &BTreeMap<String, HostFacts>) -> RollHints {
        RollHints::default()
    }
    /// Its day-2 steps (membership, failover, runtime settings), added to
    /// the plan after the resources' steps; `plan::plan` calls them in
    /// `ALL`'s order, which the plan depends on.
    fn day2(&self, _compiled: &Compiled, _facts: &BTreeMap<String, HostFacts>, _plan: &mut Plan) {}
}
