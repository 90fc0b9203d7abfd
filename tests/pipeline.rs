//! The pure layers end to end, without SSH: files -> compile -> facts ->
//! plan -> executor (on a recording fake transport).
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
use common::{converged, converged_guards_hold, fresh};

use rampart::compile::{compile, Compiled, Desired, SecretValues};
use rampart::diag::Source;
use rampart::exec;
use rampart::facts::{FileFact, HostFacts, ServiceFact};
use rampart::model::inventory::Inventory;
use rampart::model::stack::Stack;
use rampart::plan::{plan, Action, Op};
use rampart::roles::RoleSet;
use rampart::transport::fake::FakeHost;
use rampart::transport::Session;
use std::collections::BTreeMap;
use std::sync::Arc;

fn lab() -> (Inventory, Stack, Compiled) {
    let inv = Inventory::parse(Source::new(
        "inventory/default.toml",
        include_str!("../inventory/default.toml"),
    ))
    .unwrap();
    let stack = Stack::parse(
        Source::new(
            "tests/fixtures/etcd.toml",
            include_str!("fixtures/etcd.toml"),
        ),
        &inv,
    )
    .unwrap();
    let roles = RoleSet::load(None).unwrap();
    let c = compile(&inv, &stack, &roles, &SecretValues::Values(BTreeMap::new())).unwrap();
    (inv, stack, c)
}

fn file_content(c: &Compiled, id: &str) -> Vec<u8> {
    match &c.resources[c.index_of(id).unwrap()].desired {
        Desired::File { content, .. } => content.clone(),
        _ => panic!("{id} is not a file"),
    }
}

#[test]
fn graph_text_is_stable() {
    let (_, _, c) = lab();
    insta::assert_snapshot!("graph_lab", c.graph_text());
}

#[test]
fn etcd_config_golden() {
    let (_, _, c) = lab();
    let body = String::from_utf8(file_content(&c, "lab2/file/etc/default/etcd")).unwrap();
    insta::assert_snapshot!("etcd_env_lab2", body);
    assert!(body.contains("ETCD_NAME=\"lab2\""));
    // the bootstrap settings live apart, so a membership change restarts nobody
    assert!(!body.contains("ETCD_INITIAL_CLUSTER="));
    let initial =
        String::from_utf8(file_content(&c, "lab2/file/etc/default/etcd-initial")).unwrap();
    assert!(initial.contains("ETCD_INITIAL_CLUSTER=\"lab1=http://198.18.0.11:2380,lab2=http://198.18.0.12:2380,lab3=http://198.18.0.13:2380\""));
    assert!(initial.contains("ETCD_INITIAL_CLUSTER_STATE=\"new\""));
    let dropin =
        String::from_utf8(file_content(&c, "lab2/unit/etcd.service.d/rampart.conf")).unwrap();
    let (a, b) = (
        dropin.find("/etc/default/etcd-initial").unwrap(),
        dropin.find("/var/lib/rampart/etcd-join.env").unwrap(),
    );
    assert!(
        a < b,
        "the join file (from `member add`) is read last: {dropin}"
    );
}

#[test]
fn fresh_hosts_plan_everything_and_gates_wait() {
    let (_, _, c) = lab();
    let facts = fresh(&c);
    let p = plan(&c, &facts);
    let counts = p.counts();
    // 2 packages + 2 files + 1 drop-in per host created; the service enabled+started per host
    assert_eq!(
        (counts.add, counts.change, counts.destroy),
        (15, 3, 0),
        "{:#?}",
        p.steps
    );
    let waits: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.action == Action::Wait)
        .collect();
    assert_eq!(waits.len(), 3);
    // the package step keeps Debian's postinst from starting a throwaway etcd
    let pkg = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/package/etcd-server")
        .unwrap();
    assert!(matches!(&pkg.ops[0], Op::AptInstall { no_start: true, .. }));
    // services start without blocking (a member alone cannot reach quorum)
    let svc = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/service/etcd")
        .unwrap();
    assert!(
        svc.ops
            .iter()
            .any(|o| matches!(o, Op::Systemctl { verb, no_block: true, .. } if verb == "restart")),
        "a new config restarts (or starts) it: {:?}",
        svc.ops
    );
    // the cluster gate on lab1 waits for every member's service
    let gate = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/health/etcd-cluster")
        .unwrap();
    for h in ["lab1", "lab2", "lab3"] {
        assert!(
            gate.deps.contains(&format!("{h}/service/etcd")),
            "{:?}",
            gate.deps
        );
    }
}

#[test]
fn converged_hosts_plan_nothing() {
    let (_, _, c) = lab();
    let facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    let p = plan(&c, &facts);
    assert!(!p.has_changes(), "{:#?}", p.steps);
    assert!(
        p.steps.is_empty(),
        "no gate runs when nothing upstream changed: {:#?}",
        p.steps
    );
}

#[test]
fn changed_config_restarts_running_service_and_drift_is_flagged() {
    let (_, _, c) = lab();
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    // record what rampart applied, then edit the file by hand
    let mut state = rampart::facts::HostState::default();
    let f = facts.get_mut("lab1").unwrap();
    let file = f.files.get_mut("/etc/default/etcd").unwrap();
    state.resources.insert(
        "lab1/file/etc/default/etcd".into(),
        rampart::facts::ManagedEntry {
            kind: "file".into(),
            name: "/etc/default/etcd".into(),
            sha256: file.sha256.clone(),
            data: false,
        },
    );
    file.sha256 = Some("0".repeat(64));
    file.content = Some(b"ETCD_NAME=\"hacked\"\n".to_vec());
    f.state = Some(state);
    let p = plan(&c, &facts);
    let step = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/file/etc/default/etcd")
        .unwrap();
    assert_eq!(step.action, Action::Update);
    assert!(step.drift);
    assert!(step
        .diff
        .as_ref()
        .unwrap()
        .contains("-ETCD_NAME=\"hacked\""));
    let svc = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/service/etcd")
        .unwrap();
    assert_eq!(svc.action, Action::Restart);
    assert!(
        svc.reasons[0].contains("lab1/file/etc/default/etcd changed"),
        "{:?}",
        svc.reasons
    );
    // other hosts untouched
    assert!(!p
        .steps
        .iter()
        .any(|s| s.host == "lab2" && s.action.is_change()));
}

#[test]
fn a_managed_service_stopped_by_hand_is_drift_and_data_dirs_are_recorded() {
    let (_, _, c) = lab();
    assert_eq!(
        c.data_dirs["lab1"],
        vec!["/var/lib/etcd/e2e-etcd".to_string()]
    );
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    let f = facts.get_mut("lab1").unwrap();
    f.services.get_mut("etcd").unwrap().active = "inactive".into();
    let mut state = rampart::facts::HostState::default();
    state.resources.insert(
        "lab1/service/etcd".into(),
        rampart::facts::ManagedEntry {
            kind: "service".into(),
            name: "etcd".into(),
            sha256: None,
            data: false,
        },
    );
    f.state = Some(state);
    let p = plan(&c, &facts);
    let svc = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/service/etcd")
        .unwrap();
    assert!(svc.drift && svc.reasons[0].starts_with("start"), "{svc:?}");
    let data = &p.states["lab1"]["lab1/data/var/lib/etcd/e2e-etcd"];
    assert!(data.data && data.kind == "directory");
}

#[test]
fn owed_restart_survives_a_failed_apply() {
    let (_, _, c) = lab();
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    facts.get_mut("lab3").unwrap().pending.insert("etcd".into());
    let p = plan(&c, &facts);
    let svc = p
        .steps
        .iter()
        .find(|s| s.id == "lab3/service/etcd")
        .unwrap();
    assert_eq!(svc.action, Action::Restart);
    assert!(svc.ops.iter().any(|o| matches!(o, Op::ClearPending { .. })));
}

#[test]
fn dropped_resources_are_destroyed_services_first() {
    let (_, _, c) = lab();
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    let mut state = rampart::facts::HostState::default();
    for (id, kind, name) in [
        ("lab1/package/oldpkg", "package", "oldpkg"),
        ("lab1/file/etc/old.conf", "file", "/etc/old.conf"),
        ("lab1/service/old", "service", "old"),
    ] {
        state.resources.insert(
            id.into(),
            rampart::facts::ManagedEntry {
                kind: kind.into(),
                name: name.into(),
                sha256: None,
                data: false,
            },
        );
    }
    facts.get_mut("lab1").unwrap().state = Some(state);
    let p = plan(&c, &facts);
    let deletes: Vec<&str> = p
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        deletes,
        vec![
            "lab1/service/old",
            "lab1/file/etc/old.conf",
            "lab1/package/oldpkg"
        ]
    );
    assert_eq!(p.counts().destroy, 3);
}

/// The minimal PostgreSQL stack of issue 13 on the lab hosts: etcd and
/// Patroni, no `[[postgres.databases]]`.
const ETCD_PG: &str = "[stack]\nname = \"e2e\"\n[etcd]\nhosts = \"data\"\n[postgres]\nhosts = \"data\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n";
const HAPROXY_PG: &str = "[haproxy]\nhosts = \"edge\"\n[haproxy.listen]\npostgres_primary = 5000\n";

fn lab_stack(text: &str) -> Compiled {
    let inv = Inventory::parse(Source::new(
        "inventory/default.toml",
        include_str!("../inventory/default.toml"),
    ))
    .unwrap();
    let stack =
        Stack::parse(Source::new("stack.toml", text), &inv).unwrap_or_else(|d| panic!("{d:?}"));
    let m: BTreeMap<String, rampart::model::secret::Secret> = [
        "postgres.superuser_password",
        "postgres.replication_password",
        "postgres.databases.app.password",
        "redis.password",
    ]
    .iter()
    .map(|k| (k.to_string(), rampart::model::secret::Secret::new("pw")))
    .collect();
    compile(
        &inv,
        &stack,
        &RoleSet::load(None).unwrap(),
        &SecretValues::Values(m),
    )
    .unwrap_or_else(|d| panic!("{d:?}"))
}

