//! App services (`[services.NAME]`): the user's own programs, each a
//! systemd unit (`command`, roles/service) or a compose project (`image`,
//! roles/compose; chosen in `compile::compile`), with an optional migration
//! run once per version on the first host. Stateless: no day-2 logic.
//!
//! - `stack`: the `[services.NAME]` table, its checks and its port.
//! - `view`: the unit name, environment (systemd-quoted) and migration marker.
//! - `status`: the health-path probe and each replica's health.
//! - `alerts`: replicas below the minimum, none up.
//! - `zones`: the warning when every replica sits in one zone.
//!
//! HAProxy routes to a service through `[haproxy.listen]` (see `haproxy::view`).

pub mod alerts;
pub mod stack;
pub mod status;
pub mod view;
pub mod zones;

/// The app services, through the one component interface.
pub struct Services;

impl super::Component for Services {
    fn name(&self) -> &'static str {
        "services"
    }
    fn status_probe(&self, stack: &crate::model::stack::Stack, host: &str) -> String {
        status::probe(stack, host)
    }
    fn status(
        &self,
        stack: &crate::model::stack::Stack,
        probes: &crate::status::Probes,
    ) -> Vec<crate::status::ComponentHealth> {
        status::evaluate(stack, probes)
    }
    fn validate(
        &self,
        v: &mut crate::model::stack::Validator,
        raw: &crate::model::stack::RawStack,
        _placement: &std::collections::BTreeMap<String, Vec<String>>,
    ) {
        stack::validate(v, raw);
    }
    fn ports(
        &self,
        raw: &crate::model::stack::RawStack,
        claim: &mut crate::model::stack::Claim<'_>,
    ) {
        stack::ports(raw, claim);
    }
    fn zones(
        &self,
        stack: &crate::model::stack::Stack,
        inv: &crate::model::inventory::Inventory,
        _quorum: &mut crate::model::zones::Quorum<'_>,
        warn: &mut crate::model::zones::Warn<'_>,
    ) {
        zones::check(stack, inv, warn);
    }
    fn alert_rules(&self, stack: &crate::model::stack::Stack, rule: &mut super::AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn template_view(
        &self,
        _inv: &crate::model::inventory::Inventory,
        stack: &crate::model::stack::Stack,
        instance: &str,
        host: &str,
        _secrets: &crate::compile::SecretValues,
    ) -> Option<(&'static str, serde_json::Value)> {
        // an app service sees its own table only
        let name = instance.strip_prefix("services.")?;
        super::keyed_view("service", view::service(stack, name, host))
    }
}
