//! Issue 17 inside the reference stack's lab run: the running stack switched
//! from pg_dump to pgBackRest (a repository on lab4, WAL archived through
//! Patroni's configuration, a first full backup), a full backup and the
//! archive lag under a writer measured, refused restores that stop nothing,
//! then the real point-in-time recovery: rows, the time T, more rows and a
//! DELETE, `rampart restore --to T`: exactly the rows at T, every member
//! streaming, the next plan empty, writes through HAProxy.

use super::{leader, until_ok, PATRONI, PG};
use crate::common::*;
use std::time::{Duration, Instant};

pub struct Measured {
    pub switch_secs: f64,
    pub full_backup_secs: f64,
    pub restore_secs: f64,
    pub lag: String,
    /// From the leader's Patroni stopped to a segment switched on the new leader in the repository.
    pub failover_secs: f64,
    /// `apply` re-adding a member with an empty data directory (built from the repository).
    pub rebuild_secs: f64,
    /// `restore --discard-old` removing the set-aside data directories.
    pub discard_secs: f64,
    /// The repository in S3-compatible storage (moto's server), or why it did not run.
    pub s3: String,
}

const REPO: &str = "lab4";
const MEMBERS: [&str; 3] = ["lab1", "lab2", "lab3"];

/// The inventory (the test's, with lab4) and the lab stack with pgBackRest, in `dir`.
fn files(dir: &std::path::Path, inventory: Option<&str>) -> (String, String) {
    let inv = match inventory {
        Some(p) => p.to_string(),
        None => {
            let text = std::fs::read_to_string(format!("{ROOT}/inventory/default.toml")).unwrap();
            let text = text.replacen(
                "\n[groups]",
                "\n[hosts.lab4]\naddress = \"198.18.0.14\"\nzone = \"a\"\n\n[groups]",
                1,
            );
            let p = dir.join("pitr-inventory.toml");
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        }
    };
    let stack = std::fs::read_to_string(format!("{ROOT}/plans/default.toml")).unwrap();
    let (head, _) = stack.split_once("[backup.postgres]").unwrap();
    let stack =
        format!("{head}[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"{REPO}\"\n");
    std::fs::create_dir_all(dir.join("lab-secrets")).unwrap();
    for f in ["pg_superuser", "pg_replication", "app_db", "redis"] {
        std::fs::copy(
            format!("{ROOT}/plans/lab-secrets/{f}"),
            dir.join("lab-secrets").join(f),
        )
        .unwrap();
    }
    let p = dir.join("pitr-stack.toml");
    std::fs::write(&p, stack).unwrap();
    // the same stack: its CA, certificates and REST API password, kept beside the stack file
    let tls = dir.join(".rampart/lab/tls");
    std::fs::create_dir_all(&tls).unwrap();
    for e in std::fs::read_dir(format!("{ROOT}/plans/.rampart/lab/tls")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tls.join(e.file_name())).unwrap();
    }
    (inv, p.display().to_string())
}

fn patroni_active_everywhere() -> bool {
    MEMBERS
        .iter()
        .all(|h| ssh(h, "systemctl is-active -q patroni").code == 0)
}

