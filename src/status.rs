//! `rampart status`: live health of every component, read with one probe
//! script per host over the same transport. Parsing is pure (tested).

use crate::gather::host_spec;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::printer;
use crate::transport::quote::sh;
use crate::transport::Connector;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MemberHealth {
    pub host: String,
    pub healthy: bool,
    pub role: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentHealth {
    pub component: String,
    pub healthy: bool,
    pub members: Vec<MemberHealth>,
    pub note: Option<String>,
}

/// The probe for one host: a line `component|...` per check.
pub fn probe_script(inv: &Inventory, stack: &Stack, host: &str) -> String {
    let on = |c: &str| stack.hosts_of(c).iter().any(|h| h == host);
    let mut s = String::new();
    s.push_str(&crate::components::etcd::status::probe(stack, host));
    if on("postgres") {
        s.push_str(
            "echo \"patroni|$(curl -s -m 3 http://127.0.0.1:8008/patroni | tr -d '\\n')\"\n",
        );
        s.push_str(
            "echo \"cluster|$(curl -s -m 3 http://127.0.0.1:8008/cluster | tr -d '\\n')\"\n",
        );
    }
    if on("redis") {
        s.push_str("echo \"redis|$(REDISCLI_AUTH=\"$(cat /etc/redis/rampart-auth 2>/dev/null)\" timeout 3 redis-cli --no-auth-warning -h 127.0.0.1 info replication 2>&1 | tr -d '\\r' | grep -E '^(role|master_host|connected_slaves|master_link_status):' | tr '\\n' ' ')\"\n");
        if let Some(sn) = stack.redis.as_ref().and_then(|r| r.sentinel.as_ref()) {
            let m = sh(&sn.master_name);
            s.push_str(&format!("echo \"sentinel|$(timeout 3 redis-cli -p 26379 sentinel get-master-addr-by-name {m} 2>&1 | head -n1)|$(timeout 3 redis-cli -p 26379 sentinel ckquorum {m} 2>&1 | tr '\\n' ' ')\"\n"));
        }
    }
    if let Some(h) = stack.haproxy.as_ref().filter(|_| on("haproxy")) {
        s.push_str(&format!("curl -s -m 3 'http://127.0.0.1:{}/;csv' | awk -F, 'NR>1 && $2!=\"FRONTEND\" && $2!=\"BACKEND\" && $1!=\"stats\" {{print \"haproxy|\"$1\"|\"$2\"|\"$18}}'\n", h.stats_port));
    }
    for (name, svc) in &stack.services {
        if on(&format!("services.{name}")) {
            let url = format!(
                "http://127.0.0.1:{}{}",
                svc.port.get_ref(),
                svc.health.clone().unwrap_or_else(|| "/".into())
            );
            s.push_str(&format!(
                "echo \"app|{name}|$(curl -s -o /dev/null -m 3 -w '%{{http_code}}' {})\"\n",
                sh(&url)
            ));
        }
    }
    if let Some(k) = stack.keepalived.as_ref().filter(|_| on("keepalived")) {
        s.push_str(&format!("if ip -4 -o addr show | grep -qw {}; then echo 'vip|held'; else echo 'vip|backup'; fi\n", sh(k.vip.get_ref())));
    }
    let _ = inv;
    s.push_str("echo END\n");
    s
}

/// What one host's probe printed (or why it could not run).
pub type Probes = BTreeMap<String, Result<String, String>>;

pub(crate) fn field<'a>(line: &'a str, n: usize) -> &'a str {
    line.split('|').nth(n).unwrap_or("")
}

