//! HAProxy (`[haproxy]`): the one entry point to PostgreSQL (primary and
//! replicas through Patroni's REST checks), Redis' master and the app
//! services over HTTP, optionally terminating TLS. Stateless: the role
//! (roles/haproxy) writes haproxy.cfg and reloads; there is no day-2 logic.
//!
//! - `stack`: the `[haproxy]` and `[haproxy.tls]` tables, their checks
//!   (listeners route to a component; TLS names app service listeners) and
//!   the ports HAProxy claims.
//! - `view`: the listeners with their backends, the TLS PEM, the check timings.
//! - `status`: the stats CSV probe and each host's health.
//! - `zones`: the warning when every HAProxy host sits in one zone.
//!
//! Its secrets are `haproxy.tls.cert` and `haproxy.tls.key` (`secret_refs`).

pub mod stack;
pub mod status;
pub mod view;
pub mod zones;

use super::prelude::*;

/// haproxy, through the one component interface.
pub struct Haproxy;

impl Component for Haproxy {
    fn name(&self) -> &'static str {
        "haproxy"
    }
    fn level(&self) -> u8 {
        3
    }
    fn secret_refs<'a>(&self, stack: &'a Stack, out: &mut Vec<(String, &'a SecretRef)>) {
        if let Some(t) = stack.haproxy.as_ref().and_then(|h| h.tls.as_ref()) {
            out.push(("haproxy.tls.cert".to_string(), &t.cert));
            out.push(("haproxy.tls.key".to_string(), &t.key));
        }
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        // the TLS certificate and key; the Redis password for its checks
        &["tls_pem", "redis_auth"]
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
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        if let Some(h) = &raw.haproxy {
            stack::ports(h, claim);
        }
    }
    fn zones(&self, stack: &Stack, inv: &Inventory, _: &mut Quorum<'_>, warn: &mut Warn<'_>) {
        zones::check(stack, inv, warn);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view("haproxy", view::haproxy(cx.inv, cx.stack, cx.secrets))
    }
}
