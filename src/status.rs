//! `rampart status`: live health, read over the same transport.

use crate::gather::host_spec;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::printer;
use crate::transport::Connector;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct MemberHealth {
    pub host: String,
    pub healthy: bool,
    pub role: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentHealth {
    pub component: String,
    pub healthy: bool,
    pub members: Vec<MemberHealth>,
    pub note: Option<String>,
}

/// The etcd check: health and leadership of the local member, as `ok|leader|detail`.
pub const ETCD_PROBE: &str = "out=$(etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=3s endpoint status -w fields 2>&1) || { echo \"down|-|$out\" | tr '\\n' ' '; exit 0; }\n\
id=$(printf '%s\\n' \"$out\" | sed -n 's/^\"MemberID\" : //p'); ld=$(printf '%s\\n' \"$out\" | sed -n 's/^\"Leader\" : //p')\n\
n=$(etcdctl --endpoints=http://127.0.0.1:2379 member list 2>/dev/null | wc -l)\n\
if [ -n \"$id\" ] && [ \"$id\" = \"$ld\" ]; then r=leader; else r=follower; fi\n\
echo \"up|$r|$n members\"\n";

/// Parses one probe line into (healthy, role, detail).
pub fn parse_probe(line: &str) -> (bool, String, String) {
    let mut p = line.trim().splitn(3, '|');
    let state = p.next().unwrap_or("");
    let role = p.next().unwrap_or("-").to_string();
    let detail = p.next().unwrap_or("").trim().to_string();
    (state == "up", role, detail)
}

pub async fn run(inv: &Inventory, base: &Path, stack: &Stack, connector: Arc<dyn Connector>, json: bool) -> i32 {
    let mut comps = Vec::new();
    if stack.etcd.is_some() {
        let mut tasks = Vec::new();
        for h in stack.hosts_of("etcd") {
            let spec = host_spec(inv, h, base);
            let c = connector.clone();
            tasks.push(tokio::spawn(async move {
                let s = match c.connect(&spec).await {
                    Ok(s) => s,
                    Err(e) => return MemberHealth { host: spec.name.clone(), healthy: false, role: "unreachable".into(), detail: e.to_string() },
                };
                match s.exec(ETCD_PROBE, b"").await {
                    Ok(o) => {
                        let (healthy, role, detail) = parse_probe(&o.stdout_str());
                        MemberHealth { host: spec.name.clone(), healthy, role, detail }
                    }
                    Err(e) => MemberHealth { host: spec.name.clone(), healthy: false, role: "unreachable".into(), detail: e.to_string() },
                }
            }));
        }
        let mut members = Vec::new();
        for t in tasks {
            if let Ok(m) = t.await {
                members.push(m);
            }
        }
        let leaders = members.iter().filter(|m| m.role == "leader").count();
        let healthy = members.iter().all(|m| m.healthy) && leaders == 1;
        comps.push(ComponentHealth { component: "etcd".into(), healthy, note: (leaders != 1).then(|| format!("{leaders} leaders seen")), members });
    }
    for comp in stack.placement.keys().filter(|c| c.as_str() != "etcd") {
        comps.push(ComponentHealth { component: comp.clone(), healthy: true, members: vec![], note: Some("not checked by this version of rampart".into()) });
    }
    let ok = comps.iter().all(|c| c.healthy);
    if json {
        printer::out(&format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({"format_version": 1, "healthy": ok, "components": comps})).unwrap_or_default()));
    } else {
        let mut s = String::new();
        for c in &comps {
            s.push_str(&format!("{} {}\n", c.component, if c.healthy { "healthy" } else { "UNHEALTHY" }));
            for m in &c.members {
                s.push_str(&format!("  {:<12} {:<8} {:<12} {}\n", m.host, if m.healthy { "up" } else { "DOWN" }, m.role, m.detail));
            }
            if let Some(n) = &c.note {
                s.push_str(&format!("  ({n})\n"));
            }
        }
        printer::out(&s);
    }
    if ok {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_lines() {
        assert_eq!(super::parse_probe("up|leader|3 members\n"), (true, "leader".into(), "3 members".into()));
        assert!(!super::parse_probe("down|-|connection refused").0);
        assert!(!super::parse_probe("").0);
    }
}
