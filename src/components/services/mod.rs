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
}
