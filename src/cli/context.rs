//! Loading what every command needs: files, roles, secrets, the compiled graph.

use crate::compile::{self, Compiled, SecretValues};
use crate::diag::{Diagnostic, Diagnostics};
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::plan::saved::{absolute, Sources};
use crate::printer;
use crate::roles::RoleSet;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Globals {
    pub inventory: Option<PathBuf>,
    pub stack: Option<PathBuf>,
    pub roles: Option<PathBuf>,
}

pub struct Loaded {
    pub inv: Inventory,
    pub stack: Stack,
    pub roles: RoleSet,
    pub compiled: Compiled,
    /// Folder of the inventory file (relative identity/known_hosts paths).
    pub inv_base: PathBuf,
    /// The files loaded, as absolute paths (recorded in saved plans).
    pub sources: Sources,
}

fn pick(given: &Option<PathBuf>, default: &str, flag: &str) -> Result<PathBuf, Diagnostics> {
    match given {
        Some(p) => Ok(p.clone()),
        None if Path::new(default).exists() => Ok(PathBuf::from(default)),
        None => {
            let mut d = Diagnostics::default();
            d.push(Diagnostic::plain(
                default,
                "not found, and no file was given",
                Some(format!(
                    "pass {flag} FILE, or run from the folder holding {default}"
                )),
            ));
            Err(d)
        }
    }
}

/// Loads and compiles. `with_secrets`: read secret values (plan/apply) or use placeholders (validate/graph).
pub fn load(g: &Globals, with_secrets: bool) -> Result<Loaded, Diagnostics> {
    let inv_path = pick(&g.inventory, "inventory/default.toml", "-i/--inventory");
    let stack_path = pick(&g.stack, "plans/default.toml", "-s/--stack");
    let (inv_path, stack_path) = match (inv_path, stack_path) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let mut d = Diagnostics::default();
            for r in [a, b] {
                if let Err(e) = r {
                    d.extend(e);
                }
            }
            return Err(d);
        }
    };
    let (inv, stack) = crate::model::load::load(&inv_path, &stack_path)?;
    let roles = RoleSet::load(g.roles.as_deref())?;
    let secrets = if with_secrets {
        let base = stack_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut m = BTreeMap::new();
        let mut d = Diagnostics::default();
        for (key, r) in stack.secret_refs() {
            match r.read(&base) {
                Ok(v) => {
                    m.insert(key.clone(), v);
                }
                Err(e) => d.push(Diagnostic::plain(
                    stack.source.path.clone(),
                    format!("{key}: {e}"),
                    Some(format!("the stack reads it from {}", r.describe())),
                )),
            }
        }
        let inv_base = inv_path.parent().map(Path::to_path_buf).unwrap_or_default();
        if let Err(e) =
            crate::model::backup_keys::load(&inv, &inv_base, &stack, &stack_path, &mut m)
        {
            d.push(Diagnostic::plain(
                stack.source.path.clone(),
                format!("[backup.postgres] pgBackRest's SSH keys: {e}"),
                Some("rampart keeps them in .rampart/STACK/ beside the stack file: make that folder writable".into()),
            ));
        }
        if !d.has_errors() {
            if let Err(e) = crate::tls::store::load(&inv, &stack, &stack_path, &mut m) {
                d.push(Diagnostic::plain(
                    stack.source.path.clone(),
                    format!("[tls] the stack's certificates: {e}"),
                    Some(format!(
                        "rampart keeps them in {} beside the stack file: make that folder writable",
                        crate::tls::store::dir(&stack_path, &stack.name).display()
                    )),
                ));
            }
        }
        if d.has_errors() {
            return Err(d);
        }
        SecretValues::Values(m)
    } else {
        SecretValues::Placeholder
    };
    let compiled = compile::compile(&inv, &stack, &roles, &secrets)?;
    let inv_base = inv_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let sources = Sources {
        inventory: absolute(&inv_path),
        stack: absolute(&stack_path),
        roles: g.roles.as_deref().map(absolute),
    };
    Ok(Loaded {
        inv,
        stack,
        roles,
        compiled,
        inv_base,
        sources,
    })
}

/// Prints diagnostics and returns the error exit code.
pub fn fail(d: &Diagnostics) -> i32 {
    printer::err(&printer::diagnostics(d));
    super::EXIT_ERROR
}

pub fn warn(d: &Diagnostics) {
    if !d.is_empty() {
        printer::err(&printer::diagnostics(d));
    }
}

/// The hosts a command talks to: every host the stack places anything on.
pub fn stack_hosts(l: &Loaded) -> Vec<String> {
    let mut h: Vec<String> = l.stack.placement.values().flatten().cloned().collect();
    h.sort();
    h.dedup();
    h
}
