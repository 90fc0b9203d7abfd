//! `[backup.postgres] method = "pgbackrest"` without SSH: the keys rampart
//! generates (real ssh-keygen, in a temporary folder), the files rendered on
//! the members and the repository host (insta snapshots), Patroni's archive
//! settings, and the private keys kept out of every plan output.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
use common::{compiled_with, fresh};

use rampart::compile::{Compiled, Desired};
use rampart::diag::Source;
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::plan::plan;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

const INV: &str = "[defaults]\nuser = \"root\"\nknown_hosts = \"known_hosts\"\ndebian = 13\n[hosts.db1]\naddress = \"10.0.0.1\"\n[hosts.db2]\naddress = \"10.0.0.2\"\n[hosts.db3]\naddress = \"10.0.0.3\"\n[hosts.vault]\naddress = \"10.0.0.9\"\nport = 2222\n[groups]\ndata = [\"db1\", \"db2\", \"db3\"]\n";

const STACK: &str = "[stack]\nname = \"shop\"\n[etcd]\nhosts = \"data\"\n[postgres]\nhosts = \"data\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"vault\"\nfull_schedule = \"30 3 * * SUN\"\nkeep_full = 3\n";

const KNOWN_HOSTS: &str = "10.0.0.1 ssh-ed25519 AAAAdb1\n10.0.0.2 ssh-ed25519 AAAAdb2\n10.0.0.3 ssh-ed25519 AAAAdb3\n[10.0.0.9]:2222 ssh-ed25519 AAAAvault\n10.0.0.9 ssh-ed25519 WRONG-PORT\n";

struct Setup {
    _dir: tempfile::TempDir,
    c: Compiled,
    secrets: BTreeMap<String, Secret>,
    key_dir: std::path::PathBuf,
}

fn setup(stack: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("known_hosts"), KNOWN_HOSTS).unwrap();
    let inv = Inventory::parse(Source::new("inv.toml", INV)).unwrap();
    let stack_path = dir.path().join("stack.toml");
    let stack = Stack::parse(Source::new("stack.toml", stack), &inv).unwrap();
    let (c, secrets) = compiled_with(
        &inv,
        &stack,
        &stack_path,
        &[
            ("postgres.superuser_password", "S3cr3t-super"),
            ("postgres.replication_password", "S3cr3t-repl"),
            ("backup.postgres.s3.key", "AKIA-S3-KEY-ID"),
            ("backup.postgres.s3.secret", "wJalr-S3-SECRET"),
        ],
    )
    .unwrap();
    Setup {
        key_dir: rampart::model::backup_keys::key_dir(&stack_path, "shop"),
        _dir: dir,
        c,
        secrets,
    }
}

fn file(c: &Compiled, id: &str) -> (String, u32, String, bool) {
    match &c.resources[c.index_of(id).unwrap_or_else(|| panic!("no {id}"))].desired {
        Desired::File {
            content,
            mode,
            owner,
            sensitive,
            ..
        } => (
            String::from_utf8(content.clone()).unwrap(),
            *mode,
            owner.clone(),
            *sensitive,
        ),
        _ => panic!("{id} is not a file"),
    }
}

