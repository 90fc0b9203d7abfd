//! Issue "the reference HA stack", end to end on 3 fresh lab hosts: the lab
//! stack (plans/default.toml) applied from scratch, every promise checked
//! through HAProxy, a second plan empty, the leader's host killed outright
//! (PostgreSQL and Redis fail over), then the host brought back and
//! converged. Times are printed, never asserted.

mod common;
use common::*;
use std::time::{Duration, Instant};

const PG: &str = "PGPASSWORD=lab-only-app-pw PGCONNECT_TIMEOUT=2 psql -X -q -U app -d app -tA";
const REDIS: &str = "REDISCLI_AUTH=lab-only-redis-pw timeout 3 redis-cli --no-auth-warning";

fn leader(from: &str) -> String {
    let out = ssh_ok(from, "curl -sf http://127.0.0.1:8008/cluster");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["members"].as_array().unwrap().iter().find(|m| m["role"] == "leader").map(|m| m["name"].as_str().unwrap().to_string()).expect("a leader")
}

/// Retries `cmd` on `host` until it succeeds; returns the seconds it took.
fn until_ok(host: &str, cmd: &str, limit: Duration) -> f64 {
    let t = Instant::now();
    loop {
        if ssh(host, cmd).code == 0 {
            return t.elapsed().as_secs_f64();
        }
        assert!(t.elapsed() < limit, "{host}: `{cmd}` still failing after {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn reference_stack_applies_fails_over_and_rejoins() {
    let lab = lab(3);
    let t = Instant::now();
    let a = rampart(&["apply", "--auto-approve"]);
    let apply_secs = t.elapsed().as_secs_f64();
    assert_eq!(a.code, 0, "apply from scratch failed:\n{}", a.all());

    // Patroni: one leader, two replicas streaming
    let cluster = ssh_ok("lab1", "curl -sf http://127.0.0.1:8008/cluster");
    let v: serde_json::Value = serde_json::from_str(&cluster).unwrap();
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{cluster}");
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1, "{cluster}");
    assert_eq!(members.iter().filter(|m| m["role"] == "replica" && (m["state"] == "streaming" || m["state"] == "running")).count(), 2, "{cluster}");
    // Debian's `main` cluster was never created
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(ssh(h, "pg_lsclusters -h | grep -q main").code, 1, "{h} has a Debian main cluster");
        assert_eq!(ssh_ok(h, "stat -c '%a %U' /etc/patroni/config.yml /etc/pgbouncer/userlist.txt").lines().collect::<Vec<_>>(), vec!["600 postgres", "600 postgres"]);
    }
    // through HAProxy: primary port writes, replicas port reads from a replica; the owner uses its database
    assert_eq!(ssh_ok("lab3", &format!("{PG} -h 198.18.0.11 -p 5000 -c 'select pg_is_in_recovery()'")).trim(), "f");
    ssh_ok("lab3", &format!("{PG} -h 198.18.0.11 -p 5000 -c 'create table if not exists w(at timestamptz default now()); insert into w default values'"));
    assert_eq!(ssh_ok("lab3", &format!("{PG} -h 198.18.0.12 -p 5001 -c 'select pg_is_in_recovery()'")).trim(), "t");
    assert_eq!(ssh_ok("lab3", &format!("{PG} -h 198.18.0.13 -p 6432 -c 'select current_user'")).trim(), "app", "through PgBouncer");
    // Sentinels agree on one master; a write through HAProxy's Redis port works
    let masters: Vec<String> = ["198.18.0.11", "198.18.0.12", "198.18.0.13"].iter().map(|a| ssh_ok("lab3", &format!("redis-cli -h {a} -p 26379 sentinel get-master-addr-by-name mymaster | head -1")).trim().to_string()).collect();
    assert!(masters.iter().all(|m| m == &masters[0]), "{masters:?}");
    assert_eq!(ssh_ok("lab3", &format!("{REDIS} -h 198.18.0.12 -p 6380 set k v")).trim(), "OK");
    // the app answers through HAProxy; the VIP is held by one edge host
    assert_eq!(ssh_ok("lab3", "curl -s -o /dev/null -w '%{http_code}' http://198.18.0.11:8080/").trim(), "200");
    let vip_holders = ["lab1", "lab2"].iter().filter(|h| ssh_ok(h, "ip -4 -o addr show eth0").contains("198.18.0.100")).count();
    assert_eq!(vip_holders, 1, "keepalived VIP");

    // a second plan is empty
    let p = rampart(&["plan", "--detailed-exitcode"]);
    assert_eq!(p.code, 0, "second plan not empty:\n{}", p.all());

    // kill the PostgreSQL leader's host outright
    let old = leader("lab1");
    let survivor_haproxy = if old == "lab1" { "198.18.0.12" } else { "198.18.0.11" };
    let client = if old == "lab3" { "lab2" } else { "lab3" };
    let redis_master = ssh_ok(client, &format!("redis-cli -h {survivor_haproxy} -p 26379 sentinel get-master-addr-by-name mymaster 2>/dev/null | head -1 || true"));
    let k = rampart(&["lab", "kill", &old]);
    assert_eq!(k.code, 0, "{}", k.all());
    let killed_at = Instant::now();
    let pg_secs = until_ok(client, &format!("{PG} -h {survivor_haproxy} -p 5000 -c 'insert into w default values'"), Duration::from_secs(180));
    let redis_secs = until_ok(client, &format!("{REDIS} -h {survivor_haproxy} -p 6380 set k after-failover | grep -qx OK"), Duration::from_secs(180));
    let redis_total = killed_at.elapsed().as_secs_f64().max(redis_secs);
    let new = leader(client);
    assert_ne!(new, old, "a new leader was promoted");

    // bring the host back and converge: it rejoins as a replica, the plan after is empty
    let s = rampart(&["lab", "start", &old]);
    assert_eq!(s.code, 0, "{}", s.all());
    let a2 = rampart(&["apply", "--auto-approve"]);
    assert_eq!(a2.code, 0, "converge after the host came back:\n{}", a2.all());
    until_ok(client, &format!("curl -sf http://127.0.0.1:8008/cluster | python3 -c 'import json,sys; m=[x for x in json.load(sys.stdin)[\"members\"] if x[\"name\"]==\"{old}\"]; sys.exit(0 if m and m[0][\"role\"]==\"replica\" and m[0][\"state\"] in (\"running\",\"streaming\") else 1)'"), Duration::from_secs(180));
    let p2 = rampart(&["plan", "--detailed-exitcode"]);
    assert_eq!(p2.code, 0, "plan after rejoin not empty (a failover must never be 'fixed' back):\n{}", p2.all());

    eprintln!("MEASURED lab up: {:.1}s; apply from scratch to healthy: {apply_secs:.1}s; PostgreSQL write through HAProxy after losing the leader's host ({old} -> {new}): {pg_secs:.1}s; Redis write through HAProxy (master was {}): {redis_total:.1}s", lab.up_seconds, redis_master.trim());
}
