//! Issue 16 inside the reference stack's lab run: a renewal of every
//! certificate (the kept ones removed beside the stack, so `plan` issues each
//! again from the same CA) rolls under two writers on lab3: INCRs through
//! HAProxy's Redis port over TLS, and INSERTs through PgBouncer with
//! `sslmode=verify-full`. Redis restarts one member at a time, the master
//! last after a Sentinel failover; Sentinels restart one at a time; PgBouncer
//! reloads (SIGHUP re-reads its TLS files); etcd rolls; Patroni and
//! PostgreSQL reload. Every Redis, Sentinel and PgBouncer listener serves
//! its renewed certificate after, and the next plan is empty.

use super::{rs, REDIS};
use crate::common::*;
use std::time::{Duration, Instant};

const HOSTS: [&str; 3] = ["lab1", "lab2", "lab3"];

/// (port, the file it serves, openssl s_client's extra arguments) of each
/// listener checked on each data host.
const LISTENERS: [(u16, &str, &str); 3] = [
    (6379, "/etc/redis/tls/redis.crt", ""),
    (26379, "/etc/redis/tls/redis.crt", ""),
    (
        6432,
        "/etc/pgbouncer/tls/pgbouncer.crt",
        "-starttls postgres ",
    ),
];

/// (file serial, served serial) of each listener above on each host.
fn serials() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, h) in HOSTS.iter().enumerate() {
        let ip = format!("198.18.0.1{}", i + 1);
        for (port, file, extra) in LISTENERS {
            let f = ssh_ok(h, &format!("openssl x509 -noout -serial -in {file}"));
            // Sentinel asks for a client certificate: the host's own
            let served = ssh_ok(h, &format!("timeout 10 openssl s_client -connect {ip}:{port} {extra}-CAfile /etc/redis/tls/ca.crt -cert /etc/redis/tls/redis.crt -key /etc/redis/tls/redis.key </dev/null 2>/dev/null | openssl x509 -noout -serial"));
            out.push((f.trim().to_string(), served.trim().to_string()));
        }
    }
    out
}

/// A writer on lab3: `write` every 100 ms until /tmp/stop-`tag` exists, a
/// write good when it exits 0 and `good` holds of its output `$v`; returns
/// its log (`start end ok|fail` per write).
fn writer(tag: &'static str, write: String, good: &'static str) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        ssh_ok(
            "lab3",
            &format!(
                "rm -f /tmp/stop-{tag} /tmp/writes-{tag} /tmp/errors-{tag}; while [ ! -e /tmp/stop-{tag} ]; do t=$(date +%s.%N); if v=$({write} 2>&1) && {good}; then r=ok; else r=fail; echo \"$t $v\" >> /tmp/errors-{tag}; fi; echo \"$t $(date +%s.%N) $r\" >> /tmp/writes-{tag}; sleep 0.1; done; cat /tmp/writes-{tag}"
            ),
        )
    })
}

pub struct Measured {
    pub apply_secs: f64,
    pub redis: WriteStats,
    pub pg: WriteStats,
}

