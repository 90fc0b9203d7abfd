//! Rolling restarts of the quorum clusters' running members.

use super::{Action, Op, Step};
use crate::compile::{Compiled, Desired};
use std::collections::BTreeMap;

/// Restarts of running members of a quorum cluster (etcd, Patroni, Redis and
/// Sentinel) roll: one member at a time, in host order, each waiting for the
/// one before it and then for the cluster's health gates (run on its own host)
/// before it goes down, so at most one member is ever down.
/// Members on the hosts in `not_rolled[component]` are left out (etcd's
/// joiners); members on the hosts in `last` (Redis' current master) restart
/// after the others.
pub(super) fn roll(
    compiled: &Compiled,
    out: &mut [Step],
    source: &[usize],
    not_rolled: &BTreeMap<&str, Vec<String>>,
    last: &[String],
) {
    let rolling = crate::components::ALL.iter().filter(|c| c.rolling());
    for comp in rolling.map(|c| c.name()) {
        let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, s) in out.iter().enumerate() {
            let r = &compiled.resources[source[k]];
            if s.action == Action::Restart
                && r.component == comp
                && !not_rolled.get(comp).is_some_and(|h| h.contains(&s.host))
            {
                // a reload (Patroni's) keeps the member up: nothing to roll; the
                // restarts it leaves owed are rolled by `postgres::day2::steps`
                if let Desired::Service {
                    name,
                    reload: false,
                    ..
                } = &r.desired
                {
                    by_service.entry(name.as_str()).or_default().push(k);
                }
            }
        }
        for (_, mut ks) in by_service {
            ks.sort_by_key(|&k| last.contains(&out[k].host));
            if ks.len() < 2 {
                continue;
            }
            let n = ks.len();
            for (pos, &k) in ks.iter().enumerate() {
                // the cluster's gates as seen from this host: its health checks after the service
                let ri = source[k];
                let host = &compiled.resources[ri].id.host;
                let order = compiled.host_order(host);
                let gates: Vec<Op> = order
                    .iter()
                    .skip_while(|&&j| j != ri)
                    .filter_map(|&j| match &compiled.resources[j].desired {
                        Desired::Health {
                            check,
                            timeout,
                            interval,
                        } if compiled.resources[j].component == comp => Some(Op::Wait {
                            check: check.clone(),
                            timeout: *timeout,
                            interval: *interval,
                        }),
                        _ => None,
                    })
                    .collect();
                let prev = (pos > 0).then(|| out[ks[pos - 1]].id.clone());
                // and the member before it passes its own health checks (a
                // Redis replica back in sync, not just answering), so two
                // members never resync at once
                let prev_health = match pos {
                    0 => Vec::new(),
                    _ => health_after(compiled, out, source, ks[pos - 1], comp, k),
                };
                let s = &mut out[k];
                for op in s.ops.iter_mut() {
                    if let Op::Systemctl { no_block, .. } = op {
                        *no_block = false; // a member of a running cluster: back when restart returns
                    }
                }
                match prev {
                    None => s.reasons.push(format!("rolling restart: member 1 of {n}")),
                    Some(p) => {
                        s.reasons.push(format!("rolling restart: member {} of {n}, after {p} once the cluster is healthy", pos + 1));
                        s.deps.push(p);
                        s.deps.extend(prev_health);
                        s.ops.splice(0..0, gates);
                    }
                }
            }
        }
    }
}

/// The planned health checks of `comp` on the host of step `prev` that do not
/// themselves wait (through any chain of deps) for step `me`: `me` can wait
/// for them without a cycle.
fn health_after(
    compiled: &Compiled,
    out: &[Step],
    source: &[usize],
    prev: usize,
    comp: &str,
    me: usize,
) -> Vec<String> {
    let deps: BTreeMap<&str, &[String]> = out
        .iter()
        .map(|s| (s.id.as_str(), s.deps.as_slice()))
        .collect();
    let reaches_me = |start: &str| {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            if id == out[me].id {
                return true;
            }
            if seen.insert(id) {
                todo.extend(
                    deps.get(id)
                        .into_iter()
                        .flat_map(|d| d.iter().map(String::as_str)),
                );
            }
        }
        false
    };
    out.iter()
        .enumerate()
        .filter(|(j, s)| {
            let r = &compiled.resources[source[*j]];
            s.host == out[prev].host
                && r.component == comp
                && matches!(r.desired, Desired::Health { .. })
                && !reaches_me(&s.id)
        })
        .map(|(_, s)| s.id.clone())
        .collect()
}
