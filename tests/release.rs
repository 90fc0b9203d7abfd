//! Debian 12 and 13 side by side, without SSH: the release each host
//! declares reaches its templates, the plan refuses a host that runs
//! another one, Debian 13 gets Patroni 4's settings (ttl 20, quorum commit)
//! and PostgreSQL 17, and Patroni's dynamic settings go through PATCH /config
//! with a guard that holds on a converged cluster.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rampart::compile::{compile, Compiled, Desired, SecretValues};
use rampart::diag::Source;
use rampart::facts::{HostFacts, OsRelease};
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::plan::plan;
use rampart::roles::RoleSet;
use std::collections::BTreeMap;

/// Three hosts, no `debian` anywhere (the default, 13) unless `extra` says.
fn inventory(defaults: &str, node1: &str) -> String {
    format!("[defaults]\nuser = \"root\"\n{defaults}\n[hosts.node1]\naddress = \"10.0.1.11\"\n{node1}\n[hosts.node2]\naddress = \"10.0.1.12\"\n[hosts.node3]\naddress = \"10.0.1.13\"\n[groups]\ndata = [\"node1\", \"node2\", \"node3\"]\n")
}

const PG: &str = "[stack]\nname = \"s\"\n[etcd]\nhosts = \"data\"\n[postgres]\nhosts = \"data\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n";

fn build(inv: &str, stack: &str) -> Compiled {
    let inv = Inventory::parse(Source::new("inventory/x.toml", inv)).unwrap();
    let stack =
        Stack::parse(Source::new("stack.toml", stack), &inv).unwrap_or_else(|d| panic!("{d}"));
    // every secret "pw", the Patroni API's too under [tls] (the loader makes
    // that one; the certificates' texts are left out: they differ each run)
    let mut m: BTreeMap<String, Secret> = stack
        .secret_refs()
        .into_iter()
        .map(|(k, _)| (k.clone(), Secret::new("pw")))
        .collect();
    m.insert(
        rampart::tls::view::PATRONI_API_PASSWORD.into(),
        Secret::new("pw"),
    );
    compile(
        &inv,
        &stack,
        &RoleSet::load(None).unwrap(),
        &SecretValues::Values(m),
    )
    .unwrap_or_else(|d| panic!("{d}"))
}

fn content(c: &Compiled, id: &str) -> String {
    match &c.resources[c.index_of(id).unwrap_or_else(|| panic!("no {id}"))].desired {
        Desired::File { content, .. } => String::from_utf8(content.clone()).unwrap(),
        _ => panic!("{id} is not a file"),
    }
}

fn os(pretty: &str, id: &str, version_id: &str, codename: &str) -> OsRelease {
    OsRelease::parse(&format!("PRETTY_NAME=\"{pretty}\"\nID={id}\nVERSION_ID=\"{version_id}\"\nVERSION_CODENAME={codename}\n"))
}

fn bookworm() -> OsRelease {
    os("Debian GNU/Linux 12 (bookworm)", "debian", "12", "bookworm")
}
fn trixie() -> OsRelease {
    os("Debian GNU/Linux 13 (trixie)", "debian", "13", "trixie")
}

fn fresh(c: &Compiled, runs: &[(&str, Option<OsRelease>)]) -> BTreeMap<String, HostFacts> {
    c.hosts
        .iter()
        .map(|h| {
            let os = runs
                .iter()
                .find(|(n, _)| n == h)
                .map_or(Some(trixie()), |(_, o)| o.clone());
            (
                h.clone(),
                HostFacts {
                    os,
                    ..HostFacts::default()
                },
            )
        })
        .collect()
}