pub fn run(stack_dir: &std::path::Path) -> Measured {
    let before = serials();
    let pids = || -> Vec<String> {
        HOSTS
            .iter()
            .map(|h| {
                ssh_ok(h, "systemctl show -p MainPID --value pgbouncer")
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let pgbouncer_pids = pids();
    for (f, s) in &before {
        assert_eq!(f, s, "each listener serves the certificate on its host");
    }
    ssh_ok("lab3", "PGPASSWORD=lab-only-app-pw psql -X -q \"host=198.18.0.13 port=6432 user=app dbname=app sslmode=verify-full sslrootcert=/etc/patroni/tls/ca.crt\" -c 'create table if not exists renew_w(id serial primary key, at timestamptz default now())'");
    let tls_dir = stack_dir.join(".rampart/lab/tls");
    let mut removed = 0;
    for e in std::fs::read_dir(&tls_dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if n.starts_with("lab") && n.ends_with(".crt") {
            std::fs::remove_file(&p).unwrap();
            removed += 1;
        }
    }
    assert!(
        removed >= 9,
        "the kept certificates of {}",
        tls_dir.display()
    );
    let p = rs(&["plan"]);
    assert_eq!(p.code, 0, "{}", p.all());
    assert!(
        p.stdout
            .contains("the master: Sentinel fails it over to a replica in sync first")
            && p.stdout.contains("rolling restart: member 3 of 3, after"),
        "a renewal restarts Redis one member at a time, the master last after a failover:\n{}",
        p.stdout
    );
    let redis = writer(
        "renew-redis",
        format!("{REDIS} -h 198.18.0.11 -p 6380 incr renew"),
        "case \"$v\" in ''|*[!0-9]*) false;; esac",
    );
    let pg = writer(
        "renew-pg",
        "PGPASSWORD=lab-only-app-pw PGCONNECT_TIMEOUT=3 timeout 5 psql -X -q \"host=198.18.0.13 port=6432 user=app dbname=app sslmode=verify-full sslrootcert=/etc/patroni/tls/ca.crt\" -c 'insert into renew_w default values'".to_string(),
        "true",
    );
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    let a = rs(&["apply", "--auto-approve"]);
    let apply_secs = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    ssh_ok("lab3", "touch /tmp/stop-renew-redis /tmp/stop-renew-pg");
    let (redis_log, pg_log) = (redis.join().unwrap(), pg.join().unwrap());
    assert_eq!(a.code, 0, "{}", a.all());
    // what each writer saw, and HAProxy's view of the servers meanwhile
    let errors = ssh("lab3", "tail -n 20 /tmp/errors-renew-redis; tail -n 20 /tmp/errors-renew-pg").stdout
        + &ssh("lab1", &format!("journalctl --no-pager -q -o short-precise --since=-{}s -t haproxy | grep -iE 'is (UP|DOWN)|no server available' | tail -n 30", apply_secs as u64 + 10)).stdout
        + &ssh("lab3", "grep -E 'login failed|failing|crashed|TLS|SIGHUP|RELOAD' /var/log/postgresql/pgbouncer.log | tail -n 20").stdout;
    eprintln!("renewal: failed writes and HAProxy's server changes:\n{errors}");
    let acked = redis_log.lines().filter(|l| l.ends_with(" ok")).count() as u64;
    let (r, q) = (write_stats(&redis_log), write_stats(&pg_log));
    for (what, s, bound) in [("Redis", &r, 3.0), ("PostgreSQL", &q, 1.0)] {
        assert!(
            s.n > 30 && !s.still_failing,
            "the {what} writer ran and ended writing ({} writes):\n{errors}",
            s.n
        );
        // the bounds of today's rolling restarts (e2e_membership): Redis with
        // a Sentinel failover 3 s, PostgreSQL 1 s
        assert!(
            s.worst <= bound,
            "{what} writes failed for {:.2}s at most (bound {bound} s):\n{errors}\n{}",
            s.worst,
            a.stdout
        );
    }
    let counter: u64 = ssh_ok("lab3", &format!("{REDIS} -h 198.18.0.11 -p 6380 get renew"))
        .trim()
        .parse()
        .unwrap();
    assert!(
        counter >= acked,
        "no acknowledged INCR was lost: the counter is {counter}, {acked} were acknowledged"
    );
    // every listener serves the renewed certificate
    let t = Instant::now();
    let after = loop {
        let a = serials();
        if a.iter().all(|(f, s)| f == s) || t.elapsed() > Duration::from_secs(20) {
            break a;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    for (k, ((f0, _), (f1, s1))) in before.iter().zip(&after).enumerate() {
        let (h, (port, ..)) = (HOSTS[k / LISTENERS.len()], LISTENERS[k % LISTENERS.len()]);
        assert_ne!(f0, f1, "{h}:{port}'s certificate was renewed");
        assert_eq!(f1, s1, "{h}:{port} serves the renewed certificate");
    }
    // PgBouncer was reloaded, not restarted: its process is the one from before
    assert_eq!(
        pids(),
        pgbouncer_pids,
        "PgBouncer reloaded its TLS files in place"
    );
    let p = rs(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        p.code,
        0,
        "the plan after the renewal is empty:\n{}",
        p.all()
    );
    Measured {
        apply_secs,
        redis: r,
        pg: q,
    }
}
