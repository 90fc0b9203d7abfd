//! Day-2 steps of a running Patroni cluster, derived from the plan's facts
//! (Patroni's `/cluster` as a member reports it):
//! - after a settings change, members that Patroni flags `pending_restart`
//!   restart one at a time, replicas first; the leader hands over to a
//!   healthy replica (`POST /switchover`) before it restarts;
//! - a new member starts after the running members accept it (pg_hba);
//! - a member taken out of the stack hands its leadership over first.

use super::facts::PatroniMemberFact;
use super::ops::{PatroniAction, PatroniMember};
use super::{CONFIG, DYNAMIC_CONFIG, SERVICE};
use crate::compile::{Compiled, Kind, ResourceId};
use crate::components::Day2Op;
use crate::facts::HostFacts;
use crate::plan::{Action, Plan, Step};
use crate::transport::quote::sh;
use std::collections::BTreeMap;

/// Runs on one member; Patroni's REST API on 127.0.0.1:8008 and local psql.
/// With `[tls]` it reads how to reach it from Patroni's own configuration
/// (https with `restapi.cafile`, `restapi.authentication` for the unsafe
/// endpoints), so no password is in the script or the plan.
const MEMBER_PY: &str = r#"import base64, json, ssl, subprocess, sys, time, urllib.error, urllib.request
me, action, want, size = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
def restapi():
    try:
        import yaml
        with open("/etc/patroni/config.yml") as f:
            return (yaml.safe_load(f) or {}).get("restapi") or {}
    except Exception:
        return {}
R = restapi()
API = ("https" if R.get("certfile") else "http") + "://127.0.0.1:8008"
CTX = ssl.create_default_context(cafile=R["cafile"]) if R.get("certfile") and R.get("cafile") else None
A = R.get("authentication") or {}
AUTH = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (A["username"], A["password"])).encode()).decode()} if A.get("username") else {}
LEADER = ("leader", "master", "primary", "standby_leader")
def get(p):
    with urllib.request.urlopen(API + p, timeout=5, context=CTX) as r:
        return json.load(r)
def post(p, body):
    req = urllib.request.Request(API + p, data=json.dumps(body).encode(), method="POST", headers=dict({"Content-Type": "application/json"}, **AUTH))
    try:
        with urllib.request.urlopen(req, timeout=120, context=CTX) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
def wait(what, secs, pred):
    end, last = time.time() + secs, ""
    while time.time() < end:
        try:
            if pred():
                return
        except Exception as e:
            last = " (%s)" % e
        time.sleep(0.5)
    sys.exit("%s: %s not reached after %ds%s" % (me, what, secs, last))
def rows(q):
    out = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-XtAc", q], capture_output=True, text=True, cwd="/").stdout
    return dict(l.split("|", 1) for l in out.splitlines() if "|" in l)
def members():
    return get("/cluster")["members"]
def healthy(n):
    m = members()
    lead = [x for x in m if x["role"] in LEADER and x["state"] == "running"]
    rest = [x for x in m if x not in lead and x["state"] in ("streaming", "running")]
    return len(lead) == 1 and len(m) == n and len(rest) == n - 1
def is_leader():
    return get("/patroni").get("role") in LEADER
def hand_over(n):
    if not is_leader():
        return
    m = members()
    c = [x for x in m if x["name"] != me and x["role"] not in LEADER and x["state"] in ("streaming", "running") and not x.get("tags", {}).get("nofailover")]
    c.sort(key=lambda x: (x["role"] != "sync_standby", x.get("lag") if isinstance(x.get("lag"), int) else 0))
    if not c:
        sys.exit("%s: the leader has no healthy replica to hand over to; nothing was restarted" % me)
    t = time.time()
    code, body = post("/switchover", {"leader": me, "candidate": c[0]["name"]})
    if code != 200:
        sys.exit("%s: Patroni refused the switchover to %s (%s): %s" % (me, c[0]["name"], code, body.strip()))
    def demoted():
        m = members()
        mine = [x for x in m if x["name"] == me]
        return not is_leader() and any(x["role"] in LEADER and x["state"] == "running" for x in m) and mine and mine[0]["state"] in ("running", "streaming")
    wait("a new leader, and this member running as its replica", 120, demoted)
    print("%s: switched over to %s in %.1fs" % (me, c[0]["name"], time.time() - t), file=sys.stderr)
if action == "leave":
    hand_over(size + 1)
    sys.exit(0)
# the new settings reached this member: in its config file, in effect, or flagged for a restart
def applied():
    if not want:
        return True
    f = rows("select name, setting from pg_file_settings order by seqno")
    s = rows("select name, setting from pg_settings")
    pend = get("/patroni").get("pending_restart", False)
    return all(f.get(k, "").lower() == v.lower() or s.get(k, "").lower() == v.lower() or (k not in f and pend) for k, v in want.items())
wait("the new settings on this member", 120, applied)
def pending():
    return get("/patroni").get("pending_restart", False) or rows("select 'n', count(*) from pg_settings where pending_restart").get("n", "0") != "0"
if not pending():
    print("%s: no restart needed" % me, file=sys.stderr)
    sys.exit(0)
wait("a healthy cluster before this member goes down", 300, lambda: healthy(size))
hand_over(size)
tries = 0
while pending():
    code, body = post("/restart", {"restart_pending": True})
    if code == 200:
        break
    tries += 1
    if tries >= 20:
        sys.exit("%s: Patroni did not restart PostgreSQL (%s): %s" % (me, code, body.strip()))
    time.sleep(1)
wait("this member back and the cluster healthy", 300, lambda: not pending() and healthy(size))
print("%s: restarted with the new settings" % me, file=sys.stderr)
"#;

