//! Membership changes of a running etcd cluster, derived from the plan's
//! facts: the stack's member list against the one the running cluster
//! reports. A member joins with `etcdctl member add` before it first starts
//! (with `initial-cluster-state=existing` and the member list `member add`
//! returned), one at a time, each after the one before it is healthy; a
//! member leaves with `etcdctl member remove` (run from a remaining member)
//! before its etcd is stopped, one at a time. Plans that would leave the
//! cluster without a quorum at any moment are refused, with the reason.

use super::ops::EtcdOp;
use crate::compile::view::EtcdMember;
use crate::compile::{Compiled, Kind, ResourceId};
use crate::components::Day2Op;
use crate::facts::{EtcdMemberFact, HostFacts};
use crate::plan::{Action, Op, Plan, Step, SystemctlVerb};
use crate::transport::quote::sh;
use std::collections::BTreeMap;

/// What `etcdctl member add` printed, for a member's first start.
pub const JOIN_ENV: &str = "/var/lib/rampart/etcd-join.env";

/// How the running cluster differs from the stack.
#[derive(Debug, Clone, Default)]
pub struct EtcdChange {
    /// The members the running cluster reports.
    pub current: Vec<EtcdMemberFact>,
    /// Stack members not yet started in the cluster (added or not).
    pub joiners: Vec<EtcdMember>,
    /// Cluster members no longer in the stack.
    pub leavers: Vec<EtcdMemberFact>,
}