/// The lines of one host's probe output that start with `tag|`.
pub(crate) fn lines(probes: &Probes, h: &str, tag: &str) -> Vec<String> {
    match probes.get(h) {
        Some(Ok(o)) => o
            .lines()
            .filter(|l| l.starts_with(&format!("{tag}|")))
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// A host whose probe could not run (or was not run), as an unhealthy member.
pub(crate) fn unreachable(probes: &Probes, h: &str) -> Option<MemberHealth> {
    match probes.get(h) {
        Some(Err(e)) => Some(MemberHealth {
            host: h.into(),
            healthy: false,
            role: "unreachable".into(),
            detail: e.clone(),
        }),
        None => Some(MemberHealth {
            host: h.into(),
            healthy: false,
            role: "unreachable".into(),
            detail: "not probed".into(),
        }),
        _ => None,
    }
}

/// Turns every host's probe output into per-component health. Pure.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    let mut out = Vec::new();
    let lines = |h: &str, tag: &str| lines(probes, h, tag);
    let unreachable = |h: &str| unreachable(probes, h);
    out.extend(crate::components::etcd::status::evaluate(stack, probes));
    if stack.postgres.is_some() {
        // the cluster view from the first member that answers
        let cluster = stack.hosts_of("postgres").iter().find_map(|h| {
            lines(h, "cluster").into_iter().next().and_then(|l| {
                serde_json::from_str::<serde_json::Value>(l.splitn(2, '|').nth(1)?).ok()
            })
        });
        let mut members = Vec::new();
        for h in stack.hosts_of("postgres") {
            let m = cluster
                .as_ref()
                .and_then(|c| c["members"].as_array())
                .and_then(|a| a.iter().find(|m| m["name"] == h.as_str()).cloned());
            members.push(match (unreachable(h), m) {
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
        out.push(ComponentHealth {
            component: "postgres".into(),
            healthy: members.iter().all(|m| m.healthy) && leaders == 1,
            note: (leaders != 1).then(|| format!("{leaders} leaders")),
            members,
        });
    }
    if stack.redis.is_some() {
        let mut members = Vec::new();
        let mut sentinel = Vec::new();
        for h in stack.hosts_of("redis") {
            if let Some(u) = unreachable(h) {
                members.push(u.clone());
                sentinel.push(u);
                continue;
            }
            let l = lines(h, "redis").into_iter().next().unwrap_or_default();
            let info = field(&l, 1);
            let role = info
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("role:"))
                .unwrap_or("down")
                .to_string();
            let healthy = role == "master" || info.contains("master_link_status:up");
            members.push(MemberHealth {
                host: h.clone(),
                healthy,
                role,
                detail: info.trim().to_string(),
            });
            let s = lines(h, "sentinel").into_iter().next().unwrap_or_default();
            sentinel.push(MemberHealth {
                host: h.clone(),
                healthy: field(&s, 2).starts_with("OK"),
                role: "sentinel".into(),
                detail: format!("master {}; {}", field(&s, 1), field(&s, 2).trim()),
            });
        }
        let masters = members.iter().filter(|m| m.role == "master").count();
        out.push(ComponentHealth {
            component: "redis".into(),
            healthy: members.iter().all(|m| m.healthy) && masters == 1,
            note: (masters != 1).then(|| format!("{masters} masters")),
            members,
        });
        if stack.redis.as_ref().is_some_and(|r| r.sentinel.is_some()) {
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
    }
    if stack.haproxy.is_some() {
        let mut members = Vec::new();
        for h in stack.hosts_of("haproxy") {
            if let Some(u) = unreachable(h) {
                members.push(u);
                continue;
            }
            let rows = lines(h, "haproxy");
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
        out.push(ComponentHealth {
            component: "haproxy".into(),
            healthy: members.iter().all(|m| m.healthy),
            note: None,
            members,
        });
    }
    for name in stack.services.keys() {
        let comp = format!("services.{name}");
        let mut members = Vec::new();
        for h in stack.hosts_of(&comp) {
            members.push(unreachable(h).unwrap_or_else(|| {
                let code = lines(h, "app")
                    .into_iter()
                    .find(|l| field(l, 1) == name)
                    .map(|l| field(&l, 2).to_string())
                    .unwrap_or_default();
                MemberHealth {
                    host: h.clone(),
                    healthy: code.starts_with('2'),
                    role: "app".into(),
                    detail: format!("health {code}"),
                }
            }));
        }
        out.push(ComponentHealth {
            component: comp,
            healthy: members.iter().all(|m| m.healthy),
            note: None,
            members,
        });
    }
    if stack.keepalived.is_some() {
        let mut members = Vec::new();
        for h in stack.hosts_of("keepalived") {
            members.push(unreachable(h).unwrap_or_else(|| {
                let l = lines(h, "vip").into_iter().next().unwrap_or_default();
                MemberHealth {
                    host: h.clone(),
                    healthy: true,
                    role: if field(&l, 1) == "held" {
                        "holds VIP".into()
                    } else {
                        "backup".into()
                    },
                    detail: String::new(),
                }
            }));
        }
        let holders = members.iter().filter(|m| m.role == "holds VIP").count();
        out.push(ComponentHealth {
            component: "keepalived".into(),
            healthy: holders == 1 && members.iter().all(|m| m.healthy),
            note: (holders != 1).then(|| format!("{holders} hosts hold the VIP")),
            members,
        });
    }
    out
}

pub fn text(comps: &[ComponentHealth]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push_str(&format!(
            "{} {}\n",
            c.component,
            if c.healthy { "healthy" } else { "UNHEALTHY" }
        ));
        for m in &c.members {
            s.push_str(&format!(
                "  {:<10} {:<5} {:<11} {}\n",
                m.host,
                if m.healthy { "ok" } else { "BAD" },
                m.role,
                m.detail
            ));
        }
        if let Some(n) = &c.note {
            s.push_str(&format!("  ({n})\n"));
        }
    }
    s
}

pub async fn run(
    inv: &Inventory,
    base: &Path,
    stack: &Stack,
    connector: Arc<dyn Connector>,
    json: bool,
) -> i32 {
    let mut hosts: Vec<String> = stack.placement.values().flatten().cloned().collect();
    hosts.sort();
    hosts.dedup();
    let mut tasks = Vec::new();
    for h in hosts {
        let spec = host_spec(inv, &h, base);
        let script = probe_script(inv, stack, &h);
        let c = connector.clone();
        tasks.push(tokio::spawn(async move {
            let r = match c.connect(&spec).await {
                Ok(s) => s
                    .exec(&script, b"")
                    .await
                    .map(|o| o.stdout_str())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (spec.name, r)
        }));
    }
    let mut probes = Probes::new();
    for t in tasks {
        if let Ok((h, r)) = t.await {
            probes.insert(h, r);
        }
    }
    let comps = evaluate(stack, &probes);
    let ok = comps.iter().all(|c| c.healthy);
    if json {
        printer::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(
                &serde_json::json!({"format_version": 1, "healthy": ok, "components": comps})
            )
            .unwrap_or_default()
        ));
    } else {
        printer::out(&text(&comps));
    }
    if ok {
        0
    } else {
        1
    }
}
