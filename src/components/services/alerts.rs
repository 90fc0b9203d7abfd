//! Alert rules for the app services: replicas below the minimum, none up.

use crate::alerts::{prefix, q, up_count};
use crate::model::stack::Stack;

/// Two rules per service, on the scrape job `service_NAME`.
pub(crate) fn rules(stack: &Stack, rule: &mut crate::components::AlertRule<'_>) {
    for name in stack.services.keys() {
        let n = stack.hosts_of(&format!("services.{name}")).len();
        let job = format!("service_{}", name.replace('-', "_"));
        let sel = format!("up{{job={}}}", q(&job));
        rule(
            &format!("Service{}BelowMinimum", prefix(name)),
            format!("{} < {n}", up_count(&sel)),
            "1m",
            "warning",
            format!("fewer than {n} replicas of {name} are up"),
        );
        rule(
            &format!("Service{}Down", prefix(name)),
            format!("{} < 1", up_count(&sel)),
            "1m",
            "critical",
            format!("no replica of {name} is up"),
        );
    }
}