pub fn run(dir: &std::path::Path, inventory: Option<&str>) -> Measured {
    let (inv, stack) = files(dir, inventory);
    let r = |args: &[&str]| {
        let mut a = vec!["-i", inv.as_str(), "-s", stack.as_str()];
        a.extend_from_slice(args);
        rampart(&a)
    };

    // the running stack switches to pgBackRest: archive_mode needs the rolling restart the same apply makes
    let t = Instant::now();
    let a = r(&["apply", "--auto-approve"]);
    let switch_secs = t.elapsed().as_secs_f64();
    assert_eq!(a.code, 0, "switching to pgBackRest failed:\n{}", a.all());
    let p = r(&["plan", "--detailed-exitcode"]);
    assert_eq!(p.code, 0, "plan after the switch not empty:\n{}", p.all());
    // the private keys rampart made: 0600 on the hosts, never in its output
    let key_dir = dir.join(".rampart/lab");
    for side in ["member", "repo"] {
        let key = std::fs::read_to_string(key_dir.join(format!("pgbackrest-{side}"))).unwrap();
        let body = key.lines().nth(1).unwrap().to_string();
        assert!(
            !a.all().contains(&body) && !p.all().contains(&body),
            "{side} key shown"
        );
    }
    for h in ["lab1", REPO] {
        assert_eq!(
            ssh_ok(
                h,
                "stat -c '%a %U' /var/lib/postgresql/.ssh/rampart_pgbackrest"
            )
            .trim(),
            "600 postgres"
        );
    }
    // the apply took a first full backup, and archiving works
    ssh_ok(REPO, "runuser -u postgres -- pgbackrest --stanza=lab check");
    let info = ssh_ok(
        REPO,
        "runuser -u postgres -- pgbackrest --stanza=lab --output=json info",
    );
    assert!(
        info.contains("\"type\":\"full\""),
        "no full backup after apply: {info}"
    );
    let l = leader("lab1");
    assert_eq!(
        ssh_ok(
            &l,
            "runuser -u postgres -- psql -X -tAc 'show archive_mode'"
        )
        .trim(),
        "on"
    );

    // what the alert rules read, written on the repo host every minute
    ssh_ok(REPO, "systemctl start rampart-pgbackrest-metrics.service");
    let prom = ssh_ok(
        REPO,
        "cat /var/lib/prometheus/node-exporter/rampart_pgbackrest.prom",
    );
    let now = ssh_ok(REPO, "date +%s").trim().parse::<i64>().unwrap();
    for metric in [
        "rampart_pgbackrest_last_backup_timestamp_seconds{stanza=\"lab\",type=\"full\"} ",
        "rampart_pgbackrest_newest_wal_timestamp_seconds{stanza=\"lab\"} ",
    ] {
        let at: i64 = prom
            .lines()
            .find_map(|l| l.strip_prefix(metric))
            .unwrap_or_else(|| panic!("no {metric} in\n{prom}"))
            .trim()
            .parse()
            .unwrap();
        assert!(now - at < 900, "{metric}{at} is old (now {now})");
    }
    backup_status_healthy(&r);

    // a full backup through the timer's service, timed
    let t = Instant::now();
    ssh_ok(REPO, "systemctl start rampart-pgbackrest-full.service");
    let full_backup_secs = t.elapsed().as_secs_f64();
    let n_full = |info: &str| info.matches("\"type\":\"full\"").count();
    let info2 = ssh_ok(
        REPO,
        "runuser -u postgres -- pgbackrest --stanza=lab --output=json info",
    );
    assert_eq!(n_full(&info2), n_full(&info) + 1, "{info2}");

    // the archive under a writer (20 s of 1 MB inserts on the leader): sampled every 4 s
    let samples = ssh_ok(&l, "cd / && runuser -u postgres -- psql -X -q -d app -c 'create table if not exists pitr_load(pad text)'; (end=$(($(date +%s)+20)); while [ $(date +%s) -lt $end ]; do runuser -u postgres -- psql -X -q -d app -c \"insert into pitr_load select repeat('x',500) from generate_series(1,2000)\"; done) >/dev/null 2>&1 & for s in 1 2 3 4 5; do sleep 4; runuser -u postgres -- psql -X -tA -d app -c \"select (select count(*) from pg_ls_archive_statusdir() where name like '%.ready'), round(extract(epoch from now()-last_archived_time)::numeric,1), failed_count from pg_stat_archiver\"; done; wait");
    let rows: Vec<Vec<f64>> = samples
        .lines()
        .map(|l| {
            l.split('|')
                .map(|x| x.trim().parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 5, "{samples}");
    let max_ready = rows.iter().map(|r| r[0]).fold(0.0, f64::max);
    let max_age = rows.iter().map(|r| r[1]).fold(0.0, f64::max);
    assert!(
        max_ready < 16.0 && rows.iter().all(|r| r[2] == rows[0][2]),
        "archiving fell behind or failed under a writer:\n{samples}"
    );
    let lag =
        format!("at most {max_ready} segments waiting, last archived at most {max_age} s before");

    // a failover: the new leader archives, and the old one, its data
    // directory lost, is rebuilt from the repository when `apply` adds it back
    let (failover_secs, rebuild_secs) = failover_and_rebuild(&r, &l);
    let l = leader("lab1");

    // write rows, note T, then more rows and a DELETE of the first ones (through HAProxy)
    let via = |sql: &str| ssh_ok("lab3", &format!("{PG} -h 198.18.0.11 -p 5000 -c \"{sql}\""));
    via("create table pitr(id int primary key, at timestamptz default now()); insert into pitr(id) select generate_series(1,100)");
    std::thread::sleep(Duration::from_millis(1500));
    let at = ssh_ok(&l, "date -u '+%Y-%m-%d %H:%M:%S+00'")
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(1500));
    via("insert into pitr(id) select generate_series(101,150); delete from pitr where id <= 100");
    assert_eq!(via("select count(*) from pitr").trim(), "50");
    ssh_ok(
        &l,
        "runuser -u postgres -- psql -X -tAc 'select pg_switch_wal()'",
    );
    until_ok(
        &l,
        &format!("test \"$(runuser -u postgres -- psql -X -tAc \"select last_archived_time > '{at}'::timestamptz from pg_stat_archiver\")\" = t"),
        Duration::from_secs(60),
    );

    // refused, naming the reason, with nothing stopped
    for (args, why) in [
        (vec!["--to", "2099-01-01 00:00:00+00"], "is in the future"),
        (
            vec!["--to", "2000-01-01 00:00:00+00"],
            "is before the oldest backup the repository holds",
        ),
        (
            vec!["--backup", "20000101-000000F"],
            "there is no backup `20000101-000000F` in the repository; it holds: ",
        ),
        (
            vec!["--to", "2026-11-30 14:04:00"],
            "the time zone is missing",
        ),
    ] {
        let mut a = vec!["restore", "--auto-approve"];
        a.extend(args.iter().copied());
        let x = r(&a);
        assert_eq!(x.code, 1, "{args:?}: {}", x.all());
        assert!(
            x.stderr.contains(why) && x.stderr.contains("Nothing was stopped"),
            "{args:?}: {}",
            x.all()
        );
    }
    // an unreachable repo host: refused before anything is stopped
    let c = rampart(&["lab", "cut", REPO]);
    assert_eq!(c.code, 0, "{}", c.all());
    let x = r(&["restore", "--auto-approve", "--to", &at]);
    let h = rampart(&["lab", "heal", REPO]);
    assert_eq!(h.code, 0, "{}", h.all());
    assert_eq!(x.code, 1, "{}", x.all());
    assert!(
        x.stderr.contains(REPO)
            && (x.stderr.contains("cannot reach every host") || x.stderr.contains("refusing")),
        "{}",
        x.all()
    );
    assert!(
        patroni_active_everywhere(),
        "a refused restore stopped Patroni"
    );
    assert_eq!(leader("lab1"), l, "a refused restore changed the leader");

    // the point-in-time recovery
    let t = Instant::now();
    let x = r(&["restore", "--auto-approve", "--to", &at]);
    let restore_secs = t.elapsed().as_secs_f64();
    assert_eq!(x.code, 0, "restore --to {at} failed:\n{}", x.all());
    assert!(
        x.stdout.contains(&format!("to {at} (from backup ")),
        "{}",
        x.stdout
    );
    // exactly the rows at T, through HAProxy; writes work there
    assert_eq!(
        until_rows(&via_cmd()),
        "100|1|100",
        "the restored table holds the rows at {at}"
    );
    via("insert into pitr(id) values (1000)");
    // every member streaming on one new timeline
    let cluster = ssh_ok("lab1", &format!("{PATRONI}/cluster"));
    let v: serde_json::Value = serde_json::from_str(&cluster).unwrap();
    let m = v["members"].as_array().unwrap();
    assert_eq!(
        m.iter().filter(|x| x["role"] == "leader").count(),
        1,
        "{cluster}"
    );
    assert_eq!(
        m.iter().filter(|x| x["state"] == "streaming").count(),
        2,
        "{cluster}"
    );
    // the old data directories are kept aside
    for h in MEMBERS {
        assert_eq!(
            ssh_ok(
                h,
                "ls -d /var/lib/postgresql/*/patroni.before-restore-* | wc -l"
            )
            .trim(),
            "1",
            "{h}"
        );
    }
    // the restored cluster archives on its new timeline; the next plan is empty
    ssh_ok(REPO, "runuser -u postgres -- pgbackrest --stanza=lab check");
    let p = r(&["plan", "--detailed-exitcode"]);
    assert_eq!(p.code, 0, "plan after the restore not empty:\n{}", p.all());
    backup_status_healthy(&r);

    // the set-aside data directories go only when asked: --discard-old names them, then removes them
    let t = Instant::now();
    let x = r(&["restore", "--discard-old", "--auto-approve"]);
    let discard_secs = t.elapsed().as_secs_f64();
    assert_eq!(x.code, 0, "restore --discard-old failed:\n{}", x.all());
    for h in MEMBERS {
        assert!(
            x.stdout.contains(&format!("{h}/restore/discard-old")),
            "{}",
            x.stdout
        );
        assert_eq!(
            ssh_ok(h, "ls -d /var/lib/postgresql/*/patroni* | wc -l").trim(),
            "1",
            "{h}: the set-aside directory is gone, the live one stays"
        );
    }
    assert_eq!(via("select count(*) from pitr").trim(), "101");
    // nothing kept aside any more: refused, with the reason
    let x = r(&["restore", "--discard-old", "--auto-approve"]);
    assert_eq!(x.code, 1, "{}", x.all());
    assert!(
        x.stderr.contains("no data directory is kept aside"),
        "{}",
        x.all()
    );
    let s3 = s3_repository(dir, &inv, &stack);
    Measured {
        switch_secs,
        full_backup_secs,
        restore_secs,
        lag,
        failover_secs,
        rebuild_secs,
        discard_secs,
        s3,
    }
}

/// The S3-compatible server run on the lab bridge for the S3 check: moto's
/// behind a TLS proxy (`tests/e2e_stack/s3_server.py`), run by the Python
/// that RAMPART_E2E_S3_PYTHON names (one with `pip install 'moto[server]'`).
struct S3Server(std::process::Child);

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const S3_KEY: &str = "lab-only-s3-key-id";
const S3_SECRET: &str = "lab-only-s3-secret-key";

/// The repository moved to S3-compatible storage, when RAMPART_E2E_S3_PYTHON
/// names a Python with moto: it serves HTTPS (a self-signed certificate,
/// hence `verify_tls = false`) on the lab bridge; the apply creates the
/// stanza in the bucket and takes a first full backup there, the members
/// archive through the repo host into it, `pgbackrest check` passes, the
/// objects are in the bucket, the next plan is empty, status is healthy, and
/// the key and secret appear nowhere rampart writes. Returns what it
/// measured, or why it did not run.
fn s3_repository(dir: &std::path::Path, inv: &str, stack: &str) -> String {
    let Some(python) = std::env::var_os("RAMPART_E2E_S3_PYTHON") else {
        eprintln!(
            "S3 check skipped: set RAMPART_E2E_S3_PYTHON to a Python with moto[server] to run it"
        );
        return "not run (RAMPART_E2E_S3_PYTHON unset)".into();
    };
    let endpoint = "198.18.0.1:9000";
    let (cert, key) = (dir.join("s3-cert.pem"), dir.join("s3-key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=s3.lab",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let child = std::process::Command::new(&python)
        .arg(format!("{ROOT}/tests/e2e_stack/s3_server.py"))
        .args(["198.18.0.1", "9000"])
        .arg(&cert)
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python:?}: {e}"));
    let _server = S3Server(child);
    let curl = |args: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("curl -sk --max-time 5 {args}"))
            .output()
            .unwrap()
    };
    let t = Instant::now();
    while !curl(&format!(
        "-X PUT -o /dev/null -f https://{endpoint}/lab-backups"
    ))
    .status
    .success()
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the S3 server did not answer on {endpoint}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::fs::write(dir.join("lab-secrets/s3_key"), S3_KEY).unwrap();
    std::fs::write(dir.join("lab-secrets/s3_secret"), S3_SECRET).unwrap();
    let text = std::fs::read_to_string(stack).unwrap()
        + &format!("[backup.postgres.s3]\nendpoint = \"{endpoint}\"\nbucket = \"lab-backups\"\nregion = \"us-east-1\"\nkey = {{ file = \"lab-secrets/s3_key\" }}\nsecret = {{ file = \"lab-secrets/s3_secret\" }}\nuri_style = \"path\"\nverify_tls = false\n");
    let s3_stack = dir.join("pitr-s3-stack.toml").display().to_string();
    std::fs::write(&s3_stack, text).unwrap();
    let r = |args: &[&str]| {
        let mut a = vec!["-i", inv, "-s", s3_stack.as_str()];
        a.extend_from_slice(args);
        rampart(&a)
    };
    let saved = dir.join("s3-plan.json");
    let p = r(&["plan", "--out", saved.to_str().unwrap()]);
    assert_eq!(p.code, 0, "{}", p.all());
    let t = Instant::now();
    let a = r(&["apply", "--auto-approve"]);
    let apply_secs = t.elapsed().as_secs_f64();
    assert_eq!(
        a.code,
        0,
        "switching the repository to S3 failed:\n{}",
        a.all()
    );
    let json = r(&["plan", "--json"]);
    for (what, text) in [
        ("plan", p.all()),
        ("saved plan", std::fs::read_to_string(&saved).unwrap()),
        ("apply", a.all()),
        ("plan --json", json.all()),
    ] {
        for secret in [S3_KEY, S3_SECRET] {
            assert!(!text.contains(secret), "{secret} shown by {what}");
        }
    }
    // the repo host's configuration says S3; the backup is in the bucket
    let conf = ssh_ok(
        REPO,
        "grep -E '^repo1-(type|s3-bucket)=' /etc/pgbackrest.conf",
    );
    assert_eq!(
        conf.trim(),
        "repo1-type=s3\nrepo1-s3-bucket=lab-backups",
        "{conf}"
    );
    ssh_ok(REPO, "runuser -u postgres -- pgbackrest --stanza=lab check");
    let info = ssh_ok(
        REPO,
        "runuser -u postgres -- pgbackrest --stanza=lab --output=json info",
    );
    assert!(
        info.contains("\"type\":\"full\""),
        "no full backup in S3: {info}"
    );
    let t = Instant::now();
    ssh_ok(REPO, "systemctl start rampart-pgbackrest-full.service");
    let full_secs = t.elapsed().as_secs_f64();
    // (one listing per prefix: a listing holds at most 1000 keys)
    for want in [
        "pgbackrest/archive/lab/",
        "pgbackrest/backup/lab/backup.info",
    ] {
        let objects = curl(&format!(
            "'https://{endpoint}/lab-backups?list-type=2&max-keys=5&prefix={want}'"
        ));
        let listing = String::from_utf8_lossy(&objects.stdout);
        assert!(
            listing.contains(&format!("<Key>{want}")),
            "no {want} in the bucket:\n{listing}"
        );
    }
    let p = r(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        p.code,
        0,
        "plan after the switch to S3 not empty:\n{}",
        p.all()
    );
    backup_status_healthy(&r);
    // the newest archived segment, read from pgBackRest's listing of the bucket
    let st = r(&["status"]);
    assert!(st.stdout.contains("newest archived WAL 0"), "{}", st.stdout);
    ssh_ok(REPO, "systemctl start rampart-pgbackrest-metrics.service");
    let prom = ssh_ok(
        REPO,
        "cat /var/lib/prometheus/node-exporter/rampart_pgbackrest.prom",
    );
    assert!(
        prom.contains("rampart_pgbackrest_newest_wal_timestamp_seconds{stanza=\"lab\"} "),
        "{prom}"
    );
    format!("apply switching the repository to S3 (stanza, first full backup) {apply_secs:.1}s, a full backup into S3 {full_secs:.1}s")
}

