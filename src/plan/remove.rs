//! Removal steps for what a host holds and no longer should.

use super::{Action, Op, Step, SystemctlVerb};
use crate::compile::Kind;
use crate::facts::ManagedEntry;

/// Removal steps for managed entries, services first, packages last. With
/// `destroy_data`, each compose project's volumes go first (`down
/// --volumes`); without it, the unit's own `down` at its stop keeps them.
pub fn destroy_steps<'a>(
    host: &str,
    entries: impl Iterator<Item = (&'a String, &'a ManagedEntry)>,
    destroy_data: bool,
) -> Vec<Step> {
    let rank = |k: &str| match Kind::parse(k) {
        Some(Kind::Service) => 0,
        Some(Kind::Unit) => 1,
        Some(Kind::File) => 2,
        Some(Kind::Directory) => 3,
        Some(Kind::Package) => 4,
        _ => 5,
    };
    let mut v: Vec<(&String, &ManagedEntry)> = entries.collect();
    v.sort_by_key(|(id, e)| (rank(&e.kind), (*id).clone()));
    let mut out = Vec::new();
    if destroy_data {
        out.extend(v.iter().filter_map(|(_, e)| compose_volumes_down(host, e)));
    }
    for (id, e) in v {
        let ops = match Kind::parse(&e.kind) {
            Some(Kind::Service) => vec![Op::Systemctl {
                verb: SystemctlVerb::DisableNow,
                unit: e.name.clone(),
                no_block: false,
            }],
            Some(Kind::Unit) => vec![Op::RemoveFile {
                path: e.name.clone(),
                daemon_reload: true,
            }],
            Some(Kind::File) => vec![Op::RemoveFile {
                path: e.name.clone(),
                daemon_reload: false,
            }],
            Some(Kind::Directory) if e.data && !destroy_data => continue,
            Some(Kind::Directory) => vec![Op::RemoveDir {
                path: e.name.clone(),
                recursive: e.data,
            }],
            Some(Kind::Package) => vec![Op::AptRemove {
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
            always: false,
        });
    }
    out
}

/// The folder of a compose project rampart made (`/etc/rampart/compose/NAME`).
const COMPOSE_DIR: &str = "/etc/rampart/compose/";

/// For a compose project's folder: the step removing its containers and
/// volumes (named and anonymous), before its unit stops.
fn compose_volumes_down(host: &str, e: &ManagedEntry) -> Option<Step> {
    let name = e.name.strip_prefix(COMPOSE_DIR)?;
    if Kind::parse(&e.kind) != Some(Kind::Directory) || name.is_empty() || name.contains('/') {
        return None;
    }
    let dir = crate::transport::quote::sh(&e.name);
    Some(Step {
        id: format!("{host}/{}/{name}-volumes", Kind::Command),
        host: host.to_string(),
        action: Action::Delete,
        reasons: vec![format!(
            "--destroy-data: the compose project {name}'s containers and volumes"
        )],
        diff: None,
        sensitive: false,
        drift: false,
        ops: vec![Op::RunCommand {
            run: format!(
                "if [ -f {dir}/compose.yml ]; then cd {dir} && if command -v docker-compose >/dev/null; then docker-compose down --volumes; else docker compose down --volumes; fi; fi"
            ),
            unless: None,
            creates: None,
        }],
        deps: vec![],
        retires: None,
        always: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, name: &str, data: bool) -> (String, ManagedEntry) {
        (
            format!("h1/{kind}/{}", name.trim_start_matches('/')),
            ManagedEntry {
                kind: kind.into(),
                name: name.into(),
                sha256: None,
                data,
            },
        )
    }

    /// A compose project's volumes are kept by `destroy` and removed with
    /// `--destroy-data`, before its unit stops; data directories likewise.
    #[test]
    fn compose_volumes_go_only_with_destroy_data() {
        let entries: Vec<(String, ManagedEntry)> = vec![
            entry("service", "rampart-s-web.service", false),
            entry("directory", "/etc/rampart/compose/web", false),
            entry("file", "/etc/rampart/compose/web/compose.yml", false),
            entry("directory", "/var/lib/postgresql/17/patroni", true),
        ];
        let ids = |d: bool| -> Vec<String> {
            destroy_steps("h1", entries.iter().map(|(k, e)| (k, e)), d)
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        let kept = ids(false);
        assert!(!kept.iter().any(|i| i.contains("volumes")), "{kept:?}");
        assert!(!kept.iter().any(|i| i.contains("patroni")), "{kept:?}");
        let all = destroy_steps("h1", entries.iter().map(|(k, e)| (k, e)), true);
        assert_eq!(all[0].id, "h1/command/web-volumes");
        assert_eq!(all[1].id, "h1/service/rampart-s-web.service");
        let Op::RunCommand { run, .. } = &all[0].ops[0] else {
            panic!("{:?}", all[0].ops)
        };
        assert!(
            run.contains("cd /etc/rampart/compose/web && ")
                && run.contains("docker compose down --volumes"),
            "{run}"
        );
        assert!(all.iter().any(|s| s.id.contains("patroni")));
    }
}