pub(crate) fn member_script(me: &str, action: &str, want: &str, size: usize) -> String {
    format!(
        "set -e\ntrap 'exit 129' HUP INT TERM PIPE\ncd /\npython3 -c {} {} {} {} {}\n",
        sh(MEMBER_PY),
        sh(me),
        sh(action),
        sh(want),
        size
    )
}

/// The running cluster as the first member that answered sees it.
fn cluster(
    compiled: &Compiled,
    facts: &BTreeMap<String, HostFacts>,
) -> Option<Vec<PatroniMemberFact>> {
    super::hosts(compiled)
        .iter()
        .find_map(|h| facts.get(h).and_then(|f| f.patroni().cloned()))
}

pub fn steps(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
    let hosts = super::hosts(compiled);
    // members taken out of the stack: the leader hands over before Patroni stops
    let leaving: Vec<String> = facts
        .iter()
        .filter(|(h, f)| {
            !hosts.contains(h)
                && f.state
                    .as_ref()
                    .is_some_and(|st| st.resources.contains_key(&SERVICE.id(h)))
        })
        .map(|(h, _)| h.clone())
        .collect();
    for h in &leaving {
        let Some(pos) = plan
            .steps
            .iter()
            .position(|s| s.id == SERVICE.id(h) && s.action == Action::Delete)
        else {
            continue;
        };
        let id = ResourceId::new(h, Kind::Patroni, "leave").to_string();
        plan.steps.insert(pos, Step { id: id.clone(), host: h.clone(), action: Action::Run, reasons: vec!["leaves the Patroni cluster: if it leads, it hands over to a healthy replica (switchover) before Patroni stops".into()], diff: None, sensitive: false, drift: false, ops: vec![PatroniMember { me: h.clone(), action: PatroniAction::Leave, want: "{}".into(), size: hosts.len() }.op()], deps: vec![], retires: None, always: false });
        plan.steps[pos + 1].deps.push(id);
    }
    let Some(running) = cluster(compiled, facts) else {
        return;
    };
    let is_member = |h: &str| running.iter().any(|m| m.name == h);
    // new members start once the running ones reloaded a config that admits them
    let prior: Vec<String> = hosts
        .iter()
        .filter(|h| is_member(h))
        .flat_map(|h| [CONFIG.id(h), SERVICE.id(h)])
        .filter(|id| plan.steps.iter().any(|s| &s.id == id))
        .collect();
    for h in hosts.iter().filter(|h| !is_member(h)) {
        if let Some(s) = plan.steps.iter_mut().find(|s| s.id == SERVICE.id(h)) {
            for p in &prior {
                if !s.deps.contains(p) {
                    s.deps.push(p.clone());
                }
            }
            s.reasons
                .push("joins the running cluster as a replica once the members admit it".into());
        }
    }
    // restarts owed to changed settings: replicas first, the leader last
    let patch = hosts
        .first()
        .map(|h| DYNAMIC_CONFIG.id(h))
        .filter(|id| plan.steps.iter().any(|s| &s.id == id));
    let configs: Vec<String> = hosts
        .iter()
        .map(|h| CONFIG.id(h))
        .filter(|id| plan.steps.iter().any(|s| &s.id == id))
        .collect();
    let flagged: Vec<&str> = running
        .iter()
        .filter(|m| m.pending_restart)
        .map(|m| m.name.as_str())
        .collect();
    if patch.is_none() && configs.is_empty() && flagged.is_empty() {
        return;
    }
    let mut order: Vec<&String> = hosts.iter().filter(|h| is_member(h)).collect();
    order.sort_by_key(|h| {
        running
            .iter()
            .any(|m| &m.name == *h && ["leader", "master", "primary"].contains(&m.role.as_str()))
    });
    let want = match plan.steps.iter().any(|s| Some(&s.id) == patch.as_ref()) {
        true => compiled
            .topology_of::<super::Cluster>("postgres")
            .map(|k| k.parameters.clone())
            .unwrap_or_else(|| "{}".into()),
        false => "{}".to_string(),
    };
    let n = order.len();
    let mut prev: Option<String> = None;
    for (k, h) in order.iter().enumerate() {
        let id = ResourceId::new(h, Kind::Patroni, "restart-pending").to_string();
        let mut deps: Vec<String> = patch.iter().cloned().collect();
        deps.extend(
            [CONFIG.id(h), SERVICE.id(h)]
                .into_iter()
                .filter(|d| plan.steps.iter().any(|s| &s.id == d)),
        );
        deps.extend(prev.clone());
        let leads = running
            .iter()
            .any(|m| &m.name == *h && ["leader", "master", "primary"].contains(&m.role.as_str()));
        let mut why = vec![format!(
            "restart PostgreSQL where Patroni reports pending_restart, one member at a time: member {} of {n}{}",
            k + 1,
            if leads { " (the leader: it switches over to a healthy replica first)" } else { " (a replica)" }
        )];
        if flagged.contains(&h.as_str()) {
            why.push("Patroni reports pending_restart now".into());
        }
        plan.steps.push(Step {
            id: id.clone(),
            host: (*h).clone(),
            action: Action::Restart,
            reasons: why,
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![PatroniMember {
                me: (*h).clone(),
                action: PatroniAction::Restart,
                want: want.clone(),
                size: hosts.len(),
            }
            .op()],
            deps,
            retires: None,
            always: false,
        });
        prev = Some(id);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_member_script_is_valid_python() {
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg("import ast,sys; ast.parse(sys.argv[1])")
            .arg(super::MEMBER_PY)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
