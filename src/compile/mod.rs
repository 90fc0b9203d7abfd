//! Compile: inventory + stack + roles -> resources (`host/kind/name`) in a
//! petgraph DAG. Pure: no network, no file system (secrets come in resolved).

mod context;
mod desired;
mod expand;
mod instances;
mod order;
mod resource;
mod secrets;
pub mod view;

pub use resource::{Compiled, Desired, Kind, Resource, ResourceId, NO_HOST};
pub use secrets::{secret_views, SecretValues};

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::inventory::Inventory;
use crate::model::secret::Secret;
use crate::model::stack::Stack;
use crate::roles::RoleSet;
use desired::safe_path;
use std::collections::{BTreeMap, HashMap};

/// One role applied to some hosts.
struct Instance {
    component: String,
    role: String,
    hosts: Vec<String>,
    vars: toml::Table,
    /// The views whose secrets its templates see (`secrets::seen_by`).
    sees: Vec<String>,
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
        rolls: Vec::new(),
    };
    let mut warnings = crate::model::zones::check(stack, inv);
    let instances = instances::instances(stack, roles, &mut c.diags, &mut warnings);
    let secret_list: Vec<Secret> = match secrets {
        SecretValues::Placeholder => Vec::new(),
        SecretValues::Values(m) => m.values().cloned().collect(),
    };
    // components in dependency order so barriers exist before their waiters
    for comp in order::component_order(stack) {
        if let Some(inst) = instances.iter().find(|i| i.component == comp) {
            c.instance(inst, secrets, &secret_list);
        }
    }
    if c.diags.has_errors() {
        return Err(c.diags);
    }
    let resources = c.resources;
    let Some(order) = order::stable_toposort(&resources) else {
        return Err(order::cycle_error(&resources, stack));
    };
    let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
    for &i in &order {
        let h = &resources[i].id.host;
        if h != NO_HOST {
            by_host.entry(h.clone()).or_default().push(i);
        }
    }
    let mut hosts: Vec<String> = by_host.keys().cloned().collect();
    hosts.sort();
    let mut compiled = Compiled {
        stack: stack.name.clone(),
        resources,
        order,
        hosts,
        by_host,
        data_dirs: c.data_dirs,
        secrets: secret_list,
        warnings,
        topology: BTreeMap::new(),
        releases: inv
            .hosts
            .values()
            .map(|h| (h.name.clone(), (h.debian, h.debian_from)))
            .collect(),
        inventory: inv.source.path.clone(),
        rolls: c.rolls,
    };
    topology(&mut compiled, inv, stack, &instances);
    Ok(compiled)
}

/// The deployed clusters as a whole, for day-2 steps, facts and status:
/// each component with an instance gives its own (`Component::topology`).
fn topology(c: &mut Compiled, inv: &Inventory, stack: &Stack, instances: &[Instance]) {
    for comp in crate::components::ALL {
        // an app service's instance is `services.NAME`
        let mine = |c: &str| {
            c == comp.name()
                || c.strip_prefix(comp.name())
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        if !instances.iter().any(|i| mine(&i.component)) {
            continue;
        }
        if let Some(t) = comp.topology(inv, stack) {
            c.topology.insert(comp.name(), t);
        }
    }
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
    rolls: Vec<crate::compile::resource::Roll>,
}

impl Compiler<'_> {
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
                    Some(secrets::template_help(&e.to_string())),
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
}