/// The PostgreSQL timeline of a WAL segment's name (its first 8 hex digits).
fn timeline(segment: &str) -> u64 {
    u64::from_str_radix(segment.get(..8).unwrap_or("0"), 16).unwrap_or(0)
}

/// Stops Patroni on the leader `old`: another member takes over, and a WAL
/// segment switched on it after the failover reaches the repository on a new
/// timeline; `pgbackrest check` passes. Then `old`'s data directory is
/// removed and `apply` adds it back: Patroni builds it from the repository
/// (`create_replica_methods`, pgBackRest first), and its log says so.
/// Returns (failover to archived segment, apply rebuilding `old`) in seconds.
fn failover_and_rebuild(r: &dyn Fn(&[&str]) -> Run, old: &str) -> (f64, f64) {
    let other = MEMBERS.iter().find(|h| **h != old).unwrap();
    let wal = |h: &str, sql: &str| {
        ssh_ok(
            h,
            &format!("runuser -u postgres -- psql -X -tA -d app -c \"{sql}\""),
        )
        .trim()
        .to_string()
    };
    let before = timeline(&wal(old, "select pg_walfile_name(pg_current_wal_lsn())"));
    let t = Instant::now();
    ssh_ok(old, "systemctl stop patroni");
    until_ok(other, &format!("{PATRONI}/cluster | python3 -c 'import json,sys; m=json.load(sys.stdin)[\"members\"]; sys.exit(0 if any(x[\"role\"]==\"leader\" and x[\"name\"]!=\"{old}\" and x[\"state\"]==\"running\" for x in m) else 1)'"), Duration::from_secs(120));
    let new = leader(other);
    assert_ne!(new, old);
    // Patroni names the leader before PostgreSQL's promotion is complete
    until_ok(
        &new,
        "test \"$(runuser -u postgres -- psql -X -tAc 'select pg_is_in_recovery()')\" = f",
        Duration::from_secs(60),
    );
    // a write, then its segment switched on the new leader: it reaches the repository
    wal(&new, "create table if not exists after_failover(at timestamptz default now()); insert into after_failover default values");
    let seg = wal(&new, "select pg_walfile_name(pg_switch_wal())");
    assert!(
        timeline(&seg) > before,
        "segment {seg} is not on a timeline after {before}"
    );
    until_ok(
        REPO,
        &format!("find /var/lib/pgbackrest/archive/lab -name '{seg}-*' | grep -q ."),
        Duration::from_secs(60),
    );
    let failover_secs = t.elapsed().as_secs_f64();
    ssh_ok(REPO, "runuser -u postgres -- pgbackrest --stanza=lab check");

    // the old leader's data directory lost; it leaves the cluster
    let data = ssh_ok(old, "ls -d /var/lib/postgresql/*/patroni")
        .trim()
        .to_string();
    ssh_ok(old, &format!("rm -rf {data}"));
    until_ok(other, &format!("{PATRONI}/cluster | python3 -c 'import json,sys; sys.exit(1 if any(x[\"name\"]==\"{old}\" for x in json.load(sys.stdin)[\"members\"]) else 0)'"), Duration::from_secs(90));
    // `apply` adds it back: Patroni restores it from the repository
    let restores = |h: &str| {
        ssh_ok(
            h,
            "grep -c 'restore command begin' /var/log/pgbackrest/lab-restore.log || true",
        )
        .trim()
        .parse::<u32>()
        .unwrap_or(0)
    };
    let restores_before = restores(old);
    let since = ssh_ok(old, "date +%s").trim().to_string();
    let t = Instant::now();
    let a = r(&["apply", "--auto-approve"]);
    let rebuild_secs = t.elapsed().as_secs_f64();
    assert_eq!(a.code, 0, "apply re-adding {old}:\n{}", a.all());
    let log = ssh_ok(
        old,
        &format!("journalctl --no-pager -q -u patroni --since @{since}"),
    );
    assert!(
        log.contains("replica has been created using pgbackrest"),
        "{old} was not built from the repository; Patroni's log:\n{log}"
    );
    assert!(
        !log.contains("replica has been created using basebackup"),
        "{log}"
    );
    // pgBackRest's own log: one more restore on that host
    assert_eq!(
        restores(old),
        restores_before + 1,
        "pgBackRest's log on {old} shows no new restore"
    );
    // streaming from the new leader, the row written after the failover there
    until_ok(old, &format!("{PATRONI}/replica >/dev/null && test \"$(runuser -u postgres -- psql -X -tAc \"select status from pg_stat_wal_receiver\" app)\" = streaming"), Duration::from_secs(120));
    assert_eq!(wal(old, "select count(*) from after_failover"), "1");
    let p = r(&["plan", "--detailed-exitcode"]);
    assert_eq!(p.code, 0, "plan after the rebuild not empty:\n{}", p.all());
    (failover_secs, rebuild_secs)
}

