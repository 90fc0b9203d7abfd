//! A compose service's roll behind HAProxy: before a host's container is
//! replaced, every HAProxy host sets that server to `drain` through its
//! runtime API and waits until its sessions end; once the container is
//! replaced, each HAProxy host waits until the new one answers its ready
//! path, then sets it `ready` again. The `ready` step sets the state back
//! even when the new container never turns healthy (HAProxy's own checks
//! then keep it out of rotation, and the host's health gate stops the roll),
//! so no server stays drained for good. It also runs when the replacement
//! itself failed (an `always` step: `compose up` could not start the new
//! container): the server is set ready again, and HAProxy's checks decide
//! whether it gets traffic (the old container, if it still runs, or none).
//! kamal-proxy keeps the old container serving when the new one fails its
//! health check, since both run side by side; here they share the host's
//! port, so the old one is not brought back: the host is set ready, its
//! HAProxy check keeps it out while it fails, the other replicas (not yet
//! rolled) keep serving, and the next apply with a working image replaces it.
//!
//! The steps (`P/haproxy/NAME-drain-H`, `P/haproxy/NAME-ready-H` on each
//! HAProxy host P) are added only where the plan replaces a running
//! container (a restart of the service's unit): a first deploy has nothing
//! to drain.

use crate::compile::{Compiled, Kind, ResourceId};
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use crate::plan::{Action, Op, Plan, Step};
use crate::transport::quote::sh;

/// Seconds a drain waits for a server's sessions to end before going on.
pub const DRAIN_WAIT: u64 = 60;
/// Seconds a `ready` step waits for the new container to answer its ready path.
pub const READY_WAIT: u64 = 60;

const SOCKET: &str = "/run/haproxy/admin.sock";

fn api_fn() -> String {
    format!("api() {{ printf '%s\\n' \"$1\" | timeout 5 socat stdio unix-connect:{SOCKET}; }}\n")
}

/// On an HAProxy host: `backend/server` to drain, then wait until it holds no session.
pub fn drain_script(backend: &str, server: &str) -> String {
    let (b, s) = (sh(backend), sh(server));
    format!(
        r#"set -e
{api}b={b}
s={s}
out=$(api "set server $b/$s state drain")
if [ -n "$out" ]; then echo "HAProxy would not drain $b/$s: $out" >&2; exit 1; fi
end=$(( $(date +%s) + {wait} ))
while :; do
  cur=$(api "show stat $b 4 -1" | awk -F, -v b="$b" -v s="$s" '$1 == b && $2 == s {{print $5}}')
  if [ "${{cur:-0}}" = 0 ]; then break; fi
  if [ "$(date +%s)" -ge $end ]; then echo "$b/$s still holds $cur sessions after {wait} s; replacing it anyway" >&2; break; fi
  sleep 0.2
done
"#,
        api = api_fn(),
        wait = DRAIN_WAIT
    )
}

/// On an HAProxy host: wait until `address:port` answers `path` with 200
/// (plain bash, no curl needed), then set `backend/server` ready; ready is
/// set back in every case, and the step fails when it never answered.
pub fn ready_script(backend: &str, server: &str, address: &str, port: u16, path: &str) -> String {
    format!(
        r#"set -e
{api}b={b}
s={s}
probe() {{ timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3 && read -r l <&3 && case "$l" in "HTTP/"*" 200"*) exit 0 ;; *) exit 1 ;; esac' {addr} {port} {path}; }}
ok=
end=$(( $(date +%s) + {wait} ))
while [ "$(date +%s)" -lt $end ]; do
  if probe; then ok=1; break; fi
  sleep 0.3
done
out=$(api "set server $b/$s state ready")
if [ -n "$out" ]; then echo "HAProxy would not set $b/$s ready: $out" >&2; exit 1; fi
if [ -z "$ok" ]; then echo "$s never answered 200 on {path_text} within {wait} s: set ready again in HAProxy, whose checks keep it out of rotation" >&2; exit 1; fi
"#,
        api = api_fn(),
        b = sh(backend),
        s = sh(server),
        addr = sh(address),
        path = sh(path),
        path_text = path.replace(['\'', '"', '$', '`', '\\'], ""),
        wait = READY_WAIT
    )
}

