//! `rampart status` for etcd: each member's endpoint status (up, leader or
//! follower, member count) and the cluster's verdict (every member up, one leader).

use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};

const PROBE: &str = "if out=$(etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=3s endpoint status -w fields 2>&1); then \
id=$(printf '%s\\n' \"$out\" | sed -n 's/^\"MemberID\" : //p'); ld=$(printf '%s\\n' \"$out\" | sed -n 's/^\"Leader\" : //p'); \
n=$(etcdctl --endpoints=http://127.0.0.1:2379 member list 2>/dev/null | wc -l); \
if [ -n \"$id\" ] && [ \"$id\" = \"$ld\" ]; then r=leader; else r=follower; fi; echo \"etcd|up|$r|$n members\"; \
else echo \"etcd|down|-|$(printf '%s' \"$out\" | tr '\\n' ' ' | cut -c1-120)\"; fi\n";

/// The probe lines for this host (one `etcd|...` line), empty when it is not a member.
pub fn probe(stack: &Stack, host: &str) -> String {
    if stack.hosts_of("etcd").iter().any(|h| h == host) {
        PROBE.to_string()
    } else {
        String::new()
    }
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
            MemberHealth {
                host: h.clone(),
                healthy: field(&l, 1) == "up",
                role: field(&l, 2).into(),
                detail: field(&l, 3).into(),
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