#[test]
fn keys_are_generated_once_private_and_never_the_operators() {
    let s = setup(STACK);
    for side in ["member", "repo"] {
        let p = s.key_dir.join(format!("pgbackrest-{side}"));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{side} key mode");
        let pubkey = std::fs::read_to_string(p.with_extension("pub")).unwrap();
        assert!(
            pubkey.starts_with("ssh-ed25519 ")
                && pubkey.contains(&format!("rampart-pgbackrest-{side}@shop"))
        );
    }
    assert_eq!(
        std::fs::metadata(&s.key_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // a second load reads the same keys
    let before = std::fs::read_to_string(s.key_dir.join("pgbackrest-member")).unwrap();
    let inv = Inventory::parse(Source::new("inv.toml", INV)).unwrap();
    let stack = Stack::parse(Source::new("stack.toml", STACK), &inv).unwrap();
    let mut m = BTreeMap::new();
    let stack_path = s
        .key_dir
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("stack.toml");
    rampart::model::backup_keys::load(
        &inv,
        s.key_dir.parent().unwrap().parent().unwrap(),
        &stack,
        &stack_path,
        &mut m,
    )
    .unwrap();
    assert_eq!(m["backup.postgres.member_ssh_key"].expose(), before);
    assert!(before.contains("BEGIN OPENSSH PRIVATE KEY"));

    // each side holds its own private key, 0600, never shown; and trusts the other's public key
    let member_key = s.secrets["backup.postgres.member_ssh_key"].expose();
    let repo_key = s.secrets["backup.postgres.repo_ssh_key"].expose();
    let (k, mode, owner, sensitive) =
        file(&s.c, "db2/file/var/lib/postgresql/.ssh/rampart_pgbackrest");
    assert_eq!(
        (k.as_str(), mode, owner.as_str(), sensitive),
        (member_key, 0o600, "postgres", true)
    );
    let (k, mode, _, sensitive) = file(
        &s.c,
        "vault/file/var/lib/postgresql/.ssh/rampart_pgbackrest",
    );
    assert_eq!((k.as_str(), mode, sensitive), (repo_key, 0o600, true));
    let (ak, ..) = file(&s.c, "db1/file/var/lib/postgresql/.ssh/authorized_keys");
    assert!(
        ak.contains(&format!(
            "restrict {}",
            s.secrets["backup.postgres.repo_ssh_pub"].expose()
        )),
        "{ak}"
    );
    let (ak, ..) = file(&s.c, "vault/file/var/lib/postgresql/.ssh/authorized_keys");
    assert!(
        ak.contains(&format!(
            "restrict {}",
            s.secrets["backup.postgres.member_ssh_pub"].expose()
        )),
        "{ak}"
    );

    // no private key in the plan's text or JSON
    let p = plan(&s.c, &fresh(&s.c));
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    let json = serde_json::to_string(&p).unwrap();
    for secret in [member_key, repo_key, "S3cr3t-super"] {
        let body = secret.lines().nth(1).unwrap_or(secret);
        assert!(
            !text.contains(body) && !json.contains(body),
            "the plan shows a secret"
        );
    }
}

#[test]
fn members_and_the_repo_host_are_configured_golden() {
    let s = setup(STACK);
    let (member, mode, owner, _) = file(&s.c, "db1/file/etc/pgbackrest.conf");
    assert_eq!((mode, owner.as_str()), (0o640, "root"));
    insta::assert_snapshot!("pgbackrest_member", member);
    let (repo, ..) = file(&s.c, "vault/file/etc/pgbackrest.conf");
    insta::assert_snapshot!("pgbackrest_repo", repo);
    let (cfg, ..) = file(&s.c, "db1/file/var/lib/postgresql/.ssh/config");
    insta::assert_snapshot!("pgbackrest_member_ssh_config", cfg);
    // the host keys come from the inventory's known_hosts, for the port rampart uses
    let (kh, ..) = file(&s.c, "db1/file/var/lib/postgresql/.ssh/rampart_known_hosts");
    assert_eq!(kh.trim(), "[10.0.0.9]:2222 ssh-ed25519 AAAAvault");
    let (kh, ..) = file(
        &s.c,
        "vault/file/var/lib/postgresql/.ssh/rampart_known_hosts",
    );
    assert_eq!(
        kh.trim(),
        "10.0.0.1 ssh-ed25519 AAAAdb1\n10.0.0.2 ssh-ed25519 AAAAdb2\n10.0.0.3 ssh-ed25519 AAAAdb3"
    );
    let (timer, ..) = file(&s.c, "vault/unit/rampart-pgbackrest-full.timer");
    assert!(timer.contains("OnCalendar=Sun *-*-* 03:30:00"), "{timer}");
    let (timer, ..) = file(&s.c, "vault/unit/rampart-pgbackrest-diff.timer");
    assert!(
        timer.contains("OnCalendar=Mon..Sat *-*-* 01:00:00"),
        "{timer}"
    );
    // the timers and the stanza are the repo host's alone; no pg_dump anywhere
    for h in ["db1", "db2", "db3"] {
        assert!(s
            .c
            .index_of(&format!("{h}/unit/rampart-pgbackrest-full.timer"))
            .is_none());
        assert!(s
            .c
            .index_of(&format!("{h}/unit/rampart-pg-backup.timer"))
            .is_none());
        assert!(
            s.c.index_of(&format!("{h}/package/pgbackrest")).is_some(),
            "{h} runs pgbackrest from PostgreSQL"
        );
    }
    assert!(s
        .c
        .index_of("vault/command/pgbackrest-stanza-create")
        .is_some());
    assert!(s.c.index_of("vault/package/postgresql-17").is_none());
}

#[test]
fn patroni_archives_through_pgbackrest_and_builds_replicas_from_it() {
    let s = setup(STACK);
    let (y, ..) = file(&s.c, "db1/file/etc/patroni/config.yml");
    for want in [
        "        \"archive_mode\": \"on\"\n",
        "        \"archive_command\": \"pgbackrest --stanza=shop archive-push %p\"\n",
        "        \"archive_timeout\": \"60\"\n",
        "  recovery_conf:\n    restore_command: \"pgbackrest --stanza=shop archive-get %f \\\"%p\\\"\"\n",
        "  create_replica_methods:\n    - pgbackrest\n    - basebackup\n  pgbackrest:\n    command: \"pgbackrest --stanza=shop --delta restore\"\n    keep_data: true\n    no_params: true\n",
    ] {
        assert!(y.contains(want), "missing {want:?} in\n{y}");
    }
    // and in the dynamic configuration a running cluster is PATCHed with
    let patch =
        s.c.resources
            .iter()
            .find(|r| r.id.to_string() == "db1/command/patroni-dynamic-config")
            .unwrap();
    let text = format!("{:?}", patch.desired);
    assert!(text.contains("archive_command"), "{text}");
    // pg_dump stacks keep their files: no archiving
    let dump = setup("[stack]\nname = \"shop\"\n[etcd]\nhosts = \"data\"\n[postgres]\nhosts = \"data\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n[backup.postgres]\nschedule = \"0 2 * * *\"\nkeep_days = 7\n");
    let (y, ..) = file(&dump.c, "db1/file/etc/patroni/config.yml");
    assert!(!y.contains("archive") && !y.contains("pgbackrest"), "{y}");
    assert!(dump
        .c
        .index_of("db1/unit/rampart-pg-backup.timer")
        .is_some());
    assert!(!dump.key_dir.exists(), "no keys made for pg_dump");
}

/// The two alert rules, through promtool: no backup in `alert_hours`, and no
/// WAL segment reaching the repository for 15 minutes; quiet when both move.
#[test]
fn alerts_fire_without_a_recent_backup_or_archived_wal() {
    let inv = Inventory::parse(Source::new("inv.toml", INV)).unwrap();
    let stack = Stack::parse(
        Source::new(
            "stack.toml",
            STACK.replace("keep_full = 3\n", "keep_full = 3\nalert_hours = 1\n"),
        ),
        &inv,
    )
    .unwrap();
    let rules = rampart::alerts::rules(&stack);
    assert!(
        rules.contains(
            "node (node_exporter's textfile collector on the pgBackRest repository host)"
        ),
        "{rules}"
    );
    assert!(rules.contains("time() - (max(rampart_pgbackrest_last_backup_timestamp_seconds{job=\\\"node\\\",stanza=\\\"shop\\\"}) or vector(0)) > 3600"), "{rules}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let test = r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'rampart_pgbackrest_last_backup_timestamp_seconds{job="node", stanza="shop", type="full"}', values: '0x200'}
      - {series: 'rampart_pgbackrest_newest_wal_timestamp_seconds{job="node", stanza="shop"}', values: '0x200'}
    alert_rule_test:
      - eval_time: 2h
        alertname: ShopPgBackRestNoRecentBackup
        exp_alerts:
          - exp_labels: {severity: critical, stack: shop}
            exp_annotations: {summary: "no successful pgBackRest backup in 1 hours"}
      - eval_time: 30m
        alertname: ShopPgBackRestWalArchivingFailing
        exp_alerts:
          - exp_labels: {severity: critical, stack: shop}
            exp_annotations: {summary: "no WAL segment reached the pgBackRest repository for 15 minutes: archiving is failing, and a restore can reach no later than that"}
  - interval: 1m
    input_series:
      - {series: 'rampart_pgbackrest_last_backup_timestamp_seconds{job="node", stanza="shop", type="diff"}', values: '0+60x200'}
      - {series: 'rampart_pgbackrest_newest_wal_timestamp_seconds{job="node", stanza="shop"}', values: '0+60x200'}
    alert_rule_test:
      - eval_time: 2h
        alertname: ShopPgBackRestNoRecentBackup
        exp_alerts: []
      - eval_time: 2h
        alertname: ShopPgBackRestWalArchivingFailing
        exp_alerts: []
"#;
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    common::need_tool("promtool", "prometheus");
    for args in [
        ["check", "rules", "rules.yml"],
        ["test", "rules", "test.yml"],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const S3: &str = "[backup.postgres.s3]\nendpoint = \"minio.internal:9000\"\nbucket = \"shop-pg\"\nregion = \"us-east-1\"\nkey = { env = \"SHOP_S3_KEY\" }\nsecret = { file = \"s3-secret\" }\nuri_style = \"path\"\nverify_tls = false\n";

/// `[backup.postgres.s3]`: the repo host keeps the repository in the bucket
/// (its pgbackrest.conf, sensitive, the only file holding the key and
/// secret); the members still reach the repo host over SSH and never see the
/// credentials; the stanza's mark and the newest-WAL listing work without a
/// repository on disk; the secrets are in no plan text or JSON.
#[test]
fn s3_repository_is_rendered_on_the_repo_host_alone_and_never_shown() {
    let s = setup(&format!("{STACK}{S3}"));
    let (repo, mode, owner, sensitive) = file(&s.c, "vault/file/etc/pgbackrest.conf");
    assert_eq!((mode, owner.as_str(), sensitive), (0o640, "root", true));
    let global = repo
        .split("\n[shop]")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("repo1-"))
        .collect::<Vec<_>>();
    assert_eq!(
        global,
        [
            "repo1-type=s3",
            "repo1-path=/pgbackrest",
            "repo1-s3-endpoint=minio.internal",
            "repo1-storage-port=9000",
            "repo1-s3-bucket=shop-pg",
            "repo1-s3-region=us-east-1",
            "repo1-s3-uri-style=path",
            "repo1-s3-key=AKIA-S3-KEY-ID",
            "repo1-s3-key-secret=wJalr-S3-SECRET",
            "repo1-storage-verify-tls=n",
            "repo1-retention-full-type=count",
            "repo1-retention-full=3",
        ]
    );
    assert!(repo.contains("pg1-host=10.0.0.1\n"), "{repo}");
    // the members relay through the repo host as before, with no credential
    for h in ["db1", "db2", "db3"] {
        let (m, ..) = file(&s.c, &format!("{h}/file/etc/pgbackrest.conf"));
        assert!(m.contains("repo1-host=10.0.0.9\n"), "{m}");
        assert!(
            !m.contains("s3") && !m.contains("AKIA") && !m.contains("wJalr"),
            "{m}"
        );
    }
    // no file but the repo host's pgbackrest.conf holds a credential
    for r in &s.c.resources {
        if let rampart::compile::Desired::File { content, .. } = &r.desired {
            let text = String::from_utf8_lossy(content);
            if r.id.to_string() != "vault/file/etc/pgbackrest.conf" {
                assert!(
                    !text.contains("AKIA-S3-KEY-ID") && !text.contains("wJalr-S3-SECRET"),
                    "{} holds an S3 credential",
                    r.id
                );
            }
        }
    }
    // the stanza: created once, a mark on the repo host's disk says so
    let stanza =
        s.c.resources
            .iter()
            .find(|r| r.id.to_string() == "vault/command/pgbackrest-stanza-create")
            .unwrap();
    let text = format!("{:?}", stanza.desired);
    let mark = "/var/lib/pgbackrest/.rampart-s3-stanza-shop-";
    assert!(
        text.contains(&format!("stanza-create && touch {mark}")),
        "{text}"
    );
    // the first full backup into this bucket waits for its stanza: planned
    // while the mark is missing, checked again when it runs
    let first = format!(
        "{:?}",
        s.c.resources
            .iter()
            .find(|r| r.id.to_string() == "vault/command/pgbackrest-first-full-backup")
            .unwrap()
            .desired
    );
    assert!(
        first.contains(&format!("unless: Some(\"[ -e {mark}")),
        "{first}"
    );
    // another bucket is another mark
    let other = setup(&format!("{STACK}{}", S3.replace("shop-pg", "shop-pg2")));
    let text2 = format!(
        "{:?}",
        other
            .c
            .resources
            .iter()
            .find(|r| r.id.to_string() == "vault/command/pgbackrest-stanza-create")
            .unwrap()
            .desired
    );
    let marks = |t: &str| {
        t.split(mark)
            .nth(1)
            .map(|r| r[..12].to_string())
            .unwrap_or_default()
    };
    assert_ne!(marks(&text), marks(&text2));
    // the newest archived segment from pgBackRest's listing of the bucket
    let (metrics, ..) = file(&s.c, "vault/file/usr/local/sbin/rampart-pgbackrest-metrics");
    assert!(
        metrics.contains("pgbackrest --stanza=shop --output=json --recurse repo-ls archive/shop"),
        "{metrics}"
    );
    assert!(!metrics.contains("find "), "{metrics}");
    // never in a plan's text or JSON
    let p = plan(&s.c, &fresh(&s.c));
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    let json = serde_json::to_string(&p).unwrap();
    assert!(text.contains("vault/file/etc/pgbackrest.conf"), "{text}");
    for secret in ["AKIA-S3-KEY-ID", "wJalr-S3-SECRET"] {
        assert!(
            !text.contains(secret) && !json.contains(secret),
            "the plan shows {secret}"
        );
    }
    // the repository on disk keeps its own files, and no S3 line
    let disk = setup(STACK);
    let (repo, ..) = file(&disk.c, "vault/file/etc/pgbackrest.conf");
    assert!(
        repo.contains("repo1-path=/var/lib/pgbackrest\n") && !repo.contains("s3"),
        "{repo}"
    );
    let text = format!(
        "{:?}",
        disk.c
            .resources
            .iter()
            .find(|r| r.id.to_string() == "vault/command/pgbackrest-stanza-create")
            .unwrap()
            .desired
    );
    assert!(
        text.contains("/var/lib/pgbackrest/backup/shop/backup.info") && !text.contains("touch"),
        "{text}"
    );
}
