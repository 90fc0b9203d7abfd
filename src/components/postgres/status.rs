//! `rampart status` for PostgreSQL: each member's role, state, timeline and
//! lag from Patroni's `/cluster`, as the first member that answers sees it.

use crate::model::stack::Stack;
use crate::status::{lines, unreachable, ComponentHealth, MemberHealth, Probes};

/// The probe lines on a PostgreSQL host (Patroni's `/patroni` and `/cluster`); empty elsewhere.
pub fn probe(stack: &Stack, host: &str) -> String {
    let mut s = String::new();
    if stack.hosts_of("postgres").iter().any(|h| h == host) {
        s.push_str(
            "echo \"patroni|$(curl -s -m 3 http://127.0.0.1:8008/patroni | tr -d '\\n')\"\n",
        );
        s.push_str(
            "echo \"cluster|$(curl -s -m 3 http://127.0.0.1:8008/cluster | tr -d '\\n')\"\n",
        );
    }
    s
}

/// The health of the Patroni cluster, when the stack has one.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    if stack.postgres.is_none() {
        return Vec::new();
    }
    // the cluster view from the first member that answers
    let cluster = stack.hosts_of("postgres").iter().find_map(|h| {
        lines(probes, h, "cluster")
            .into_iter()
            .next()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l.split_once('|')?.1).ok())
    });
    let mut members = Vec::new();
    for h in stack.hosts_of("postgres") {
        let m = cluster
            .as_ref()
            .and_then(|c| c["members"].as_array())
            .and_then(|a| a.iter().find(|m| m["name"] == h.as_str()).cloned());
        members.push(match (unreachable(probes, h), m) {
            (_, Some(m)) => {
                let role = m["role"].as_str().unwrap_or("?").to_string();
                let state = m["state"].as_str().unwrap_or("?").to_string();
                let lag = m
                    .get("lag")
                    .map(|l| format!(", lag {l}"))
                    .unwrap_or_default();
                MemberHealth {
                    host: h.clone(),
                    healthy: state == "running" || state == "streaming",
                    role,
                    detail: format!("{state}, timeline {}{lag}", m["timeline"]),
                }
            }
            (Some(u), None) => u,
            (None, None) => MemberHealth {
                host: h.clone(),
                healthy: false,
                role: "absent".into(),
                detail: "not in Patroni's cluster view".into(),
            },
        });
    }
    let leaders = members.iter().filter(|m| m.role == "leader").count();
    vec![ComponentHealth {
        component: "postgres".into(),
        healthy: members.iter().all(|m| m.healthy) && leaders == 1,
        note: (leaders != 1).then(|| format!("{leaders} leaders")),
        members,
    }]
}
