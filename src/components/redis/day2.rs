//! Day-2 steps of a running Redis with Sentinel, derived from the plan's
//! facts (each member's `INFO replication`, each host's services):
//! - a restart rolls through the replicas first; the master fails over
//!   (`SENTINEL FAILOVER`, writes paused meanwhile so none is lost) and
//!   follows the new master before it restarts last;
//! - Sentinels restart one at a time (see `roll`), refused when that would
//!   leave fewer running than a failover needs;
//! - a host taken out of the stack fails over first if it is the master;
//!   after its Redis and Sentinel stop, the remaining Sentinels forget it
//!   (`SENTINEL RESET`), one at a time, each waiting for the others;
//! - a host added to the stack follows the master the Sentinels name now
//!   (the redis role's seed script), not the initial one;
//! - a host that runs the other server (Redis where the stack now says
//!   Valkey, or the reverse) refuses the plan (`super::switch`), and so does
//!   one deployed plaintext where the stack has `[tls]`, or the reverse
//!   (`super::scheme`).
//!
//! Units, CLI and paths are the stack's server's (`Server::names`); a host
//! leaving the stack uses the server its recorded state names.

use super::ops::RedisOp;
use super::{id, Server, SENTINEL, SENTINEL_QUORUM, SERVER};
use crate::compile::view::Backend;
use crate::compile::{Compiled, Kind, ResourceId};
use crate::components::Day2Op;
use crate::facts::HostFacts;
use crate::plan::{Action, Op, Plan, Step};
use crate::transport::quote::sh;
use std::collections::BTreeMap;

