//! Issue "day-2 operations", end to end on lab hosts over real SSH: cluster
//! membership changed by editing the stack file alone, and plans that would
//! break a quorum refused.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod common;
use common::*;
use std::time::Instant;

fn members(h: &str) -> Vec<String> {
    let out = ssh_ok(
        h,
        "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 member list",
    );
    let mut v: Vec<String> = out
        .lines()
        .map(|l| {
            format!(
                "{} {}",
                l.split(", ").nth(2).unwrap_or("?"),
                l.split(", ").nth(1).unwrap_or("?")
            )
        })
        .collect();
    v.sort();
    v
}

fn etcd_stack(dir: &std::path::Path, name: &str, hosts: &[&str], extra: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    let list = hosts
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &p,
        format!("[stack]\nname = \"grow\"\n\n[etcd]\nhosts = [{list}]\n{extra}"),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn etcd_grows_to_five_and_shrinks_to_three_by_editing_the_stack() {
    let _lab = lab(5);
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.toml").display().to_string();
    let r = rampart(&["lab", "inventory", "--out", &inv]);
    assert_eq!(r.code, 0, "{}", r.all());
    let three = etcd_stack(dir.path(), "three", &["lab1", "lab2", "lab3"], "");
    let five = etcd_stack(
        dir.path(),
        "five",
        &["lab1", "lab2", "lab3", "lab4", "lab5"],
        "",
    );
    let apply = |stack: &str| rampart(&["-i", &inv, "-s", stack, "apply", "--auto-approve"]);
    let plan = |stack: &str| rampart(&["-i", &inv, "-s", stack, "plan", "--detailed-exitcode"]);

    let a = apply(&three);
    assert_eq!(a.code, 0, "{}", a.all());
    assert_eq!(
        members("lab1"),
        vec!["lab1 started", "lab2 started", "lab3 started"]
    );
    let started = |h: &str| {
        ssh_ok(
            h,
            "systemctl show -p ActiveEnterTimestampMonotonic --value etcd",
        )
        .trim()
        .to_string()
    };
    let before: Vec<String> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| started(h))
        .collect();

    // lab1 writes a key every 0.3 s for the whole change: every write needs a quorum
    let writer = std::thread::spawn(|| {
        ssh_ok("lab1", "rm -f /tmp/stop-writer; ok=0; bad=0; end=$(( $(date +%s) + 400 )); while [ ! -e /tmp/stop-writer ] && [ $(date +%s) -lt $end ]; do if ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=5s put /rampart-probe \"$(date +%s%N)\" >/dev/null 2>&1; then ok=$((ok+1)); else bad=$((bad+1)); date +%T.%N >> /tmp/writer-failures; fi; sleep 0.3; done; echo $ok $bad")
    });

    // Debian 13's etcd 3.5 package starts a throwaway one-member cluster on
    // install (data in /var/lib/etcd/default): lab4 has it running before it joins
    ssh_ok("lab4", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null && systemctl is-active etcd && test -d /var/lib/etcd/default");

    // 3 -> 5: the plan adds each new member before its first start, restarts nobody
    let p = plan(&five);
    assert_eq!(p.code, 2, "{}", p.all());
    for want in [
        "lab4/member/etcd-join",
        "lab5/member/etcd-join",
        "etcdctl member add lab4 (the cluster has 3 members)",
        "etcdctl member add lab5 (the cluster has 4 members)",
    ] {
        assert!(
            p.stdout.contains(want),
            "plan lacks `{want}`:\n{}",
            p.stdout
        );
    }
    assert!(
        !p.stdout.contains("lab1/service/etcd"),
        "the running members are not restarted:\n{}",
        p.stdout
    );
    let a = apply(&five);
    assert_eq!(a.code, 0, "{}", a.all());
    for h in ["lab1", "lab4", "lab5"] {
        assert_eq!(
            members(h),
            vec![
                "lab1 started",
                "lab2 started",
                "lab3 started",
                "lab4 started",
                "lab5 started"
            ],
            "{h}"
        );
    }
    let health = ssh_ok(
        "lab1",
        "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health --cluster 2>&1",
    );
    assert_eq!(health.matches("is healthy").count(), 5, "{health}");
    assert!(ssh_ok("lab4", "cat /var/lib/rampart/etcd-join.env")
        .contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""));
    let p = plan(&five);
    assert_eq!(p.code, 0, "plan after growing is empty:\n{}", p.all());

    // 5 -> 3: removed from a remaining member, one at a time, then stopped
    let p = plan(&three);
    assert_eq!(p.code, 2, "{}", p.all());
    for want in [
        "lab1/member/etcd-remove-lab4",
        "lab1/member/etcd-remove-lab5",
        "- lab4/service/etcd",
        "- lab5/service/etcd",
    ] {
        assert!(
            p.stdout.contains(want),
            "plan lacks `{want}`:\n{}",
            p.stdout
        );
    }
    let a = apply(&three);
    assert_eq!(a.code, 0, "{}", a.all());
    ssh_ok("lab1", "touch /tmp/stop-writer");
    let counts = writer.join().unwrap();
    let (ok, bad): (u32, u32) = {
        let mut it = counts.split_whitespace().map(|x| x.parse().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    };
    eprintln!(
        "MEASURED etcd 3 -> 5 -> 3 with a write every 0.3 s: {ok} writes succeeded, {bad} failed"
    );
    assert!(
        bad == 0 && ok > 10,
        "every write found a quorum ({ok} ok, {bad} failed at {})",
        ssh("lab1", "cat /tmp/writer-failures").stdout
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            members(h),
            vec!["lab1 started", "lab2 started", "lab3 started"],
            "{h}"
        );
    }
    for h in ["lab4", "lab5"] {
        assert_ne!(
            ssh(h, "systemctl is-active etcd").stdout.trim(),
            "active",
            "{h}'s etcd is stopped"
        );
    }
    let after: Vec<String> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| started(h))
        .collect();
    assert_eq!(
        before, after,
        "the members that stayed were never restarted"
    );
    let p = plan(&three);
    assert_eq!(p.code, 0, "plan after shrinking is empty:\n{}", p.all());

    // a restart while one of three members is down would leave one: refused
    ssh_ok("lab3", "systemctl stop etcd");
    let slower = etcd_stack(
        dir.path(),
        "slower",
        &["lab1", "lab2", "lab3"],
        "heartbeat_interval = 150\nelection_timeout = 1500\n",
    );
    let conf_before = ssh_ok("lab1", "cat /etc/default/etcd");
    let r = rampart(&["-i", &inv, "-s", &slower, "apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("would leave 1 of 3 running")
            && r.stderr.contains("lab3 down now")
            && r.stderr.contains("nothing was changed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        conf_before,
        ssh_ok("lab1", "cat /etc/default/etcd"),
        "a refused plan changes nothing"
    );
    ssh_ok("lab3", "systemctl start etcd");
    let r = rampart(&["-i", &inv, "-s", &slower, "plan"]);
    assert_eq!(
        r.code,
        0,
        "with every member back the same change is planned: {}",
        r.all()
    );
}

fn pg_stack(dir: &std::path::Path, name: &str, pg_hosts: &[&str], parameters: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    let list = pg_hosts
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &p,
        format!(
            "[stack]\nname = \"pgday2\"\n\n[etcd]\nhosts = [\"lab1\", \"lab2\", \"lab3\"]\n\n\
             [postgres]\nhosts = [{list}]\nsynchronous_mode = false\n\
             superuser_password = {{ file = \"secrets/pg_superuser\" }}\nreplication_password = {{ file = \"secrets/pg_replication\" }}\n\
             [[postgres.databases]]\nname = \"app\"\nowner = \"app\"\npassword = {{ file = \"secrets/app_db\" }}\n{parameters}\n\
             [haproxy]\nhosts = [\"lab1\"]\n[haproxy.listen]\npostgres_primary = 5000\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

fn patroni_members(h: &str) -> String {
    ssh_ok(h, "curl -sf http://127.0.0.1:8008/cluster | python3 -c 'import json,sys; print(\" \".join(sorted(m[\"name\"] + \":\" + m[\"state\"] for m in json.load(sys.stdin)[\"members\"])))'").trim().to_string()
}

#[test]
fn patroni_replica_joins_a_restart_setting_rolls_with_a_switchover_and_the_replica_leaves() {
    let _lab = lab(3);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for f in ["pg_superuser", "pg_replication", "app_db"] {
        std::fs::copy(format!("{ROOT}/plans/lab-secrets/{f}"), secrets.join(f)).unwrap();
    }
    let inv = lab_inventory();
    let two = pg_stack(dir.path(), "two", &["lab1", "lab2"], "");
    let three = pg_stack(dir.path(), "three", &["lab1", "lab2", "lab3"], "");
    let tuned = pg_stack(
        dir.path(),
        "tuned",
        &["lab1", "lab2", "lab3"],
        "[postgres.parameters]\nmax_connections = 150\nwork_mem = \"8MB\"\n",
    );
    let tuned_two = pg_stack(
        dir.path(),
        "tuned_two",
        &["lab1", "lab2"],
        "[postgres.parameters]\nmax_connections = 150\nwork_mem = \"8MB\"\n",
    );
    let apply = |stack: &str| rampart(&["-i", &inv, "-s", stack, "apply", "--auto-approve"]);
    let plan = |stack: &str| rampart(&["-i", &inv, "-s", stack, "plan", "--detailed-exitcode"]);

    let a = apply(&two);
    assert_eq!(a.code, 0, "{}", a.all());
    let ms = patroni_members("lab1");
    assert!(
        ms.contains("lab1:") && ms.contains("lab2:") && !ms.contains("lab3"),
        "{ms}"
    );

    // a replica added by editing the stack: it joins and streams
    let a = apply(&three);
    assert_eq!(a.code, 0, "{}", a.all());
    assert!(
        a.stdout.contains("joins the running cluster as a replica"),
        "{}",
        a.stdout
    );
    let ms = patroni_members("lab2");
    assert_eq!(
        ms.matches(":streaming").count() + ms.matches(":running").count(),
        3,
        "{ms}"
    );
    assert!(
        ms.contains("lab3:streaming") || ms.contains("lab3:running"),
        "{ms}"
    );
    assert_eq!(plan(&three).code, 0, "plan after the join is empty");

    // a setting that needs a restart: through Patroni's REST API, then a rolling
    // restart with a switchover, while lab2 writes through HAProxy every 100 ms
    let p = plan(&tuned);
    assert_eq!(p.code, 2, "{}", p.all());
    assert!(p.stdout.contains("PATCH /config (Patroni's dynamic configuration, for every member): synchronous_mode=false, synchronous_node_count=1, max_connections=150, work_mem=8MB"), "{}", p.stdout);
    assert!(
        p.stdout
            .contains("it switches over to a healthy replica first"),
        "{}",
        p.stdout
    );
    let leader_before = ssh_ok("lab1", "curl -sf http://127.0.0.1:8008/cluster | python3 -c 'import json,sys; print([m[\"name\"] for m in json.load(sys.stdin)[\"members\"] if m[\"role\"]==\"leader\"][0])'").trim().to_string();
    ssh_ok(&leader_before, "cd / && runuser -u postgres -- psql -X -q -d app -c 'create table if not exists w(id serial primary key, at timestamptz default now()); grant all on w, w_id_seq to app'");
    let writer = std::thread::spawn(|| {
        ssh_ok("lab2", "rm -f /tmp/stop-writer /tmp/writes; while [ ! -e /tmp/stop-writer ]; do t=$(date +%s.%N); if PGPASSWORD=lab-only-app-pw PGCONNECT_TIMEOUT=5 timeout 6 psql -X -q -h 198.18.0.11 -p 5000 -U app -d app -c 'insert into w default values' >/dev/null 2>&1; then r=ok; else r=fail; fi; echo \"$t $(date +%s.%N) $r\" >> /tmp/writes; sleep 0.1; done; cat /tmp/writes")
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let a = apply(&tuned);
    std::thread::sleep(std::time::Duration::from_secs(2));
    ssh_ok("lab2", "touch /tmp/stop-writer");
    let log = writer.join().unwrap();
    assert_eq!(a.code, 0, "{}", a.all());
    let WriteStats {
        n,
        failed,
        worst,
        slowest,
        still_failing,
    } = write_stats(&log);
    assert!(!still_failing, "writes were still failing at the end");
    measured!("MEASURED rolling PostgreSQL restart with a switchover: {n} writes through HAProxy every 100 ms, {failed} failed (longest run of failures {worst:.2}s), slowest successful write {slowest:.2}s");
    assert!(n > 50, "the writer ran: {n} writes");
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh_ok(
                h,
                "runuser -u postgres -- psql -XtAc 'show max_connections'"
            )
            .trim(),
            "150",
            "{h}"
        );
        assert_eq!(
            ssh_ok(h, "runuser -u postgres -- psql -XtAc 'show work_mem'").trim(),
            "8MB",
            "{h}"
        );
        assert_eq!(ssh_ok(h, "runuser -u postgres -- psql -XtAc 'select count(*) from pg_settings where pending_restart'").trim(), "0", "{h}");
    }
    let leader_after = ssh_ok("lab1", "curl -sf http://127.0.0.1:8008/cluster | python3 -c 'import json,sys; print([m[\"name\"] for m in json.load(sys.stdin)[\"members\"] if m[\"role\"]==\"leader\"][0])'").trim().to_string();
    assert_ne!(
        leader_before, leader_after,
        "the leader handed over before it restarted"
    );
    assert!(
        worst <= 1.0,
        "writes failed for {worst:.2}s at most (goal: 1 s)"
    );
    assert_eq!(
        plan(&tuned).code,
        0,
        "plan after the rolling restart is empty"
    );

    // quorum commit (Patroni 4, Debian 13): switched on a running cluster through
    // PATCH /config, no restart; PostgreSQL then waits for ANY 1 of the two standbys
    let quorum = dir.path().join("quorum.toml");
    std::fs::write(
        &quorum,
        std::fs::read_to_string(&tuned).unwrap().replace(
            "synchronous_mode = false",
            "synchronous_mode = \"quorum\"\nsynchronous_node_count = 1",
        ),
    )
    .unwrap();
    let quorum = quorum.display().to_string();
    let p = plan(&quorum);
    assert_eq!(p.code, 2, "{}", p.all());
    assert!(
        p.stdout
            .contains("synchronous_mode=quorum, synchronous_node_count=1"),
        "{}",
        p.stdout
    );
    let restarted = |h: &str| {
        ssh_ok(
            h,
            "systemctl show -p ActiveEnterTimestampMonotonic --value patroni",
        )
    };
    let before_q: Vec<String> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| restarted(h))
        .collect();
    let a = apply(&quorum);
    assert_eq!(a.code, 0, "{}", a.all());
    let leader = ssh_ok("lab1", "curl -sf http://127.0.0.1:8008/cluster | python3 -c 'import json,sys; print([m[\"name\"] for m in json.load(sys.stdin)[\"members\"] if m[\"role\"]==\"leader\"][0])'").trim().to_string();
    let standbys: Vec<&str> = ["lab1", "lab2", "lab3"]
        .into_iter()
        .filter(|h| *h != leader)
        .collect();
    let t = Instant::now();
    let ssn = loop {
        let v = ssh_ok(
            &leader,
            "runuser -u postgres -- psql -XtAc 'show synchronous_standby_names'",
        );
        if v.trim().starts_with("ANY 1 (") || t.elapsed().as_secs() > 60 {
            break v.trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(ssn.starts_with("ANY 1 ("), "quorum commit: {ssn}");
    for s in &standbys {
        assert!(ssn.contains(s), "{s} is in the quorum: {ssn}");
    }
    // Patroni marks them in the DCS on its next cycle after writing the setting
    let t = Instant::now();
    let roles = loop {
        let r = ssh_ok(&leader, "curl -sf http://127.0.0.1:8008/cluster | python3 -c 'import json,sys; print(\" \".join(sorted(m[\"role\"] for m in json.load(sys.stdin)[\"members\"])))'");
        if r.trim() == "leader quorum_standby quorum_standby" || t.elapsed().as_secs() > 60 {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        roles.trim(),
        "leader quorum_standby quorum_standby",
        "{roles}"
    );
    let after_q: Vec<String> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| restarted(h))
        .collect();
    assert_eq!(
        before_q, after_q,
        "switching to quorum commit restarts nothing"
    );
    assert_eq!(
        plan(&quorum).code,
        0,
        "plan after the switch to quorum is empty"
    );
    // one standby's WAL receiver frozen: a write still commits (ANY 1); both frozen: it waits
    let write = |secs: u32| {
        ssh(
            &leader,
            &format!("cd / && timeout {secs} runuser -u postgres -- psql -X -q -d app -c 'insert into w default values'"),
        )
        .code
    };
    let freeze = |h: &str, sig: &str| {
        ssh_ok(
            h,
            &format!("pkill -{sig} -f 'postgres: .*[w]alreceiver' ; true"),
        );
    };
    freeze(standbys[0], "STOP");
    let one_frozen = write(10);
    freeze(standbys[1], "STOP");
    let both_frozen = write(5);
    freeze(standbys[0], "CONT");
    freeze(standbys[1], "CONT");
    assert_eq!(
        one_frozen, 0,
        "with one standby frozen the write commits (ANY 1 of 2)"
    );
    assert_eq!(
        both_frozen, 124,
        "with both standbys frozen the write waits for the quorum"
    );
    let t = Instant::now();
    while write(10) != 0 {
        assert!(
            t.elapsed().as_secs() < 60,
            "writes commit again once the standbys resume"
        );
    }
    measured!("MEASURED quorum commit: {ssn}; a write with one of two standbys frozen committed; with both frozen it waited (timed out after 5 s)");

    // the replica taken out of the stack: Patroni stops there and the cluster has two members
    let p = plan(&tuned_two);
    assert_eq!(p.code, 2, "{}", p.all());
    assert!(p.stdout.contains("lab3/patroni/leave"), "{}", p.stdout);
    let a = apply(&tuned_two);
    assert_eq!(a.code, 0, "{}", a.all());
    assert_ne!(
        ssh("lab3", "systemctl is-active patroni").stdout.trim(),
        "active"
    );
    let ms = patroni_members("lab1");
    assert!(!ms.contains("lab3") && ms.matches(':').count() == 2, "{ms}");
    assert_eq!(plan(&tuned_two).code, 0, "plan after the removal is empty");
}

fn redis_stack(dir: &std::path::Path, name: &str, hosts: &[&str], settings: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    let list = hosts
        .iter()
        .map(|h| format!("\"{h}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &p,
        format!(
            "[stack]\nname = \"redisday2\"\n\n[redis]\nhosts = [{list}]\nserver = \"valkey\"\nmaster = \"lab1\"\npassword = {{ file = \"secrets/redis\" }}\n\
             [redis.sentinel]\nquorum = 2\nmaster_name = \"mymaster\"\n{settings}\n\
             [haproxy]\nhosts = [\"lab1\"]\n[haproxy.listen]\nredis_master = 6380\n\n[tls]\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

/// The stack has `[tls]`: Valkey and Sentinel speak TLS only; a member's own
/// certificate is the client's (Sentinel asks for one).
const VTLS: &str = "--tls --cacert /etc/valkey/tls/ca.crt --cert /etc/valkey/tls/redis.crt --key /etc/valkey/tls/redis.key";
const RCLI: &str = "REDISCLI_AUTH=\"$(cat /etc/valkey/rampart-auth)\" valkey-cli --tls --cacert /etc/valkey/tls/ca.crt --cert /etc/valkey/tls/redis.crt --key /etc/valkey/tls/redis.key --no-auth-warning -h 127.0.0.1";

fn redis_role(h: &str) -> String {
    ssh_ok(h, &format!("{RCLI} info replication | tr -d '\\r' | grep -E '^(role|master_host|master_link_status):' | tr '\\n' ' '")).trim().to_string()
}

fn sentinel_field(h: &str, field: &str) -> String {
    ssh_ok(h, &format!("valkey-cli {VTLS} -h 127.0.0.1 -p 26379 --raw sentinel master mymaster | sed -n '/^{field}$/{{n;p}}'")).trim().to_string()
}

fn address(h: &str) -> String {
    format!(
        "198.18.0.{}",
        10 + h.trim_start_matches("lab").parse::<u32>().unwrap()
    )
}

fn sentinel_master(h: &str) -> String {
    ssh_ok(h, &format!("valkey-cli {VTLS} -h 127.0.0.1 -p 26379 --raw sentinel get-master-addr-by-name mymaster | head -n 1")).trim().to_string()
}

/// lab1 increments a counter through HAProxy (redis_master) every 100 ms until
/// told to stop; returns the writer's log.
fn redis_writer(tag: &'static str) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        ssh_ok(
            "lab1",
            &format!(
                "rm -f /tmp/stop-{tag} /tmp/writes-{tag}; export REDISCLI_AUTH=\"$(cat /etc/valkey/rampart-auth)\"; while [ ! -e /tmp/stop-{tag} ]; do t=$(date +%s.%N); v=$(timeout 3 valkey-cli --tls --cacert /etc/valkey/tls/ca.crt --no-auth-warning -h 198.18.0.11 -p 6380 incr probe 2>&1); case \"$v\" in ''|*[!0-9]*) r=fail; echo \"$t $v\" >> /tmp/errors-{tag};; *) r=ok;; esac; echo \"$t $(date +%s.%N) $r\" >> /tmp/writes-{tag}; sleep 0.1; done; cat /tmp/writes-{tag}"
            ),
        )
    })
}

/// Valkey 8 (`[redis] server = "valkey"`, Debian 13) through the Redis
/// day-2 operations: the same component, the same steps.
#[test]
fn redis_restart_fails_over_first_a_member_joins_the_current_master_and_one_leaves() {
    let _lab = lab(4);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::copy(
        format!("{ROOT}/plans/lab-secrets/redis"),
        secrets.join("redis"),
    )
    .unwrap();
    let inv = dir.path().join("inv.toml").display().to_string();
    let r = rampart(&["lab", "inventory", "--out", &inv]);
    assert_eq!(r.code, 0, "{}", r.all());
    let tuning = "[redis.settings]\nmaxmemory = \"64mb\"\nmaxmemory-policy = \"noeviction\"\n";
    let three = redis_stack(dir.path(), "three", &["lab1", "lab2", "lab3"], "");
    let tuned = redis_stack(dir.path(), "tuned", &["lab1", "lab2", "lab3"], tuning);
    // Sentinel's own setting, changed below at runtime; the later stacks keep it
    let sentinel = format!("down_after_milliseconds = 4000\n{tuning}");
    let watched = redis_stack(dir.path(), "watched", &["lab1", "lab2", "lab3"], &sentinel);
    let tuning = sentinel.as_str();
    let four = redis_stack(
        dir.path(),
        "four",
        &["lab1", "lab2", "lab3", "lab4"],
        tuning,
    );
    let apply = |stack: &str| rampart(&["-i", &inv, "-s", stack, "apply", "--auto-approve"]);
    let plan = |stack: &str| rampart(&["-i", &inv, "-s", stack, "plan", "--detailed-exitcode"]);

    let a = apply(&three);
    assert_eq!(a.code, 0, "{}", a.all());
    // [tls]: Debian 13's valkey user holds the key; no plaintext listener answers
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh_ok(h, "stat -c '%a %U' /etc/valkey/tls/redis.key").trim(),
            "600 valkey"
        );
    }
    for port in [6379, 26379] {
        let plain = ssh(
            "lab2",
            &format!(
                "{} -h 198.18.0.11 -p {port} ping 2>&1",
                RCLI.replace(&format!(" {VTLS}"), "")
                    .replace(" -h 127.0.0.1", "")
            ),
        );
        assert!(
            !plain.stdout.contains("PONG") && !plain.stdout.contains("NOAUTH"),
            "plaintext answered on {port}: {}",
            plain.all()
        );
    }
    assert!(
        redis_role("lab1").starts_with("role:master"),
        "{}",
        redis_role("lab1")
    );
    for h in ["lab2", "lab3"] {
        assert!(
            redis_role(h).contains("master_link_status:up"),
            "{h}: {}",
            redis_role(h)
        );
    }

    // a setting that needs a restart: replicas first, then the master after a
    // Sentinel failover, while lab1 writes through HAProxy every 100 ms
    let p = plan(&tuned);
    assert_eq!(p.code, 2, "{}", p.all());
    assert!(
        p.stdout
            .contains("the master: Sentinel fails it over to a replica in sync first"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout
            .contains("rolling restart: member 3 of 3, after lab3/service/valkey-server"),
        "the master restarts last:\n{}",
        p.stdout
    );
    for h in ["lab2", "lab3"] {
        assert!(
            p.stdout.contains(&format!("{h}/service/valkey-server")),
            "the replica {h} restarts:\n{}",
            p.stdout
        );
    }
    let writer = redis_writer("roll");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let a = apply(&tuned);
    std::thread::sleep(std::time::Duration::from_secs(2));
    ssh_ok("lab1", "touch /tmp/stop-roll");
    let log = writer.join().unwrap();
    assert_eq!(a.code, 0, "{}", a.all());
    let acked = log.lines().filter(|l| l.ends_with(" ok")).count() as u64;
    let WriteStats {
        n,
        failed,
        worst,
        slowest,
        still_failing,
    } = write_stats(&log);
    measured!("MEASURED rolling Redis restart with a Sentinel failover: {n} INCRs through HAProxy every 100 ms, {failed} failed (longest run of failures {worst:.2}s), slowest successful write {slowest:.2}s");
    assert!(
        n > 30 && !still_failing,
        "the writer ran and ended writing ({n} writes):\n{}\n{}",
        log.lines().rev().take(8).collect::<Vec<_>>().join("\n"),
        a.stdout
    );
    assert!(
        worst <= 3.0,
        "writes failed for {worst:.2}s at most:\n{}\n{}",
        a.all(),
        ssh("lab1", "journalctl -t rampart --no-pager -o short-precise").stdout
    );
    let new_master = ["lab2", "lab3"]
        .into_iter()
        .find(|h| redis_role(h).starts_with("role:master"))
        .expect("a replica was promoted");
    let counter: u64 = ssh_ok(new_master, &format!("{RCLI} get probe"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        counter >= acked,
        "no acknowledged write was lost: the counter is {counter}, {acked} INCRs were acknowledged"
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh_ok(h, &format!("{RCLI} config get maxmemory | tail -n 1")).trim(),
            "67108864",
            "{h}"
        );
        assert_eq!(
            sentinel_master(h),
            address(new_master),
            "{h}'s Sentinel follows the new master"
        );
    }
    assert!(
        redis_role("lab1").contains(&format!(
            "master_host:{} master_link_status:up",
            address(new_master)
        )),
        "the old master follows the new one: {}",
        redis_role("lab1")
    );
    assert_eq!(
        plan(&tuned).code,
        0,
        "plan after the rolling restart is empty"
    );

    // a Sentinel setting: SENTINEL SET on each Sentinel, no restart, no failover, no failed write
    let p = plan(&watched);
    assert_eq!(p.code, 2, "{}", p.all());
    for h in ["lab1", "lab2", "lab3"] {
        assert!(
            p.stdout.contains(&format!("{h}/command/sentinel-settings")),
            "{h}'s Sentinel is set:\n{}",
            p.stdout
        );
    }
    assert!(
        !p.stdout.contains("service/valkey-sentinel")
            && !p.stdout.contains("service/valkey-server"),
        "nothing restarts:\n{}",
        p.stdout
    );
    let pids = |h: &str| {
        ssh_ok(
            h,
            "systemctl show -p MainPID --value valkey-sentinel valkey-server",
        )
        .trim()
        .to_string()
    };
    let before: Vec<String> = ["lab1", "lab2", "lab3"].map(pids).to_vec();
    let writer = redis_writer("sentinel");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let a = apply(&watched);
    std::thread::sleep(std::time::Duration::from_secs(1));
    ssh_ok("lab1", "touch /tmp/stop-sentinel");
    let log = writer.join().unwrap();
    assert_eq!(a.code, 0, "{}", a.all());
    let WriteStats { n, failed, .. } = write_stats(&log);
    measured!("MEASURED a Sentinel setting changed at runtime: {n} INCRs through HAProxy, {failed} failed");
    assert!(
        n > 10 && failed == 0,
        "{failed} of {n} writes failed while only Sentinel settings changed"
    );
    assert_eq!(
        ["lab1", "lab2", "lab3"].map(pids).to_vec(),
        before,
        "no Sentinel or Redis restarted"
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(sentinel_field(h, "down-after-milliseconds"), "4000", "{h}");
        assert_eq!(sentinel_master(h), address(new_master), "{h}: no failover");
        assert!(
            ssh_ok(h, "cat /etc/valkey/sentinel.conf")
                .contains("down-after-milliseconds mymaster 4000"),
            "{h}: Sentinel wrote it to its file"
        );
    }
    assert_eq!(
        plan(&watched).code,
        0,
        "plan after the Sentinel setting is empty"
    );

    // a host added: it follows the master the Sentinels name now, not the initial one
    let a = apply(&four);
    assert_eq!(a.code, 0, "{}", a.all());
    assert!(
        redis_role("lab4").contains(&format!(
            "master_host:{} master_link_status:up",
            address(new_master)
        )),
        "{}",
        redis_role("lab4")
    );
    assert_eq!(sentinel_master("lab4"), address(new_master));
    for h in ["lab1", "lab2", "lab3", "lab4"] {
        assert_eq!(sentinel_field(h, "num-other-sentinels"), "3", "{h}");
    }
    assert_eq!(plan(&four).code, 0, "plan after the join is empty");

    // the current master taken out of the stack: it fails over first, its Redis
    // and Sentinel stop, and the remaining Sentinels forget it
    let rest: Vec<&str> = ["lab1", "lab2", "lab3", "lab4"]
        .into_iter()
        .filter(|h| *h != new_master)
        .collect();
    let without = redis_stack(dir.path(), "without", &rest, tuning);
    let p = plan(&without);
    assert_eq!(p.code, 2, "{}", p.all());
    for want in [
        format!("{new_master}/redis/leave"),
        "SENTINEL RESET mymaster".to_string(),
        format!("- {new_master}/service/valkey-server"),
    ] {
        assert!(
            p.stdout.contains(&want),
            "plan lacks `{want}`:\n{}",
            p.stdout
        );
    }
    let writer = redis_writer("leave");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let a = apply(&without);
    std::thread::sleep(std::time::Duration::from_secs(2));
    ssh_ok("lab1", "touch /tmp/stop-leave");
    let log = writer.join().unwrap();
    assert_eq!(a.code, 0, "{}", a.all());
    let WriteStats {
        n, failed, worst, ..
    } = write_stats(&log);
    measured!("MEASURED the Redis master leaving the stack: {n} INCRs through HAProxy every 100 ms, {failed} failed (longest run of failures {worst:.2}s)");
    let mut slow: Vec<(f64, &str)> = a
        .stdout
        .lines()
        .filter_map(|l| {
            Some((
                l.rsplit_once("done (")?
                    .1
                    .trim_end_matches("s)")
                    .parse()
                    .ok()?,
                l,
            ))
        })
        .collect();
    slow.sort_by(|x, y| y.0.total_cmp(&x.0));
    eprintln!(
        "slowest steps of that apply:\n{}",
        slow.iter()
            .take(5)
            .map(|x| x.1)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_ne!(
        ssh(new_master, "systemctl is-active valkey-server")
            .stdout
            .trim(),
        "active"
    );
    assert_ne!(
        ssh(new_master, "systemctl is-active valkey-sentinel")
            .stdout
            .trim(),
        "active"
    );
    let third = rest
        .iter()
        .copied()
        .find(|h| redis_role(h).starts_with("role:master"))
        .expect("one of the remaining hosts is master");
    for h in &rest {
        assert_eq!(sentinel_master(h), address(third), "{h}");
        assert_eq!(
            sentinel_field(h, "num-other-sentinels"),
            "2",
            "{h} forgot the Sentinel that left"
        );
        assert_eq!(
            sentinel_field(h, "num-slaves"),
            "2",
            "{h} forgot the replica that left"
        );
    }
    assert_eq!(plan(&without).code, 0, "plan after the removal is empty");
    assert!(
        ssh(
            new_master,
            "test -e /etc/valkey/valkey.conf.rampart-left && ! test -e /etc/valkey/valkey.conf"
        )
        .code
            == 0,
        "the member's own config is set aside"
    );

    // the removed host added back: seeded afresh, it follows the current master
    let a = apply(&four);
    assert_eq!(a.code, 0, "{}", a.all());
    assert!(
        redis_role(new_master).contains(&format!(
            "master_host:{} master_link_status:up",
            address(third)
        )),
        "{}",
        redis_role(new_master)
    );
    for h in ["lab1", "lab2", "lab3", "lab4"] {
        assert_eq!(sentinel_field(h, "num-other-sentinels"), "3", "{h}");
    }
    assert_eq!(plan(&four).code, 0, "plan after adding it back is empty");
    let a = apply(&without);
    assert_eq!(a.code, 0, "{}", a.all());

    // with no replica in sync the master cannot fail over: a restart is refused
    let replicas: Vec<&str> = rest.iter().copied().filter(|h| *h != third).collect();
    for h in &replicas {
        ssh_ok(h, "systemctl stop valkey-server");
    }
    let retuned = redis_stack(
        dir.path(),
        "retuned",
        &rest,
        "down_after_milliseconds = 4000\n[redis.settings]\nmaxmemory = \"96mb\"\n",
    );
    let r = rampart(&["-i", &inv, "-s", &retuned, "apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains(&format!("{third} is the master and must fail over"))
            && r.stderr.contains("nothing was changed"),
        "{}",
        r.stderr
    );
    assert!(
        !ssh_ok(third, "cat /etc/valkey/rampart.conf").contains("96mb"),
        "a refused plan changes nothing"
    );

    // the server switched in place (Valkey back to Redis) is refused, naming the key
    let switched = dir.path().join("switched.toml");
    std::fs::write(
        &switched,
        std::fs::read_to_string(&retuned)
            .unwrap()
            .replace("server = \"valkey\"", "server = \"redis\""),
    )
    .unwrap();
    let r = rampart(&["-i", &inv, "-s", &switched.display().to_string(), "plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("[redis] server") && r.stderr.contains("nothing was changed"),
        "{}",
        r.stderr
    );
}