/// The running cluster's view, from the first stack member whose etcd answers.
/// None when no member answers (the cluster is bootstrapped, not grown).
pub fn etcd_change(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Option<EtcdChange> {
    let e = super::cluster(compiled)?;
    let current = e
        .members
        .iter()
        .find_map(|m| facts.get(&m.name).and_then(|f| f.etcd_members().cloned()))?;
    let started = |peer: &str| {
        current
            .iter()
            .any(|c| c.peer_url == peer && c.status == "started")
    };
    let joiners = e
        .members
        .iter()
        .filter(|m| !started(&m.peer_url))
        .cloned()
        .collect();
    let leavers = current
        .iter()
        .filter(|c| !e.members.iter().any(|m| m.peer_url == c.peer_url))
        .cloned()
        .collect();
    Some(EtcdChange {
        current,
        joiners,
        leavers,
    })
}

/// The refusal when the running cluster's members talk another scheme than
/// the stack's (`[tls]` turned on or off for a running cluster).
fn scheme_switch(e: &super::view::EtcdView, ch: &EtcdChange) -> Option<String> {
    let want = if e.tls { "https://" } else { "http://" };
    let other: Vec<&str> = ch
        .current
        .iter()
        .filter(|c| !c.peer_url.starts_with(want))
        .map(|c| c.peer_url.as_str())
        .collect();
    if other.is_empty() {
        return None;
    }
    Some(if e.tls {
        format!(
            "etcd: the running cluster talks plaintext ({}) and the stack turns [tls] on. rampart does not switch a running etcd cluster to TLS \
             (its members would stop reaching one another half-way through the roll). Keep `[tls] enabled = false` for this stack, \
             or apply the stack with [tls] to new hosts and move the data there (README: TLS).",
            other.join(", ")
        )
    } else {
        format!(
            "etcd: the running cluster talks TLS ({}) and the stack has no [tls] or `enabled = false`. rampart does not switch a running etcd cluster \
             back to plaintext: put [tls] back in the stack (its CA and certificates are kept in .rampart/STACK/tls/ beside it).",
            other.join(", ")
        )
    })
}

fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// Adds the steps of a membership change to `plan` (after the rolling
/// restarts are ordered), or refuses the plan when it is unsafe.
pub fn etcd(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
    let Some(e) = super::cluster(compiled) else {
        return;
    };
    let service_id = |h: &str| super::SERVICE.id(h);
    let Some(ch) = etcd_change(compiled, facts) else {
        // no running cluster: its members start together as founders, never
        // with a join file left by an earlier life of the host
        for s in plan
            .steps
            .iter_mut()
            .filter(|s| e.members.iter().any(|m| service_id(&m.name) == s.id))
        {
            if s.ops.iter().any(|o| {
                matches!(
                    o,
                    Op::Systemctl {
                        verb: SystemctlVerb::Start,
                        ..
                    }
                )
            }) {
                s.ops.insert(
                    0,
                    Op::RemoveFile {
                        path: JOIN_ENV.into(),
                        daemon_reload: false,
                    },
                );
            }
        }
        return;
    };
    // plaintext <-> TLS on a running cluster: its peers would stop reaching
    // one another half-way through a roll; refused with what to do instead
    if let Some(msg) = scheme_switch(e, &ch) {
        plan.refused.push(msg);
        return;
    }
    let name_of = |c: &EtcdMemberFact| -> String {
        if !c.name.is_empty() {
            return c.name.clone();
        }
        e.members
            .iter()
            .find(|m| m.peer_url == c.peer_url)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| c.peer_url.clone())
    };
    // a member counts as up when its host's etcd is active and it has joined
    let up_host = |h: &str| {
        facts
            .get(h)
            .and_then(|f| f.services.get("etcd"))
            .is_some_and(|s| s.active == "active")
    };
    let mut n = ch.current.len();
    let mut up = ch
        .current
        .iter()
        .filter(|c| c.status == "started" && up_host(&name_of(c)))
        .count();
    let down: Vec<String> = ch
        .current
        .iter()
        .filter(|c| !(c.status == "started" && up_host(&name_of(c))))
        .map(name_of)
        .collect();
    let joining: Vec<&EtcdMember> = ch.joiners.iter().collect();
    if !joining.is_empty() && !ch.leavers.is_empty() {
        plan.refused.push(format!(
            "etcd: this plan would add {} and remove {} in one apply. Change the membership one way at a time: \
             keep the old members in the stack, apply to add the new ones, then take the old ones out and apply again.",
            joining.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
            ch.leavers.iter().map(name_of).collect::<Vec<_>>().join(", ")
        ));
        return;
    }
    let down_text = || {
        if down.is_empty() {
            String::new()
        } else {
            format!(" ({} down now)", down.join(", "))
        }
    };
    // a rolling restart takes one running member down at a time
    let restarts = plan.steps.iter().any(|s| {
        e.members.iter().any(|m| service_id(&m.name) == s.id) && s.action == Action::Restart
    });
    if restarts && up.saturating_sub(1) < quorum(n) {
        plan.refused.push(format!(
            "etcd: restarting members one at a time would leave {} of {n} running, and the cluster needs {} for a quorum{}. \
             Bring the members that are down back first (or take them out of the stack), then plan again.",
            up.saturating_sub(1),
            quorum(n),
            down_text()
        ));
    }
    // growing: each new member is added (not yet running) before it starts
    let mut prev: Option<String> = None;
    let mut endpoints: Vec<String> = ch
        .current
        .iter()
        .filter(|c| c.status == "started")
        .filter_map(|c| {
            e.members
                .iter()
                .find(|m| m.peer_url == c.peer_url)
                .map(|m| m.client_url.clone())
        })
        .collect();
    for j in &joining {
        let added = ch.current.iter().any(|c| c.peer_url == j.peer_url);
        let n_after = if added { n } else { n + 1 };
        if up < quorum(n_after) {
            plan.refused.push(format!(
                "etcd: adding {} would make {n_after} members with {up} running, below the quorum of {}{}. Bring the members that are down back first, then plan again.",
                j.name,
                quorum(n_after),
                down_text()
            ));
            return;
        }
        n = n_after;
        let id = ResourceId::new(&j.name, Kind::Member, "etcd-join").to_string();
        let svc = service_id(&j.name);
        let Some(pos) = plan.steps.iter().position(|s| s.id == svc) else {
            // its etcd already runs (outside rampart): joining it would need a restart; say so
            plan.refused.push(format!("etcd: {} is to join the cluster but its etcd already runs as another cluster's member; stop it (systemctl stop etcd) and plan again.", j.name));
            return;
        };
        let mut deps = plan.steps[pos].deps.clone();
        deps.extend(prev.clone());
        let op = EtcdOp::MemberAdd {
            endpoints: endpoints.clone(),
            me: (*j).clone(),
            data_dir: e.data_dir.clone(),
        };
        let why = if added {
            "added to the cluster earlier but never started: start it with the member list"
                .to_string()
        } else {
            format!("etcdctl member add {} (the cluster has {} member{}), then its first start joins the running cluster", j.name, n - 1, if n == 2 { "" } else { "s" })
        };
        plan.steps.insert(
            pos,
            Step {
                id: id.clone(),
                host: j.name.clone(),
                action: Action::Run,
                reasons: vec![why],
                diff: None,
                sensitive: false,
                drift: false,
                ops: vec![op.op()],
                deps,
                retires: None,
                always: false,
            },
        );
        let s = &mut plan.steps[pos + 1];
        s.deps.push(id);
        for op in s.ops.iter_mut() {
            if let Op::Systemctl { no_block, .. } = op {
                *no_block = false; // back (joined) when start returns, before the next member is added
            }
        }
        s.reasons.push("joins the running cluster".into());
        prev = Some(svc);
        up += 1;
        endpoints.push(j.client_url.clone());
    }
    // shrinking: removed from a remaining member, one at a time, before its etcd stops
    if ch.leavers.is_empty() {
        return;
    }
    let Some(anchor) = e.members.iter().find(|m| {
        up_host(&m.name)
            && ch
                .current
                .iter()
                .any(|c| c.peer_url == m.peer_url && c.status == "started")
    }) else {
        plan.refused.push("etcd: members are to be removed but no remaining member's etcd is running to remove them from; bring one back first".into());
        return;
    };
    let remaining: Vec<String> = e.members.iter().map(|m| m.client_url.clone()).collect();
    let mut prev: Option<String> = None;
    let first_at = plan
        .steps
        .iter()
        .position(|s| s.host == anchor.name)
        .unwrap_or(0);
    for (i, l) in ch.leavers.iter().enumerate() {
        let name = name_of(l);
        let was_up = l.status == "started" && up_host(&name);
        let n_after = n - 1;
        let up_after = if was_up { up - 1 } else { up };
        if n_after == 0 || up_after < quorum(n_after) {
            plan.refused.push(format!(
                "etcd: removing {name} would leave {up_after} of {n_after} members running, below the quorum of {}{}. Bring the members that are down back first, then plan again.",
                quorum(n_after.max(1)),
                down_text()
            ));
            return;
        }
        n = n_after;
        up = up_after;
        let id =
            ResourceId::new(&anchor.name, Kind::Member, &format!("etcd-remove-{name}")).to_string();
        let op = EtcdOp::MemberRemove {
            remaining: remaining.clone(),
            peer: l.peer_url.clone(),
            name: name.clone(),
        };
        let deps: Vec<String> = prev.iter().cloned().collect();
        plan.steps.insert(first_at + i, Step { id: id.clone(), host: anchor.name.clone(), action: Action::Run, reasons: vec![format!("etcdctl member remove {name} (no longer in the stack), before its etcd stops; {n} member{} remain", if n == 1 { "" } else { "s" })], diff: None, sensitive: false, drift: false, ops: vec![op.op()], deps, retires: None, always: false });
        // the leaver's own etcd stops only after it left
        if let Some(s) = plan
            .steps
            .iter_mut()
            .find(|s| s.id == service_id(&name) && s.action == Action::Delete)
        {
            s.deps.push(id.clone());
            s.ops.push(Op::RemoveFile {
                path: JOIN_ENV.into(),
                daemon_reload: false,
            });
            s.reasons
                .push(format!("after it left the etcd cluster ({id})"));
        }
        prev = Some(id);
    }
}

