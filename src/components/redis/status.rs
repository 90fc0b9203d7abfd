//! `rampart status` for Redis and Sentinel: the probe lines (`redis|...`,
//! `sentinel|...`) and their health: one master, every replica linked, every
//! Sentinel at quorum and all naming the same master.

use super::facts::parse_redis_info;
use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};
use crate::transport::quote::sh;

/// The probe lines for Redis (and its Sentinel) on `host`; empty when it is
/// not a Redis host.
pub fn probe(stack: &Stack, host: &str) -> String {
    let mut s = String::new();
    if !stack.hosts_of("redis").iter().any(|h| h == host) {
        return s;
    }
    let Some(r) = stack.redis.as_ref() else {
        return s;
    };
    let n = r.server().names();
    let (dir, cli) = (n.conf_dir, n.cli_call(crate::tls::view::on(stack)));
    s.push_str(&format!("echo \"redis|$(REDISCLI_AUTH=\"$(cat {dir}/rampart-auth 2>/dev/null)\" timeout 3 {cli} --no-auth-warning -h 127.0.0.1 info replication 2>&1 | tr -d '\\r' | grep -E '^(role|master_host|connected_slaves|master_link_status):' | tr '\\n' ' ')\"\n"));
    if let Some(sn) = r.sentinel.as_ref() {
        let m = sh(&sn.master_name);
        s.push_str(&format!("echo \"sentinel|$(timeout 3 {cli} -p 26379 sentinel get-master-addr-by-name {m} 2>&1 | head -n1)|$(timeout 3 {cli} -p 26379 sentinel ckquorum {m} 2>&1 | tr '\\n' ' ')\"\n"));
    }
    s
}

/// `redis` (and `sentinel` when the stack has one) health from every Redis
/// host's probe; nothing when the stack has no Redis.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    let mut out = Vec::new();
    let Some(r) = &stack.redis else {
        return out;
    };
    let mut members = Vec::new();
    let mut sentinel = Vec::new();
    for h in stack.hosts_of("redis") {
        if let Some(u) = unreachable(probes, h) {
            members.push(u.clone());
            sentinel.push(u);
            continue;
        }
        members.push(server(probes, h));
        sentinel.push(sentinel_member(probes, h));
    }
    let masters = members.iter().filter(|m| m.role == "master").count();
    out.push(ComponentHealth {
        component: "redis".into(),
        healthy: members.iter().all(|m| m.healthy) && masters == 1,
        note: (masters != 1).then(|| format!("{masters} masters")),
        members,
    });
    if r.sentinel.is_some() {
        let named: std::collections::BTreeSet<String> = sentinel
            .iter()
            .filter(|m| m.healthy)
            .map(|m| m.detail.split(';').next().unwrap_or("").to_string())
            .collect();
        out.push(ComponentHealth {
            component: "sentinel".into(),
            healthy: sentinel.iter().all(|m| m.healthy) && named.len() == 1,
            note: (named.len() > 1).then(|| "Sentinels disagree on the master".into()),
            members: sentinel,
        });
    }
    out
}

/// The Redis server on `h`, from its `INFO replication` fields (read as the
/// facts script's are).
fn server(probes: &Probes, h: &str) -> MemberHealth {
    let l = lines(probes, h, "redis")
        .into_iter()
        .next()
        .unwrap_or_default();
    let info = field(&l, 1);
    // the facts' parser: a master, or a replica whose link to its master is up
    let fact = parse_redis_info(info);
    MemberHealth {
        host: h.to_string(),
        healthy: fact.as_ref().is_some_and(|f| f.link_up),
        role: fact.map(|f| f.role).unwrap_or_else(|| "down".into()),
        detail: info.trim().to_string(),
    }
}

