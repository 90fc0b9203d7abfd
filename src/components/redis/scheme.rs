//! No switch between plaintext and TLS on a deployed Redis: a host whose
//! rampart.conf (as it is on the host now) speaks the other scheme than the
//! stack's `[tls]` refuses the plan. A roll cannot do it: Sentinel's file is
//! seeded once and owned by Sentinel after that, so the Sentinels would keep
//! the old scheme; and a replica rolled to TLS cannot replicate from a
//! master still on plaintext (nor the reverse), so the roll's "back in sync"
//! gate would never pass.

use crate::compile::Compiled;
use crate::facts::HostFacts;
use crate::plan::Plan;
use std::collections::BTreeMap;

/// The scheme a host's Redis was deployed with, read from its rampart.conf
/// when the file there differs from the planned one (its content is then in
/// the facts): `Some(true)` TLS (a `tls-port` line), `Some(false)`
/// plaintext; None when the file is absent or the same as planned.
fn deployed_tls(f: &HostFacts, conf: &str) -> Option<bool> {
    let file = f.files.get(conf).filter(|x| x.exists)?;
    let text = String::from_utf8_lossy(file.content.as_ref()?).into_owned();
    Some(
        text.lines()
            .any(|l| l.trim_start().starts_with("tls-port ")),
    )
}

/// One refusal naming the hosts deployed in the other scheme, the stack
/// file, the key and the steps to take.
pub fn refuse_a_switch_of_scheme(
    compiled: &Compiled,
    facts: &BTreeMap<String, HostFacts>,
    plan: &mut Plan,
) {
    let Some(k) = super::cluster(compiled) else {
        return;
    };
    let n = k.server.names();
    let conf = format!("{}/rampart.conf", n.conf_dir);
    let other: Vec<&str> = k
        .hosts
        .iter()
        .filter(|h| {
            facts
                .get(&h.name)
                .and_then(|f| deployed_tls(f, &conf))
                .is_some_and(|t| t != k.tls)
        })
        .map(|h| h.name.as_str())
        .collect();
    if other.is_empty() {
        return;
    }
    let (hosts, file) = (other.join(", "), &k.stack_file);
    plan.refused.push(if k.tls {
        format!(
            "redis: {hosts} run {title} and its Sentinel on plaintext ({conf} has no `tls-port`), and {file} turns TLS on (`[tls]`). \
             rampart does not switch a running {title} cluster to TLS: Sentinel's file is seeded once and would stay plaintext, and a replica rolled to TLS \
             cannot replicate from a master still on plaintext. Either keep this cluster plaintext: in {file}, set `[tls] enabled = false` \
             (TLS terminated elsewhere); or move it: 1. apply a stack with `[tls]` whose `[redis] hosts` are new hosts; 2. move the data there \
             (`redis-cli --rdb FILE` against the old master, the file loaded by the new master); 3. point the clients at the new hosts and take these out \
             (README: TLS).",
            title = n.title,
        )
    } else {
        format!(
            "redis: {hosts} run {title} and its Sentinel on TLS ({conf} has `tls-port`), and {file} has no `[tls]` or `[tls] enabled = false`. \
             rampart does not switch a running {title} cluster back to plaintext (Sentinel's file is seeded once and would stay on TLS). \
             Put `[tls]` back in {file} (its CA and certificates are kept in .rampart/STACK/tls/ beside it).",
            title = n.title,
        )
    });
}