#[test]
fn a_host_on_another_release_than_the_inventory_says_is_refused_by_name() {
    // no `debian` written: 13, the default
    let c = build(&inventory("", ""), PG);
    let ubuntu = os("Ubuntu 24.04.1 LTS", "ubuntu", "24.04", "noble");
    let bullseye = os("Debian GNU/Linux 11 (bullseye)", "debian", "11", "bullseye");
    let p = plan(
        &c,
        &fresh(
            &c,
            &[("node1", Some(bookworm())), ("node3", Some(ubuntu.clone()))],
        ),
    );
    assert_eq!(
        p.refused,
        [
            "node1 runs Debian 12 (bookworm), but the inventory says debian = 13 (the default) for it: write debian = 12 in [hosts.node1] (or [defaults]) of inventory/x.toml",
            "node3 runs Ubuntu 24.04.1 LTS, but the inventory says debian = 13 (the default) for it, and rampart manages Debian 12 (bookworm) and 13 (trixie) hosts only: reinstall node3 with one of them and write its debian = N in [hosts.node3] of inventory/x.toml, or take it out of the stack",
        ]
    );
    // every host on the declared release: nothing refused
    let p = plan(&c, &fresh(&c, &[]));
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    // a release not read (facts without /etc/os-release's line) is not judged
    let p = plan(&c, &fresh(&c, &[("node1", None)]));
    assert!(p.refused.is_empty(), "{:?}", p.refused);

    // from [defaults], and from the host's own table
    let c = build(
        &inventory("debian = 12", "debian = 13"),
        PG.replace(
            "hosts = \"data\"\nsuper",
            "hosts = [\"node2\", \"node3\"]\nsuper",
        )
        .as_str(),
    );
    let p = plan(
        &c,
        &fresh(
            &c,
            &[
                ("node1", Some(bookworm())),
                ("node2", Some(trixie())),
                ("node3", Some(bullseye)),
            ],
        ),
    );
    assert_eq!(
        p.refused,
        [
            "node1 runs Debian 12 (bookworm), but the inventory says debian = 13 for it: write debian = 12 in [hosts.node1] of inventory/x.toml",
            "node2 runs Debian 13 (trixie), but the inventory says debian = 12 (from [defaults]) for it: write debian = 13 in [hosts.node2] (or [defaults]) of inventory/x.toml",
            "node3 runs Debian 11 (bullseye), but the inventory says debian = 12 (from [defaults]) for it, and rampart manages Debian 12 (bookworm) and 13 (trixie) hosts only: reinstall node3 with one of them and write its debian = N in [hosts.node3] of inventory/x.toml, or take it out of the stack",
        ]
    );
}

#[test]
fn templates_see_the_hosts_release() {
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("peek");
    std::fs::create_dir_all(role.join("templates")).unwrap();
    std::fs::write(
        role.join("role.toml"),
        "[[resources]]\nkind = \"file\"\npath = \"/etc/peek\"\ntemplate = \"peek.hbs\"\n",
    )
    .unwrap();
    std::fs::write(
        role.join("templates/peek.hbs"),
        "{{host.debian}} {{host.codename}}\n",
    )
    .unwrap();
    let inv = Inventory::parse(Source::new(
        "inv.toml",
        inventory("debian = 12", "debian = 13"),
    ))
    .unwrap();
    let stack = Stack::parse(
        Source::new(
            "stack.toml",
            "[stack]\nname = \"s\"\n[roles.peek]\nhosts = \"data\"\n",
        ),
        &inv,
    )
    .unwrap();
    let roles = RoleSet::load(Some(dir.path())).unwrap();
    let c = compile(&inv, &stack, &roles, &SecretValues::Placeholder).unwrap();
    assert_eq!(content(&c, "node1/file/etc/peek"), "13 trixie\n");
    assert_eq!(content(&c, "node2/file/etc/peek"), "12 bookworm\n");
}

