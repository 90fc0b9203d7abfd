//! App services (`[services.NAME]`): the user's own programs, each a
//! systemd unit (`command`, roles/service) or a compose project (`image`,
//! roles/compose; chosen in `compile::compile`), with an optional migration
//! run once per version on the first host. Stateless; its one day-2 logic is
//! the drain in HAProxy around each compose host's roll (`drain`).
//!
//! - `stack`: the `[services.NAME]` table, its checks and its port.
//! - `view`: the unit name, environment (systemd-quoted) and migration marker.
//! - `status`: the health-path probe and each replica's health.
//! - `alerts`: replicas below the minimum, none up.
//! - `zones`: the warning when every replica sits in one zone.
//!
//! HAProxy routes to a service through `[haproxy.listen]` (see `haproxy::view`).

pub mod alerts;
pub mod drain;
pub mod stack;
pub mod status;
pub mod view;
pub mod zones;

use super::prelude::*;

/// The app services, through the one component interface.
pub struct Services;

impl Component for Services {
    fn name(&self) -> &'static str {
        "services"
    }
    fn level(&self) -> u8 {
        2
    }
    fn status_probe(&self, stack: &Stack, host: &str) -> String {
        status::probe(stack, host)
    }
    fn status(&self, stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
        status::evaluate(stack, probes)
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, _: &Placement) {
        stack::validate(v, raw);
    }
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        stack::ports(raw, claim);
    }
    fn zones(&self, stack: &Stack, inv: &Inventory, _: &mut Quorum<'_>, warn: &mut Warn<'_>) {
        zones::check(stack, inv, warn);
    }
    fn alert_rules(&self, stack: &Stack, rule: &mut AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    // no `secret_fields`: the service view (with the registry password) is
    // given to its own compose role only (`template_view`), never to others
    fn secret_refs<'a>(&self, stack: &'a Stack, out: &mut Vec<(String, &'a SecretRef)>) {
        for (name, s) in &stack.services {
            if let Some(p) = &s.registry_password {
                out.push((format!("services.{name}.registry_password"), p));
            }
        }
    }
    fn topology(&self, inv: &Inventory, stack: &Stack) -> Option<Arc<dyn Topology>> {
        Some(Arc::new(drain::topology(inv, stack)))
    }
    fn day2(&self, compiled: &Compiled, _facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
        drain::day2(compiled, plan);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        // an app service sees its own table only
        let name = cx.instance.strip_prefix("services.")?;
        keyed_view(
            "service",
            view::service_with(cx.stack, name, cx.host, Some(cx.secrets)),
        )
    }
}
