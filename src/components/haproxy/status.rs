//! HAProxy's live health: each listener's servers from the stats CSV; a host
//! is healthy when every listener has a server UP.

use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};
use std::collections::BTreeMap;

/// `haproxy|LISTEN|SERVER|STATUS` lines from the stats page, on a HAProxy host.
pub fn probe(stack: &Stack, host: &str) -> String {
    let mut s = String::new();
    let on = stack.hosts_of("haproxy").iter().any(|h| h == host);
    if let Some(h) = stack.haproxy.as_ref().filter(|_| on) {
        s.push_str(&format!("curl -s -m 3 'http://127.0.0.1:{}/;csv' | awk -F, 'NR>1 && $2!=\"FRONTEND\" && $2!=\"BACKEND\" && $1!=\"stats\" {{print \"haproxy|\"$1\"|\"$2\"|\"$18}}'\n", h.stats_port));
    }
    s
}

/// One member per HAProxy host: healthy when every listener has a server UP.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Option<ComponentHealth> {
    stack.haproxy.as_ref()?;
    let mut members = Vec::new();
    for h in stack.hosts_of("haproxy") {
        if let Some(u) = unreachable(probes, h) {
            members.push(u);
            continue;
        }
        let rows = lines(probes, h, "haproxy");
        let mut by_listen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            by_listen
                .entry(field(r, 1).to_string())
                .or_default()
                .push(format!("{} {}", field(r, 2), field(r, 3)));
        }
        let ok = !rows.is_empty()
            && by_listen
                .values()
                .all(|b| b.iter().any(|s| s.ends_with(" UP")));
        let detail = by_listen
            .iter()
            .map(|(l, b)| format!("{l}: {}", b.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        members.push(MemberHealth {
            host: h.clone(),
            healthy: ok,
            role: "haproxy".into(),
            detail,
        });
    }
    Some(ComponentHealth {
        component: "haproxy".into(),
        healthy: members.iter().all(|m| m.healthy),
        note: None,
        members,
    })
}
