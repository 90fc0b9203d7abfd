//! `[redis] server = "valkey"`, without SSH: the redis role compiled for
//! Valkey (Debian 13's packages, units, CLI, paths and user), its day-2
//! steps and probes, and a plan refused where a host runs the other server.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rampart::compile::{compile, Compiled, Desired, SecretValues};
use rampart::components::redis::{self, Server};
use rampart::diag::Source;
use rampart::facts::{HostFacts, HostState, ManagedEntry, RedisFact};
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::plan::{plan, Action, Op};
use rampart::roles::RoleSet;
use std::collections::BTreeMap;

mod common;
use common::converged_guards_hold;

const INV: &str = "[hosts.n1]\naddress = \"10.0.0.1\"\n[hosts.n2]\naddress = \"10.0.0.2\"\n[hosts.n3]\naddress = \"10.0.0.3\"\n[groups]\ndata = [\"n1\", \"n2\", \"n3\"]\n";

/// The stack with `server = ...` (none: the default) and HAProxy routing to the master.
fn stack_text(server: Option<&str>) -> String {
    format!(
        "[stack]\nname = \"kv\"\n[redis]\nhosts = \"data\"\npassword = {{ env = \"P\" }}\n{}[redis.sentinel]\nquorum = 2\n[redis.settings]\nmaxmemory = \"64mb\"\n[haproxy]\nhosts = \"data\"\n[haproxy.listen]\nredis_master = 6380\n",
        server.map(|s| format!("server = \"{s}\"\n")).unwrap_or_default()
    )
}

