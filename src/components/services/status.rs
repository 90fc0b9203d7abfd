//! The app services' live health: each replica's health path, answered 2xx.

use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};
use crate::transport::quote::sh;

/// `app|NAME|HTTP_CODE` for each service on this host.
pub fn probe(stack: &Stack, host: &str) -> String {
    let mut s = String::new();
    for (name, svc) in &stack.services {
        if stack
            .hosts_of(&format!("services.{name}"))
            .iter()
            .any(|h| h == host)
        {
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
    s
}

/// One entry per service, in name order.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    let mut out = Vec::new();
    for name in stack.services.keys() {
        let comp = format!("services.{name}");
        let mut members = Vec::new();
        for h in stack.hosts_of(&comp) {
            members.push(unreachable(probes, h).unwrap_or_else(|| {
                let code = lines(probes, h, "app")
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
    out
}
