//! What the loss of one zone does to the Patroni cluster.

use crate::model::stack::Stack;

/// Checks the Patroni members through `quorum` (what, component key, span, members needed).
pub(crate) fn check(stack: &Stack, quorum: &mut crate::model::zones::Quorum<'_>) {
    if let Some(p) = &stack.postgres {
        // Patroni keeps a leader while one member and the etcd quorum survive
        quorum("Patroni members", "postgres", Some(p.hosts.span()), 1);
    }
}