fn compiled(server: Option<&str>) -> (Stack, Compiled) {
    let inv = Inventory::parse(Source::new("inv.toml", INV)).unwrap();
    let stack = Stack::parse(Source::new("stack.toml", stack_text(server)), &inv)
        .unwrap_or_else(|d| panic!("{d:?}"));
    let m: BTreeMap<String, Secret> = [("redis.password".to_string(), Secret::new("pw"))].into();
    let c = compile(
        &inv,
        &stack,
        &RoleSet::load(None).unwrap(),
        &SecretValues::Values(m),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    (stack, c)
}

fn content(c: &Compiled, id: &str) -> String {
    match &c.resources[c.index_of(id).unwrap_or_else(|| panic!("no {id}"))].desired {
        Desired::File { content, .. } => String::from_utf8(content.clone()).unwrap(),
        _ => panic!("{id} is not a file"),
    }
}

/// Facts of a host where the compiled resources are all in place, its
/// Facts of a host where the compiled resources are all in place, its
/// commands' guards holding, Debian 13's Valkey installed, and rampart's state
/// recording them.
fn converged(c: &Compiled, host: &str) -> HostFacts {
    let mut f = converged_guards_hold(c, host);
    for v in f.packages.values_mut() {
        *v = Some("8.1.1".into());
    }
    let resources = c
        .host_order(host)
        .iter()
        .map(|&i| {
            let r = &c.resources[i];
            (
                r.id.to_string(),
                ManagedEntry {
                    kind: r.id.kind.to_string(),
                    name: r.id.name.clone(),
                    sha256: None,
                    data: false,
                },
            )
        })
        .collect();
    f.state = Some(HostState {
        version: 1,
        stack: c.stack.clone(),
        resources,
        hosts: c.hosts.clone(),
    });
    f
}

fn all_converged(c: &Compiled) -> BTreeMap<String, HostFacts> {
    c.hosts
        .iter()
        .map(|h| (h.clone(), converged(c, h)))
        .collect()
}

fn role(role: &str, master: &str, up: bool) -> Option<RedisFact> {
    Some(RedisFact {
        role: role.into(),
        master_host: master.into(),
        link_up: up,
    })
}

/// The redis role's resources on `host`, as text (ids and what they hold).
fn redis_text(c: &Compiled, host: &str) -> String {
    c.host_order(host)
        .iter()
        .map(|&i| &c.resources[i])
        .filter(|r| r.component == "redis")
        .map(|r| format!("{}\n{:?}\n", r.id, r.desired))
        .collect()
}

#[test]
fn valkey_hosts_get_debian_13_packages_units_paths_and_user() {
    let (_, c) = compiled(Some("valkey"));
    let ids: Vec<String> = c
        .host_order("n2")
        .iter()
        .map(|&i| &c.resources[i])
        .filter(|r| r.component == "redis")
        .map(|r| r.id.to_string())
        .collect();
    insta::assert_snapshot!("valkey_resources_n2", ids.join("\n"));
    // nothing of Redis' names is left (the component and its gates keep their names)
    let text = redis_text(&c, "n2");
    for redis_name in [
        "redis-server",
        "redis-sentinel",
        "redis-cli",
        "/etc/redis",
        "/var/lib/redis",
        "/var/log/redis",
        "/run/redis",
        "\"redis\"",
        "redis:redis",
    ] {
        assert!(!text.contains(redis_name), "{redis_name} in {text}");
    }
    let conf = content(&c, "n2/file/etc/valkey/rampart.conf");
    insta::assert_snapshot!("valkey_rampart_conf_n2", conf);
    let seed = content(&c, "n2/file/etc/valkey/valkey.conf.seed");
    assert!(seed.contains("include /etc/valkey/rampart.conf\nreplicaof 10.0.0.1 6379\n"));
    insta::assert_snapshot!(
        "valkey_sentinel_seed_n2",
        content(&c, "n2/file/etc/valkey/sentinel.conf.seed")
    );
    insta::assert_snapshot!(
        "valkey_seed_script_n2",
        content(&c, "n2/file/etc/valkey/rampart-seed.sh")
    );
    match &c.resources[c.index_of("n2/file/etc/valkey/rampart.conf").unwrap()].desired {
        Desired::File { owner, group, .. } => {
            assert_eq!((owner.as_str(), group.as_str()), ("valkey", "valkey"))
        }
        _ => unreachable!(),
    }
    assert_eq!(c.data_dirs["n2"], ["/var/lib/valkey"]);
    // the service restarts when rampart.conf or the seed changes
    match &c.resources[c.index_of("n2/service/valkey-server").unwrap()].desired {
        Desired::Service { restart_on, .. } => {
            let on: Vec<String> = restart_on
                .iter()
                .map(|&i| c.resources[i].id.to_string())
                .collect();
            assert_eq!(
                on,
                [
                    "n2/file/etc/valkey/rampart.conf",
                    "n2/command/seed-valkey-conf"
                ]
            );
        }
        _ => unreachable!(),
    }
}

/// HAProxy's master check speaks the protocol (AUTH, `INFO replication`,
/// `role:master`), which Valkey answers as Redis does: its config is the same.
#[test]
fn haproxy_checks_a_valkey_master_as_a_redis_one() {
    let (_, redis) = compiled(None);
    let (_, valkey) = compiled(Some("valkey"));
    let cfg = "n1/file/etc/haproxy/haproxy.cfg";
    assert_eq!(content(&redis, cfg), content(&valkey, cfg));
}

/// `server = "redis"` is the default, byte for byte.
#[test]
fn server_redis_is_the_default_byte_for_byte() {
    let (_, default) = compiled(None);
    let (_, redis) = compiled(Some("redis"));
    assert_eq!(default.graph_text(), redis.graph_text());
    for h in &default.hosts {
        assert_eq!(redis_text(&default, h), redis_text(&redis, h));
    }
}

/// The resources day-2 steps find by id (`RoleRef`s, written with
/// `redis.server` in role.toml) are the ones compiled, for either server.
#[test]
fn the_role_refs_name_compiled_resources_for_either_server() {
    for (key, server) in [(None, Server::Redis), (Some("valkey"), Server::Valkey)] {
        let (_, c) = compiled(key);
        assert_eq!(redis::cluster(&c).unwrap().server, server);
        for r in [redis::SERVER, redis::SENTINEL, redis::SENTINEL_QUORUM] {
            let id = redis::id(&r, server, "n3");
            assert!(c.index_of(&id).is_some(), "{id} is not compiled");
        }
    }
}

/// A roll restarts the next member only once the one before it passes its own
/// health checks: a replica back in sync with the master, not just answering.
/// Two members resyncing at once (a full resync takes seconds: diskless sync
/// waits for more replicas; with AOF a restarted member cannot resync
/// partially) and the master failing over to one still behind lost an
/// acknowledged write in a live roll.
#[test]
fn each_member_of_a_redis_roll_waits_for_the_one_before_to_be_back_in_sync() {
    for server in [None, Some("valkey")] {
        let (_, c) = compiled(server);
        let conf = match server {
            Some(_) => "/etc/valkey/rampart.conf",
            None => "/etc/redis/rampart.conf",
        };
        let mut facts = all_converged(&c);
        for (h, r) in [("n1", "slave"), ("n2", "master"), ("n3", "slave")] {
            let f = facts.get_mut(h).unwrap();
            f.set_redis(role(r, if r == "slave" { "10.0.0.2" } else { "" }, true));
            f.files.get_mut(conf).unwrap().sha256 = Some("0".repeat(64));
        }
        let p = plan(&c, &facts);
        let unit = server
            .and_then(Server::parse)
            .unwrap_or(Server::Redis)
            .names()
            .unit;
        let step = |h: &str| {
            p.steps
                .iter()
                .find(|s| s.id == format!("{h}/service/{unit}"))
                .unwrap_or_else(|| panic!("{h} restarts"))
        };
        // replicas first (n1, n3), then the master (n2)
        for (prev, next) in [("n1", "n3"), ("n3", "n2")] {
            let synced = format!("{prev}/health/redis-synced");
            assert!(
                p.steps.iter().any(|s| s.id == synced),
                "{synced} is planned: {:?}",
                p.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
            );
            let deps = &step(next).deps;
            assert!(
                deps.contains(&step(prev).id) && deps.contains(&synced),
                "{next} restarts after {prev} is back in sync: {deps:?}"
            );
        }
    }
}

#[test]
fn valkey_day2_uses_valkey_units_and_cli() {
    let (_, c) = compiled(Some("valkey"));
    let mut facts = all_converged(&c);
    for (h, r) in [("n1", "slave"), ("n2", "master"), ("n3", "slave")] {
        let f = facts.get_mut(h).unwrap();
        f.set_redis(role(r, if r == "slave" { "10.0.0.2" } else { "" }, true));
        f.files.get_mut("/etc/valkey/rampart.conf").unwrap().sha256 = Some("0".repeat(64));
    }
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let m = p
        .steps
        .iter()
        .find(|s| s.id == "n2/service/valkey-server")
        .expect("the master restarts");
    let failover = m
        .ops
        .iter()
        .find_map(|o| match o {
            Op::RunCommand { run, .. } if run.contains("sentinel failover") => Some(run),
            _ => None,
        })
        .expect("the master fails over first");
    assert!(failover.contains("valkey-cli") && failover.contains("/etc/valkey/rampart-auth"));
    assert!(!failover.contains("redis-cli") && !failover.contains("/etc/redis"));

    // the Sentinels' state is read from valkey-sentinel's unit
    for h in ["n1", "n2", "n3"] {
        facts
            .get_mut(h)
            .unwrap()
            .guards
            .insert(format!("{h}/command/seed-sentinel-conf"), false);
    }
    facts
        .get_mut("n3")
        .unwrap()
        .services
        .get_mut("valkey-sentinel")
        .unwrap()
        .active = "failed".into();
    let p = plan(&c, &facts);
    assert!(
        p.refused.iter().any(|r| r.contains("would leave 1 of 3")),
        "{:?}",
        p.refused
    );
}

#[test]
fn a_valkey_host_leaving_fails_over_stops_and_sets_its_files_aside() {
    let (_, c) = compiled(Some("valkey"));
    let mut facts = all_converged(&c);
    let entry = |n: &str| ManagedEntry {
        kind: "service".into(),
        name: n.into(),
        sha256: None,
        data: false,
    };
    let n4 = HostFacts {
        state: Some(HostState {
            version: 1,
            stack: c.stack.clone(),
            resources: [
                (
                    "n4/service/valkey-server".to_string(),
                    entry("valkey-server"),
                ),
                (
                    "n4/service/valkey-sentinel".to_string(),
                    entry("valkey-sentinel"),
                ),
            ]
            .into(),
            hosts: vec![],
        }),
        ..Default::default()
    };
    facts.insert("n4".into(), n4);
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let step = |id: &str| {
        p.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"))
    };
    let leave = step("n4/redis/leave");
    assert!(leave.reasons[0].starts_with("leaves Valkey:"));
    assert!(
        matches!(&leave.ops[0], Op::RunCommand { run, .. } if run.contains("valkey-cli") && run.contains("/etc/valkey/rampart.conf"))
    );
    let stops: Vec<&rampart::plan::Step> = p
        .steps
        .iter()
        .filter(|s| s.host == "n4" && s.action == Action::Delete)
        .collect();
    assert_eq!(stops.len(), 2);
    assert!(stops.iter().all(|s| s.deps.contains(&leave.id)));
    assert!(stops.iter().any(|s| s.ops.iter().any(|o| matches!(o, Op::RunCommand { run, .. } if run.starts_with("for f in valkey sentinel; do if [ -e /etc/valkey/$f.conf ]")))));
    let reset = step("n1/redis/sentinel-reset");
    assert!(
        matches!(&reset.ops[0], Op::RunCommand { run, .. } if run.contains("timeout 5 valkey-cli -h 127.0.0.1 -p 26379"))
    );
}

/// A converged Valkey cluster plans nothing and is not refused.
#[test]
fn a_converged_valkey_cluster_plans_nothing() {
    let (_, c) = compiled(Some("valkey"));
    let facts = all_converged(&c);
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    assert!(!p.has_changes(), "{:?}", p.steps);
}

/// A running cluster's server is not switched in place, either way; fresh
/// hosts take either.
#[test]
fn switching_a_running_cluster_between_redis_and_valkey_is_refused() {
    let (_, redis) = compiled(None);
    let (_, valkey) = compiled(Some("valkey"));
    // fresh hosts: nothing to refuse
    let fresh = common::fresh(&valkey);
    assert!(plan(&valkey, &fresh).refused.is_empty());

    // a running Redis cluster (rampart's state, redis-server installed), now `server = "valkey"`
    let running = all_converged(&redis);
    let p = plan(&valkey, &running);
    assert_eq!(p.refused.len(), 3, "one per host: {:?}", p.refused);
    let r = &p.refused[0];
    for part in [
        "n1 runs Redis (redis-server)",
        "`[redis] server` says \"valkey\"",
        "Valkey cannot load RDB files written by Redis 7.4+/8",
        "the dataset does not move by switching the key",
        "new hosts",
        "replicate from the running cluster, or dump and restore",
    ] {
        assert!(r.contains(part), "no `{part}` in {r}");
    }

    // Redis installed by hand (no rampart state) counts too
    let mut by_hand: BTreeMap<String, HostFacts> = fresh.clone();
    by_hand
        .get_mut("n3")
        .unwrap()
        .packages
        .insert("redis-server".into(), Some("5:7.0.15-1~deb12u4".into()));
    let p = plan(&valkey, &by_hand);
    assert_eq!(p.refused.len(), 1, "{:?}", p.refused);
    assert!(p.refused[0].starts_with("redis: n3 runs Redis"));
    // a package removed (config files left) does not
    by_hand
        .get_mut("n3")
        .unwrap()
        .packages
        .insert("redis-server".into(), None);
    assert!(plan(&valkey, &by_hand).refused.is_empty());

    // and back: a Valkey cluster with `server = "redis"` (or the key dropped)
    let p = plan(&redis, &all_converged(&valkey));
    assert_eq!(p.refused.len(), 3, "{:?}", p.refused);
    assert!(p.refused[0]
        .contains("n1 runs Valkey (valkey-server), but `[redis] server` says \"redis\""));
    assert!(p.refused[0].contains("Keep `server = \"valkey\"`"));
}

#[test]
fn the_facts_and_status_probes_ask_the_stacks_server_and_see_both_packages() {
    let (stack, c) = compiled(Some("valkey"));
    let script = rampart::facts::script(&c, "n1", &[]);
    assert!(script.contains("if active valkey-server && [ -r /etc/valkey/rampart-auth ]; then printf 'X\\t'; REDISCLI_AUTH=\"$(cat /etc/valkey/rampart-auth)\" timeout 5 valkey-cli --no-auth-warning"), "{script}");
    assert!(script.contains("' redis-server valkey-server 2>/dev/null\n"));
    // the packages the probe asks for land in the facts, whichever the stack runs
    let f = rampart::facts::parse(
        "P\tredis-server\tii \t5:7.0.15-1\nP\tvalkey-server\tun \t\nEND\n",
        &["valkey-server".to_string()],
    )
    .unwrap();
    assert_eq!(
        redis::switch::running_on(&f, "n1"),
        [Server::Redis],
        "{:?}",
        f.packages
    );
    let status: String = rampart::components::ALL
        .iter()
        .map(|comp| comp.status_probe(&stack, "n1"))
        .collect();
    assert!(status.contains("cat /etc/valkey/rampart-auth 2>/dev/null)\" timeout 3 valkey-cli"));
    assert!(status.contains("timeout 3 valkey-cli -p 26379 sentinel ckquorum"));
    assert!(!status.contains("redis-cli"), "{status}");
    let alerts = rampart::alerts::rules(&stack);
    assert!(alerts.contains("no Valkey server is master"), "{alerts}");
}

/// Redis and Valkey are durable by default (AOF fsynced every second, plus
/// RDB snapshots); `[redis.settings]` turns either off, and then rampart's
/// default line is left out rather than contradicted.
#[test]
fn redis_is_durable_by_default_and_either_can_be_turned_off() {
    let conf = |settings: &str, server: Option<&str>| {
        let inv = Inventory::parse(Source::new("inv.toml", INV)).unwrap();
        let text = stack_text(server).replace(
            "[redis.settings]\nmaxmemory = \"64mb\"\n",
            &format!("[redis.settings]\nmaxmemory = \"64mb\"\n{settings}"),
        );
        let stack = Stack::parse(Source::new("stack.toml", text), &inv).unwrap();
        let m: BTreeMap<String, Secret> =
            [("redis.password".to_string(), Secret::new("pw"))].into();
        let c = compile(
            &inv,
            &stack,
            &RoleSet::load(None).unwrap(),
            &SecretValues::Values(m),
        )
        .unwrap();
        let id = c
            .resources
            .iter()
            .find(|r| {
                r.id.host == "n1" && r.id.kind == "file" && r.id.name.ends_with("/rampart.conf")
            })
            .map(|r| r.id.to_string())
            .unwrap();
        match &c.resources[c.index_of(&id).unwrap()].desired {
            rampart::compile::Desired::File { content, .. } => {
                String::from_utf8(content.clone()).unwrap()
            }
            _ => unreachable!(),
        }
    };
    for server in [None, Some("valkey")] {
        let on = conf("", server);
        assert!(
            on.contains("\nappendonly yes\nappendfsync everysec\nsave 3600 1 300 100 60 10000\n"),
            "{on}"
        );
        let off = conf("appendonly = \"no\"\nsave = \"\"\n", server);
        assert!(
            !off.contains("appendonly yes") && !off.contains("save 3600"),
            "{off}"
        );
        assert!(
            off.contains("\nappendfsync everysec\n")
                && off.contains("\nappendonly \"no\"\n")
                && off.contains("\nsave \"\"\n"),
            "{off}"
        );
    }
}
