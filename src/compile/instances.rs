//! Which role each placed component is an instance of: `[roles.NAME]` names
//! its role; a built-in table (`[etcd]`, `[services.x]`, ...) has its own.

use super::secrets::secret_views;
use super::Instance;
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::stack::Stack;
use crate::roles::RoleSet;

/// One instance per placed component that has a role. A `[roles.NAME]`
/// naming no role is an error (in `diags`); a built-in table whose role
/// this version lacks is a warning (in `warnings`).
pub(super) fn instances(
    stack: &Stack,
    roles: &RoleSet,
    diags: &mut Diagnostics,
    warnings: &mut Diagnostics,
) -> Vec<Instance> {
    let mut instances = Vec::new();
    for comp in stack.placement.keys() {
        let found = match comp.strip_prefix("roles.") {
            Some(name) => user_role(stack, roles, name, diags),
            None => builtin_role(stack, roles, comp, warnings),
        };
        let Some((role, vars, named)) = found else {
            continue;
        };
        instances.push(Instance {
            component: comp.clone(),
            role,
            hosts: stack.hosts_of(comp).to_vec(),
            vars,
            sees: super::secrets::seen_by(comp, &named),
        });
    }
    instances
}

/// `[roles.NAME]`: its role (default NAME), vars and the views whose
/// secrets it names.
fn user_role(
    stack: &Stack,
    roles: &RoleSet,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<(String, toml::Table, Vec<String>)> {
    let ri = &stack.roles[name];
    let role = ri
        .role
        .as_ref()
        .map(|r| r.get_ref().clone())
        .unwrap_or_else(|| name.to_string());
    if roles.get(&role).is_some() {
        let named = named_secrets(stack, name, diags);
        return Some((role, ri.vars.clone(), named));
    }
    let span = ri.role.as_ref().map(|r| r.span()).or(Some(ri.hosts.span()));
    let help = match crate::diag::did_you_mean(&role, roles.roles.keys().map(String::as_str)) {
        Some(s) => {
            format!("did you mean `{s}`? or add roles/{role}/role.toml and pass --roles DIR")
        }
        None => {
            format!("add roles/{role}/role.toml to a roles folder and pass --roles DIR")
        }
    };
    diags.push(stack.source.diag(
        span,
        format!("roles.{name}: there is no role `{role}`"),
        Some(help),
    ));
    None
}

/// A built-in table: its role by component (app services: a systemd unit
/// for `command`, a compose project for `image`).
fn builtin_role(
    stack: &Stack,
    roles: &RoleSet,
    comp: &str,
    warnings: &mut Diagnostics,
) -> Option<(String, toml::Table, Vec<String>)> {
    let role = match comp.strip_prefix("services.") {
        Some(name) if stack.services[name].image.is_some() => "compose".to_string(),
        Some(_) => "service".to_string(),
        None if comp == "backup" => "backup".to_string(),
        None => comp.split('.').next().unwrap_or(comp).to_string(),
    };
    if roles.get(&role).is_some() {
        return Some((role, toml::Table::new(), Vec::new()));
    }
    warnings.push(Diagnostic {
        warning: true,
        ..Diagnostic::plain(
            stack.source.path.clone(),
            format!("[{comp}] is checked but not deployed: this version of rampart has no `{role}` role yet"),
            Some("remove the table, or provide roles/{role}/role.toml with --roles".replace("{role}", &role)),
        )
    });
    None
}

/// `[roles.NAME] secrets`: each must name a view that carries secrets.
fn named_secrets(stack: &Stack, name: &str, diags: &mut Diagnostics) -> Vec<String> {
    let views = || secret_views().map(|(v, _)| v);
    let mut named = Vec::new();
    for s in &stack.roles[name].secrets {
        let view = s.get_ref();
        if views().any(|v| v == view) {
            named.push(view.clone());
            continue;
        }
        let all = views().collect::<Vec<_>>().join(", ");
        let help = match crate::diag::did_you_mean(view, views()) {
            Some(best) => format!("did you mean `{best}`? the views with secrets are {all}"),
            None => format!("name one of the views with secrets: {all}"),
        };
        diags.push(stack.source.diag(
            Some(s.span()),
            format!("roles.{name}: `{view}` is no view with secrets"),
            Some(help),
        ));
    }
    named
}