#[test]
fn minimal_stacks_have_no_guard_over_an_empty_list_and_converge_to_an_empty_plan() {
    let etcd = include_str!("fixtures/etcd.toml").to_string();
    let others = [
        format!("{ETCD_PG}[pgbouncer]\nhosts = \"data\"\n"),
        format!("{ETCD_PG}[backup.postgres]\nschedule = \"0 2 * * *\"\nkeep_days = 7\n"),
        "[stack]\nname = \"e2e\"\n[haproxy]\nhosts = \"edge\"\n".to_string(),
        "[stack]\nname = \"e2e\"\n[redis]\nhosts = \"data\"\npassword = { env = \"R\" }\n[redis.sentinel]\nquorum = 2\n".to_string(),
    ];
    for text in [etcd, ETCD_PG.to_string(), format!("{ETCD_PG}{HAPROXY_PG}")]
        .into_iter()
        .chain(others)
    {
        let c = lab_stack(&text);
        for r in &c.resources {
            if let Desired::Command { run, unless, .. } = &r.desired {
                let all = format!("{run} {}", unless.as_deref().unwrap_or(""));
                assert!(
                    !all.replace(' ', "").contains("in()"),
                    "{}: an SQL list that is empty never matches: {all}",
                    r.id
                );
            }
        }
        // no databases: nothing to create, so no command whose check fails forever
        assert!(
            c.index_of("lab1/command/create-databases").is_none(),
            "{text}"
        );
        assert!(
            c.index_of("lab1/file/etc/patroni/rampart-databases.sql")
                .is_none(),
            "{text}"
        );
        let facts: BTreeMap<String, HostFacts> = c
            .hosts
            .iter()
            .map(|h| (h.clone(), converged_guards_hold(&c, h)))
            .collect();
        let p = plan(&c, &facts);
        assert!(p.steps.is_empty(), "{text}\n{:#?}", p.steps);
    }
    // with a database, the command and its SQL are there, the guard names it
    let c = lab_stack(&format!("{ETCD_PG}[[postgres.databases]]\nname = \"app\"\nowner = \"app\"\npassword = {{ env = \"C\" }}\n"));
    let r = &c.resources[c
        .index_of("lab1/command/create-databases")
        .expect("created when there are databases")];
    let Desired::Command {
        unless, on_change, ..
    } = &r.desired
    else {
        panic!()
    };
    assert!(
        unless
            .as_deref()
            .unwrap()
            .contains("datname in ('app')\")\" = 1"),
        "{unless:?}"
    );
    assert_eq!(
        on_change
            .iter()
            .map(|&i| c.resources[i].id.to_string())
            .collect::<Vec<_>>(),
        vec!["lab1/file/etc/patroni/rampart-databases.sql"]
    );
}

/// A `[roles.peek]` whose template shows `postgres.<field>`, compiled next to
/// PostgreSQL and HAProxy (TLS) with real secret values.
fn peek(field: &str, role_table: &str) -> Result<Compiled, rampart::diag::Diagnostics> {
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
        format!("{{{{postgres.{field}}}}}\n"),
    )
    .unwrap();
    let inv = Inventory::parse(Source::new(
        "inventory/default.toml",
        include_str!("../inventory/default.toml"),
    ))
    .unwrap();
    let text = format!(
        "{ETCD_PG}[services.web]\nhosts = \"app\"\ncommand = \"/usr/local/bin/web\"\nport = 8080\n{HAPROXY_PG}web = 443\n[haproxy.tls]\ncert = {{ env = \"C\" }}\nkey = {{ env = \"K\" }}\nlistens = [\"web\"]\n[roles.peek]\nhosts = \"app\"\n{role_table}"
    );
    let stack =
        Stack::parse(Source::new("stack.toml", text), &inv).unwrap_or_else(|d| panic!("{d:?}"));
    let m: BTreeMap<String, rampart::model::secret::Secret> = [
        ("postgres.superuser_password", "Sup3r-s3cret"),
        ("postgres.replication_password", "R3pl-s3cret"),
        ("haproxy.tls.cert", "CERT"),
        ("haproxy.tls.key", "K3y-s3cret"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), rampart::model::secret::Secret::new(*v)))
    .collect();
    let roles = RoleSet::load(Some(dir.path())).unwrap_or_else(|d| panic!("{d:?}"));
    compile(&inv, &stack, &roles, &SecretValues::Values(m))
}

