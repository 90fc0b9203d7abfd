//! `rampart status` for etcd: each member's endpoint status (up, leader or
//! follower, member count from its member list, read by the facts' parser)
//! and the cluster's verdict (every member up, one leader).

use super::facts::parse_etcd_members;
use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};

/// `etcd|up|ROLE|MEMBERS` or `etcd|down|-|WHY` from the member on this host,
/// over its loopback URL (https with its own certificate under `[tls]`).
fn probe_text(tls: bool) -> String {
    let (env, url) = if tls {
        (
            format!("{} ", crate::tls::view::etcdctl_env()),
            "https://127.0.0.1:2379",
        )
    } else {
        (String::new(), "http://127.0.0.1:2379")
    };
    format!("if out=$({env}etcdctl --endpoints={url} --command-timeout=3s endpoint status -w fields 2>&1); then \
id=$(printf '%s\\n' \"$out\" | sed -n 's/^\"MemberID\" : //p'); ld=$(printf '%s\\n' \"$out\" | sed -n 's/^\"Leader\" : //p'); \
m=$({env}etcdctl --endpoints={url} member list 2>/dev/null | base64 -w0); \
if [ -n \"$id\" ] && [ \"$id\" = \"$ld\" ]; then r=leader; else r=follower; fi; echo \"etcd|up|$r|$m\"; \
else echo \"etcd|down|-|$(printf '%s' \"$out\" | tr '\\n' ' ' | cut -c1-120)\"; fi\n")
}

/// The probe lines for this host (one `etcd|...` line), empty when it is not a member.
pub fn probe(stack: &Stack, host: &str) -> String {
    if stack.hosts_of("etcd").iter().any(|h| h == host) {
        probe_text(crate::tls::view::on(stack))
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
        run_probe_tls(leader, answering, false)
    }

    /// With `tls`, the stand-in answers only over https with a client
    /// certificate, CA and key given, as etcd with client-cert-auth does.
    fn run_probe_tls(leader: bool, answering: bool, tls: bool) -> String {
        let dir = tempfile::tempdir().unwrap();
        let fake = format!(
            "#!/bin/sh\n{}{}case \"$*\" in *\"endpoint status\"*) printf '\"MemberID\" : 111\\n\"Leader\" : {}\\n';; \
             *\"member list\"*) printf 'a1, started, lab1, http://198.18.0.11:2380, http://198.18.0.11:2379, false\\nb2, started, lab2, http://198.18.0.12:2380, http://198.18.0.12:2379, false\\nc3, unstarted, , http://198.18.0.13:2380, , false\\n';; esac\n",
            if tls { "case \"$*\" in *--endpoints=https://127.0.0.1:2379*) [ -n \"$ETCDCTL_CACERT\" ] && [ -n \"$ETCDCTL_CERT\" ] && [ -n \"$ETCDCTL_KEY\" ] || { echo 'no client certificate' >&2; exit 1; };; *) echo 'plaintext refused' >&2; exit 1;; esac\n" } else { "" },
            if answering { "" } else { "echo 'connection refused' >&2; exit 1\n" },
            if leader { 111 } else { 222 }
        );
        let path = dir.path().join("etcdctl");
        std::fs::write(&path, fake).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(probe_text(tls))
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
    fn with_tls_the_probe_talks_https_with_the_members_certificate() {
        assert!(run_probe_tls(true, true, true).starts_with("etcd|up|leader|"));
        assert!(run_probe_tls(true, true, false).starts_with("etcd|up|leader|"));
        assert!(probe_text(false).contains("http://127.0.0.1:2379"));
        assert!(probe_text(true).contains(
            "ETCDCTL_KEY=/etc/etcd/tls/etcd.key etcdctl --endpoints=https://127.0.0.1:2379"
        ));
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
