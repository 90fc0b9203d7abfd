//! `rampart status` for PostgreSQL: each member's role, state, timeline and
//! lag from Patroni's `/cluster`, as the first member that answers sees it.

use super::facts::parse_patroni_cluster;
use crate::model::stack::Stack;
use crate::status::{lines, unreachable, ComponentHealth, MemberHealth, Probes};

/// The probe lines on a PostgreSQL host (Patroni's `/patroni` and `/cluster`); empty elsewhere.
pub fn probe(stack: &Stack, host: &str) -> String {
    let mut s = String::new();
    if stack.hosts_of("postgres").iter().any(|h| h == host) {
        let (tls, api) = crate::tls::view::patroni_local(crate::tls::view::on(stack), false);
        s.push_str(&format!(
            "echo \"patroni|$(curl -s -m 3 {tls}{api}/patroni | tr -d '\\n')\"\n"
        ));
        s.push_str(&format!(
            "echo \"cluster|$(curl -s -m 3 {tls}{api}/cluster | tr -d '\\n')\"\n"
        ));
    }
    s
}

/// The health of the Patroni cluster, when the stack has one.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    if stack.postgres.is_none() {
        return Vec::new();
    }
    // the cluster view from the first member that answers, read by the
    // facts' parser of Patroni's `/cluster`
    let cluster = stack.hosts_of("postgres").iter().find_map(|h| {
        lines(probes, h, "cluster")
            .into_iter()
            .next()
            .and_then(|l| parse_patroni_cluster(l.split_once('|')?.1.as_bytes()))
    });
    let mut members = Vec::new();
    for h in stack.hosts_of("postgres") {
        let m = cluster
            .as_ref()
            .and_then(|c| c.iter().find(|m| m.name == *h));
        members.push(match (unreachable(probes, h), m) {
            (_, Some(m)) => {
                let or_unknown = |s: &str| if s.is_empty() { "?" } else { s }.to_string();
                let state = or_unknown(&m.state);
                let lag = m
                    .lag
                    .as_ref()
                    .map(|l| format!(", lag {l}"))
                    .unwrap_or_default();
                MemberHealth {
                    host: h.clone(),
                    healthy: state == "running" || state == "streaming",
                    role: or_unknown(&m.role),
                    detail: format!(
                        "{state}, timeline {}{lag}",
                        m.timeline.as_deref().unwrap_or("null")
                    ),
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

    #[test]
    fn members_are_read_from_the_first_cluster_view_that_parses() {
        let cluster = r#"{"members": [{"name": "lab1", "role": "leader", "state": "running", "timeline": 2}, {"name": "lab2", "role": "replica", "state": "streaming", "timeline": 2, "lag": 0}, {"name": "lab3", "state": "stopped", "timeline": 1, "lag": "unknown"}]}"#;
        let mut probes = Probes::new();
        // lab1's Patroni does not answer: lab2's view is read
        probes.insert("lab1".into(), Ok("cluster|\nEND\n".into()));
        probes.insert("lab2".into(), Ok(format!("cluster|{cluster}\nEND\n")));
        probes.insert("lab3".into(), Err("lab3: connection timed out".into()));
        let c = evaluate(&stack(), &probes);
        let got: Vec<(&str, bool, &str, &str)> = c[0]
            .members
            .iter()
            .map(|m| {
                (
                    m.host.as_str(),
                    m.healthy,
                    m.role.as_str(),
                    m.detail.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("lab1", true, "leader", "running, timeline 2"),
                ("lab2", true, "replica", "streaming, timeline 2, lag 0"),
                ("lab3", false, "?", "stopped, timeline 1, lag \"unknown\""),
            ]
        );
        assert!(!c[0].healthy && c[0].note.is_none());
        // no view at all: every member absent
        probes.insert("lab2".into(), Ok("cluster|\nEND\n".into()));
        let c = evaluate(&stack(), &probes);
        assert_eq!(c[0].members[1].role, "absent");
        assert_eq!(c[0].note.as_deref(), Some("0 leaders"));
    }
}
