//! Qdrant under the loss of one zone: a Raft quorum of the peers must
//! survive, and no zone may hold every replica of a shard.

use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::model::zones::{any_zone, by_zone, worst, Quorum, Warn};

/// The peers' Raft quorum, through zones.rs's `quorum(what, key, span, need)`.
pub(crate) fn raft_quorum(stack: &Stack, quorum: &mut Quorum<'_>) {
    if let Some(q) = &stack.qdrant {
        let members = stack.hosts_of("qdrant");
        quorum(
            "Qdrant peers (Raft)",
            "qdrant",
            Some(q.hosts.span()),
            members.len() / 2 + 1,
        );
    }
}

/// A zone holding replication_factor peers or more can hold every replica of
/// a shard: a warning through zones.rs's `warn(span, message, help)`.
pub(crate) fn replica_spread(stack: &Stack, inv: &Inventory, warn: &mut Warn<'_>) {
    let Some(q) = &stack.qdrant else {
        return;
    };
    let members = stack.hosts_of("qdrant");
    let rf = *q.replication_factor.get_ref() as usize;
    if members.len() >= 2 && any_zone(inv, members) {
        if let Some((z, hs)) = worst(&by_zone(inv, members)) {
            if hs.len() >= rf {
                warn(
                    Some(q.replication_factor.span()),
                    format!("{z} holds {} Qdrant peers and replication_factor is {rf}: every replica of a shard can sit in that zone", hs.len()),
                    "raise replication_factor above the peers of any one zone, or spread the peers",
                );
            }
        }
    }
}
