//! Prometheus alert rules for Redis or Valkey (job `redis`) and Sentinel
//! (job `sentinel`), both from redis_exporter (which reads Valkey alike).

use crate::alerts::{q, up_count};
use crate::model::stack::Stack;

/// Adds Redis' rules through `rule(name, expr, for, severity, summary)` (see
/// `alerts::rules`); none when the stack has no Redis.
pub fn rules(stack: &Stack, rule: &mut crate::components::AlertRule<'_>) {
    let Some(r) = &stack.redis else {
        return;
    };
    let n = stack.hosts_of("redis").len();
    let title = r.server().names().title;
    rule(
        "RedisNoMaster",
        format!(
            "{} < 1",
            up_count("redis_instance_info{job=\"redis\", role=\"master\"}")
        ),
        "30s",
        "critical",
        format!("no {title} server is master"),
    );
    if n > 1 {
        rule(
            "RedisReplicasBelowMinimum",
            format!(
                "{} < {}",
                up_count("redis_instance_info{job=\"redis\", role=\"slave\"}"),
                n - 1
            ),
            "1m",
            "warning",
            format!("fewer than {} {title} replicas are attached", n - 1),
        );
    }
    if let Some(s) = &r.sentinel {
        let quorum = *s.quorum.get_ref();
        rule(
            "SentinelsBelowQuorum",
            format!("(min(redis_sentinel_master_ok_sentinels{{job=\"sentinel\", master_name={}}}) or vector(0)) < {}", q(&s.master_name), quorum.max(n as u32 / 2 + 1)),
            "30s",
            "critical",
            format!("too few Sentinels agree on master {} to fail over", s.master_name),
        );
    }
}
