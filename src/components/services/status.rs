//! The app services' live health: each replica's health path, answered 2xx;
//! for a compose service also its container's image, state and health
//! (Docker's healthcheck), and a container that is not running is unhealthy.

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
            if svc.image.is_some() {
                // the compose project is the service's folder name
                s.push_str(&format!(
                    "echo \"appc|{name}|$(docker ps -a --filter label=com.docker.compose.project={} --format '{{{{.Image}}}}|{{{{.State}}}}|{{{{.Status}}}}' 2>/dev/null | head -n 1)\"\n",
                    sh(name)
                ));
            }
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
                let mut healthy = code.starts_with('2');
                let mut detail = format!("health {code}");
                if stack.services.get(name).is_some_and(|s| s.image.is_some()) {
                    let c = lines(probes, h, "appc")
                        .into_iter()
                        .find(|l| field(l, 1) == name)
                        .unwrap_or_default();
                    let (image, state, st) = (field(&c, 2), field(&c, 3), field(&c, 4));
                    if image.is_empty() {
                        healthy = false;
                        detail.push_str("; no container");
                    } else {
                        healthy &= state == "running" && !st.contains("(unhealthy)");
                        detail.push_str(&format!("; {image} {state} ({st})"));
                    }
                }
                MemberHealth {
                    host: h.clone(),
                    healthy,
                    role: "app".into(),
                    detail,
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
