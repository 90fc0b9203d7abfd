//! Failure domains for Redis: a Redis server must survive the loss of any
//! one zone, and enough Sentinels to fail over.

use crate::model::stack::Stack;

/// Calls `quorum(what, component, span, need)` (see `model::zones::check`)
/// for the Redis servers and, with a Sentinel, for the Sentinels.
pub fn check(stack: &Stack, quorum: &mut crate::model::zones::Quorum<'_>) {
    let Some(r) = &stack.redis else {
        return;
    };
    quorum("Redis servers", "redis", Some(r.hosts.span()), 1);
    if let Some(s) = &r.sentinel {
        let n = stack.hosts_of("redis").len();
        // a failover needs `quorum` Sentinels to agree and a majority to authorise it
        let need = (*s.quorum.get_ref() as usize).max(n / 2 + 1);
        quorum("Sentinels", "redis", Some(s.quorum.span()), need);
    }
}