/// A compose service HAProxy routes to: what its roll's drain needs.
#[derive(Debug, Clone)]
pub struct Routed {
    pub name: String,
    pub unit: String,
    pub port: u16,
    pub ready_path: String,
    /// Its hosts in roll order, with their addresses.
    pub hosts: Vec<(String, String)>,
}

/// The compose services behind HAProxy and the HAProxy hosts (the
/// services' topology, kept in `Compiled`).
#[derive(Debug, Clone, Default)]
pub struct Drains {
    pub proxies: Vec<String>,
    pub services: Vec<Routed>,
}

pub fn topology(inv: &Inventory, stack: &Stack) -> Drains {
    let Some(h) = &stack.haproxy else {
        return Drains::default();
    };
    let mut services = Vec::new();
    for (name, svc) in &stack.services {
        if svc.image.is_none() || !h.listen.keys().any(|k| k.get_ref() == name) {
            continue;
        }
        let Some(v) = super::view::service(stack, name, "") else {
            continue;
        };
        services.push(Routed {
            name: name.clone(),
            unit: v.unit,
            port: *svc.port.get_ref(),
            ready_path: svc
                .ready
                .clone()
                .or_else(|| svc.health.clone())
                .unwrap_or_else(|| "/".into()),
            hosts: stack
                .hosts_of(&format!("services.{name}"))
                .iter()
                .filter_map(|n| inv.hosts.get(n).map(|x| (n.clone(), x.address.clone())))
                .collect(),
        });
    }
    Drains {
        proxies: stack.hosts_of("haproxy").to_vec(),
        services,
    }
}

/// Adds the drain and ready steps around each compose host's replacement.
pub fn day2(compiled: &Compiled, plan: &mut Plan) {
    if let Some(d) = compiled.topology_of::<Drains>("services") {
        add_steps(d, plan);
    }
}