/// `rampart status` shows the repository's backups and the leader archiving, healthy.
fn backup_status_healthy(r: &dyn Fn(&[&str]) -> Run) {
    let st = r(&["status", "--json"]);
    let v: serde_json::Value =
        serde_json::from_str(&st.stdout).unwrap_or_else(|e| panic!("{e}: {}", st.all()));
    let b = v["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["component"] == "backup"))
        .unwrap_or_else(|| panic!("no backup in status: {}", st.stdout));
    assert_eq!(b["healthy"], true, "{b}");
    assert_eq!(b["members"][0]["role"], "repository", "{b}");
    assert!(
        b["members"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("last full "),
        "{b}"
    );
    assert_eq!(b["members"][1]["role"], "archiving", "{b}");
    assert_eq!(b["members"][1]["host"], leader("lab1").as_str(), "{b}");
}

fn via_cmd() -> String {
    format!("{PG} -h 198.18.0.11 -p 5000 -c 'select count(*), min(id), max(id) from pitr'")
}

/// The query's answer once HAProxy routes to the restored leader again.
fn until_rows(cmd: &str) -> String {
    let t = Instant::now();
    loop {
        let x = ssh("lab3", cmd);
        if x.code == 0 {
            return x.stdout.trim().to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{}", x.all());
        std::thread::sleep(Duration::from_millis(500));
    }
}
