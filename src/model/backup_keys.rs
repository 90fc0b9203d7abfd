//! A loader: the SSH keys pgBackRest's members and repository host trust
//! each other with (`[backup.postgres] method = "pgbackrest"`), generated
//! once by rampart (never the operator's own key) and kept beside the stack
//! in `.rampart/STACK/` (0700; private keys 0600), and the peers' host keys
//! from the inventory's known_hosts (the keys rampart itself trusts).
//! They reach rendering as secret values (`components::backup::view`).

use crate::components::backup::view::{host_keys_key, MEMBER_KEY, MEMBER_PUB, REPO_KEY, REPO_PUB};
use crate::model::inventory::Inventory;
use crate::model::secret::Secret;
use crate::model::stack::Stack;
use crate::transport::known_hosts;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the keys of a stack live: `DIR_OF_STACK/.rampart/STACK/`.
pub fn key_dir(stack_path: &Path, stack: &str) -> PathBuf {
    stack_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(".rampart")
        .join(stack)
}

/// Adds the keys and host keys to `m` when the stack uses pgBackRest;
/// generates a missing key pair with `ssh-keygen`.
pub fn load(
    inv: &Inventory,
    inv_base: &Path,
    stack: &Stack,
    stack_path: &Path,
    m: &mut BTreeMap<String, Secret>,
) -> Result<(), String> {
    let Some(b) = crate::components::backup::stack::pgbackrest(stack.backup.as_ref()) else {
        return Ok(());
    };
    let dir = key_dir(stack_path, &stack.name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    for (side, key, public) in [
        ("member", MEMBER_KEY, MEMBER_PUB),
        ("repo", REPO_KEY, REPO_PUB),
    ] {
        let path = dir.join(format!("pgbackrest-{side}"));
        if !path.exists() {
            generate(&path, &format!("rampart-pgbackrest-{side}@{}", stack.name))?;
        }
        let private = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let pub_path = path.with_extension("pub");
        let pubkey = std::fs::read_to_string(&pub_path)
            .map_err(|e| format!("cannot read {}: {e}", pub_path.display()))?;
        m.insert(key.to_string(), Secret::new(private));
        m.insert(public.to_string(), Secret::new(pubkey.trim().to_string()));
    }
    let kh_path = crate::model::expand_path(&inv.defaults.known_hosts, inv_base);
    let text = std::fs::read_to_string(&kh_path).unwrap_or_default();
    let mut hosts: Vec<&str> = stack
        .hosts_of("postgres")
        .iter()
        .map(String::as_str)
        .collect();
    hosts.extend(b.repo_host());
    for name in hosts {
        let Some(h) = inv.hosts.get(name) else {
            continue;
        };
        let entry = known_hosts::host_entry(&h.address, h.port);
        let lines: String = known_hosts::keys_for(&text, &entry)
            .into_iter()
            .map(|(kt, kd)| format!("{entry} {kt} {kd}\n"))
            .collect();
        m.insert(host_keys_key(name), Secret::new(lines));
    }
    Ok(())
}

fn generate(path: &Path, comment: &str) -> Result<(), String> {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run ssh-keygen (install openssh-client) to make {}: {e}",
                path.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "ssh-keygen could not make {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))
}
