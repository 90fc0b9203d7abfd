//! etcd's Prometheus alert rules: members below the minimum, quorum lost,
//! no leader (scrape job `etcd`, :2379).

use crate::alerts::up_count;
use crate::model::stack::Stack;

/// etcd's rules, each added with `rule(name, expr, for, severity, summary)`
/// (alerts.rs prefixes the name with the stack's).
pub(crate) fn rules(
    stack: &Stack,
    rule: &mut dyn FnMut(&str, String, &'static str, &'static str, String),
) {
    if stack.etcd.is_none() {
        return;
    }
    let n = stack.hosts_of("etcd").len();
    let quorum = n / 2 + 1;
    rule(
        "EtcdMembersBelowMinimum",
        format!("{} < {n}", up_count("up{job=\"etcd\"}")),
        "1m",
        "warning",
        format!(
            "fewer than {n} etcd members are up; the cluster tolerates {} more loss(es)",
            n - quorum
        ),
    );
    rule("EtcdQuorumLost", format!("{} < {quorum}", up_count("up{job=\"etcd\"}")), "30s", "critical", format!("fewer than {quorum} of {n} etcd members are up: no quorum, Patroni cannot elect a leader"));
    rule(
        "EtcdNoLeader",
        "max(etcd_server_has_leader{job=\"etcd\"}) < 1".into(),
        "30s",
        "critical",
        "no etcd member sees a leader".into(),
    );
}
