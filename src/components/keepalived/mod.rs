//! keepalived (`[keepalived]`): a virtual IP that moves between the hosts
//! (usually the HAProxy hosts) by VRRP. Stateless: the role
//! (roles/keepalived) writes keepalived.conf; there is no day-2 logic.
//!
//! - `stack`: the `[keepalived]` table and its checks (vip, interface,
//!   virtual_router_id).
//! - `view`: this host's priority (highest on the first host) and its peers.
//! - `status`: the probe for the VIP and the rule that exactly one host holds it.

pub mod stack;
pub mod status;
pub mod view;

use super::prelude::*;

/// keepalived, through the one component interface.
pub struct Keepalived;

impl Component for Keepalived {
    fn name(&self) -> &'static str {
        "keepalived"
    }
    fn level(&self) -> u8 {
        3
    }
    fn status_probe(&self, stack: &Stack, host: &str) -> String {
        status::probe(stack, host)
    }
    fn status(&self, stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
        status::evaluate(stack, probes).into_iter().collect()
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, _: &Placement) {
        stack::validate(v, raw);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view("keepalived", view::keepalived(cx.inv, cx.stack, cx.host))
    }
}
