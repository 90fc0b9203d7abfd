//! `rampart status` for etcd: each member's endpoint status (up, leader or
//! follower, member count from its member list, read by the facts' parser)
//! and the cluster's verdict (every member up, one leader).

use super::facts::parse_etcd_members;
use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};

const PROBE: &str = "if out=$(etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=3s endpoint status -w fields 2>&1); then \
id=$(printf '%s\\n' \"$out\" | sed -n 's/^\"MemberID\" : //p'); ld=$(printf '%s\\n' \"$out\" | sed -n 's/^\"Leader\" : //p'); \
m=$(etcdctl --endpoints=http://127.0.0.1:2379 member list 2>/dev/null | base64 -w0); \
if [ -n \"$id\" ] && [ \"$id\" = \"$ld\" ]; then r=leader; else r=follower; fi; echo \"etcd|up|$r|$m\"; \
else echo \"etcd|down|-|$(printf '%s' \"$out\" | tr '\\n' ' ' | cut -c1-120)\"; fi\n";

/// The probe lines for this host (one `etcd|...` line), empty when it is not a member.
pub fn probe(stack: &Stack, host: &str) -> String {
    if stack.hosts_of("etcd").iter().any(|h| h == host) {
        PROBE.to_string()
    } else {
        String::new()
    }
}

/// The members in an up line's member list (base64 of `etcdctl member
/// list`), read by the facts' parser; 0 when it is empty or unreadable.
fn member_count(b64: &str) -> usize {
    crate::util::b64_decode(b64)
        .and_then(|b| parse_etcd_members(&String::from_utf8_lossy(&b)))
        .map_or(0, |m| m.len())
}

/// etcd's health from every member's probe: none when the stack has no etcd.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    if stack.etcd.is_none() {
        return Vec::new();
    }
    let mut members = Vec::new();
    for h in stack.hosts_of("etcd") {
        members.push(unreachable(probes, h).unwrap_or_else(|| {
            let l = lines(probes, h, "etcd")
                .into_iter()
                .next()
                .unwrap_or_default();
            let up = field(&l, 1) == "up";
            MemberHealth {
                host: h.clone(),
                healthy: up,
                role: field(&l, 2).into(),
                detail: if up {
                    format!("{} members", member_count(field(&l, 3)))
                } else {
                    field(&l, 3).into()
                },
            }
        }));
    }
    let leaders = members.iter().filter(|m| m.role == "leader").count();
    vec![ComponentHealth {
        component: "etcd".into(),
        healthy: members.iter().all(|m| m.healthy) && leaders == 1,
        note: (leaders != 1).then(|| format!("{leaders} leaders")),
        members,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::model::inventory::Inventory;

    fn stack() -> Stack {
        let inv = Inventory::parse(Source::new(
            "inventory/default.toml",
            include_str!("../../../inventory/default.toml"),
        ))
        .unwrap();
        Stack::parse(
            Source::new(
                "plans/default.toml",
                include_str!("../../../plans/default.toml"),
            ),
            &inv,
        )
        .unwrap()
    }

    /// PROBE run by sh against a stand-in etcdctl answering as etcd 3.4 does
    /// (`endpoint status -w fields`, `member list`), or failing.
    fn run_probe(leader: bool, answering: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let fake = format!(
            "#!/bin/sh\n{}case \"$*\" in *\"endpoint status\"*) printf '\"MemberID\" : 111\\n\"Leader\" : {}\\n';; \
             *\"member list\"*) printf 'a1, started, lab1, http://198.18.0.11:2380, http://198.18.0.11:2379, false\\nb2, started, lab2, http://198.18.0.12:2380, http://198.18.0.12:2379, false\\nc3, unstarted, , http://198.18.0.13:2380, , false\\n';; esac\n",
            if answering { "" } else { "echo 'connection refused' >&2; exit 1\n" },
            if leader { 111 } else { 222 }
        );
        let path = dir.path().join("etcdctl");
        std::fs::write(&path, fake).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(PROBE)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    dir.path().display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_member_count_comes_from_the_member_list_read_by_the_facts_parser() {
        let mut probes = Probes::new();
        probes.insert("lab1".into(), Ok(run_probe(true, true)));
        probes.insert("lab2".into(), Ok(run_probe(false, true)));
        probes.insert("lab3".into(), Ok(run_probe(false, false)));
        let c = evaluate(&stack(), &probes);
        let got: Vec<(bool, &str, &str)> = c[0]
            .members
            .iter()
            .map(|m| (m.healthy, m.role.as_str(), m.detail.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (true, "leader", "3 members"),
                (true, "follower", "3 members"),
                (false, "-", "connection refused"),
            ]
        );
        assert!(!c[0].healthy && c[0].note.is_none());
        // an empty or unreadable member list is no member
        assert_eq!(member_count(""), 0);
        assert_eq!(member_count("%%%"), 0);
    }
}
