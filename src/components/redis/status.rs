//! `rampart status` for Redis and Sentinel: the probe lines (`redis|...`,
//! `sentinel|...`) and their health: one master, every replica linked, every
//! Sentinel at quorum and all naming the same master.

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
    s.push_str("echo \"redis|$(REDISCLI_AUTH=\"$(cat /etc/redis/rampart-auth 2>/dev/null)\" timeout 3 redis-cli --no-auth-warning -h 127.0.0.1 info replication 2>&1 | tr -d '\\r' | grep -E '^(role|master_host|connected_slaves|master_link_status):' | tr '\\n' ' ')\"\n");
    if let Some(sn) = stack.redis.as_ref().and_then(|r| r.sentinel.as_ref()) {
        let m = sh(&sn.master_name);
        s.push_str(&format!("echo \"sentinel|$(timeout 3 redis-cli -p 26379 sentinel get-master-addr-by-name {m} 2>&1 | head -n1)|$(timeout 3 redis-cli -p 26379 sentinel ckquorum {m} 2>&1 | tr '\\n' ' ')\"\n"));
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

/// The Redis server on `h`, from its `INFO replication` fields.
fn server(probes: &Probes, h: &str) -> MemberHealth {
    let l = lines(probes, h, "redis")
        .into_iter()
        .next()
        .unwrap_or_default();
    let info = field(&l, 1);
    let role = info
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("role:"))
        .unwrap_or("down")
        .to_string();
    let healthy = role == "master" || info.contains("master_link_status:up");
    MemberHealth {
        host: h.to_string(),
        healthy,
        role,
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
