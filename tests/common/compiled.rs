//! A stack compiled as `rampart plan` does, for the tests without SSH: the
//! secret values given, the others read as the stack says (files beside it),
//! and what the loaders keep beside the stack file (pgBackRest's SSH keys,
//! `[tls]`'s CA and certificates) made or read there.

use rampart::compile::{compile, Compiled, SecretValues};
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::roles::RoleSet;
use std::collections::BTreeMap;
use std::path::Path;

/// `stack` compiled with the built-in roles, its secrets being `given` and
/// the ones it reads; the inventory's files (known_hosts) are beside
/// `stack_path` too. Also every secret value it rendered with. An error is
/// the loaders' (a `[tls]` that cannot be honoured).
pub fn compiled_with(
    inv: &Inventory,
    stack: &Stack,
    stack_path: &Path,
    given: &[(&str, &str)],
) -> Result<(Compiled, BTreeMap<String, Secret>), String> {
    let dir = stack_path.parent().unwrap();
    let mut m: BTreeMap<String, Secret> = given
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(*v)))
        .collect();
    for (k, r) in stack.secret_refs() {
        if let std::collections::btree_map::Entry::Vacant(e) = m.entry(k) {
            let v = r
                .read(dir)
                .unwrap_or_else(|err| panic!("{}: {err}", e.key()));
            e.insert(v);
        }
    }
    rampart::model::backup_keys::load(inv, dir, stack, stack_path, &mut m)?;
    rampart::tls::store::load(inv, stack, stack_path, &mut m)?;
    let roles = RoleSet::load(None).unwrap();
    let c = compile(inv, stack, &roles, &SecretValues::Values(m.clone()))
        .unwrap_or_else(|d| panic!("{d:?}"));
    Ok((c, m))
}