fn add_steps(d: &Drains, plan: &mut Plan) {
    for svc in &d.services {
        let name = &svc.name;
        let mut prev_ready: Vec<String> = Vec::new();
        for (host, address) in &svc.hosts {
            let restart = ResourceId::new(host, Kind::Service, &svc.unit).to_string();
            let Some(at) = plan
                .steps
                .iter()
                .position(|s| s.id == restart && s.action == Action::Restart)
            else {
                continue;
            };
            let mut deps = plan.steps[at].deps.clone();
            deps.extend(prev_ready.iter().cloned());
            let step = |p: &str, what: &str, reason: String, run: String, deps: Vec<String>| Step {
                // `ready` runs even when the replacement failed: nothing stays drained
                always: what == "ready",
                id: ResourceId::new(p, Kind::Haproxy, &format!("{name}-{what}-{host}")).to_string(),
                host: p.to_string(),
                action: Action::Run,
                reasons: vec![reason],
                diff: None,
                sensitive: false,
                drift: false,
                ops: vec![Op::RunCommand {
                    run,
                    unless: None,
                    creates: None,
                }],
                deps,
                retires: None,
            };
            let drains: Vec<Step> = d
                .proxies
                .iter()
                .map(|p| {
                    step(
                        p,
                        "drain",
                        format!(
                            "drain {host} in HAProxy's {name} before its container is replaced"
                        ),
                        drain_script(name, host),
                        deps.clone(),
                    )
                })
                .collect();
            let readies: Vec<Step> = d
                .proxies
                .iter()
                .map(|p| {
                    step(
                        p,
                        "ready",
                        format!(
                            "{host} back in HAProxy's {name} once it answers {}",
                            svc.ready_path
                        ),
                        ready_script(name, host, address, svc.port, &svc.ready_path),
                        vec![restart.clone()],
                    )
                })
                .collect();
            prev_ready = readies.iter().map(|s| s.id.clone()).collect();
            for dr in &drains {
                plan.steps[at].deps.push(dr.id.clone());
            }
            let n = drains.len();
            plan.steps.splice(at..at, drains);
            let after = at + n + 1;
            plan.steps.splice(after..after, readies);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, action: Action, deps: &[&str]) -> Step {
        Step {
            id: id.into(),
            host: id.split('/').next().unwrap().into(),
            action,
            reasons: vec![],
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![],
            deps: deps.iter().map(|d| d.to_string()).collect(),
            retires: None,
            always: false,
        }
    }

    #[test]
    fn each_replaced_host_is_drained_first_and_set_ready_after() {
        let unit = "rampart-s-web.service";
        let d = Drains {
            proxies: vec!["p1".into()],
            services: vec![Routed {
                name: "web".into(),
                unit: unit.into(),
                port: 8000,
                ready_path: "/health/ready".into(),
                hosts: vec![
                    ("a".into(), "10.0.0.1".into()),
                    ("b".into(), "10.0.0.2".into()),
                ],
            }],
        };
        let mut plan = Plan {
            steps: vec![
                step(
                    "a/file/etc/rampart/compose/web/compose.yml",
                    Action::Update,
                    &[],
                ),
                step(
                    &format!("a/service/{unit}"),
                    Action::Restart,
                    &["a/file/etc/rampart/compose/web/compose.yml"],
                ),
                step(
                    "a/health/web-health",
                    Action::Wait,
                    &[&format!("a/service/{unit}")],
                ),
                step(
                    "b/file/etc/rampart/compose/web/compose.yml",
                    Action::Update,
                    &["a/health/web-health"],
                ),
                step(
                    &format!("b/service/{unit}"),
                    Action::Restart,
                    &["b/file/etc/rampart/compose/web/compose.yml"],
                ),
                step(
                    "b/health/web-health",
                    Action::Wait,
                    &[&format!("b/service/{unit}")],
                ),
            ],
            ..Plan::default()
        };
        add_steps(&d, &mut plan);
        let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "a/file/etc/rampart/compose/web/compose.yml",
                "p1/haproxy/web-drain-a",
                "a/service/rampart-s-web.service",
                "p1/haproxy/web-ready-a",
                "a/health/web-health",
                "b/file/etc/rampart/compose/web/compose.yml",
                "p1/haproxy/web-drain-b",
                "b/service/rampart-s-web.service",
                "p1/haproxy/web-ready-b",
                "b/health/web-health",
            ]
        );
        let deps = |id: &str| plan.steps.iter().find(|s| s.id == id).unwrap().deps.clone();
        assert!(deps(&format!("a/service/{unit}")).contains(&"p1/haproxy/web-drain-a".to_string()));
        // ready waits for the replacement only, not the health gate: it runs when the gate fails,
        // and runs when the replacement itself failed (`always`)
        assert_eq!(
            deps("p1/haproxy/web-ready-a"),
            [format!("a/service/{unit}")]
        );
        let step_of = |id: &str| plan.steps.iter().find(|s| s.id == id).unwrap();
        assert!(step_of("p1/haproxy/web-ready-a").always);
        assert!(!step_of("p1/haproxy/web-drain-a").always);
        // the next host is drained once the previous one is ready again
        assert!(deps("p1/haproxy/web-drain-b").contains(&"p1/haproxy/web-ready-a".to_string()));
    }

    #[test]
    fn a_first_deploy_has_nothing_to_drain() {
        let d = Drains {
            proxies: vec!["p1".into()],
            services: vec![Routed {
                name: "web".into(),
                unit: "u.service".into(),
                port: 8000,
                ready_path: "/".into(),
                hosts: vec![("a".into(), "10.0.0.1".into())],
            }],
        };
        let mut plan = Plan {
            steps: vec![step("a/service/u.service", Action::Create, &[])],
            ..Plan::default()
        };
        add_steps(&d, &mut plan);
        assert_eq!(plan.steps.len(), 1);
    }

    #[test]
    fn drain_script_drains_then_waits_for_no_session() {
        let s = drain_script("web", "lab1");
        assert!(s.contains("b=web\ns=lab1\n"), "{s}");
        assert!(s.contains(r#"api "set server $b/$s state drain""#), "{s}");
        assert!(s.contains(r#"api "show stat $b 4 -1""#), "{s}");
        assert!(s.contains("unix-connect:/run/haproxy/admin.sock"), "{s}");
    }

    #[test]
    fn ready_script_sets_ready_back_even_when_never_healthy() {
        let s = ready_script("web", "lab1", "198.18.0.11", 8000, "/health/ready");
        let ready = s.find("state ready").expect("sets ready");
        let fail = s.find("never answered 200").expect("says why");
        assert!(ready < fail, "ready is set before the failure exits:\n{s}");
        assert!(s.contains("198.18.0.11 8000 /health/ready"), "{s}");
    }
}