#[test]
fn debian_13_gets_postgresql_17_patroni_4_settings_and_the_etcd_client() {
    let inv = include_str!("../inventory/example.toml");
    let c = build(inv, include_str!("../plans/example.toml"));
    let body = content(&c, "node1/file/etc/patroni/config.yml");
    insta::assert_snapshot!("patroni_node1_trixie", body);
    // Patroni 4 refuses a ttl below 20
    assert!(body.contains("    ttl: 20\n    loop_wait: 3\n    retry_timeout: 5\n"));
    assert!(body.contains("data_dir: \"/var/lib/postgresql/17/patroni\""));
    assert!(body.contains("bin_dir: \"/usr/lib/postgresql/17/bin\""));
    let order: Vec<String> = c
        .host_order("node1")
        .iter()
        .map(|&i| c.resources[i].id.to_string())
        .collect();
    let pos = |id: &str| {
        order
            .iter()
            .position(|x| x == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    // Debian 13's patroni does not pull in python3-etcd: installed before it
    assert!(pos("node1/package/python3-etcd") < pos("node1/package/patroni"));
    assert!(
        pos("node1/file/etc/postgresql-common/createcluster.conf")
            < pos("node1/package/postgresql-17")
    );
    assert!(pos("node1/directory/var/lib/postgresql/17/patroni") > 0);
    assert!(c.index_of("node1/package/postgresql-15").is_none());
}

/// The `unless` of the first member's `patroni-dynamic-config`, run by
/// python3 against a GET /config answer (curl replaced by `echo`).
fn guard_holds(c: &Compiled, host: &str, config: &str) -> bool {
    let id = format!("{host}/command/patroni-dynamic-config");
    let Desired::Command {
        unless: Some(unless),
        ..
    } = &c.resources[c.index_of(&id).unwrap_or_else(|| panic!("no {id}"))].desired
    else {
        panic!("{id} has no guard");
    };
    let curl = "curl -sf --max-time 5 --retry 3 --retry-connrefused --retry-delay 1 http://127.0.0.1:8008/config";
    assert!(unless.starts_with(curl), "{unless}");
    let script = unless.replacen(curl, "printf '%s' \"$CONFIG\"", 1);
    std::process::Command::new("sh")
        .args(["-c", &script])
        .env("CONFIG", config)
        .status()
        .unwrap()
        .success()
}

fn run_of(c: &Compiled, id: &str) -> (String, String) {
    match &c.resources[c.index_of(id).unwrap_or_else(|| panic!("no {id}"))].desired {
        Desired::Command { run, describe, .. } => {
            (run.clone(), describe.clone().unwrap_or_default())
        }
        _ => panic!("{id} is not a command"),
    }
}

#[test]
fn quorum_commit_is_written_and_patched_and_the_guard_holds_once_converged() {
    let stack = format!("{PG}synchronous_mode = \"quorum\"\nsynchronous_node_count = 2\n[postgres.parameters]\nwork_mem = \"8MB\"\n");
    let c = build(&inventory("", ""), &stack);
    let body = content(&c, "node2/file/etc/patroni/config.yml");
    assert!(
        body.contains("    synchronous_mode: true\n    synchronous_node_count: 2\n"),
        "{body}"
    );
    let (run, describe) = run_of(&c, "node1/command/patroni-dynamic-config");
    assert!(run.contains(r#"{"postgresql":{"parameters":{"work_mem":"8MB"}},"synchronous_mode":"quorum","synchronous_node_count":2}"#), "{run}");
    assert!(
        describe.ends_with(": synchronous_mode=quorum, synchronous_node_count=2, work_mem=8MB"),
        "{describe}"
    );
    // only the first member patches
    assert!(c.index_of("node2/command/patroni-dynamic-config").is_none());
    // what Patroni 4's GET /config answers once converged, and before
    let converged = r#"{"ttl": 20, "loop_wait": 3, "synchronous_mode": "quorum", "synchronous_node_count": 2, "postgresql": {"parameters": {"work_mem": "8MB", "wal_level": "replica"}}}"#;
    assert!(guard_holds(&c, "node1", converged));
    for before in [
        r#"{"ttl": 20, "synchronous_mode": true, "synchronous_node_count": 2, "postgresql": {"parameters": {"work_mem": "8MB"}}}"#,
        r#"{"ttl": 20, "synchronous_mode": "quorum", "synchronous_node_count": 1, "postgresql": {"parameters": {"work_mem": "8MB"}}}"#,
        r#"{"ttl": 20, "synchronous_mode": false, "postgresql": {"parameters": {"work_mem": "8MB"}}}"#,
        r#"{"ttl": 20, "synchronous_mode": "quorum", "synchronous_node_count": 2, "postgresql": {"parameters": {"work_mem": "4MB"}}}"#,
    ] {
        assert!(!guard_holds(&c, "node1", before), "{before}");
    }
    // "on" and "off" are aliases of true and false
    let on = build(
        &inventory("", ""),
        &format!("{PG}synchronous_mode = \"on\"\n"),
    );
    assert!(content(&on, "node1/file/etc/patroni/config.yml")
        .contains("    synchronous_mode: true\n    synchronous_node_count: 1\n"));
}

/// A Debian 12 stack with no parameters and `synchronous_mode = false` gets
/// the PATCH step in its graph, but its guard holds against what Patroni 3
/// answers for the cluster bootstrapped with those settings: its plan stays
/// quiet. Switching mode or count later is planned.
#[test]
fn a_converged_debian_12_cluster_without_parameters_plans_no_patch() {
    let c = build(
        &inventory("debian = 12", ""),
        &format!("{PG}version = 15\nsynchronous_mode = false\n"),
    );
    let body = content(&c, "node1/file/etc/patroni/config.yml");
    assert!(body.contains("    ttl: 15\n"), "{body}");
    assert!(body.contains("    synchronous_mode: false\n    synchronous_node_count: 1\n"));
    assert!(c.index_of("node1/package/postgresql-15").is_some());
    let patroni3 = r#"{"ttl": 15, "loop_wait": 3, "retry_timeout": 5, "maximum_lag_on_failover": 1048576, "synchronous_mode": false, "synchronous_node_count": 1, "postgresql": {"use_pg_rewind": true, "use_slots": true, "parameters": {"wal_level": "replica", "hot_standby": "on"}}}"#;
    assert!(guard_holds(&c, "node1", patroni3));
    // a DCS without the two keys holds their defaults (false, 1)
    assert!(guard_holds(&c, "node1", r#"{"ttl": 15}"#));
    let (run, _) = run_of(&c, "node1/command/patroni-dynamic-config");
    assert!(run.contains(r#"'{"postgresql":{"parameters":{}},"synchronous_mode":false,"synchronous_node_count":1}'"#), "{run}");
    // turning synchronous replication on is a change Patroni 3 is asked for
    let on = build(
        &inventory("debian = 12", ""),
        &format!("{PG}synchronous_mode = true\n"),
    );
    assert!(!guard_holds(&on, "node1", patroni3));
}

/// Patroni's `--validate-config` also reports its own ports as taken on every
/// running member; the file's check lets exactly that finding through while
/// Patroni runs, in Patroni 3's words and in Patroni 4's, and nothing else.
#[test]
fn the_patroni_config_check_accepts_only_the_port_in_use_finding_of_either_patroni() {
    let c = build(&inventory("", ""), PG);
    let i = c.index_of("node1/file/etc/patroni/config.yml").unwrap();
    let Desired::File {
        validate: Some(check),
        ..
    } = &c.resources[i].desired
    else {
        panic!("the Patroni config has a check");
    };
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path();
    let tool = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    tool("systemctl", "exit 0"); // Patroni runs
    let verdict = |findings: &str| {
        tool("patroni", &format!("printf '%s\\n' {findings}; exit 1"));
        std::process::Command::new("sh")
            .args(["-c", check])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("RAMPART_FILE", "/nonexistent")
            .output()
            .unwrap()
            .status
            .success()
    };
    let p3 = "\"restapi.listen 0.0.0.0:8008 didn't pass validation: 'Port 8008 is already in use.'\" \"postgresql.listen 0.0.0.0:5432 didn't pass validation: 'Port 5432 is already in use.'\"";
    let p4 = "\"restapi.listen 0.0.0.0:8008 didn't pass validation: Port 8008 is already in use.\" \"postgresql.listen 0.0.0.0:5432 didn't pass validation: Port 5432 is already in use.\"";
    assert!(verdict(p3), "Patroni 3's port finding passes");
    assert!(verdict(p4), "Patroni 4's port finding passes");
    assert!(
        !verdict(&format!(
            "{p4} \"bootstrap.dcs.ttl 15 didn't pass validation: Wrong value\""
        )),
        "any other finding fails the check"
    );
    tool("systemctl", "exit 3"); // Patroni stopped: a taken port is a real problem
    assert!(!verdict(p4), "with Patroni stopped the port finding fails");
}
