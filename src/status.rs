//! `rampart status`: live health of every component, read with one probe
//! script per host over the same transport. Parsing is pure (tested).

use crate::gather::host_spec;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::printer;
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
    let mut s = String::new();
    for c in crate::components::ALL {
        s.push_str(&c.status_probe(stack, host));
    }
    s.push_str(&crate::tls::status::probe(stack, host));
    let _ = inv;
    s.push_str("echo END\n");
    s
}

/// What one host's probe printed (or why it could not run).
pub type Probes = BTreeMap<String, Result<String, String>>;

/// Field `n` of a probe line `tag|field1|field2...`.
pub(crate) fn field(line: &str, n: usize) -> &str {
    line.split('|').nth(n).unwrap_or("")
}

/// Host `h`'s probe lines that start with `tag|`.
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

/// Host `h` as a member that could not be probed (None when it was).
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
    for c in crate::components::ALL {
        out.extend(c.status(stack, probes));
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
    let certs = crate::tls::status::evaluate(stack, &probes);
    let ok = comps.iter().all(|c| c.healthy) && !certs.iter().any(|c| c.bad);
    if json {
        printer::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "format_version": 1,
                "healthy": ok,
                "components": comps,
                "certificates": certs
            }))
            .unwrap_or_default()
        ));
    } else {
        printer::out(&text(&comps));
        printer::out(&crate::tls::status::text(&certs, stack));
    }
    if ok {
        0
    } else {
        1
    }
}