/// The member that is master now, by its own `INFO replication` (when two
/// claim it, the one the others follow).
pub fn master(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Option<String> {
    let hosts = super::cluster(compiled)
        .map(|k| k.hosts.as_slice())
        .unwrap_or(&[]);
    let role = |h: &Backend| facts.get(&h.name).and_then(|f| f.redis());
    let claims: Vec<&Backend> = hosts
        .iter()
        .filter(|h| role(h).is_some_and(|r| r.role == "master"))
        .collect();
    let followers = |m: &Backend| {
        hosts
            .iter()
            .filter(|h| role(h).is_some_and(|r| r.master_host == m.address))
            .count()
    };
    claims
        .iter()
        .max_by_key(|m| followers(m))
        .map(|m| m.name.clone())
}

fn active(facts: &BTreeMap<String, HostFacts>, host: &str, unit: &str) -> bool {
    facts
        .get(host)
        .and_then(|f| f.services.get(unit))
        .is_some_and(|s| s.active == "active")
}

/// A leaving host's server and Sentinel configs set aside (`*.rampart-left`).
pub fn set_aside_script(server: Server) -> String {
    let n = server.names();
    format!(
        "for f in {name} sentinel; do if [ -e {dir}/$f.conf ]; then mv -f {dir}/$f.conf {dir}/$f.conf.rampart-left; fi; done",
        name = n.name,
        dir = n.conf_dir
    )
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// On the master's host: hand the master role to a replica in sync through
/// Sentinel, writes paused meanwhile (a paused write fails with READONLY
/// instead of being lost on the old master), then follow the new master.
/// Does nothing on a host that is not the master (any more).
/// `me`: this member's address, or None to read it from its rampart.conf;
/// `others`: the other members' addresses (the first to report `role:master`
/// is followed at once, before Sentinel's own view catches up).
pub fn failover_script(
    server: Server,
    tls: bool,
    name: &str,
    me: Option<&str>,
    others: &[String],
) -> String {
    let n = server.names();
    let others = sh(&others.join(" "));
    let me = match me {
        Some(a) => sh(a),
        None => format!(
            "\"$(sed -n 's/^replica-announce-ip //p' {}/rampart.conf | head -n 1)\"",
            n.conf_dir
        ),
    };
    format!(
        r#"set -e
trap 'exit 129' HUP INT TERM PIPE
export REDISCLI_AUTH="$(cat {dir}/rampart-auth)"
name={name}
me={me}
others={others}
r() {{ timeout 10 {cli} --no-auth-warning -h 127.0.0.1 "$@"; }}
# what a failover did goes to stderr and to the host's journal (`journalctl -t rampart`)
note() {{ echo "$*" >&2; logger -t rampart -- "$*" 2>/dev/null || true; }}
info() {{ r info replication | tr -d '\r'; }}
# Sentinel has no password: without REDISCLI_AUTH ({cli} would print `AUTH failed` first)
sen() {{ (unset REDISCLI_AUTH; timeout 5 {cli} -h 127.0.0.1 -p 26379 --raw "$@"); }}
cur() {{ sen sentinel get-master-addr-by-name "$name" 2>/dev/null | head -n 1; }}
if ! info | grep -qx role:master; then echo "$me is not the master (any more): no failover" >&2; exit 0; fi
is_master() {{ timeout 2 {cli} --no-auth-warning -h "$1" info replication 2>/dev/null | tr -d '\r' | grep -qx role:master; }}
# a member that already claims to be master (a stray) is not the new master
stray=
for o in $others; do if is_master "$o"; then stray="$stray $o"; fi; done
t0=$(date +%s.%N)
end=$(( $(date +%s) + 120 ))
r client pause 30000 write >/dev/null
trap 'r client unpause >/dev/null 2>&1 || true' EXIT
# every write acknowledged before the pause reaches the online replicas before
# one is promoted (replication is asynchronous; replicas report their offset
# every second): wait until none is behind, for at most 10 s
want=$(info | sed -n 's/^master_repl_offset://p')
caught=$(( $(date +%s) + 10 ))
until info | awk -F'[=,]' -v w="${{want:-0}}" '/^(slave|replica)[0-9]+:/ {{ s = ""; o = -1; for (i = 1; i < NF; i++) {{ if ($i == "state") s = $(i + 1); if ($i == "offset") o = $(i + 1) + 0 }} if (s == "online") {{ n++; if (o < w + 0) b++ }} }} END {{ exit !(n > 0 && b == 0) }}'; do
  if [ "$(date +%s)" -ge $caught ]; then note "warning: a replica is still behind offset $want after 10 s: $(info | grep -E '^(slave|replica)[0-9]+:' | tr '\n' ' ')" ; break; fi
  sleep 0.1
done
note "$name: replicas at offset $want after $(awk "BEGIN {{ printf \"%.1f\", $(date +%s.%N) - $t0 }}")s: $(info | grep -E '^(slave|replica)[0-9]+:' | tr '\n' ' ')"
out=
until [ "$out" = OK ]; do
  # Sentinel refuses while no replica is in sync (NOGOODSLAVE) or another failover runs (INPROG)
  out=$(sen sentinel failover "$name" 2>&1 | head -n 1) || true
  [ "$out" = OK ] && break
  c=$(cur)
  if [ -n "$c" ] && [ "$c" != "$me" ]; then break; fi
  if [ "$(date +%s)" -ge $end ]; then echo "Sentinel did not fail $name over from $me within 120s (last answer: $out); nothing was restarted" >&2; exit 1; fi
  sleep 1
done
promoted() {{
  for o in $others; do
    case " $stray " in *" $o "*) continue ;; esac
    if is_master "$o"; then c=$o; return 0; fi
  done
  c=$(cur) && [ -n "$c" ] && [ "$c" != "$me" ]
}}
until promoted; do
  if [ "$(date +%s)" -ge $end ]; then echo "Sentinel accepted the failover of $name but still names $me after 120s; nothing was restarted" >&2; exit 1; fi
  sleep 0.1
done
note "$name: $c promoted after $(awk "BEGIN {{ printf \"%.1f\", $(date +%s.%N) - $t0 }}")s (Sentinel answered: $out)"
# follow the new master now (Sentinel would, some seconds later), so that no
# client writes to two masters
r replicaof "$c" 6379 >/dev/null
r config rewrite >/dev/null
r client unpause >/dev/null
trap - EXIT
note "$name: writes on $me unpaused after $(awk "BEGIN {{ printf \"%.1f\", $(date +%s.%N) - $t0 }}")s"
until info | grep -qx master_link_status:up; do
  if [ "$(date +%s)" -ge $end ]; then echo "$me did not sync with the new master $c within 120s" >&2; exit 1; fi
  sleep 0.2
done
# the failover ends when Sentinel has moved the other replicas over; until
# then the Sentinel leading it must stay up (the others learn the new master
# from it): wait until every Sentinel that answers names the new master
for s in 127.0.0.1 $others; do
  while a=$( (unset REDISCLI_AUTH; timeout 3 {cli} -h "$s" -p 26379 --raw sentinel get-master-addr-by-name "$name" 2>/dev/null) | head -n 1) && [ -n "$a" ] && [ "$a" != "$c" ]; do
    if [ "$(date +%s)" -ge $end ]; then echo "the Sentinel on $s still names $a as master, not $c, after 120s" >&2; exit 1; fi
    sleep 0.2
  done
done
# replicas Sentinel did not move (it skips those it last saw disconnected)
# follow the new master now, rather than whenever a Sentinel fixes them
for o in $others; do
  [ "$o" != "$c" ] || continue
  if timeout 2 {cli} --no-auth-warning -h "$o" info replication 2>/dev/null | tr -d '\r' | grep -qx "master_host:$me"; then
    if timeout 5 {cli} --no-auth-warning -h "$o" replicaof "$c" 6379 >/dev/null && timeout 5 {cli} --no-auth-warning -h "$o" config rewrite >/dev/null; then
      echo "$o: follows $c" >&2
    else
      echo "warning: $o still follows $me; Sentinel will move it" >&2
    fi
  fi
done
note "$name: failed over from $me to $c in $(awk "BEGIN {{ printf \"%.1f\", $(date +%s.%N) - $t0 }}")s"
"#,
        name = sh(name),
        dir = n.conf_dir,
        cli = n.cli_call(tls),
    )
}

/// On a remaining member: forget the members that left (`SENTINEL RESET`),
/// then wait until this Sentinel sees the others and the replicas again.
pub fn reset_script(
    server: Server,
    tls: bool,
    name: &str,
    sentinels: usize,
    replicas: usize,
) -> String {
    format!(
        r#"set -e
trap 'exit 129' HUP INT TERM PIPE
name={name}
s() {{ timeout 5 {cli} -h 127.0.0.1 -p 26379 --raw "$@"; }}
field() {{ s sentinel master "$name" | sed -n "/^$1\$/{{n;p}}"; }}
s sentinel reset "$name" >/dev/null
end=$(( $(date +%s) + 90 ))
until [ "$(field num-other-sentinels)" = {others} ] && [ "$(field num-slaves)" = {replicas} ] && s sentinel ckquorum "$name" 2>/dev/null | grep -q '^OK'; do
  if [ "$(date +%s)" -ge $end ]; then echo "after SENTINEL RESET this Sentinel sees $(field num-other-sentinels) other Sentinels (want {others}) and $(field num-slaves) replicas (want {replicas}) after 90s" >&2; exit 1; fi
  sleep 0.5
done
"#,
        name = sh(name),
        others = sentinels.saturating_sub(1),
        replicas = replicas,
        cli = server.names().cli_call(tls),
    )
}

/// `master`: [`master`] of these facts (the plan has ordered the roll by it).
pub fn steps(
    compiled: &Compiled,
    facts: &BTreeMap<String, HostFacts>,
    master: Option<&str>,
    plan: &mut Plan,
) {
    // a host that runs the other server: no switch in place
    super::switch::refuse_a_switch_of_server(compiled, facts, plan);
    // a host deployed plaintext where the stack has [tls], or the reverse
    super::scheme::refuse_a_switch_of_scheme(compiled, facts, plan);
    let Some(k) = super::cluster(compiled) else {
        return;
    };
    let Some(sentinel) = k.sentinel.as_ref() else {
        return;
    };
    let cx = Cluster {
        hosts: &k.hosts,
        facts,
        name: &sentinel.master_name,
        server: k.server,
        tls: k.tls,
    };
    let quorum = sentinel.quorum as usize;
    // Sentinels a failover needs running: `quorum` to agree, a majority to authorize it
    let need = quorum.max(majority(cx.hosts.len()));
    refuse_unsafe_sentinel_restarts(&cx, quorum, need, plan);
    // the master restarts last (see `roll`), after handing over to a replica in sync
    if let Some(m) = master {
        fail_over_before_restart(&cx, m, plan);
    }
    // hosts taken out of the stack: fail over first, then the rest forget them
    leave(&cx, quorum, need, plan);
}

/// The cluster the day-2 steps act on: its members (stack order), the
/// facts, Sentinel's name for the master and the stack's server.
struct Cluster<'a> {
    hosts: &'a [Backend],
    facts: &'a BTreeMap<String, HostFacts>,
    name: &'a str,
    server: Server,
    /// `[tls]`: the CLI speaks TLS.
    tls: bool,
}

impl Cluster<'_> {
    /// The stack's server's unit (`unit` or `sentinel_unit`) is active on `host`.
    fn active(&self, host: &str, sentinel: bool) -> bool {
        let n = self.server.names();
        active(
            self.facts,
            host,
            if sentinel { n.sentinel_unit } else { n.unit },
        )
    }
}

/// Sentinels restarting one at a time: each down in turn must leave `need`
/// running to fail over, or the plan is refused.
fn refuse_unsafe_sentinel_restarts(cx: &Cluster, quorum: usize, need: usize, plan: &mut Plan) {
    let hosts = cx.hosts;
    let sentinels_up = hosts.iter().filter(|h| cx.active(&h.name, true)).count();
    let sentinel_restarts = plan
        .steps
        .iter()
        .filter(|s| {
            s.action == Action::Restart
                && hosts
                    .iter()
                    .any(|h| s.id == id(&SENTINEL, cx.server, &h.name))
                && cx.active(&s.host, true)
        })
        .count();
    if sentinel_restarts > 0 && sentinels_up.saturating_sub(1) < need {
        let down: Vec<&str> = hosts
            .iter()
            .filter(|h| !cx.active(&h.name, true))
            .map(|h| h.name.as_str())
            .collect();
        plan.refused.push(format!(
            "redis: restarting Sentinels one at a time would leave {} of {} running, and a failover needs {need} (quorum {quorum}, a majority to authorize it){}. Bring the Sentinels that are down back first, then plan again.",
            sentinels_up.saturating_sub(1),
            hosts.len(),
            if down.is_empty() { String::new() } else { format!(" ({} down now)", down.join(", ")) }
        ));
    }
}

/// The master `m`'s restart (if the plan has one) first fails it over to a
/// replica in sync; refused when no replica is in sync.
fn fail_over_before_restart(cx: &Cluster, m: &str, plan: &mut Plan) {
    let hosts = cx.hosts;
    let in_sync = |h: &Backend| {
        cx.facts
            .get(&h.name)
            .and_then(|f| f.redis())
            .is_some_and(|r| r.role == "slave" && r.link_up)
    };
    let id = id(&SERVER, cx.server, m);
    let others = hosts.iter().filter(|h| h.name != m).count();
    if let Some(s) = plan
        .steps
        .iter_mut()
        .find(|s| s.id == id && s.action == Action::Restart)
    {
        if others > 0 {
            if !hosts.iter().any(|h| h.name != m && in_sync(h)) {
                plan.refused.push(format!("redis: {m} is the master and must fail over to a replica before it restarts, but no replica is in sync with it now. Bring a replica back (its `master_link_status` up), then plan again."));
            }
            let me = hosts
                .iter()
                .find(|h| h.name == m)
                .map(|h| h.address.clone())
                .unwrap_or_default();
            let others: Vec<String> = hosts
                .iter()
                .filter(|h| h.name != m)
                .map(|h| h.address.clone())
                .collect();
            let at = s
                .ops
                .iter()
                .position(|o| matches!(o, Op::Systemctl { .. }))
                .unwrap_or(s.ops.len());
            s.ops.insert(
                at,
                RedisOp::Failover {
                    server: cx.server,
                    tls: cx.tls,
                    name: cx.name.to_string(),
                    me: Some(me),
                    others,
                }
                .op(),
            );
            s.reasons.push("the master: Sentinel fails it over to a replica in sync first (writes paused meanwhile), then it restarts as a replica".into());
        }
    }
}

/// The server a host's recorded state says rampart deployed there, if any.
pub(super) fn deployed(f: &HostFacts, host: &str) -> Option<Server> {
    let st = f.state.as_ref()?;
    Server::ALL
        .into_iter()
        .find(|s| st.resources.contains_key(&id(&SERVER, *s, host)))
}

/// Hosts that ran Redis and are no longer in the stack: each fails over (if
/// it is the master) before its Redis and Sentinel stop, then the remaining
/// Sentinels forget them; refused when too few Sentinels would remain. A
/// leaving host's own steps use the server its state names.
fn leave(cx: &Cluster, quorum: usize, need: usize, plan: &mut Plan) {
    let hosts = cx.hosts;
    let leaving: Vec<(String, Server)> = cx
        .facts
        .iter()
        .filter(|(h, _)| !hosts.iter().any(|x| &x.name == *h))
        .filter_map(|(h, f)| deployed(f, h).map(|s| (h.clone(), s)))
        .collect();
    if leaving.is_empty() {
        return;
    }
    let names: Vec<String> = leaving.iter().map(|(h, _)| h.clone()).collect();
    let remaining_up = hosts.iter().filter(|h| cx.active(&h.name, true)).count();
    if remaining_up < need {
        plan.refused.push(format!(
            "redis: removing {} would leave {remaining_up} Sentinel{} running, and a failover needs {need} (quorum {quorum}, a majority of {}). Bring the remaining Sentinels up first, then plan again.",
            names.join(", "),
            if remaining_up == 1 { "" } else { "s" },
            hosts.len()
        ));
        return;
    }
    let mut stopped = Vec::new();
    for (h, server) in &leaving {
        let server = *server;
        let step_id = ResourceId::new(h, Kind::Redis, "leave").to_string();
        // its address is read on the host (the inventory may no longer name it)
        let failover = RedisOp::Failover {
            server,
            tls: cx.tls,
            name: cx.name.to_string(),
            me: None,
            others: hosts.iter().map(|x| x.address.clone()).collect(),
        };
        // the failover and the two stops go first among the host's steps: the
        // others' Sentinel resets wait for them, and the host's remaining
        // steps (an HAProxy that stays) may wait for the others' gates
        let is_stop = |s: &Step| {
            s.action == Action::Delete
                && (s.id == id(&SENTINEL, server, h) || s.id == id(&SERVER, server, h))
        };
        let mut stops: Vec<Step> = Vec::new();
        let mut k = 0;
        while k < plan.steps.len() {
            if is_stop(&plan.steps[k]) {
                stops.push(plan.steps.remove(k));
            } else {
                k += 1;
            }
        }
        if stops.is_empty() {
            continue;
        }
        let first = plan
            .steps
            .iter()
            .position(|s| &s.host == h)
            .unwrap_or(plan.steps.len());
        let title = server.names().title;
        let mut lead = vec![Step { id: step_id.clone(), host: h.clone(), action: Action::Run, reasons: vec![format!("leaves {title}: if it is the master, Sentinel fails it over to a replica in sync before its {title} and Sentinel stop")], diff: None, sensitive: false, drift: false, ops: vec![failover.op()], deps: vec![], retires: None, always: false }];
        let n_stops = stops.len();
        for (k, mut s) in stops.into_iter().enumerate() {
            s.deps.push(step_id.clone());
            stopped.push(s.id.clone());
            if k + 1 == n_stops {
                // the configs the server and Sentinel wrote belong to a
                // member; set aside, so that a host added again is seeded afresh
                s.ops.push(RedisOp::SetAside { server }.op());
                s.reasons.push(format!("its {}.conf and sentinel.conf are set aside (*.rampart-left): a member's state, not to be reused", server.names().name));
            }
            lead.push(s);
        }
        plan.steps.splice(first..first, lead);
    }
    reset_sentinels(cx, &names, &stopped, remaining_up, plan);
}

/// `SENTINEL RESET` on each remaining running Sentinel, one at a time, after
/// the `stopped` steps, before that host's own Sentinel health gate.
fn reset_sentinels(
    cx: &Cluster,
    leaving: &[String],
    stopped: &[String],
    remaining_up: usize,
    plan: &mut Plan,
) {
    let name = cx.name;
    let replicas = cx
        .hosts
        .iter()
        .filter(|h| cx.active(&h.name, false))
        .count()
        .saturating_sub(1);
    let mut prev: Option<String> = None;
    for h in cx.hosts.iter().filter(|h| cx.active(&h.name, true)) {
        let id = ResourceId::new(&h.name, Kind::Redis, "sentinel-reset").to_string();
        let mut deps = stopped.to_vec();
        deps.extend(prev.clone());
        // before this host's own Sentinel health gate, which waits for the count the reset restores
        let gate = SENTINEL_QUORUM.id(&h.name);
        let at = plan.steps.iter().position(|s| s.id == gate);
        if let Some(g) = at {
            plan.steps[g].deps.push(id.clone());
        }
        plan.steps.insert(at.unwrap_or(plan.steps.len()), Step {
            id: id.clone(),
            host: h.name.clone(),
            action: Action::Run,
            reasons: vec![format!("SENTINEL RESET {name}: forget {} (no longer in the stack), one Sentinel at a time, each waiting until it sees the {} others again", leaving.join(", "), remaining_up - 1)],
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![RedisOp::SentinelReset { server: cx.server, tls: cx.tls, name: name.to_string(), sentinels: remaining_up, replicas }.op()],
            deps,
            retires: None,
            always: false,
        });
        prev = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scripts run against stand-ins for `redis-cli` (or `valkey-cli`:
    /// shell functions keeping the roles in files): the failover pauses
    /// writes, asks Sentinel, follows the new master and unpauses; on a
    /// replica it does nothing; the reset waits for the counts. With Valkey
    /// no `redis-cli` is there to be called.
    #[test]
    fn failover_and_reset_scripts_drive_redis_cli() {
        for server in Server::ALL {
            failover_and_reset_drive(server);
        }
    }

    fn failover_and_reset_drive(server: Server) {
        let cli = server.names().cli;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(format!("{d}/role"), "master").unwrap();
        std::fs::write(format!("{d}/cur"), "198.18.0.11").unwrap();
        let fake = format!(
            "cat() {{ echo secret; }}\n\
             timeout() {{ shift; \"$@\"; }}\n\
             redis-cli() {{ echo \"redis-cli was called\" >> {d}/calls; }}\n\
             {cli}() {{ echo \"$*\" >> {d}/calls; case \"$*\" in\n\
             *'info replication'*) if [ \"$(command cat {d}/role)\" = master ]; then printf 'role:master\\r\\n'; else printf 'role:slave\\r\\nmaster_link_status:up\\r\\n'; fi;;\n\
             *'get-master-addr-by-name'*) command cat {d}/cur; echo; echo 6379;;\n\
             *'sentinel failover'*) echo 198.18.0.12 > {d}/cur; echo OK;;\n\
             *replicaof*) echo slave > {d}/role; echo OK;;\n\
             *'sentinel master'*) printf 'num-slaves\\n1\\nnum-other-sentinels\\n1\\n';;\n\
             *ckquorum*) echo 'OK 2 usable Sentinels';;\n\
             *) echo OK;; esac; }}\n"
        );
        let run = |script: &str| {
            std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("{fake}{script}"))
                .output()
                .unwrap()
        };
        let out = run(&failover_script(
            server,
            false,
            "mymaster",
            Some("198.18.0.11"),
            &["198.18.0.12".to_string()],
        ));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let calls = std::fs::read_to_string(format!("{d}/calls")).unwrap();
        let pos = |s: &str| {
            calls
                .find(s)
                .unwrap_or_else(|| panic!("no `{s}` in {calls}"))
        };
        assert!(pos("client pause 30000 write") < pos("sentinel failover mymaster"));
        assert!(pos("sentinel failover mymaster") < pos("replicaof 198.18.0.12 6379"));
        assert!(pos("replicaof 198.18.0.12 6379") < pos("config rewrite"));
        assert!(pos("config rewrite") < pos("client unpause"));
        // a second run (now a replica) does nothing
        std::fs::remove_file(format!("{d}/calls")).unwrap();
        let out = run(&failover_script(
            server,
            false,
            "mymaster",
            Some("198.18.0.11"),
            &["198.18.0.12".to_string()],
        ));
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not the master")
        );
        assert!(!std::fs::read_to_string(format!("{d}/calls"))
            .unwrap()
            .contains("failover"));
        // the reset waits for what it was told to expect
        let out = run(&reset_script(server, false, "mymaster", 2, 1));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let calls = std::fs::read_to_string(format!("{d}/calls")).unwrap();
        assert!(calls.contains("sentinel reset mymaster"));
        if server != Server::Redis {
            assert!(!calls.contains("redis-cli was called"), "{calls}");
        }
    }
}