/// Waits until every given endpoint is healthy (the cluster before it
/// changes); with https endpoints (`[tls]`), etcdctl presents this member's
/// certificate from here on.
fn wait_healthy(endpoints: &[String]) -> String {
    let tls = if endpoints.iter().any(|e| e.starts_with("https://")) {
        format!("export {}\n", crate::tls::view::etcdctl_env())
    } else {
        String::new()
    };
    format!(
        "{tls}eps={eps}\nend=$(( $(date +%s) + 120 ))\n\
         until etcdctl --endpoints=\"$eps\" --command-timeout=5s endpoint health >/dev/null 2>&1; do\n\
         \x20 if [ \"$(date +%s)\" -ge \"$end\" ]; then echo \"etcd members not healthy after 120s; the membership is unchanged:\" >&2; etcdctl --endpoints=\"$eps\" endpoint health >&2 || true; exit 1; fi\n\
         \x20 sleep 1\ndone\n",
        eps = sh(&endpoints.join(","))
    )
}

/// On the joining host: `member add` (unless already added), then the join
/// file with the member list etcd expects at the first start, and an empty
/// data directory (a member that never joined has nothing worth keeping).
pub fn join_script(endpoints: &[String], me: &EtcdMember, data_dir: &str) -> String {
    let mut s = String::from("set -e\nexport ETCDCTL_API=3\ntrap 'exit 129' HUP INT TERM PIPE\n");
    s.push_str(&wait_healthy(endpoints));
    s.push_str(&format!(
        "name={name}\npeer={peer}\ndata={data}\n\
         list=$(etcdctl --endpoints=\"$eps\" --command-timeout=10s member list)\n\
         if printf '%s\\n' \"$list\" | awk -F', ' -v p=\"$peer\" '$4==p && $2==\"started\" {{f=1}} END {{exit !f}}'; then echo \"$name is already a started member\" >&2; exit 0; fi\n\
         added() {{ printf '%s\\n' \"$list\" | awk -F', ' -v p=\"$peer\" '$4==p {{f=1}} END {{exit !f}}'; }}\n\
         # etcd refuses a new member until every member has been connected for a few seconds\n\
         tries=0\n\
         while ! added; do\n\
         \x20 if out=$(etcdctl --endpoints=\"$eps\" --command-timeout=10s member add \"$name\" --peer-urls=\"$peer\" 2>&1); then echo \"$out\" >&2; fi\n\
         \x20 list=$(etcdctl --endpoints=\"$eps\" --command-timeout=10s member list)\n\
         \x20 added && break\n\
         \x20 tries=$((tries+1)); if [ $tries -ge 60 ]; then echo \"etcd did not accept $name as a member after 60 tries:\" >&2; echo \"$out\" | tail -n 3 >&2; exit 1; fi\n\
         \x20 sleep 2\n\
         done\n\
         cluster=$(printf '%s\\n' \"$list\" | awk -F', ' -v p=\"$peer\" -v me=\"$name\" 'NF>=4 {{n=$3; if ($4==p) n=me; if (n==\"\") {{print \"another member (\" $4 \") was added but never started; start it or remove it (etcdctl member remove \" $1 \")\" > \"/dev/stderr\"; bad=1}}; printf \"%s%s=%s\", (c++ ? \",\" : \"\"), n, $4}} END {{exit bad}}')\n\
         systemctl stop etcd 2>/dev/null || true\n\
         rm -rf --one-file-system \"$data\"\n\
         mkdir -p /var/lib/rampart\n\
         tmp=$(mktemp /var/lib/rampart/.etcd-join.XXXXXX)\n\
         printf 'ETCD_INITIAL_CLUSTER=\"%s\"\\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\\n' \"$cluster\" > \"$tmp\"\n\
         chmod 0644 \"$tmp\"\nmv -f \"$tmp\" {join}\n",
        name = sh(&me.name),
        peer = sh(&me.peer_url),
        data = sh(data_dir),
        join = JOIN_ENV,
    ));
    s
}

