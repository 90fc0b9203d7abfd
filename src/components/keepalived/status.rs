//! keepalived's live health: which host holds the VIP (exactly one must).

use crate::model::stack::Stack;
use crate::status::{field, lines, unreachable, ComponentHealth, MemberHealth, Probes};
use crate::transport::quote::sh;

/// `vip|held` or `vip|backup`, on a keepalived host.
pub fn probe(stack: &Stack, host: &str) -> String {
    let mut s = String::new();
    let on = stack.hosts_of("keepalived").iter().any(|h| h == host);
    if let Some(k) = stack.keepalived.as_ref().filter(|_| on) {
        s.push_str(&format!("if ip -4 -o addr show | grep -qw {}; then echo 'vip|held'; else echo 'vip|backup'; fi\n", sh(k.vip.get_ref())));
    }
    s
}

/// One member per keepalived host; healthy when exactly one holds the VIP.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Option<ComponentHealth> {
    stack.keepalived.as_ref()?;
    let mut members = Vec::new();
    for h in stack.hosts_of("keepalived") {
        members.push(unreachable(probes, h).unwrap_or_else(|| {
            let l = lines(probes, h, "vip")
                .into_iter()
                .next()
                .unwrap_or_default();
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
    Some(ComponentHealth {
        component: "keepalived".into(),
        healthy: holders == 1 && members.iter().all(|m| m.healthy),
        note: (holders != 1).then(|| format!("{holders} hosts hold the VIP")),
        members,
    })
}