#[test]
fn a_user_role_sees_no_secret_unless_it_names_the_view() {
    // not named: the password is not in its context, so strict mode refuses the template
    let Err(err) = peek("superuser_password", "") else {
        panic!("a user role that names no secret must not see the PostgreSQL passwords");
    };
    let err = err.to_string();
    assert!(
        err.contains("roles/peek/templates/peek.hbs")
            && err.contains("strict mode")
            && err.contains("postgres.superuser_password")
            && err.contains("`secrets = [\"postgres\"]`"),
        "{err}"
    );
    assert!(!err.contains("Sup3r-s3cret"), "{err}");
    // the rest of the view is there
    let c = peek("scope", "").unwrap();
    assert_eq!(file_content(&c, "lab1/file/etc/peek"), b"e2e\n");
    // named: it sees the PostgreSQL passwords (and its file is sensitive), and still not HAProxy's key
    let c = peek("superuser_password", "secrets = [\"postgres\"]\n").unwrap();
    assert_eq!(file_content(&c, "lab1/file/etc/peek"), b"Sup3r-s3cret\n");
    let r = &c.resources[c.index_of("lab1/file/etc/peek").unwrap()];
    assert!(matches!(
        &r.desired,
        Desired::File {
            sensitive: true,
            ..
        }
    ));
    // the built-in roles keep theirs: Patroni's config holds the password, HAProxy's PEM the key
    let patroni = String::from_utf8(file_content(&c, "lab1/file/etc/patroni/config.yml")).unwrap();
    assert!(patroni.contains("Sup3r-s3cret"));
    let pem = String::from_utf8(file_content(&c, "lab1/file/etc/haproxy/tls.pem")).unwrap();
    assert!(pem.contains("K3y-s3cret"), "{pem}");
    // a name that is no view with secrets is refused at its key, with the fix
    let Err(err) = peek("scope", "secrets = [\"postgress\"]\n") else {
        panic!("an unknown view in secrets must be refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("stack.toml:")
            && err.contains("`postgress` is no view with secrets")
            && err.contains("did you mean `postgres`?"),
        "{err}"
    );
}

#[test]
fn client_networks_reach_both_pg_hba_lists_and_a_change_reloads_patroni() {
    let before = lab_stack(ETCD_PG);
    let with = lab_stack(&ETCD_PG.replace(
        "replication_password",
        "client_networks = [\"10.20.0.0/16\", \"2001:db8::/32\"]\nreplication_password",
    ));
    let cfg = String::from_utf8(file_content(&with, "lab2/file/etc/patroni/config.yml")).unwrap();
    let (boot, live) = cfg.split_once("\npostgresql:\n").unwrap();
    for part in [boot, live] {
        let hba = &part[part
            .find("  pg_hba:\n")
            .unwrap_or_else(|| panic!("no pg_hba in {part}"))..];
        for line in [
            "    - host all all 198.18.0.11/32 scram-sha-256\n",
            "    - host all all 10.20.0.0/16 scram-sha-256\n",
            "    - host all all 2001:db8::/32 scram-sha-256\n",
        ] {
            assert!(hba.contains(line), "{line} in {hba}");
        }
    }
    let old = String::from_utf8(file_content(&before, "lab2/file/etc/patroni/config.yml")).unwrap();
    assert!(!old.contains("10.20.0.0/16"));
    // on a running cluster: config.yml changes and Patroni reloads (it rewrites pg_hba.conf), no restart
    let facts: BTreeMap<String, HostFacts> = before
        .hosts
        .iter()
        .map(|h| (h.clone(), converged_guards_hold(&before, h)))
        .collect();
    let p = plan(&with, &facts);
    for h in ["lab1", "lab2", "lab3"] {
        let f = p
            .steps
            .iter()
            .find(|s| s.id == format!("{h}/file/etc/patroni/config.yml"))
            .unwrap_or_else(|| panic!("{:#?}", p.steps));
        assert_eq!(f.action, Action::Update);
        let svc = p
            .steps
            .iter()
            .find(|s| s.id == format!("{h}/service/patroni"))
            .unwrap();
        assert!(
            svc.ops
                .iter()
                .any(|o| matches!(o, Op::Systemctl { verb, .. } if verb == "reload-or-restart")),
            "{:?}",
            svc.ops
        );
        assert!(
            !svc.ops
                .iter()
                .any(|o| matches!(o, Op::Systemctl { verb, .. } if verb == "restart")),
            "{:?}",
            svc.ops
        );
    }
}

#[tokio::test]
async fn executor_runs_in_order_skips_dependents_of_a_failure_and_finishes_the_rest() {
    let (_, _, c) = lab();
    let facts = fresh(&c);
    let p = plan(&c, &facts);
    let mut sessions: BTreeMap<String, Arc<dyn Session>> = BTreeMap::new();
    let mut fakes = BTreeMap::new();
    for h in &c.hosts {
        let f = FakeHost::new(h);
        if h == "lab2" {
            f.on("apt-get install", 100, "");
        }
        fakes.insert(h.clone(), f.clone());
        sessions.insert(h.clone(), f);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = exec::apply(&p, &c, &sessions, &BTreeMap::new(), tx).await;
    let mut events = 0;
    while rx.try_recv().is_ok() {
        events += 1;
    }
    assert!(events > 0);
    assert!(!report.ok());
    // lab2's install failed: its own later steps and every cluster gate (which waits for lab2's service) are skipped
    let l2 = &report.hosts["lab2"];
    assert_eq!(l2.failed.len(), 1, "{:?}", l2.failed);
    assert!(l2.failed[0].0 == "lab2/package/etcd-server");
    assert_eq!(l2.done, 0);
    // lab1 did its own work (packages, file, service) but its gate depends on lab2
    let l1 = &report.hosts["lab1"];
    assert_eq!(l1.done, 6, "{l1:?}");
    assert_eq!(l1.skipped, 1);
    // the file was uploaded on stdin with exactly the rendered content
    let log = fakes["lab1"].log.lock().unwrap().clone();
    let want = file_content(&c, "lab1/file/etc/default/etcd");
    let (script, stdin) = log
        .iter()
        .find(|(s, _)| s.contains("p=/etc/default/etcd"))
        .unwrap();
    // the three files went in one batch (a write group): their contents one
    // after the other, each read by its length (the writer's arguments)
    assert!(
        script.contains(&format!("/etc/default/etcd {} root root 0644", want.len())),
        "{script}"
    );
    assert!(
        stdin.windows(want.len()).any(|w| w == want.as_slice()),
        "the content is on stdin"
    );
    assert!(
        !script.contains("ETCD_INITIAL_CLUSTER"),
        "content never on the command line"
    );
    // order on lab1: packages, then file, then service; the state manifest last
    let scripts = fakes["lab1"].scripts();
    let pos = |needle: &str| {
        scripts
            .iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not run"))
    };
    assert!(pos("etcd-server") < pos("etcd-client"));
    assert!(pos("etcd-client") < pos("p=/etc/default/etcd"));
    assert!(pos("p=/etc/default/etcd") < pos("systemctl --no-block restart etcd"));
    assert!(scripts
        .last()
        .unwrap()
        .contains("/var/lib/rampart/state.json"));
}

fn example_with_secrets() -> (Compiled, Vec<&'static str>) {
    example_with_secrets_on(13)
}

/// The example stack on hosts of Debian `debian`; on 12 the stack says
/// `version = 15`, as every stack did before the release was declared.
fn example_with_secrets_on(debian: u8) -> (Compiled, Vec<&'static str>) {
    let inv_text = include_str!("../inventory/example.toml");
    assert!(inv_text.contains("\ndebian = 13 "));
    let inv = Inventory::parse(Source::new(
        "inventory/example.toml",
        inv_text.replace("\ndebian = 13 ", &format!("\ndebian = {debian} ")),
    ))
    .unwrap();
    let mut text = include_str!("../plans/example.toml").to_string();
    if debian == 12 {
        let line = text
            .lines()
            .find(|l| l.starts_with("# version = "))
            .unwrap();
        text = text.replace(line, "version = 15");
    }
    let stack = Stack::parse(Source::new("plans/example.toml", text), &inv).unwrap();
    let roles = RoleSet::load(None).unwrap();
    let values = [
        "S3cr3t-super",
        "S3cr3t-repl",
        "S3cr3t-app'db",
        "S3cr3t-redis",
        "S3cr3t-patroni-api",
    ];
    let mut m = BTreeMap::new();
    // ([tls]'s certificates are not given: their texts would differ each run;
    // tests/tls.rs covers them)
    for (k, v) in [
        "postgres.superuser_password",
        "postgres.replication_password",
        "postgres.databases.aegis.password",
        "redis.password",
        rampart::tls::view::PATRONI_API_PASSWORD,
    ]
    .iter()
    .zip(values)
    {
        m.insert(k.to_string(), rampart::model::secret::Secret::new(v));
    }
    (
        compile(&inv, &stack, &roles, &SecretValues::Values(m)).unwrap(),
        values.to_vec(),
    )
}

#[test]
fn patroni_config_golden() {
    // Debian 12 with `version = 15`: the file every Debian 12 cluster has
    // (this snapshot predates Debian 13 support; tests/release.rs has 13's)
    let (c, _) = example_with_secrets_on(12);
    let body = String::from_utf8(file_content(&c, "node1/file/etc/patroni/config.yml")).unwrap();
    insta::assert_snapshot!("patroni_node1", body);
    let sql = String::from_utf8(file_content(
        &c,
        "node1/file/etc/patroni/rampart-databases.sql",
    ))
    .unwrap();
    assert!(
        sql.contains("PASSWORD 'S3cr3t-app''db'"),
        "quotes doubled in SQL literals: {sql}"
    );
    // Debian's main cluster is switched off before postgresql-15 is installed
    let order = c.host_order("node1");
    let pos = |id: &str| {
        order
            .iter()
            .position(|&i| c.resources[i].id.to_string() == id)
            .unwrap()
    };
    assert!(
        pos("node1/file/etc/postgresql-common/createcluster.conf")
            < pos("node1/package/postgresql-15")
    );
    // Patroni waits for the whole etcd cluster
    let first_pg = &c.resources[c.index_of("node1/package/postgresql-common").unwrap()];
    assert!(first_pg
        .deps
        .iter()
        .any(|&d| c.resources[d].id.to_string() == "*/barrier/etcd"));
}

#[test]
fn secrets_never_reach_plan_text_or_json() {
    let (c, values) = example_with_secrets();
    let facts = fresh(&c);
    let p = plan(&c, &facts);
    let cfg = p
        .steps
        .iter()
        .find(|s| s.id == "node1/file/etc/patroni/config.yml")
        .unwrap();
    assert!(cfg.sensitive && cfg.diff.is_none());
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    let json = serde_json::to_string(&p).unwrap();
    for v in values {
        assert!(!text.contains(v), "plan text leaks {v}");
        assert!(!json.contains(v), "plan JSON leaks {v}");
    }
    assert!(text.contains("(sensitive"), "{text}");
}

#[test]
fn haproxy_config_golden() {
    let (c, _) = example_with_secrets();
    let body = String::from_utf8(file_content(&c, "node1/file/etc/haproxy/haproxy.cfg")).unwrap();
    insta::assert_snapshot!("haproxy_node1", body);
    assert!(body.contains("option httpchk OPTIONS /primary"));
    assert!(body.contains("server node2 10.0.1.12:5432 check port 8008"));
    let r = &c.resources[c.index_of("node1/file/etc/haproxy/haproxy.cfg").unwrap()];
    assert!(
        matches!(
            &r.desired,
            Desired::File {
                sensitive: true,
                ..
            }
        ),
        "holds the Redis password"
    );
}

#[test]
fn redis_seed_names_only_the_initial_master() {
    let (c, _) = example_with_secrets();
    let seed1 =
        String::from_utf8(file_content(&c, "node1/file/etc/redis/redis.conf.seed")).unwrap();
    let seed2 =
        String::from_utf8(file_content(&c, "node2/file/etc/redis/redis.conf.seed")).unwrap();
    assert!(
        !seed1.contains("replicaof"),
        "node1 is the initial master: {seed1}"
    );
    assert!(seed2.contains("replicaof 10.0.1.11 6379"), "{seed2}");
    // the live files are Redis' own: rampart never manages redis.conf or sentinel.conf
    assert!(c.index_of("node1/file/etc/redis/redis.conf").is_none());
    assert!(c.index_of("node1/file/etc/redis/sentinel.conf").is_none());
    let sentinel =
        String::from_utf8(file_content(&c, "node3/file/etc/redis/sentinel.conf.seed")).unwrap();
    insta::assert_snapshot!("sentinel_seed_node3", sentinel);
    assert!(!sentinel.contains("myid"), "each Sentinel makes its own id");
    let inc = String::from_utf8(file_content(&c, "node1/file/etc/redis/rampart.conf")).unwrap();
    assert!(inc.contains("requirepass \"S3cr3t-redis\""));
}

#[test]
fn qdrant_first_peer_uses_uri_others_bootstrap_and_p2p_stays_private() {
    let (c, _) = example_with_secrets();
    let first = String::from_utf8(file_content(
        &c,
        "node1/file/etc/rampart/compose/qdrant/compose.yml",
    ))
    .unwrap();
    let other = String::from_utf8(file_content(
        &c,
        "node2/file/etc/rampart/compose/qdrant/compose.yml",
    ))
    .unwrap();
    insta::assert_snapshot!("qdrant_node2", other);
    assert!(
        first.contains("\"--uri\", \"http://10.0.1.11:6335\"]"),
        "{first}"
    );
    assert!(!first.contains("--bootstrap"));
    assert!(
        other.contains("\"--bootstrap\", \"http://10.0.1.11:6335\""),
        "{other}"
    );
    assert!(
        other.contains("\"10.0.1.12:6335:6335\""),
        "p2p bound to the host's own address only"
    );
    assert!(!other.contains("- \"6335:6335\""));
}

#[test]
fn edge_and_backup_configs_golden() {
    let (c, values) = example_with_secrets();
    let ka1 = String::from_utf8(file_content(
        &c,
        "node1/file/etc/keepalived/keepalived.conf",
    ))
    .unwrap();
    let ka2 = String::from_utf8(file_content(
        &c,
        "node2/file/etc/keepalived/keepalived.conf",
    ))
    .unwrap();
    insta::assert_snapshot!("keepalived_node1", ka1);
    assert!(ka1.contains("priority 150") && ka2.contains("priority 140"));
    assert!(ka1.contains("10.0.1.100") && ka1.contains("chk_haproxy"));
    let ini =
        String::from_utf8(file_content(&c, "node3/file/etc/pgbouncer/pgbouncer.ini")).unwrap();
    insta::assert_snapshot!("pgbouncer_node3", ini);
    assert!(
        ini.contains("aegis = host=10.0.1.11 port=5000 dbname=aegis"),
        "node3 has no HAProxy: uses the first edge host's: {ini}"
    );
    let ul = &c.resources[c.index_of("node3/file/etc/pgbouncer/userlist.txt").unwrap()];
    assert!(
        matches!(&ul.desired, Desired::File { sensitive: true, mode: 0o600, owner, .. } if owner == "postgres")
    );
    assert!(
        String::from_utf8(file_content(&c, "node3/file/etc/pgbouncer/userlist.txt"))
            .unwrap()
            .contains(values[2])
    );
    let timer = String::from_utf8(file_content(&c, "node1/unit/rampart-pg-backup.timer")).unwrap();
    assert!(timer.contains("OnCalendar=*-*-* 02:00:00"), "{timer}");
    let script = String::from_utf8(file_content(
        &c,
        "node1/file/usr/local/sbin/rampart-pg-backup",
    ))
    .unwrap();
    assert!(script.contains("-mtime +7 -delete"));
}

#[test]
fn status_evaluates_probe_fixtures() {
    let inv = Inventory::parse(Source::new(
        "inventory/default.toml",
        include_str!("../inventory/default.toml"),
    ))
    .unwrap();
    let stack = Stack::parse(
        Source::new("plans/default.toml", include_str!("../plans/default.toml")),
        &inv,
    )
    .unwrap();
    let cluster = r#"{"members": [{"name": "lab1", "role": "leader", "state": "running", "timeline": 2}, {"name": "lab2", "role": "replica", "state": "streaming", "timeline": 2, "lag": 0}, {"name": "lab3", "role": "replica", "state": "stopped", "timeline": 1, "lag": "unknown"}]}"#;
    // `etcdctl member list`, as etcd's status probe sends it (base64)
    let etcd_list = rampart::util::b64_encode(
        b"a1, started, lab1, http://198.18.0.11:2380, http://198.18.0.11:2379, false\nb2, started, lab2, http://198.18.0.12:2380, http://198.18.0.12:2379, false\nc3, started, lab3, http://198.18.0.13:2380, http://198.18.0.13:2379, false\n",
    );
    let mut probes = rampart::status::Probes::new();
    for (h, role, etcd_role, vip) in [
        ("lab1", "role:master connected_slaves:2", "leader", "held"),
        (
            "lab2",
            "role:slave master_link_status:up",
            "follower",
            "backup",
        ),
    ] {
        probes.insert(h.to_string(), Ok(format!("etcd|up|{etcd_role}|{etcd_list}\ncluster|{cluster}\nredis|{role}\nsentinel|198.18.0.11|OK 3 usable Sentinels\nhaproxy|postgres_primary|lab1|UP\nhaproxy|postgres_primary|lab2|DOWN\napp|probe|200\nvip|{vip}\nEND\n")));
    }
    probes.insert("lab3".into(), Err("lab3: connection timed out".into()));
    let comps = rampart::status::evaluate(&stack, &probes);
    let get = |c: &str| comps.iter().find(|x| x.component == c).unwrap();
    assert!(!get("etcd").healthy, "lab3 is unreachable");
    assert_eq!(
        get("etcd")
            .members
            .iter()
            .filter(|m| m.role == "leader")
            .count(),
        1
    );
    assert_eq!(get("etcd").members[0].detail, "3 members");
    let pg = get("postgres");
    assert!(!pg.healthy, "lab3 is stopped");
    assert_eq!(pg.members[0].role, "leader");
    assert!(pg.members[1].healthy && !pg.members[2].healthy);
    assert_eq!(get("redis").members[0].role, "master");
    assert!(get("haproxy").healthy, "each listen has a backend up");
    assert!(get("keepalived").healthy, "exactly one VIP holder");
    let text = rampart::status::text(&comps);
    assert!(
        text.contains("postgres UNHEALTHY") && text.contains("unreachable"),
        "{text}"
    );
}

/// The rendered compose files are valid to docker-compose (the client runs
/// here; no engine is needed for `config`). .ci/run installs it.
#[test]
fn compose_files_pass_docker_compose_config() {
    let (c, _) = example_with_secrets();
    let dir = tempfile::tempdir().unwrap();
    for id in [
        "node1/file/etc/rampart/compose/qdrant/compose.yml",
        "node2/file/etc/rampart/compose/qdrant/compose.yml",
        "node1/file/etc/rampart/compose/backend/compose.yml",
    ] {
        let f = dir.path().join("compose.yml");
        std::fs::write(&f, file_content(&c, id)).unwrap();
        common::need_tool("docker-compose", "docker-compose");
        let out = std::process::Command::new("docker-compose")
            .arg("-f")
            .arg(&f)
            .args(["config", "-q"])
            .output()
            .expect("docker-compose is needed by this test: apt-get install docker-compose");
        assert!(
            out.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn restarts_of_a_running_quorum_cluster_roll_one_member_at_a_time() {
    let (_, _, c) = lab();
    // every member runs, and every member's config changed: all three must restart
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    for f in facts.values_mut() {
        let file = f.files.get_mut("/etc/default/etcd").unwrap();
        file.sha256 = Some("0".repeat(64));
        file.content = Some(b"ETCD_NAME=\"old\"\n".to_vec());
    }
    let p = plan(&c, &facts);
    let svc = |h: &str| {
        p.steps
            .iter()
            .find(|s| s.id == format!("{h}/service/etcd"))
            .unwrap()
            .clone()
    };
    let (s1, s2, s3) = (svc("lab1"), svc("lab2"), svc("lab3"));
    assert!(
        s1.reasons
            .iter()
            .any(|r| r == "rolling restart: member 1 of 3"),
        "{:?}",
        s1.reasons
    );
    assert!(
        s2.deps.contains(&"lab1/service/etcd".to_string())
            && s3.deps.contains(&"lab2/service/etcd".to_string())
    );
    assert!(
        s3.reasons
            .iter()
            .any(|r| r
                .contains("member 3 of 3, after lab2/service/etcd once the cluster is healthy")),
        "{:?}",
        s3.reasons
    );
    // the gate before going down, and a restart that returns only when the member is back
    assert!(
        matches!(&s2.ops[0], Op::Wait { check: rampart::roles::Check::Command(cmd), .. } if cmd.contains("endpoint health")),
        "{:?}",
        s2.ops
    );
    for s in [&s1, &s2, &s3] {
        assert!(
            s.ops.iter().any(
                |o| matches!(o, Op::Systemctl { verb, no_block: false, .. } if verb == "restart")
            ),
            "{:?}",
            s.ops
        );
    }
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    assert!(
        text.contains("rolling restart: member 2 of 3"),
        "plan shows the order: {text}"
    );
    // an unhealthy cluster stops the roll: lab2's gate fails, lab3 never goes down
    let mut sessions: BTreeMap<String, Arc<dyn Session>> = BTreeMap::new();
    let mut fakes = BTreeMap::new();
    for h in &c.hosts {
        let f = FakeHost::new(h);
        if h == "lab2" {
            f.on("endpoint health", 1, "");
        }
        fakes.insert(h.clone(), f.clone());
        sessions.insert(h.clone(), f);
    }
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let report = exec::apply(&p, &c, &sessions, &BTreeMap::new(), tx).await;
    assert!(!report.ok());
    assert!(
        fakes["lab1"]
            .scripts()
            .iter()
            .any(|s| s.contains("systemctl restart etcd")),
        "{:?}",
        fakes["lab1"].scripts()
    );
    assert!(
        !fakes["lab2"]
            .scripts()
            .iter()
            .any(|s| s.contains("systemctl restart etcd")),
        "lab2 waited for a healthy cluster and did not go down"
    );
    assert!(
        !fakes["lab3"]
            .scripts()
            .iter()
            .any(|s| s.contains("restart etcd")),
        "lab3 was never restarted: {:?}",
        fakes["lab3"].scripts()
    );
}

fn etcd_list(names: &[(u32, &str)]) -> Option<Vec<rampart::facts::EtcdMemberFact>> {
    Some(
        names
            .iter()
            .map(|(n, status)| rampart::facts::EtcdMemberFact {
                id: format!("id{n}"),
                status: status.to_string(),
                name: if *status == "started" {
                    format!("lab{n}")
                } else {
                    String::new()
                },
                peer_url: format!("http://198.18.0.{}:2380", 10 + n),
            })
            .collect(),
    )
}

#[test]
fn etcd_membership_changes_are_planned_from_the_running_cluster() {
    let (_, _, c) = lab();
    // grow: lab1 and lab2 run a two-member cluster; lab3 is new
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    facts.insert("lab3".into(), HostFacts::default());
    facts
        .get_mut("lab1")
        .unwrap()
        .set_etcd_members(etcd_list(&[(1, "started"), (2, "started")]));
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let pos = |id: &str| {
        p.steps.iter().position(|s| s.id == id).unwrap_or_else(|| {
            panic!(
                "no step {id}: {:#?}",
                p.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
            )
        })
    };
    let (join, start) = (pos("lab3/member/etcd-join"), pos("lab3/service/etcd"));
    assert!(
        join < start
            && p.steps[start]
                .deps
                .contains(&"lab3/member/etcd-join".to_string())
    );
    assert!(
        p.steps[join].reasons[0].contains("etcdctl member add lab3 (the cluster has 2 members)"),
        "{:?}",
        p.steps[join].reasons
    );
    assert!(p.steps[start].ops.iter().any(|o| matches!(o, Op::Systemctl { verb, no_block: false, .. } if verb == "start" || verb == "restart")), "a joiner's start returns once it joined: {:?}", p.steps[start].ops);
    assert!(
        !p.steps.iter().any(|s| s.id == "lab1/service/etcd"),
        "the running members are not restarted"
    );

    // shrink: a fourth member (lab4, no longer in the stack) is removed from lab1, before lab4's etcd stops
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    facts.get_mut("lab1").unwrap().set_etcd_members(etcd_list(&[
        (1, "started"),
        (2, "started"),
        (3, "started"),
        (4, "started"),
    ]));
    let mut lab4 = HostFacts::default();
    let entry = rampart::facts::ManagedEntry {
        kind: "service".into(),
        name: "etcd".into(),
        sha256: None,
        data: false,
    };
    lab4.state = Some(rampart::facts::HostState {
        version: 1,
        stack: c.stack.clone(),
        resources: [("lab4/service/etcd".to_string(), entry)].into(),
        hosts: vec![],
    });
    lab4.services.insert(
        "etcd".into(),
        ServiceFact {
            enabled: "enabled".into(),
            active: "active".into(),
        },
    );
    facts.insert("lab4".into(), lab4);
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let rm = p
        .steps
        .iter()
        .find(|s| s.id == "lab1/member/etcd-remove-lab4")
        .expect("a remove step on a remaining member");
    assert!(
        matches!(&rm.ops[0], Op::RunCommand { run, .. } if run.contains("member remove") && run.contains("http://198.18.0.14:2380"))
    );
    let stop = p
        .steps
        .iter()
        .find(|s| s.id == "lab4/service/etcd")
        .unwrap();
    assert_eq!(stop.action, Action::Delete);
    assert!(
        stop.deps.contains(&rm.id),
        "lab4's etcd stops only after it left: {:?}",
        stop.deps
    );

    // refused: one of three down and a change that restarts the others
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    for f in facts.values_mut() {
        let file = f.files.get_mut("/etc/default/etcd").unwrap();
        file.sha256 = Some("0".repeat(64));
        file.content = Some(b"ETCD_NAME=\"old\"\n".to_vec());
        f.set_etcd_members(etcd_list(&[(1, "started"), (2, "started"), (3, "started")]));
    }
    facts
        .get_mut("lab3")
        .unwrap()
        .services
        .get_mut("etcd")
        .unwrap()
        .active = "inactive".into();
    let p = plan(&c, &facts);
    assert_eq!(p.refused.len(), 1, "{:?}", p.refused);
    assert!(
        p.refused[0].contains("would leave 1 of 3 running")
            && p.refused[0].contains("lab3 down now"),
        "{}",
        p.refused[0]
    );
    // and with all three up the same change is a roll, not a refusal
    facts
        .get_mut("lab3")
        .unwrap()
        .services
        .get_mut("etcd")
        .unwrap()
        .active = "active".into();
    assert!(plan(&c, &facts).refused.is_empty());

    // adding and removing in one plan is refused
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&c, h)))
        .collect();
    facts.get_mut("lab1").unwrap().set_etcd_members(etcd_list(&[
        (1, "started"),
        (2, "started"),
        (4, "started"),
    ]));
    let p = plan(&c, &facts);
    assert!(
        p.refused
            .iter()
            .any(|r| r.contains("add lab3 and remove lab4")),
        "{:?}",
        p.refused
    );
}

fn redis_fact(role: &str, master: &str, up: bool) -> Option<rampart::facts::RedisFact> {
    Some(rampart::facts::RedisFact {
        role: role.into(),
        master_host: master.into(),
        link_up: up,
    })
}

#[test]
fn redis_day2_is_planned_from_the_replication_roles() {
    let (c, _) = example_with_secrets();
    let redis: Vec<String> = rampart::components::redis::cluster(&c)
        .unwrap()
        .hosts
        .iter()
        .map(|h| h.name.clone())
        .collect();
    assert_eq!(redis, ["node1", "node2", "node3"]);
    // node2 is master after a failover; rampart.conf changed on every member
    let base = || -> BTreeMap<String, HostFacts> {
        let mut facts: BTreeMap<String, HostFacts> = c
            .hosts
            .iter()
            .map(|h| (h.clone(), converged(&c, h)))
            .collect();
        for (h, role) in [("node1", "slave"), ("node2", "master"), ("node3", "slave")] {
            let f = facts.get_mut(h).unwrap();
            f.set_redis(redis_fact(
                role,
                if role == "slave" { "10.0.1.12" } else { "" },
                true,
            ));
        }
        facts
    };
    let mut facts = base();
    for h in &redis {
        facts
            .get_mut(h)
            .unwrap()
            .files
            .get_mut("/etc/redis/rampart.conf")
            .unwrap()
            .sha256 = Some("0".repeat(64));
    }
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let step = |id: &str| {
        p.steps
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"))
    };
    let m = step("node2/service/redis-server");
    assert!(m.reasons.iter().any(|r| r.contains("rolling restart: member 3 of 3, after node3/service/redis-server")), "the master restarts last: {:?}", m.reasons);
    let failover = m.ops.iter().position(|o| matches!(o, Op::RunCommand { run, .. } if run.contains("sentinel failover") && run.contains("\nme=10.0.1.12\n"))).expect("the master fails over");
    let restart = m
        .ops
        .iter()
        .position(|o| matches!(o, Op::Systemctl { verb, .. } if verb == "restart"))
        .unwrap();
    assert!(failover < restart, "{:?}", m.ops);
    for h in ["node1", "node3"] {
        assert!(
            !step(&format!("{h}/service/redis-server"))
                .ops
                .iter()
                .any(|o| matches!(o, Op::RunCommand { .. })),
            "a replica restarts without a failover"
        );
    }

    // no replica in sync: the master's restart is refused
    for h in ["node1", "node3"] {
        facts
            .get_mut(h)
            .unwrap()
            .set_redis(redis_fact("slave", "10.0.1.12", false));
    }
    let p = plan(&c, &facts);
    assert!(
        p.refused
            .iter()
            .any(|r| r.contains("node2 is the master and must fail over")
                && r.contains("no replica is in sync")),
        "{:?}",
        p.refused
    );

    // Sentinels that would restart with one of three already down: refused
    let mut facts = base();
    for h in &redis {
        facts
            .get_mut(h)
            .unwrap()
            .guards
            .insert(format!("{h}/command/seed-sentinel-conf"), false);
    }
    facts
        .get_mut("node3")
        .unwrap()
        .services
        .get_mut("redis-sentinel")
        .unwrap()
        .active = "failed".into();
    let p = plan(&c, &facts);
    assert!(
        p.refused.iter().any(|r| r
            .contains("restarting Sentinels one at a time would leave 1 of 3 running")
            && r.contains("node3 down now")),
        "{:?}",
        p.refused
    );

    // a member taken out of the stack: it fails over first, the rest reset their Sentinels one at a time
    let mut facts = base();
    let mut node4 = HostFacts::default();
    let entry = |n: &str| rampart::facts::ManagedEntry {
        kind: "service".into(),
        name: n.into(),
        sha256: None,
        data: false,
    };
    node4.state = Some(rampart::facts::HostState {
        version: 1,
        stack: c.stack.clone(),
        resources: [
            (
                "node4/service/redis-server".to_string(),
                entry("redis-server"),
            ),
            (
                "node4/service/redis-sentinel".to_string(),
                entry("redis-sentinel"),
            ),
        ]
        .into(),
        hosts: vec![],
    });
    facts.insert("node4".into(), node4);
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let step = |id: &str| {
        p.steps.iter().find(|s| s.id == id).unwrap_or_else(|| {
            panic!(
                "no step {id}: {:?}",
                p.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
            )
        })
    };
    let leave = step("node4/redis/leave");
    assert!(
        matches!(&leave.ops[0], Op::RunCommand { run, .. } if run.contains("sentinel failover"))
    );
    for s in ["node4/service/redis-server", "node4/service/redis-sentinel"] {
        assert!(
            step(s).deps.contains(&leave.id),
            "{s} stops after the failover"
        );
    }
    let resets: Vec<&rampart::plan::Step> = p
        .steps
        .iter()
        .filter(|s| s.id.ends_with("/redis/sentinel-reset"))
        .collect();
    assert_eq!(resets.len(), 3);
    assert!(
        resets[0]
            .deps
            .contains(&"node4/service/redis-server".to_string())
            && resets[0]
                .deps
                .contains(&"node4/service/redis-sentinel".to_string())
    );
    assert!(
        resets[1].deps.contains(&resets[0].id) && resets[2].deps.contains(&resets[1].id),
        "one Sentinel at a time"
    );
    assert!(
        matches!(&resets[0].ops[0], Op::RunCommand { run, .. } if run.contains("sentinel reset \"$name\"") && run.contains("= 2 ]"))
    );
    // each host's Sentinel gate (planned when its files change) waits for its reset, not the other way round
    for h in &redis {
        facts
            .get_mut(h)
            .unwrap()
            .files
            .get_mut("/etc/redis/rampart-seed.sh")
            .unwrap()
            .sha256 = Some("0".repeat(64));
    }
    let p = plan(&c, &facts);
    for h in &redis {
        let pos = |id: &str| {
            p.steps
                .iter()
                .position(|s| s.id == id)
                .unwrap_or_else(|| panic!("no step {id}"))
        };
        let (reset, gate) = (
            pos(&format!("{h}/redis/sentinel-reset")),
            pos(&format!("{h}/health/sentinel-quorum")),
        );
        assert!(
            reset < gate && p.steps[gate].deps.contains(&p.steps[reset].id),
            "{h}: the gate comes after the reset"
        );
    }
}

#[test]
fn sentinel_settings_change_at_runtime_on_each_sentinel_without_a_restart() {
    let (c, _) = example_with_secrets();
    let redis: Vec<String> = rampart::components::redis::cluster(&c)
        .unwrap()
        .hosts
        .iter()
        .map(|h| h.name.clone())
        .collect();
    // the facts script checks each Sentinel's live values against the stack's
    let script = rampart::facts::script(&c, "node1", &[]);
    assert!(
        script.contains("sentinel master mymaster")
            && script
                .contains("[ \"$(v quorum)\" = 2 ] && [ \"$(v down-after-milliseconds)\" = 5000 ]"),
        "{script}"
    );
    // every host converged: its directories there, its commands' guards passing
    let mut facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged_guards_hold(&c, h)))
        .collect();
    let p0 = plan(&c, &facts);
    assert!(
        p0.steps.is_empty(),
        "converged: nothing to do: {:?}",
        p0.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
    // the Sentinels hold other values (the stack's down_after_milliseconds changed): the seed file changes too
    for h in &redis {
        let f = facts.get_mut(h).unwrap();
        f.guards
            .insert(format!("{h}/command/sentinel-settings"), false);
        f.files
            .get_mut("/etc/redis/sentinel.conf.seed")
            .unwrap()
            .sha256 = Some("0".repeat(64));
    }
    let p = plan(&c, &facts);
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    for h in &redis {
        let s = p
            .steps
            .iter()
            .find(|s| s.id == format!("{h}/command/sentinel-settings"))
            .unwrap_or_else(|| panic!("{h}: no sentinel-settings step"));
        assert!(
            matches!(&s.ops[0], Op::RunCommand { run, .. } if run.contains("sentinel set mymaster quorum 2 down-after-milliseconds 5000 failover-timeout 60000")),
            "{:?}",
            s.ops
        );
        assert!(
            s.reasons
                .iter()
                .any(|r| r.contains("at runtime, no restart")),
            "{:?}",
            s.reasons
        );
    }
    let restarts: Vec<&str> = p.steps.iter().filter(|s| s.ops.iter().any(|o| matches!(o, Op::Systemctl { verb, .. } if verb.as_str().contains("restart") || verb == "stop"))).map(|s| s.id.as_str()).collect();
    assert!(
        restarts.is_empty(),
        "no Sentinel or Redis restarts for Sentinel settings: {restarts:?}"
    );
}

// ---- batches: a host's consecutive quick file steps share one exec ----

/// A file to write in a hand-made plan: (host, path, content, deps).
type FileSpec = (&'static str, String, Vec<u8>, Vec<String>);

fn step_id(host: &str, path: &str) -> String {
    format!("{host}/file/{}", path.trim_start_matches('/'))
}

fn owner() -> (String, String) {
    let id = |a: &str| {
        String::from_utf8(
            std::process::Command::new("id")
                .arg(a)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string()
    };
    (id("-un"), id("-gn"))
}

/// A plan writing `files` (a step each, in order), with their contents in
/// the lab's compiled stack and each host's state manifest listing them.
fn file_plan(
    files: &[FileSpec],
    extra: Vec<rampart::plan::Step>,
) -> (rampart::plan::Plan, Compiled) {
    let (_, _, mut c) = lab();
    let (o, g) = owner();
    let mut p = rampart::plan::Plan {
        format_version: 1,
        stack: c.stack.clone(),
        ..Default::default()
    };
    for (host, path, content, deps) in files {
        let sha256 = rampart::util::sha256_hex(content);
        let name = path.trim_start_matches('/').to_string();
        c.resources.push(rampart::compile::Resource {
            id: rampart::compile::ResourceId {
                host: host.to_string(),
                kind: rampart::compile::Kind::File,
                name,
            },
            component: "test".into(),
            desired: Desired::File {
                path: path.clone(),
                content: content.clone(),
                sha256: sha256.clone(),
                mode: 0o644,
                owner: o.clone(),
                group: g.clone(),
                sensitive: false,
                validate: None,
                daemon_reload: false,
                notify: vec![],
            },
            deps: vec![],
        });
        let op = Op::WriteFile {
            path: path.clone(),
            sha256: sha256.clone(),
            mode: 0o644,
            owner: o.clone(),
            group: g.clone(),
            expect: None,
            validate: None,
            daemon_reload: false,
            notify: vec![],
        };
        let id = step_id(host, path);
        assert_eq!(c.resources.last().unwrap().id.to_string(), id);
        p.steps.push(rampart::plan::Step {
            id: id.clone(),
            host: host.to_string(),
            action: Action::Create,
            reasons: vec![],
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![op],
            deps: deps.clone(),
            retires: None,
            always: false,
        });
        p.states.entry(host.to_string()).or_default().insert(
            id,
            rampart::facts::ManagedEntry {
                kind: "file".into(),
                name: path.clone(),
                sha256: Some(sha256),
                data: false,
            },
        );
    }
    p.steps.extend(extra);
    (p, c)
}

async fn apply_on(
    p: &rampart::plan::Plan,
    c: &Compiled,
    fakes: &[Arc<FakeHost>],
) -> (exec::Report, Vec<exec::Event>) {
    let sessions: BTreeMap<String, Arc<dyn Session>> = fakes
        .iter()
        .map(|f| (f.name.clone(), f.clone() as Arc<dyn Session>))
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = exec::apply(p, c, &sessions, &BTreeMap::new(), tx).await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (report, events)
}

fn ten_files(host: &'static str) -> Vec<FileSpec> {
    (0..10)
        .map(|i| {
            (
                host,
                format!("/etc/t/f{i}"),
                format!("file {i}\n").into_bytes(),
                vec![],
            )
        })
        .collect()
}

#[tokio::test]
async fn ten_file_steps_on_a_host_are_one_exec_with_the_state_manifest() {
    let files = ten_files("h1");
    let (p, c) = file_plan(&files, vec![]);
    let h1 = FakeHost::new("h1");
    let (report, events) = apply_on(&p, &c, std::slice::from_ref(&h1)).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.hosts["h1"].done, 10);
    assert_eq!(
        h1.execs(),
        1,
        "one round trip for the ten files and the state: {:#?}",
        h1.scripts()
    );
    let (script, stdin) = h1.log.lock().unwrap()[0].clone();
    for (_, path, _, _) in &files {
        assert!(script.contains(&format!("p={path}\n")), "{path}");
    }
    assert!(script.contains("/var/lib/rampart/state.json"));
    let contents: Vec<u8> = files.iter().flat_map(|f| f.2.clone()).collect();
    assert_eq!(
        &stdin[..contents.len()],
        contents.as_slice(),
        "the contents, in step order"
    );
    let state: rampart::facts::HostState =
        serde_json::from_slice(&stdin[contents.len()..]).unwrap();
    assert_eq!(state.resources.len(), 10);
    assert!(
        state.resources.values().all(|e| e.sha256.is_some()),
        "all succeeded"
    );
    // progress still names every step, in order, each started before it finished
    let mut seen = Vec::new();
    for e in &events {
        match e {
            exec::Event::Started { id, n, .. } => seen.push(format!("start {n} {id}")),
            exec::Event::Finished { id, n, outcome, .. } => {
                assert_eq!(outcome, &exec::Outcome::Ok);
                seen.push(format!("done {n} {id}"));
            }
        }
    }
    let want: Vec<String> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            [
                format!("start {} {}", i + 1, step_id("h1", &f.1)),
                format!("done {} {}", i + 1, step_id("h1", &f.1)),
            ]
        })
        .collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn a_failure_in_the_middle_of_a_batch_fails_that_step_only() {
    let mut files = ten_files("h1");
    files[7].3 = vec![step_id("h1", "/etc/t/f5")];
    let (p, c) = file_plan(&files, vec![]);
    let h1 = FakeHost::new("h1");
    h1.on("p=/etc/t/f5\n", 1, "");
    let (report, events) = apply_on(&p, &c, std::slice::from_ref(&h1)).await;
    let r = &report.hosts["h1"];
    assert_eq!(
        r.failed,
        vec![(
            step_id("h1", "/etc/t/f5"),
            "write /etc/t/f5 failed (exit 1): fake failure".to_string()
        )]
    );
    assert_eq!((r.done, r.skipped), (8, 1), "{r:?}");
    let outcome = |id: &str| {
        events
            .iter()
            .filter_map(|e| match e {
                exec::Event::Finished { id: i, outcome, .. } if i == id => Some(outcome.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    for i in [0, 1, 2, 3, 4, 6, 8, 9] {
        assert_eq!(
            outcome(&step_id("h1", &format!("/etc/t/f{i}"))),
            vec![exec::Outcome::Ok],
            "f{i}"
        );
    }
    assert!(
        matches!(outcome(&step_id("h1", "/etc/t/f7")).as_slice(), [exec::Outcome::Skipped(m)] if m.contains("depends on h1/file/etc/t/f5"))
    );
    // the batch stopped at f5; f6 then ran on its own, f7 was skipped, f8 and f9 ran with the state
    let log = h1.log.lock().unwrap().clone();
    assert_eq!(log.len(), 3, "{:#?}", h1.scripts());
    assert!(log[0].0.contains("p=/etc/t/f0\n") && log[0].0.contains("p=/etc/t/f5\n"));
    assert!(log[1].0.contains("p=/etc/t/f6\n") && !log[1].0.contains("p=/etc/t/f8\n"));
    assert!(
        !log.iter().skip(1).any(|(s, _)| s.contains("p=/etc/t/f7\n")),
        "f7 never ran after f5 failed"
    );
    assert!(log[2].0.contains("p=/etc/t/f8\n") && log[2].0.contains("p=/etc/t/f9\n"));
    // the state manifest reflects what succeeded
    let body = &log[2].1[b"file 8\nfile 9\n".len()..];
    let state: rampart::facts::HostState = serde_json::from_slice(body).unwrap();
    for (i, e) in (0..10).map(|i| (i, &state.resources[&step_id("h1", &format!("/etc/t/f{i}"))])) {
        assert_eq!(e.sha256.is_none(), i == 5 || i == 7, "f{i}: {e:?}");
    }
}

/// An `always` step (the drain's `ready`) runs once its dependency failed;
/// an ordinary one next to it is skipped.
#[tokio::test]
async fn an_always_step_runs_after_its_dependency_failed() {
    let files = vec![("h1", "/etc/t/f0".to_string(), b"f0\n".to_vec(), vec![])];
    let cmd = |name: &str, always: bool| rampart::plan::Step {
        id: format!("h1/command/{name}"),
        host: "h1".into(),
        action: Action::Run,
        reasons: vec![],
        diff: None,
        sensitive: false,
        drift: false,
        ops: vec![Op::RunCommand {
            run: format!("echo {name}-ran"),
            unless: None,
            creates: None,
        }],
        deps: vec![step_id("h1", "/etc/t/f0")],
        retires: None,
        always,
    };
    let (p, c) = file_plan(&files, vec![cmd("plain", false), cmd("cleanup", true)]);
    // a saved plan keeps the flag
    let back: rampart::plan::Plan =
        serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert!(back.steps[2].always && !back.steps[1].always);
    let h1 = FakeHost::new("h1");
    h1.on("p=/etc/t/f0\n", 1, "");
    let (report, events) = apply_on(&p, &c, std::slice::from_ref(&h1)).await;
    let outcome = |id: &str| {
        events
            .iter()
            .find_map(|e| match e {
                exec::Event::Finished { id: i, outcome, .. } if i == id => Some(outcome.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{id} never finished: {events:?}"))
    };
    assert!(matches!(
        outcome("h1/command/plain"),
        exec::Outcome::Skipped(_)
    ));
    assert_eq!(outcome("h1/command/cleanup"), exec::Outcome::Ok);
    assert!(h1.scripts().iter().any(|s| s.contains("cleanup-ran")));
    assert!(!h1.scripts().iter().any(|s| s.contains("plain-ran")));
    assert!(!report.ok());
}

/// Through the whole executor, on a local `sh`: binary and empty contents
/// arrive intact, and the state manifest after them.
#[tokio::test]
async fn binary_and_empty_contents_arrive_intact_through_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let at = |n: &str| dir.path().join(n).display().to_string();
    let binary: Vec<u8> = (0..5).flat_map(|_| 0u8..=255).collect();
    let files: Vec<FileSpec> = vec![
        ("h1", at("bin"), binary.clone(), vec![]),
        ("h1", at("empty"), vec![], vec![]),
        ("h1", at("nl"), b"\n\n".to_vec(), vec![]),
        ("h1", at("empty2"), vec![], vec![]),
        ("h1", at("tail"), b"\0".to_vec(), vec![]),
    ];
    let (p, c) = file_plan(&files, vec![]);
    let h1 = FakeHost::new("h1");
    let state_dir = dir.path().join("state").display().to_string();
    *h1.handler.lock().unwrap() = Some(Box::new(move |script: &str, stdin: &[u8]| {
        rampart::transport::fake::run_local_sh(
            &script.replace("/var/lib/rampart", &state_dir),
            stdin,
        )
    }));
    let (report, _) = apply_on(&p, &c, std::slice::from_ref(&h1)).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(h1.execs(), 1);
    for (_, path, content, _) in &files {
        assert_eq!(&std::fs::read(path).unwrap(), content, "{path}");
    }
    let state: rampart::facts::HostState =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/state.json")).unwrap())
            .unwrap();
    assert_eq!(state.resources.len(), files.len());
}

/// A step waiting on another host's step is not batched ahead of it, and a
/// step other hosts wait for ends its batch.
#[tokio::test]
async fn cross_host_dependencies_are_never_batched_over() {
    // h2: b0, b1 (waits for h1's slow command), b2
    let slow = rampart::plan::Step {
        id: "h1/command/slow".into(),
        host: "h1".into(),
        action: Action::Run,
        reasons: vec![],
        diff: None,
        sensitive: false,
        drift: false,
        ops: vec![Op::RunCommand {
            run: "echo slow-one".into(),
            unless: None,
            creates: None,
        }],
        deps: vec![],
        retires: None,
        always: false,
    };
    let files: Vec<FileSpec> = vec![
        ("h2", "/etc/t/b0".into(), b"b0".to_vec(), vec![]),
        (
            "h2",
            "/etc/t/b1".into(),
            b"b1".to_vec(),
            vec!["h1/command/slow".into()],
        ),
        ("h2", "/etc/t/b2".into(), b"b2".to_vec(), vec![]),
        // h3 waits for h4's c0; c0 and c1 are not batched together
        ("h4", "/etc/t/c0".into(), b"c0".to_vec(), vec![]),
        ("h4", "/etc/t/c1".into(), b"c1".to_vec(), vec![]),
        (
            "h3",
            "/etc/t/d0".into(),
            b"d0".to_vec(),
            vec![step_id("h4", "/etc/t/c0")],
        ),
    ];
    let (p, c) = file_plan(&files, vec![slow]);
    let fakes: Vec<Arc<FakeHost>> = ["h1", "h2", "h3", "h4"]
        .iter()
        .map(|h| FakeHost::new(h))
        .collect();
    fakes[0].slow("slow-one", std::time::Duration::from_millis(400));
    let (report, _) = apply_on(&p, &c, &fakes).await;
    assert!(report.ok(), "{report:?}");
    let (h1, h2, h4) = (&fakes[0], &fakes[1], &fakes[3]);
    let s2 = h2.scripts();
    assert!(
        s2[0].contains("p=/etc/t/b0\n") && !s2[0].contains("p=/etc/t/b1\n"),
        "b0 ran alone, not waiting for h1: {s2:#?}"
    );
    let b1 = s2.iter().position(|s| s.contains("p=/etc/t/b1\n")).unwrap();
    assert!(
        s2[b1].contains("p=/etc/t/b2\n"),
        "b1 and b2 together once h1 was done"
    );
    let slow_end = h1.times.lock().unwrap()[0].1;
    assert!(
        h2.times.lock().unwrap()[b1].0 >= slow_end,
        "b1 ran after h1's step finished"
    );
    let s4 = h4.scripts();
    assert!(
        s4[0].contains("p=/etc/t/c0\n") && !s4[0].contains("p=/etc/t/c1\n"),
        "h3 waits for c0: it ends its batch: {s4:#?}"
    );
    // a host's last quick step, even alone, takes the state manifest along
    assert_eq!(s4.len(), 2, "{s4:#?}");
    assert!(s4[1].contains("p=/etc/t/c1\n") && s4[1].contains("/var/lib/rampart/state.json"));
    let s3 = fakes[2].scripts();
    assert!(
        s3.len() == 1
            && s3[0].contains("p=/etc/t/d0\n")
            && s3[0].contains("/var/lib/rampart/state.json"),
        "{s3:#?}"
    );
}

/// The benchmark's change run (bench/compare: the group variable changes, so
/// its ten files change on every host, nothing else): one exec per host for
/// the whole apply, state manifest included (it was eleven execs and one more).
#[tokio::test]
async fn the_benchmark_change_run_is_one_exec_per_host() {
    let inv = Inventory::parse(Source::new(
        "inventory/default.toml",
        include_str!("../inventory/default.toml"),
    ))
    .unwrap();
    let compile_flavor = |flavor: &str| {
        let text = include_str!("../bench/compare/rampart/stack.toml")
            .replace("flavor = \"blue\"", &format!("flavor = \"{flavor}\""));
        let stack = Stack::parse(Source::new("stack.toml", &text), &inv).unwrap();
        let roles = RoleSet::load(Some(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bench/compare/rampart/roles"
        ))))
        .unwrap();
        compile(&inv, &stack, &roles, &SecretValues::Values(BTreeMap::new())).unwrap()
    };
    let (blue, green) = (compile_flavor("blue"), compile_flavor("green"));
    // the hosts hold the blue files; the stack now says green
    let mut facts: BTreeMap<String, HostFacts> = blue
        .hosts
        .iter()
        .map(|h| (h.clone(), converged(&blue, h)))
        .collect();
    for f in facts.values_mut() {
        f.files.insert(
            "/etc/hademo".into(),
            FileFact {
                exists: true,
                is_dir: true,
                sha256: None,
                mode: Some(0o755),
                owner: Some("root".into()),
                group: Some("root".into()),
                content: None,
            },
        );
    }
    let p = plan(&green, &facts);
    for h in &green.hosts {
        let mine: Vec<_> = p.steps.iter().filter(|s| &s.host == h).collect();
        assert_eq!(
            mine.len(),
            10,
            "{h}: {:#?}",
            mine.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
        assert!(mine
            .iter()
            .all(|s| matches!(s.ops.as_slice(), [Op::WriteFile { .. }])));
    }
    let fakes: Vec<Arc<FakeHost>> = green.hosts.iter().map(|h| FakeHost::new(h)).collect();
    let (report, _) = apply_on(&p, &green, &fakes).await;
    assert!(report.ok(), "{report:?}");
    for f in &fakes {
        assert_eq!(f.execs(), 1, "{}: {:#?}", f.name, f.scripts());
        assert!(f.scripts()[0].contains("/var/lib/rampart/state.json"));
    }
}

#[test]
fn a_qdrant_peer_holding_shards_is_not_removed_and_an_empty_one_leaves_the_raft_cluster() {
    let (c, _) = example_with_secrets();
    assert_eq!(
        rampart::components::qdrant::hosts(&c),
        ["node1", "node2", "node3"]
    );
    let qfact = |id: u64, shards: &[(u64, usize)]| {
        Some(rampart::facts::QdrantFact {
            peer_id: id,
            shards: shards.iter().copied().collect(),
        })
    };
    let with_node4 = |node4_shards: usize| -> BTreeMap<String, HostFacts> {
        let mut facts: BTreeMap<String, HostFacts> = c
            .hosts
            .iter()
            .map(|h| (h.clone(), converged(&c, h)))
            .collect();
        let all = [(1, 2), (2, 2), (3, 2), (4, node4_shards)];
        for (k, h) in ["node1", "node2", "node3"].iter().enumerate() {
            facts
                .get_mut(*h)
                .unwrap()
                .set_qdrant(qfact(k as u64 + 1, &all));
        }
        let mut node4 = HostFacts::default();
        let entry = rampart::facts::ManagedEntry {
            kind: "service".into(),
            name: "rampart-qdrant.service".into(),
            sha256: None,
            data: false,
        };
        node4.state = Some(rampart::facts::HostState {
            version: 1,
            stack: c.stack.clone(),
            resources: [("node4/service/rampart-qdrant.service".to_string(), entry)].into(),
            hosts: vec![],
        });
        node4.set_qdrant(qfact(4, &all));
        facts.insert("node4".into(), node4);
        facts
    };
    let p = plan(&c, &with_node4(3));
    assert!(
        p.refused
            .iter()
            .any(|r| r.contains("node4 (peer 4) still holds 3 shards") && r.contains("move_shard")),
        "{:?}",
        p.refused
    );

    let p = plan(&c, &with_node4(0));
    assert!(p.refused.is_empty(), "{:?}", p.refused);
    let rm = p
        .steps
        .iter()
        .find(|s| s.id == "node1/qdrant/remove-peer-node4")
        .expect("a remaining peer removes it");
    assert!(
        rm.deps
            .contains(&"node4/service/rampart-qdrant.service".to_string()),
        "after its Qdrant stops: {:?}",
        rm.deps
    );
    assert!(
        matches!(&rm.ops[0], Op::RunCommand { run, .. } if run.contains("-X DELETE 'http://127.0.0.1:6333/cluster/peer/4?force=false'"))
    );

    // a leaving peer whose Qdrant does not answer: rampart cannot tell, so it refuses
    let mut facts = with_node4(0);
    facts.get_mut("node4").unwrap().set_qdrant(None);
    assert!(plan(&c, &facts)
        .refused
        .iter()
        .any(|r| r.contains("node4 is to leave the cluster, but its Qdrant does not answer")));
}

/// apply and destroy: the lock is taken on every host before any host's facts
/// are read (so two operators never plan from the same facts), and a refusal
/// on one host reads nothing anywhere and gives back the locks it took.
#[tokio::test]
async fn the_apply_lock_is_taken_on_every_host_before_any_fact_is_read() {
    use rampart::gather::gather_locked;
    use rampart::lock::Held;
    use rampart::transport::fake::FakeConnector;
    use rampart::transport::Connector;
    const LOCK: &str = "mkdir /var/lib/rampart/lock";
    const RELEASE: &str = "rm -rf /var/lib/rampart/lock";
    let (inv, _, c) = lab();
    let hosts = c.hosts.clone();
    let fakes = |held_on: Option<&str>| {
        let mut conn = FakeConnector::default();
        for h in &hosts {
            let f = FakeHost::new(h);
            if Some(h.as_str()) == held_on {
                f.on(LOCK, 0, "HELD\n{\"who\":\"ops@elsewhere\",\"machine\":\"elsewhere\",\"pid\":4242,\"since\":1700000000,\"command\":\"apply\",\"token\":\"t\"}\n");
            } else {
                f.on(LOCK, 0, "ACQUIRED\n");
            }
            f.on("echo END", 0, "END\n");
            conn.hosts.insert(h.clone(), f);
        }
        // the last host is slow to answer the lock: a run that read a host's facts as soon as it held that host's lock would read before it
        conn.hosts[hosts.last().unwrap()].slow(LOCK, std::time::Duration::from_millis(300));
        conn
    };

    let conn = fakes(None);
    let f = conn.hosts.clone();
    let conn: Arc<dyn Connector> = Arc::new(conn);
    let mut held = Held::new("apply", false);
    let g = gather_locked(conn, &inv, std::path::Path::new("."), &c, &hosts, &mut held)
        .await
        .unwrap();
    assert!(g.failed.is_empty(), "{:?}", g.failed);
    assert_eq!(g.facts.keys().cloned().collect::<Vec<_>>(), hosts);
    assert_eq!(held.hosts(), hosts);
    let when = |h: &str, needle: &str| {
        let i = f[h]
            .scripts()
            .iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("{h}: {needle} not run"));
        f[h].times.lock().unwrap()[i]
    };
    let last_lock = hosts.iter().map(|h| when(h, LOCK).1).max().unwrap();
    let first_read = hosts.iter().map(|h| when(h, "echo END").0).min().unwrap();
    assert!(
        last_lock <= first_read,
        "a host's facts were read before every host was locked"
    );
    for h in &hosts {
        assert_eq!(f[h].execs(), 2, "{h}: one lock, one facts read");
    }
    held.release().await;
    for h in &hosts {
        let last = f[h].scripts().last().unwrap().clone();
        assert!(last.contains(RELEASE), "{h}: released at the end: {last}");
    }

    let conn = fakes(Some("lab2"));
    let f = conn.hosts.clone();
    let conn: Arc<dyn Connector> = Arc::new(conn);
    let mut held = Held::new("apply", false);
    let e = gather_locked(conn, &inv, std::path::Path::new("."), &c, &hosts, &mut held)
        .await
        .err()
        .expect("refused");
    assert!(
        e.contains("lab2: another apply or destroy holds the lock: ops@elsewhere (pid 4242"),
        "{e}"
    );
    assert!(held.hosts().is_empty());
    for h in &hosts {
        let scripts = f[h].scripts();
        assert!(
            !scripts.iter().any(|s| s.contains("echo END")),
            "{h}: no facts read when refused"
        );
        if h != "lab2" {
            assert!(
                scripts.last().unwrap().contains(RELEASE),
                "{h}: the lock taken is given back"
            );
        }
    }
}

/// The example stack with `[postgres.parameters]`, a pool mode and a
/// weekday backup schedule added, compiled with secrets.
fn example_tuned() -> Compiled {
    let inv = Inventory::parse(Source::new(
        "inventory/example.toml",
        include_str!("../inventory/example.toml"),
    ))
    .unwrap();
    let text = include_str!("../plans/example.toml").replace("schedule = \"0 2 * * *\"", "schedule = \"30 1 * * MON-FRI\"").replace("[pgbouncer]\n", "[pgbouncer]\npool_mode = \"session\"\n")
        + "\n[postgres.parameters]\n\"pg_stat_statements.max\" = 5000\napplication_name = 'a \"quoted\" # not: a comment \\ {x} [y] & *z'\njit = false\nwork_mem = \"8MB\"\n";
    let stack = Stack::parse(Source::new("plans/example.toml", text), &inv).unwrap();
    let roles = RoleSet::load(None).unwrap();
    let m = [
        "postgres.superuser_password",
        "postgres.replication_password",
        "postgres.databases.aegis.password",
        "redis.password",
    ]
    .iter()
    .map(|k| (k.to_string(), rampart::model::secret::Secret::new("s")))
    .collect();
    compile(&inv, &stack, &roles, &SecretValues::Values(m)).unwrap()
}

#[test]
fn postgres_parameters_are_yaml_strings_pool_mode_and_weekday_schedule_render_exactly() {
    let c = example_tuned();
    let body = String::from_utf8(file_content(&c, "node1/file/etc/patroni/config.yml")).unwrap();
    let tricky = "a \"quoted\" # not: a comment \\ {x} [y] & *z";
    let want = [
        ("pg_stat_statements.max", "5000"),
        ("application_name", tricky),
        ("jit", "off"),
        ("work_mem", "8MB"),
    ];
    // each parameter is one line `"name": "value"`, both JSON strings (a subset of YAML's double-quoted scalars)
    for (name, value) in want {
        let prefix = format!("        {}: ", serde_json::to_string(name).unwrap());
        let line = body
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {name}:\n{body}"));
        let parsed: String =
            serde_json::from_str(&line[prefix.len()..]).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(parsed, value, "{line}");
    }
    // and the whole document parses as YAML to the same values, where PyYAML is at hand
    let yaml = std::process::Command::new("python3")
        .args(["-c", "import json,sys,yaml; d=yaml.safe_load(sys.stdin.read()); print(json.dumps(d['bootstrap']['dcs']['postgresql']['parameters']))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut p| {
            use std::io::Write;
            p.stdin.take().unwrap().write_all(body.as_bytes())?;
            p.wait_with_output()
        });
    match yaml {
        Ok(out) if out.status.success() => {
            let got: BTreeMap<String, serde_json::Value> =
                serde_json::from_slice(&out.stdout).unwrap();
            for (name, value) in want {
                assert_eq!(
                    got.get(name),
                    Some(&serde_json::Value::String(value.into())),
                    "{name} in {got:?}"
                );
            }
            assert_eq!(
                got.get("wal_level"),
                Some(&serde_json::Value::String("replica".into()))
            );
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            eprintln!("PyYAML is not installed: checked the lines as JSON strings only")
        }
        Ok(out) => panic!(
            "the rendered config.yml is not YAML: {}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("python3 is not available ({e}): checked the lines as JSON strings only")
        }
    }
    let ini =
        String::from_utf8(file_content(&c, "node3/file/etc/pgbouncer/pgbouncer.ini")).unwrap();
    assert!(ini.lines().any(|l| l == "pool_mode = session"), "{ini}");
    let timer = String::from_utf8(file_content(&c, "node1/unit/rampart-pg-backup.timer")).unwrap();
    assert!(
        timer
            .lines()
            .any(|l| l == "OnCalendar=Mon..Fri *-*-* 01:30:00"),
        "{timer}"
    );
}