/// The Sentinel on `h`: the master it names and its `CKQUORUM` answer.
fn sentinel_member(probes: &Probes, h: &str) -> MemberHealth {
    let s = lines(probes, h, "sentinel")
        .into_iter()
        .next()
        .unwrap_or_default();
    MemberHealth {
        host: h.to_string(),
        healthy: field(&s, 2).starts_with("OK"),
        role: "sentinel".into(),
        detail: format!("master {}; {}", field(&s, 1), field(&s, 2).trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::model::inventory::Inventory;

    fn stack() -> Stack {
        let inv = Inventory::parse(Source::new(
            "inv.toml",
            "[hosts.h1]\naddress = \"10.0.0.1\"\n[hosts.h2]\naddress = \"10.0.0.2\"\n[hosts.h3]\naddress = \"10.0.0.3\"\n[groups]\nall = [\"h1\", \"h2\", \"h3\"]\n",
        ))
        .unwrap();
        Stack::parse(
            Source::new(
                "stack.toml",
                "[stack]\nname = \"r\"\n[redis]\nhosts = \"all\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"cache\"\n",
            ),
            &inv,
        )
        .unwrap()
    }

    fn probes(answers: &[(&str, &str, &str)]) -> Probes {
        answers
            .iter()
            .map(|(h, info, sentinel)| {
                let out = format!("redis|{info}\nsentinel|{sentinel}\nEND\n");
                (h.to_string(), Ok(out))
            })
            .collect()
    }

    #[test]
    fn only_redis_hosts_are_probed_and_sentinel_by_its_master_name() {
        let s = stack();
        let p = probe(&s, "h2");
        assert!(p.starts_with("echo \"redis|") && p.contains("info replication"));
        assert!(p.contains("get-master-addr-by-name cache") && p.contains("ckquorum cache"));
        assert_eq!(probe(&s, "elsewhere"), "");
    }

    #[test]
    fn one_master_and_linked_replicas_are_healthy() {
        let ok = "10.0.0.1|OK 3 usable Sentinels";
        let comps = evaluate(
            &stack(),
            &probes(&[
                ("h1", "role:master connected_slaves:2 ", ok),
                (
                    "h2",
                    "role:slave master_host:10.0.0.1 master_link_status:up ",
                    ok,
                ),
                (
                    "h3",
                    "role:slave master_host:10.0.0.1 master_link_status:up ",
                    ok,
                ),
            ]),
        );
        let names: Vec<&str> = comps.iter().map(|c| c.component.as_str()).collect();
        assert_eq!(names, ["redis", "sentinel"]);
        assert!(comps[0].healthy && comps[1].healthy, "{comps:?}");
        assert_eq!(comps[0].members[0].role, "master");
        assert_eq!(comps[0].members[1].role, "slave");
        assert_eq!(
            comps[1].members[2].detail,
            "master 10.0.0.1; OK 3 usable Sentinels"
        );
    }

    #[test]
    fn a_broken_link_two_masters_and_disagreeing_sentinels_are_unhealthy() {
        let comps = evaluate(
            &stack(),
            &probes(&[
                ("h1", "role:master ", "10.0.0.1|OK 3 usable Sentinels"),
                ("h2", "role:master ", "10.0.0.2|OK 3 usable Sentinels"),
                (
                    "h3",
                    "role:slave master_host:10.0.0.1 master_link_status:down ",
                    "10.0.0.1|NOQUORUM 1 usable Sentinels",
                ),
            ]),
        );
        assert!(!comps[0].healthy);
        assert_eq!(comps[0].note.as_deref(), Some("2 masters"));
        assert!(!comps[0].members[2].healthy, "its link is down");
        assert!(!comps[1].healthy);
        assert!(!comps[1].members[2].healthy, "no quorum");
        assert_eq!(
            comps[1].note.as_deref(),
            Some("Sentinels disagree on the master")
        );
    }

    #[test]
    fn an_unreachable_host_or_a_redis_that_does_not_answer_is_down() {
        let mut p = probes(&[
            ("h1", "role:master ", "10.0.0.1|OK 3 usable Sentinels"),
            ("h2", "", "|Could not connect to Redis"),
        ]);
        p.insert("h3".into(), Err("h3: connection timed out".into()));
        let comps = evaluate(&stack(), &p);
        let r = &comps[0];
        assert!(!r.healthy);
        assert_eq!(
            (r.members[1].role.as_str(), r.members[1].healthy),
            ("down", false)
        );
        assert_eq!(r.members[2].role, "unreachable");
        assert_eq!(comps[1].members[2].role, "unreachable");
        assert!(!comps[1].members[1].healthy);
    }
}