/// On a remaining member: `member remove` of the leaver, found by its peer URL.
pub fn remove_script(remaining: &[String], peer: &str, name: &str) -> String {
    let mut s = String::from("set -e\nexport ETCDCTL_API=3\ntrap 'exit 129' HUP INT TERM PIPE\n");
    // the remaining members must be healthy before one more goes
    s.push_str(&wait_healthy(remaining));
    s.push_str(&format!(
        "peer={peer}\n\
         id=$(etcdctl --endpoints=\"$eps\" --command-timeout=10s member list | awk -F', ' -v p=\"$peer\" '$4==p {{print $1}}')\n\
         if [ -z \"$id\" ]; then echo {gone} >&2; exit 0; fi\n\
         etcdctl --endpoints=\"$eps\" --command-timeout=10s member remove \"$id\" >&2\n",
        peer = sh(peer),
        gone = sh(&format!("{name} is no longer a member")),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u32) -> EtcdMember {
        EtcdMember {
            name: format!("lab{n}"),
            address: format!("198.18.0.{}", 10 + n),
            peer_url: format!("http://198.18.0.{}:2380", 10 + n),
            client_url: format!("http://198.18.0.{}:2379", 10 + n),
        }
    }

    /// With `[tls]` the members' URLs are https, and every etcdctl of the
    /// membership scripts presents the member's certificate (the stand-in
    /// sees the variables etcdctl reads).
    #[test]
    fn with_tls_membership_scripts_present_the_members_certificate() {
        let fake = "etcdctl() { echo \"$ETCDCTL_CACERT $ETCDCTL_CERT $ETCDCTL_KEY $*\" >&2; case \"$*\" in *'member list'*) echo 'b2, started, lab2, https://198.18.0.12:2380, https://198.18.0.12:2379, false';; esac; }\n";
        let rm = remove_script(
            &["https://198.18.0.11:2379".into()],
            "https://198.18.0.12:2380",
            "lab2",
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{fake}{rm}"))
            .output()
            .unwrap();
        let calls = String::from_utf8_lossy(&out.stderr);
        let with_cert = "/etc/etcd/tls/ca.crt /etc/etcd/tls/etcd.crt /etc/etcd/tls/etcd.key --endpoints=https://198.18.0.11:2379";
        assert_eq!(
            calls.lines().count(),
            2,
            "list, remove (health is silent): {calls}"
        );
        assert!(calls.lines().all(|l| l.starts_with(with_cert)), "{calls}");
        assert!(calls.contains("member remove b2"), "{calls}");
        assert!(!remove_script(
            &["http://198.18.0.11:2379".into()],
            "http://198.18.0.12:2380",
            "lab2"
        )
        .contains("ETCDCTL_CERT"));
    }

    /// The scripts run against a stand-in `etcdctl` (a shell function) that
    /// keeps a member list in a file: the join adds the member once and
    /// writes the member list etcd expects; the removal finds the id.
    #[test]
    fn join_and_remove_scripts_drive_etcdctl() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let list = format!("{d}/list");
        std::fs::write(&list, "a1, started, lab1, http://198.18.0.11:2380, http://198.18.0.11:2379, false\nb2, started, lab2, http://198.18.0.12:2380, http://198.18.0.12:2379, false\n").unwrap();
        let fake = format!(
            "etcdctl() {{ echo \"$*\" >> {d}/calls; case \"$*\" in *'member list'*) cat {list};; *'member add'*) echo 'c3, unstarted, , http://198.18.0.13:2380, , false' >> {list}; echo added;; *'member remove'*) grep -v \"^${{5:-x}}\" {list} > {list}.n; mv {list}.n {list};; *) true;; esac; }}\n\
             systemctl() {{ true; }}\n"
        );
        let m = member(3);
        let script = join_script(
            &[
                "http://198.18.0.11:2379".into(),
                "http://198.18.0.12:2379".into(),
            ],
            &m,
            &format!("{d}/data"),
        )
        .replace("/var/lib/rampart", &d);
        std::fs::create_dir_all(format!("{d}/data/member")).unwrap();
        for round in 0..2 {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{fake}{script}"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let calls = std::fs::read_to_string(format!("{d}/calls")).unwrap();
        assert_eq!(
            calls
                .matches("member add lab3 --peer-urls=http://198.18.0.13:2380")
                .count(),
            1,
            "added once, not again on a rerun: {calls}"
        );
        let env = std::fs::read_to_string(format!("{d}/etcd-join.env")).unwrap();
        assert_eq!(env, "ETCD_INITIAL_CLUSTER=\"lab1=http://198.18.0.11:2380,lab2=http://198.18.0.12:2380,lab3=http://198.18.0.13:2380\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
        assert!(
            !std::path::Path::new(&format!("{d}/data")).exists(),
            "the never-joined data directory is emptied"
        );

        let rm = remove_script(
            &["http://198.18.0.11:2379".into()],
            "http://198.18.0.12:2380",
            "lab2",
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{fake}{rm}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read_to_string(format!("{d}/calls"))
            .unwrap()
            .contains("member remove b2"));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{fake}{rm}"))
            .output()
            .unwrap();
        assert!(
            out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("lab2 is no longer a member")
        );
    }
}
