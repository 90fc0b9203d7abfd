//! Failure domains: HAProxy hosts that all sit in one zone.

use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::model::zones::{any_zone, by_zone};

/// A warning when every HAProxy host sits in one zone.
pub(crate) fn check(stack: &Stack, inv: &Inventory, warn: &mut crate::model::zones::Warn<'_>) {
    if let Some(h) = &stack.haproxy {
        let members = stack.hosts_of("haproxy");
        if members.len() >= 2 && any_zone(inv, members) && by_zone(inv, members).len() == 1 {
            let z = by_zone(inv, members).into_keys().next().unwrap_or_default();
            warn(
                Some(h.hosts.span()),
                format!("all {} HAProxy hosts sit in {z}", members.len()),
                "place edge hosts in at least two zones",
            );
        }
    }
}
