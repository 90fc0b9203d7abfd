//! Issue "every seed's stack": the four seed stacks validate (strictly: no
//! zone risk on the example inventory) and plan against fresh hosts; TLS
//! termination, readiness routing and least-connections, migrations before
//! the rollout, zone warnings and alert rules, each checked where it is made.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
use common::fresh;

use assert_cmd::Command;
use rampart::compile::{compile, Compiled, Desired, SecretValues};
use rampart::diag::Source;
use rampart::facts::HostFacts;
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::plan::plan;
use rampart::roles::RoleSet;
use std::collections::BTreeMap;

const SEEDS: [&str; 4] = ["aegis", "aeterna", "titan", "egide"];

fn compiled(seed: &str, secrets: &[(&str, &str)]) -> Compiled {
    let inv = Inventory::parse(Source::new(
        "inventory/example.toml",
        std::fs::read_to_string("inventory/example.toml").unwrap(),
    ))
    .unwrap();
    let path = format!("plans/{seed}.toml");
    let stack = Stack::parse(
        Source::new(path.clone(), std::fs::read_to_string(&path).unwrap()),
        &inv,
    )
    .unwrap_or_else(|d| panic!("{path}: {d:?}"));
    let m: BTreeMap<String, Secret> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(*v)))
        .collect();
    compile(
        &inv,
        &stack,
        &RoleSet::load(None).unwrap(),
        &SecretValues::Values(m),
    )
    .unwrap_or_else(|d| panic!("{path}: {d:?}"))
}

fn content(c: &Compiled, id: &str) -> String {
    match &c.resources[c.index_of(id).unwrap_or_else(|| panic!("no {id}"))].desired {
        Desired::File { content, .. } => String::from_utf8(content.clone()).unwrap(),
        _ => panic!("{id} is not a file"),
    }
}

