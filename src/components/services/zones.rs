//! Failure domains: an app service whose replicas all sit in one zone.

use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::model::zones::{any_zone, by_zone};

/// A warning when every replica of a service sits in one zone.
pub(crate) fn check(stack: &Stack, inv: &Inventory, warn: &mut crate::model::zones::Warn<'_>) {
    for (name, s) in &stack.services {
        let members = stack.hosts_of(&format!("services.{name}"));
        if members.len() >= 2 && any_zone(inv, members) && by_zone(inv, members).len() == 1 {
            let z = by_zone(inv, members).into_keys().next().unwrap_or_default();
            warn(
                Some(s.hosts.span()),
                format!(
                    "all {} replicas of services.{name} sit in {z}",
                    members.len()
                ),
                "place replicas in at least two zones",
            );
        }
    }
}