#[test]
fn every_seed_stack_validates_strictly_and_plans_on_fresh_hosts() {
    for seed in SEEDS {
        let out = Command::cargo_bin("rampart")
            .unwrap()
            .args([
                "-i",
                "inventory/example.toml",
                "-s",
                &format!("plans/{seed}.toml"),
                "validate",
                "--strict",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{seed}: {err}");
        assert!(err.trim().is_empty(), "{seed}: no warnings expected: {err}");
        let c = compiled(seed, &[]);
        let facts = fresh(&c);
        let p = plan(&c, &facts);
        assert!(
            p.steps.len() > 50,
            "{seed}: a fresh machine gets the whole stack, planned {}",
            p.steps.len()
        );
        for h in ["node1", "node2", "node3"] {
            assert!(
                p.steps.iter().any(|s| s.host == h),
                "{seed}: nothing planned on {h}"
            );
        }
    }
}

#[test]
fn tls_is_terminated_with_a_root_only_pem_and_never_shown() {
    let cert = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nMIIBsecretkey\n-----END PRIVATE KEY-----\n";
    let c = compiled(
        "egide",
        &[("haproxy.tls.cert", cert), ("haproxy.tls.key", key)],
    );
    let cfg = content(&c, "node1/file/etc/haproxy/haproxy.cfg");
    assert!(
        cfg.contains("listen egide\n    bind *:443 ssl crt /etc/haproxy/tls.pem\n"),
        "{cfg}"
    );
    assert!(
        cfg.contains("option httpchk GET /v1/sys/health\n    http-check expect status 200"),
        "{cfg}"
    );
    assert!(
        cfg.contains("listen postgres_primary\n    bind *:5000\n"),
        "TCP listeners stay plain: {cfg}"
    );
    let pem = c
        .index_of("node1/file/etc/haproxy/tls.pem")
        .expect("the PEM is written");
    match &c.resources[pem].desired {
        Desired::File {
            content,
            mode,
            owner,
            sensitive,
            ..
        } => {
            assert_eq!((*mode, owner.as_str(), *sensitive), (0o600, "root", true));
            let body = String::from_utf8(content.clone()).unwrap();
            assert!(
                body.contains("MIIBcert") && body.contains("MIIBsecretkey"),
                "chain then key: {body}"
            );
        }
        _ => unreachable!(),
    }
    // before the config that names it (haproxy -c reads it), and a change reloads haproxy
    let order = c.host_order("node1");
    let pos = |id: &str| {
        order
            .iter()
            .position(|&i| c.resources[i].id.to_string() == id)
            .unwrap()
    };
    assert!(pos("node1/file/etc/haproxy/tls.pem") < pos("node1/file/etc/haproxy/haproxy.cfg"));
    let facts = fresh(&c);
    let p = plan(&c, &facts);
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        !text.contains("MIIBsecretkey") && !json.contains("MIIBsecretkey"),
        "the key never reaches the plan"
    );
    // without [haproxy.tls] there is no PEM at all
    let plain = compiled("titan", &[]);
    assert!(plain.index_of("node1/file/etc/haproxy/tls.pem").is_none());
}

#[test]
fn readiness_routes_and_least_connections_balance() {
    let c = compiled("titan", &[]);
    let cfg = content(&c, "node1/file/etc/haproxy/haproxy.cfg");
    let titan = &cfg[cfg.find("listen titan").unwrap()..];
    assert!(titan.contains("balance leastconn"), "{titan}");
    assert!(
        titan.contains("option httpchk GET /health/ready"),
        "HAProxy routes on readiness: {titan}"
    );
    for h in ["10.0.1.11", "10.0.1.12", "10.0.1.13"] {
        assert!(titan.contains(&format!("{h}:8080 check")), "{titan}");
    }
}

#[test]
fn the_migration_runs_once_on_one_host_before_any_host_is_updated() {
    let c = compiled("titan", &[]);
    let mig: Vec<usize> = (0..c.resources.len())
        .filter(|&i| {
            c.resources[i].id.kind == "command" && c.resources[i].id.name == "titan-migrate"
        })
        .collect();
    assert_eq!(mig.len(), 1, "one migration, not one per host");
    let m = &c.resources[mig[0]];
    assert_eq!(m.id.host, "node1");
    let Desired::Command { run, creates, .. } = &m.desired else {
        panic!()
    };
    assert!(
        run.contains("export DATABASE_URL=") && run.contains("alembic upgrade head"),
        "{run}"
    );
    assert!(
        creates
            .as_deref()
            .is_some_and(|c| c.starts_with("/var/lib/rampart/migrations/titan-titan-")),
        "{creates:?}"
    );
    // every host's app resources come after it in the deploy order, but for
    // what only prepares a host (Docker's packages, the folder, the image
    // pull, the stack's CA and the host's client certificate for its clients: [tls]),
    // which every host has done before it
    let at = c.order.iter().position(|&i| i == mig[0]).unwrap();
    let ca = "/etc/rampart/tls/titan/ca.crt";
    let prepares = |r: &rampart::compile::Resource| {
        matches!(r.id.kind.as_str(), "package" | "directory")
            || (r.id.kind == "command" && r.id.name == "titan-pull")
            || (r.id.kind == "file" && r.id.name.starts_with("/etc/rampart/tls/titan/"))
    };
    // the migration verifies PostgreSQL with the CA (PGSSLROOTCERT): it is there first
    let ca_node1 = c
        .index_of(&format!("node1/file{ca}"))
        .expect("node1 gets the stack's CA");
    let ca_at = c.order.iter().position(|&o| o == ca_node1).unwrap();
    assert!(ca_at < at, "node1's CA comes after the migration");
    for (i, r) in c.resources.iter().enumerate() {
        if r.component == "services.titan" && r.id.kind == "command" && r.id.name == "titan-pull" {
            assert!(
                c.order.iter().position(|&o| o == i).unwrap() < at,
                "{} is pulled after the migration",
                r.id
            );
        }
        if r.component == "services.titan" && i != mig[0] && !prepares(r) {
            assert!(
                c.order.iter().position(|&o| o == i).unwrap() > at,
                "{} runs before the migration",
                r.id
            );
        }
    }
    // a new version is a new migration marker; the same version is the same marker
    let again = compiled("titan", &[]);
    let Desired::Command { creates: same, .. } =
        &again.resources[again.index_of("node1/command/titan-migrate").unwrap()].desired
    else {
        panic!()
    };
    assert_eq!(same, creates);
    let inv = Inventory::parse(Source::new(
        "inventory/example.toml",
        std::fs::read_to_string("inventory/example.toml").unwrap(),
    ))
    .unwrap();
    let text = std::fs::read_to_string("plans/titan.toml")
        .unwrap()
        .replace("titan-aas:3.2.0\"\nport", "titan-aas:3.3.0\"\nport");
    let stack = Stack::parse(Source::new("titan.toml", text), &inv).unwrap();
    let next = compile(
        &inv,
        &stack,
        &RoleSet::load(None).unwrap(),
        &SecretValues::Values(BTreeMap::new()),
    )
    .unwrap();
    let Desired::Command { creates: other, .. } =
        &next.resources[next.index_of("node1/command/titan-migrate").unwrap()].desired
    else {
        panic!()
    };
    assert_ne!(other, creates, "a new image runs the migration again");
}

#[test]
fn strict_validation_refuses_a_stack_that_a_zone_loss_would_break() {
    let dir = tempfile::tempdir().unwrap();
    let inv = std::fs::read_to_string("inventory/example.toml")
        .unwrap()
        .replace(
            "address = \"10.0.1.13\"\nzone = \"c\"",
            "address = \"10.0.1.13\"\nzone = \"a\"",
        );
    std::fs::write(dir.path().join("inv.toml"), inv).unwrap();
    let run = |strict: bool| {
        let mut args = vec![
            "-i".to_string(),
            dir.path().join("inv.toml").display().to_string(),
            "-s".into(),
            "plans/aeterna.toml".into(),
            "validate".into(),
        ];
        if strict {
            args.push("--strict".into());
        }
        Command::cargo_bin("rampart")
            .unwrap()
            .args(&args)
            .output()
            .unwrap()
    };
    let loose = run(false);
    let err = String::from_utf8_lossy(&loose.stderr);
    assert_eq!(loose.status.code(), Some(0), "{err}");
    assert!(
        err.contains("plans/aeterna.toml:9:")
            && err.contains(
                "losing zone a (node1, node3) leaves 1 of 3 etcd members, below the 2 needed"
            ),
        "{err}"
    );
    assert!(err.contains("of 3 Sentinels"), "{err}");
    assert!(
        err.contains("zone a holds 2 Qdrant peers and replication_factor is 2"),
        "{err}"
    );
    let strict = run(true);
    assert_eq!(strict.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("--strict makes them errors"));
}

/// `promtool` (Debian's prometheus package; .ci/run installs it) checks and
/// evaluates the generated rules against synthetic series.
fn promtool(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    common::need_tool("promtool", "prometheus");
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool is needed: apt-get install prometheus");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn alert_rules_are_valid_and_fire_on_lost_quorum_and_replication_lag() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("rampart")
        .unwrap()
        .args([
            "-i",
            "inventory/example.toml",
            "-s",
            "plans/aeterna.toml",
            "alerts",
            "--out",
        ])
        .arg(dir.path().join("rules.yml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rules = std::fs::read_to_string(dir.path().join("rules.yml")).unwrap();
    insta::assert_snapshot!("alerts_aeterna", rules);
    let (ok, text) = promtool(&["check", "rules", "rules.yml"], dir.path());
    assert!(ok, "{text}");
    let test = r#"rule_files: [rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - {series: 'up{job="etcd", instance="node1"}', values: '1x40'}
      - {series: 'up{job="etcd", instance="node2"}', values: '0x40'}
      - {series: 'up{job="etcd", instance="node3"}', values: '0x40'}
      - {series: 'patroni_primary{job="patroni", scope="aeterna", name="node1"}', values: '1x40'}
      - {series: 'patroni_primary{job="patroni", scope="aeterna", name="node2"}', values: '0x40'}
      - {series: 'patroni_xlog_location{job="patroni", scope="aeterna", name="node1"}', values: '50000000x40'}
      - {series: 'patroni_xlog_replayed_location{job="patroni", scope="aeterna", name="node2"}', values: '40000000x40'}
    alert_rule_test:
      - eval_time: 5m
        alertname: AeternaEtcdQuorumLost
        exp_alerts:
          - exp_labels: {severity: critical, stack: aeterna}
            exp_annotations: {summary: "fewer than 2 of 3 etcd members are up: no quorum, Patroni cannot elect a leader"}
      - eval_time: 5m
        alertname: AeternaPostgresReplicationLag
        exp_alerts:
          - exp_labels: {severity: warning, stack: aeterna}
            exp_annotations: {summary: "a PostgreSQL replica replays more than 1 MB behind the primary"}
      - eval_time: 5m
        alertname: AeternaPatroniNoPrimary
        exp_alerts: []
  - interval: 15s
    input_series:
      - {series: 'up{job="etcd", instance="node1"}', values: '1x40'}
      - {series: 'up{job="etcd", instance="node2"}', values: '1x40'}
      - {series: 'up{job="etcd", instance="node3"}', values: '1x40'}
    alert_rule_test:
      - eval_time: 5m
        alertname: AeternaEtcdQuorumLost
        exp_alerts: []
      - eval_time: 5m
        alertname: AeternaPatroniNoPrimary
        exp_alerts:
          - exp_labels: {severity: critical, stack: aeterna}
            exp_annotations: {summary: "no Patroni member is the primary: writes fail"}
"#;
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    let (ok, text) = promtool(&["test", "rules", "test.yml"], dir.path());
    assert!(ok, "{text}");
}

/// Aeterna's `synchronous_standby_names = "ANY 2 (standby1, standby2)"` is
/// Patroni 4's quorum commit over two standbys; Egide's PostgreSQL 16+ is
/// Debian 13's 17 (the example inventory says debian = 13).
#[test]
fn aeterna_commits_by_quorum_and_egide_runs_postgresql_17() {
    let c = compiled("aeterna", &[]);
    for h in ["node1", "node2", "node3"] {
        let cfg = content(&c, &format!("{h}/file/etc/patroni/config.yml"));
        assert!(
            cfg.contains("    synchronous_mode: true\n    synchronous_node_count: 2\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("    ttl: 20\n"),
            "Patroni 4 wants ttl >= 20: {cfg}"
        );
    }
    let patch = c
        .index_of("node1/command/patroni-dynamic-config")
        .expect("the first member patches Patroni's dynamic configuration");
    match &c.resources[patch].desired {
        Desired::Command { run, .. } => assert!(
            run.contains(r#""synchronous_mode":"quorum","synchronous_node_count":2"#),
            "{run}"
        ),
        _ => panic!("not a command"),
    }
    let c = compiled("egide", &[]);
    for h in ["node1", "node2"] {
        assert!(c.index_of(&format!("{h}/package/postgresql-17")).is_some());
        assert!(c
            .index_of(&format!("{h}/directory/var/lib/postgresql/17/patroni"))
            .is_some());
        let cfg = content(&c, &format!("{h}/file/etc/patroni/config.yml"));
        assert!(
            cfg.contains("  data_dir: \"/var/lib/postgresql/17/patroni\"\n  bin_dir: \"/usr/lib/postgresql/17/bin\"\n"),
            "{cfg}"
        );
    }
    assert!(c.index_of("node1/package/postgresql-15").is_none());
}

/// Issue 18: a private image's registry password reaches the hosts only as a
/// root-only file read by `docker login --password-stdin`: never in a
/// command line, the plan's text or its JSON (a saved plan).
#[test]
fn the_registry_password_reaches_docker_login_through_a_file_only() {
    let inv = Inventory::parse(Source::new(
        "inventory/example.toml",
        std::fs::read_to_string("inventory/example.toml").unwrap(),
    ))
    .unwrap();
    let text = std::fs::read_to_string("plans/titan.toml").unwrap().replace(
        "[services.titan]\n",
        "[services.titan]\nregistry_user = \"titan-ci\"\nregistry_password = { env = \"TITAN_REGISTRY_PASSWORD\" }\n",
    );
    let stack = Stack::parse(Source::new("titan.toml", text), &inv).unwrap();
    let secret = "s3cr3t-Registry-pw";
    let m: BTreeMap<String, Secret> = [
        ("services.titan.registry_password", secret),
        ("postgres.superuser_password", "x1"),
        ("postgres.replication_password", "x2"),
        ("postgres.databases.titan.password", "x3"),
        ("redis.password", "x4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), Secret::new(*v)))
    .collect();
    let c = compile(
        &inv,
        &stack,
        &RoleSet::load(None).unwrap(),
        &SecretValues::Values(m),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    // the drain around each host's roll reads the services' topology
    assert!(c.topology.contains_key("services"));
    let file = "node2/file/etc/rampart/compose/titan/registry-password";
    match &c.resources[c.index_of(file).expect("the password file")].desired {
        Desired::File {
            content,
            mode,
            owner,
            sensitive,
            ..
        } => {
            assert_eq!((*mode, owner.as_str(), *sensitive), (0o600, "root", true));
            assert_eq!(String::from_utf8(content.clone()).unwrap(), secret);
        }
        _ => unreachable!(),
    }
    let login = &c.resources[c.index_of("node2/command/titan-login").expect("a login")];
    let Desired::Command { run, .. } = &login.desired else {
        panic!()
    };
    assert!(
        run.trim_start().starts_with(
            "docker login --username titan-ci --password-stdin ghcr.io < /etc/rampart/compose/titan/registry-password"
        ),
        "{run}"
    );
    assert!(
        run.contains(
            "refused the login of services.titan: check registry_user and registry_password"
        ),
        "a refused login names the service and the keys: {run}"
    );
    // logged in before the pull
    let order = c.host_order("node2");
    let pos = |id: &str| {
        order
            .iter()
            .position(|&i| c.resources[i].id.to_string() == id)
            .unwrap()
    };
    assert!(pos("node2/command/titan-login") < pos("node2/command/titan-pull"));
    let facts = fresh(&c);
    let p = plan(&c, &facts);
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    let json = serde_json::to_string(&p).unwrap();
    assert!(text.contains("titan-login"), "{text}");
    assert!(
        !text.contains(secret) && !json.contains(secret),
        "the registry password never reaches the plan"
    );
}

/// Issue 18: a compose service's first install (no host has it yet) goes
/// on all hosts at once, each after every host's pull; once any host runs
/// it, a change rolls one host at a time.
#[test]
fn a_first_install_of_a_compose_service_goes_on_all_hosts_at_once() {
    use rampart::facts::FileFact;
    let c = compiled("aeterna", &[]);
    let compose = |h: &str| format!("{h}/file/etc/rampart/compose/memory/compose.yml");
    let upstream = |facts: &BTreeMap<String, HostFacts>, of: &str| {
        let p = plan(&c, facts);
        let by_id: BTreeMap<&str, &Vec<String>> =
            p.steps.iter().map(|s| (s.id.as_str(), &s.deps)).collect();
        assert!(by_id.contains_key(of), "{of} is in the plan");
        let mut seen = std::collections::BTreeSet::new();
        let mut todo = vec![of.to_string()];
        while let Some(id) = todo.pop() {
            for d in by_id.get(id.as_str()).into_iter().flat_map(|d| d.iter()) {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let fresh = common::fresh(&c);
    let up = upstream(&fresh, &compose("node3"));
    assert!(
        !up.contains(&compose("node1")) && !up.contains(&compose("node2")),
        "a first install waits for no other host's rollout: {up:?}"
    );
    for h in ["node1", "node2", "node3"] {
        assert!(
            up.contains(&format!("{h}/command/memory-pull")),
            "every host's pull comes first: {up:?}"
        );
    }
    // one host already runs it: the roll is one host at a time again
    let mut one = fresh.clone();
    one.get_mut("node1").unwrap().files.insert(
        "/etc/rampart/compose/memory/compose.yml".into(),
        FileFact {
            exists: true,
            sha256: Some("0".repeat(64)),
            mode: Some(0o640),
            owner: Some("root".into()),
            group: Some("root".into()),
            ..Default::default()
        },
    );
    let up = upstream(&one, &compose("node3"));
    assert!(
        up.contains(&compose("node2")) && up.contains(&compose("node1")),
        "with a host running it, node3 waits for node1 and node2: {up:?}"
    );
}

/// What e2e_seeds leaves out of its TLS check of each seed's hosts (README,
/// "TLS", plaintext on purpose): sshd, HAProxy's stats page, the app
/// services' own ports and HAProxy's listeners of them; never a
/// PostgreSQL, Redis or etcd port.
#[test]
fn the_plaintext_on_purpose_ports_are_the_app_tiers_only() {
    let ports = |seed: &str| {
        let mut p = common::tls::plain_ports(
            &std::fs::read_to_string(format!("plans/{seed}.toml")).unwrap(),
        );
        p.sort();
        p
    };
    assert_eq!(ports("aegis"), [22, 3000, 7000, 8000, 8080, 8081, 8181]);
    assert_eq!(
        ports("egide"),
        [22, 443, 7000, 8200],
        "443: [haproxy.tls], the operator's certificate"
    );
    assert_eq!(
        ports("default"),
        [22, 7000, 8001, 8080],
        "the lab stack's, as e2e_stack has them"
    );
    for seed in SEEDS {
        for p in ports(seed) {
            assert!(
                ![2379, 2380, 8008, 5432, 6432, 5000, 5001, 6379, 26379, 6380].contains(&p),
                "{seed}: {p}"
            );
        }
    }
}
