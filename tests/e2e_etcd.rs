//! Issue "rampart core", end to end on 3 real lab hosts over real SSH:
//! apply the etcd stack from scratch, a second plan is empty and a second
//! apply touches nothing, drift is shown and repaired, unknown or changed
//! host keys are refused before any command runs; the same hosts then grow
//! to etcd + PostgreSQL (no databases) and + HAProxy, each converging to an
//! empty plan, with a client outside the stack admitted by client_networks.
//! The stack runs with `[tls]` (issue 16): every etcd listener answers a TLS
//! handshake that verifies against the stack's CA, and etcd refuses a client
//! without a certificate; Patroni reaches etcd with its own.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod common;
use common::*;
use std::time::Instant;

/// etcdctl on a member, with the member's CA, certificate and key (`[tls]`).
const ETCDCTL: &str = "ETCDCTL_CACERT=/etc/etcd/tls/ca.crt ETCDCTL_CERT=/etc/etcd/tls/etcd.crt ETCDCTL_KEY=/etc/etcd/tls/etcd.key etcdctl";
const ALL_HTTPS: &str =
    "https://198.18.0.11:2379,https://198.18.0.12:2379,https://198.18.0.13:2379";

/// Every TCP listener of `process` on every lab host completes a TLS
/// handshake that verifies against the stack's CA in `dir` (with the client
/// certificate `dir/name`, for listeners that ask one); returns how many.
fn listeners_speak_tls(process: &str, dir: &str, name: &str) -> usize {
    let mut n = 0;
    for h in ["lab1", "lab2", "lab3"] {
        let out = ssh_ok(
            h,
            &format!("ss -Htlnp | grep '\"{process}\"' | awk '{{print $4}}'"),
        );
        let addrs: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        assert!(!addrs.is_empty(), "{h}: no {process} listener");
        for a in addrs {
            let (ip, port) = a.rsplit_once(':').unwrap();
            // a wildcard listener is reached on the loopback
            let ip = if ip == "0.0.0.0" || ip == "*" {
                "127.0.0.1"
            } else {
                ip
            };
            let r = ssh(h, &format!("openssl s_client -connect {ip}:{port} -verify_return_error -verify_ip {ip} -CAfile {dir}/ca.crt -cert {dir}/{name}.crt -key {dir}/{name}.key </dev/null 2>&1"));
            assert!(
                r.code == 0 && r.stdout.contains("Verify return code: 0 (ok)"),
                "{h}: {process} on {ip}:{port} is not TLS verified by the stack's CA:\n{}",
                r.all()
            );
            n += 1;
        }
    }
    n
}

fn mtimes() -> Vec<String> {
    ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| {
            ssh_ok(
                h,
                "stat -c '%n %Y' /etc/default/etcd /var/lib/rampart/state.json",
            )
        })
        .collect()
}

/// On Debian 12 (bookworm: etcd 3.4, Patroni 3.0, PostgreSQL 15, HAProxy 2.6),
/// so that the older release keeps its core end-to-end run: etcd formed and
/// rolled, PostgreSQL grown onto it, HAProxy in front, and a failover.
#[test]
fn etcd_cluster_end_to_end() {
    let _lab = lab_on(3, 12);
    let inv_dir = tempfile::tempdir().unwrap();
    let inv = lab_inventory_in(inv_dir.path());
    assert!(
        std::fs::read_to_string(&inv)
            .unwrap()
            .contains("debian = 12"),
        "the lab's inventory says which release its hosts run"
    );
    // every stack file of this test in one folder: they share `.rampart/e2e/tls/` (one CA)
    let sdir = tempfile::tempdir().unwrap();
    let stack_file = sdir.path().join("etcd.toml");
    std::fs::write(
        &stack_file,
        std::fs::read_to_string(fixture("etcd.toml"))
            .unwrap()
            .replace("[etcd]", "[tls]\n\n[etcd]"),
    )
    .unwrap();
    let stack = stack_file.display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        ["-i", &inv, "-s", &stack]
            .iter()
            .chain(rest.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |rest: &[&str]| {
        let a = args(rest);
        rampart(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // Debian's postinst has already started a throwaway one-node etcd on lab3
    // (the gotcha): the apply must still form the real cluster.
    ssh_ok("lab3", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null && systemctl is-active etcd");

    let p = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(p.code, 2, "changes expected:\n{}", p.all());
    assert!(
        p.stdout.contains("+ lab1/package/etcd-server"),
        "{}",
        p.stdout
    );
    assert!(
        p.stdout.contains("+ lab1/file/etc/default/etcd"),
        "{}",
        p.stdout
    );
    assert!(p.stdout.contains("to add"), "{}", p.stdout);

    let t = Instant::now();
    let a = run(&["apply", "--auto-approve"]);
    let apply_secs = t.elapsed().as_secs_f64();
    assert_eq!(a.code, 0, "apply failed:\n{}", a.all());
    eprintln!("first apply of the etcd stack: {apply_secs:.1}s");

    for h in ["lab1", "lab2", "lab3"] {
        let health = ssh_ok(
            h,
            &format!("{ETCDCTL} --endpoints=https://127.0.0.1:2379 endpoint health 2>&1"),
        );
        assert!(health.contains("is healthy"), "{h}: {health}");
        let members = ssh_ok(
            h,
            &format!("{ETCDCTL} --endpoints=https://127.0.0.1:2379 member list"),
        );
        assert_eq!(members.lines().count(), 3, "{h}: {members}");
        for m in ["lab1", "lab2", "lab3"] {
            assert!(members.contains(m), "{h}: {members}");
        }
    }
    let st = run(&["status"]);
    assert_eq!(st.code, 0, "{}", st.all());
    assert_eq!(st.stdout.matches("leader").count(), 1, "{}", st.stdout);

    // issue 16: etcd's client (host address and loopback) and peer listeners
    // are TLS, verified against the stack's CA; a client without a
    // certificate of that CA is refused, and plaintext gets nothing
    let n = listeners_speak_tls("etcd", "/etc/etcd/tls", "etcd");
    assert_eq!(n, 9, "2379 on the address and loopback, 2380, on 3 hosts");
    let tls_dir = sdir.path().join(".rampart/e2e/tls");
    let ca = tls_dir.join("ca.crt").display().to_string();
    let no_cert = ssh("lab2", "ETCDCTL_CACERT=/etc/etcd/tls/ca.crt etcdctl --endpoints=https://198.18.0.11:2379 --command-timeout=3s put /x y 2>&1");
    assert_ne!(
        no_cert.code,
        0,
        "etcd accepted a client without a certificate: {}",
        no_cert.all()
    );
    let plain = ssh(
        "lab2",
        "curl -s --max-time 3 http://198.18.0.11:2379/version",
    );
    assert!(
        !plain.stdout.contains("etcdserver"),
        "etcd answered plaintext: {}",
        plain.all()
    );
    // from this machine: the handshake verifies with the CA kept beside the stack
    let hs = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            "198.18.0.12:2380",
            "-verify_return_error",
            "-verify_ip",
            "198.18.0.12",
            "-CAfile",
            &ca,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&hs.stdout).contains("Verify return code: 0 (ok)"),
        "{}",
        String::from_utf8_lossy(&hs.stderr)
    );
    // the keys on the hosts: 0600, the service's user; kept here 0600 too
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh_ok(h, "stat -c '%a %U' /etc/etcd/tls/etcd.key").trim(),
            "600 etcd"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    for f in ["ca.key", "lab1-etcd.key"] {
        let m = std::fs::metadata(tls_dir.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o600, "{f}");
    }

    // a second plan is empty; a second apply touches no file
    let p2 = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(p2.code, 0, "second plan not empty:\n{}", p2.all());
    let before = mtimes();
    let a2 = run(&["apply", "--auto-approve"]);
    assert_eq!(a2.code, 0, "{}", a2.all());
    assert!(a2.stdout.contains("No changes"), "{}", a2.stdout);
    assert_eq!(before, mtimes(), "a no-op apply rewrote files");

    // a managed file edited by hand: shown as drift with its diff, then put back
    ssh_ok(
        "lab2",
        "sed -i 's/^ETCD_HEARTBEAT_INTERVAL=.*/ETCD_HEARTBEAT_INTERVAL=\"999\"/' /etc/default/etcd",
    );
    let p3 = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(p3.code, 2, "{}", p3.all());
    assert!(
        p3.stdout.contains("~ lab2/file/etc/default/etcd (drift)"),
        "{}",
        p3.stdout
    );
    assert!(
        p3.stdout.contains("-ETCD_HEARTBEAT_INTERVAL=\"999\""),
        "{}",
        p3.stdout
    );
    assert!(
        p3.stdout.contains("+ETCD_HEARTBEAT_INTERVAL=\"100\""),
        "{}",
        p3.stdout
    );
    assert!(
        p3.stdout.contains("lab2/service/etcd"),
        "the config change restarts etcd on lab2: {}",
        p3.stdout
    );
    assert!(!p3.stdout.contains("lab1/service/etcd"), "{}", p3.stdout);
    let a3 = run(&["apply", "--auto-approve"]);
    assert_eq!(a3.code, 0, "{}", a3.all());
    assert!(ssh_ok("lab2", "cat /etc/default/etcd").contains("ETCD_HEARTBEAT_INTERVAL=\"100\""));
    assert_eq!(run(&["plan", "--detailed-exitcode"]).code, 0);
    let health = ssh_ok(
        "lab1",
        &format!("{ETCDCTL} --endpoints={ALL_HTTPS} endpoint health 2>&1"),
    );
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");

    // a setting every member needs: a rolling restart, one member down at a time
    let rolled = sdir.path().join("rolled.toml");
    std::fs::write(
        &rolled,
        std::fs::read_to_string(&stack).unwrap()
            + "heartbeat_interval = 150\nelection_timeout = 1500\n",
    )
    .unwrap();
    let rolled_s = rolled.display().to_string();
    let p4 = rampart(&["-i", &inv, "-s", &rolled_s, "plan"]);
    assert!(
        p4.stdout
            .contains("rolling restart: member 3 of 3, after lab2/service/etcd"),
        "{}",
        p4.stdout
    );
    let started = |h: &str| {
        ssh_ok(
            h,
            "systemctl show -p ActiveEnterTimestampMonotonic --value etcd",
        )
        .trim()
        .parse::<u64>()
        .unwrap()
    };
    let before: Vec<u64> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| started(h))
        .collect();
    // lab3 watches how many member processes answer, every 0.2 s, while the apply runs
    let watcher = std::thread::spawn(|| {
        ssh_ok("lab3", "rm -f /tmp/stop-watch; min=3; end=$(( $(date +%s) + 120 )); while [ ! -e /tmp/stop-watch ] && [ $(date +%s) -lt $end ]; do n=0; for a in 11 12 13; do curl -sf --max-time 0.5 --cacert /etc/etcd/tls/ca.crt --cert /etc/etcd/tls/etcd.crt --key /etc/etcd/tls/etcd.key https://198.18.0.$a:2379/version >/dev/null && n=$((n+1)); done; [ $n -lt $min ] && min=$n; sleep 0.2; done; echo $min")
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let a4 = rampart(&["-i", &inv, "-s", &rolled_s, "apply", "--auto-approve"]);
    ssh_ok("lab3", "touch /tmp/stop-watch");
    let min_up: u32 = watcher.join().unwrap().trim().parse().unwrap();
    let _ = std::fs::remove_file(&rolled);
    assert_eq!(a4.code, 0, "{}", a4.all());
    let after: Vec<u64> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| started(h))
        .collect();
    for k in 0..3 {
        assert!(after[k] > before[k], "member {} was restarted", k + 1);
    }
    assert!(
        after[0] < after[1] && after[1] < after[2],
        "one after another, in host order: {after:?}"
    );
    assert!(
        min_up >= 2,
        "at most one member was down at any time; saw {min_up} of 3 answering"
    );
    measured!("MEASURED rolling etcd restart: members back {:.1}s and {:.1}s apart; fewest members answering: {min_up}", (after[1] - after[0]) as f64 / 1e6, (after[2] - after[1]) as f64 / 1e6);
    for h in ["lab1", "lab2", "lab3"] {
        assert!(ssh_ok(h, "cat /etc/default/etcd").contains("ETCD_HEARTBEAT_INTERVAL=\"150\""));
    }
    let health = ssh_ok(
        "lab1",
        &format!("{ETCDCTL} --endpoints={ALL_HTTPS} endpoint health 2>&1"),
    );
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");

    // Issue 13: every valid stack converges to an empty plan, not only the
    // examples. The same stack grows on the same hosts: etcd + postgres with
    // no [[postgres.databases]], then client_networks, then + haproxy.
    let grown = sdir.path().join("stack.toml");
    let grown_s = grown.display().to_string();
    let etcd_text = std::fs::read_to_string(&stack).unwrap()
        + "heartbeat_interval = 150\nelection_timeout = 1500\n";
    let postgres = format!("[postgres]\nhosts = \"data\"\nsuperuser_password = {{ file = \"{ROOT}/plans/lab-secrets/pg_superuser\" }}\nreplication_password = {{ file = \"{ROOT}/plans/lab-secrets/pg_replication\" }}\n");
    let apply_then_quiet = |text: &str, what: &str| {
        std::fs::write(&grown, text).unwrap();
        let t = Instant::now();
        let a = rampart(&["-i", &inv, "-s", &grown_s, "apply", "--auto-approve"]);
        assert_eq!(a.code, 0, "{what}: apply failed:\n{}", a.all());
        eprintln!("{what}: apply {:.1}s", t.elapsed().as_secs_f64());
        let p = rampart(&["-i", &inv, "-s", &grown_s, "plan", "--detailed-exitcode"]);
        assert_eq!(
            p.code,
            0,
            "{what}: the plan after apply is not empty:\n{}",
            p.all()
        );
    };
    // this machine is 198.18.0.1 on the lab bridge: outside the stack
    let superuser = std::fs::read_to_string(format!("{ROOT}/plans/lab-secrets/pg_superuser"))
        .unwrap()
        .trim_end()
        .to_string();
    let any_writable = "host=198.18.0.11,198.18.0.12,198.18.0.13 port=5432 user=postgres dbname=postgres target_session_attrs=read-write";

    apply_then_quiet(
        &format!("{etcd_text}{postgres}"),
        "etcd + postgres, no databases",
    );
    // Patroni reaches etcd over TLS with its own client certificate (its key: 0600, postgres)
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh_ok(h, "stat -c '%a %U' /etc/patroni/tls/patroni.key").trim(),
            "600 postgres"
        );
        assert!(ssh_ok(h, "cat /etc/patroni/config.yml").contains("  protocol: https\n"));
    }
    // Patroni's REST API is https only, verified against the CA; an
    // unauthenticated switchover is refused (401), plaintext gets nothing
    assert_eq!(
        listeners_speak_tls("patroni", "/etc/patroni/tls", "patroni"),
        3
    );
    let refused = ssh_ok("lab2", "curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert /etc/patroni/tls/ca.crt -X POST -H 'Content-Type: application/json' -d '{\"leader\": \"lab1\"}' https://198.18.0.11:8008/switchover");
    assert_eq!(refused.trim(), "401", "an unauthenticated switchover");
    let plain = ssh(
        "lab2",
        "curl -s --max-time 3 http://198.18.0.11:8008/cluster",
    );
    assert!(
        !plain.stdout.contains("members"),
        "Patroni answered plaintext: {}",
        plain.all()
    );
    let r = psql_here(
        "host=198.18.0.11 port=5432 user=postgres dbname=postgres",
        &superuser,
        "select 1",
    );
    assert_ne!(
        r.code,
        0,
        "a client outside the stack connected with no client_networks: {}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("no pg_hba.conf entry for host \"198.18.0.1\""),
        "refused by pg_hba: {}",
        r.all()
    );

    // client_networks admits it once Patroni has reloaded (pg_hba.conf rewritten, no restart)
    let pg_started = |h: &str| {
        ssh_ok(
            h,
            "systemctl show -p ActiveEnterTimestampMonotonic --value patroni",
        )
        .trim()
        .to_string()
    };
    let before_pg: Vec<String> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| pg_started(h))
        .collect();
    let with_clients = postgres.replace(
        "superuser_password",
        "client_networks = [\"198.18.0.1/32\"]\nsuperuser_password",
    );
    apply_then_quiet(
        &format!("{etcd_text}{with_clients}"),
        "etcd + postgres + client_networks",
    );
    let t = Instant::now();
    let r = loop {
        let r = psql_here(any_writable, &superuser, "select pg_is_in_recovery()");
        if r.code == 0 || t.elapsed().as_secs() > 30 {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(
        r.code,
        0,
        "client_networks = [\"198.18.0.1/32\"] admits this machine: {}",
        r.all()
    );
    assert_eq!(
        r.stdout.trim(),
        "f",
        "target_session_attrs=read-write reached the leader: {}",
        r.all()
    );
    eprintln!(
        "client admitted {:.1}s after the apply",
        t.elapsed().as_secs_f64()
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert!(
            ssh_ok(h, "cat /var/lib/postgresql/*/patroni/pg_hba.conf")
                .contains("hostssl all all 198.18.0.1/32 scram-sha-256"),
            "{h}: [tls] admits remote clients over TLS only"
        );
    }
    let after_pg: Vec<String> = ["lab1", "lab2", "lab3"]
        .iter()
        .map(|h| pg_started(h))
        .collect();
    assert_eq!(
        before_pg, after_pg,
        "a pg_hba change reloads Patroni, never restarts it"
    );

    // + HAProxy routing to the primary: quiet too, and it reaches the leader
    apply_then_quiet(&format!("{etcd_text}{with_clients}[haproxy]\nhosts = \"edge\"\n[haproxy.listen]\npostgres_primary = 5000\n"), "etcd + postgres + haproxy");
    let r = psql_here(
        "host=198.18.0.12 port=5000 user=postgres dbname=postgres",
        &superuser,
        "select pg_is_in_recovery()",
    );
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "f"),
        "through HAProxy to the leader: {}",
        r.all()
    );
    // PostgreSQL through HAProxy verifies against the stack's CA with the
    // HAProxy host's address (sslmode=verify-full); a plaintext remote
    // connection is refused (hostssl only)
    let ca_here = sdir
        .path()
        .join(".rampart/e2e/tls/ca.crt")
        .display()
        .to_string();
    let r = psql_here(
        &format!("host=198.18.0.12 port=5000 user=postgres dbname=postgres sslmode=verify-full sslrootcert={ca_here}"),
        &superuser,
        "select pg_is_in_recovery(), ssl from pg_stat_ssl where pid = pg_backend_pid()",
    );
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "f|t"),
        "verify-full through HAProxy: {}",
        r.all()
    );
    let r = psql_here(
        "host=198.18.0.11 port=5432 user=postgres dbname=postgres sslmode=disable",
        &superuser,
        "select 1",
    );
    assert!(
        r.code != 0 && r.stderr.contains("no encryption"),
        "a plaintext remote connection is refused: {}",
        r.all()
    );
    assert!(
        ssh_ok("lab1", "patroni --version").contains("patroni 3."),
        "Debian 12 runs Patroni 3"
    );
    let c = ssh(
        "lab1",
        "/usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg 2>&1",
    );
    assert!(
        c.code == 0 && !c.stdout.contains("WARNING") && !c.stdout.contains("ALERT"),
        "haproxy -c passes with no warning on Debian 12: {}",
        c.all()
    );

    // Day 2 (issue 16): `status` reads each certificate's days left on its
    // host; a renewal (the kept certificates removed beside the stack, so
    // plan issues every one again from the same CA) rolls under a writer on
    // etcd and one on PostgreSQL through HAProxy: etcd restarts one member at
    // a time, Patroni reloads (its REST API serves the new certificate) and
    // PostgreSQL reloads its TLS files (pg_reload_conf), no restart
    let st = rampart(&["-i", &inv, "-s", &grown_s, "status", "--json"]);
    assert_eq!(st.code, 0, "{}", st.all());
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 6, "etcd and patroni on 3 hosts: {certs:?}");
    for c in certs {
        assert!(
            (363..=365).contains(&c["days_left"].as_i64().unwrap()) && c["renew_due"] == false,
            "{c}"
        );
    }
    let st = rampart(&["-i", &inv, "-s", &grown_s, "status"]);
    assert!(
        st.stdout.contains("certificates (renew_days = 30)") && st.stdout.contains(" days left"),
        "{}",
        st.stdout
    );
    let files = [
        ("etcd", "/etc/etcd/tls", "198.18.0.1{n}:2379", ""),
        ("patroni", "/etc/patroni/tls", "198.18.0.1{n}:8008", ""),
        (
            "patroni",
            "/etc/patroni/tls",
            "198.18.0.1{n}:5432",
            "-starttls postgres",
        ),
    ];
    // (file serial, served serial) of each listener above on each host
    let serials = || -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, h) in ["lab1", "lab2", "lab3"].iter().enumerate() {
            for (name, dir, addr, extra) in files {
                let addr = addr.replace("{n}", &(i + 1).to_string());
                let file = ssh_ok(
                    h,
                    &format!("openssl x509 -noout -serial -enddate -in {dir}/{name}.crt"),
                );
                let served = ssh_ok(h, &format!("openssl s_client -connect {addr} {extra} -CAfile {dir}/ca.crt -cert {dir}/{name}.crt -key {dir}/{name}.key </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate"));
                out.push((file.trim().to_string(), served.trim().to_string()));
            }
        }
        out
    };
    let before_certs = serials();
    for (f, s) in &before_certs {
        assert_eq!(f, s, "each listener serves the certificate on its host");
    }
    assert_eq!(
        psql_here(
            "host=198.18.0.12 port=5000 user=postgres dbname=postgres sslmode=require",
            &superuser,
            "create table if not exists renew_w(id serial primary key, at timestamptz default now())",
        )
        .code,
        0
    );
    let tls_dir = sdir.path().join(".rampart/e2e/tls");
    for e in std::fs::read_dir(&tls_dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if n.starts_with("lab") && n.ends_with(".crt") {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let p = rampart(&["-i", &inv, "-s", &grown_s, "plan"]);
    assert_eq!(p.code, 0, "{}", p.all());
    assert!(
        p.stdout.contains("rolling restart: member 3 of 3"),
        "a renewal restarts etcd one member at a time: {}",
        p.stdout
    );
    let w = Writers::start("renew", &superuser);
    let t = Instant::now();
    let a = rampart(&["-i", &inv, "-s", &grown_s, "apply", "--auto-approve"]);
    let roll_secs = t.elapsed().as_secs_f64();
    let (
        (etcd_ok, etcd_bad, min_up),
        WriteStats {
            n,
            failed,
            worst,
            slowest,
            still_failing,
        },
    ) = w.stop();
    assert_eq!(a.code, 0, "{}", a.all());
    measured!("MEASURED certificate renewal roll (etcd restarted one member at a time, Patroni and PostgreSQL reloaded): apply {roll_secs:.1}s; etcd: {etcd_ok} writes every 0.2 s, {etcd_bad} failed, fewest members answering {min_up}; PostgreSQL through HAProxy: {n} writes every 100 ms, {failed} failed (longest run of failures {worst:.2}s), slowest successful write {slowest:.2}s");
    assert!(
        etcd_ok > 20,
        "the etcd writer ran: {etcd_ok} writes, {etcd_bad} failed"
    );
    assert_eq!(etcd_bad, 0, "no etcd write failed during the renewal");
    assert!(
        min_up >= 2,
        "at most one etcd member down at a time; saw {min_up} of 3"
    );
    assert!(n > 20, "the PostgreSQL writer ran: {n} writes");
    assert!(
        !still_failing,
        "PostgreSQL writes were still failing at the end"
    );
    assert!(
        worst <= 1.0,
        "PostgreSQL writes failed for {worst:.2}s at most (the rolling restart's goal: 1 s)"
    );
    // the hosts hold and serve the new certificates
    let t = Instant::now();
    let after_certs = loop {
        let a = serials();
        if a.iter().all(|(f, s)| f == s) || t.elapsed().as_secs() > 20 {
            break a;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    for (k, ((f0, _), (f1, s1))) in before_certs.iter().zip(&after_certs).enumerate() {
        assert_ne!(f0, f1, "certificate {k} on its host was renewed");
        assert_eq!(f1, s1, "listener {k} serves the renewed certificate");
    }
    // the expiry metric for node_exporter follows the new certificate at once
    for (h, name, dir) in [
        ("lab1", "etcd", "/etc/etcd/tls"),
        ("lab3", "patroni", "/etc/patroni/tls"),
    ] {
        let end = ssh_ok(h, &format!("date -d \"$(openssl x509 -enddate -noout -in {dir}/{name}.crt | cut -d= -f2)\" +%s"));
        let prom = ssh_ok(h, &format!("cat /var/lib/prometheus/node-exporter/rampart_tls_{name}.prom; systemctl is-active rampart-tls-metrics-{name}.timer"));
        assert!(
            prom.contains(&format!(
                "purpose=\"{name}\",file=\"{dir}/{name}.crt\"}} {}",
                end.trim()
            )) && prom.trim_end().ends_with("active"),
            "{h}: {prom}"
        );
    }
    let p = rampart(&["-i", &inv, "-s", &grown_s, "plan", "--detailed-exitcode"]);
    assert_eq!(
        p.code,
        0,
        "the plan after the renewal is empty:\n{}",
        p.all()
    );

    // A CA change, live (README: Changing the CA): a new CA made with the
    // README's openssl command; going straight to it is refused; then three
    // applies with both CAs trusted in between, each converging, etcd healthy
    // throughout and every listener on the new CA at the end
    let o = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=e2e CA 2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "new-ca.key",
            "-out",
            "new-ca.crt",
        ])
        .current_dir(sdir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full = format!("{etcd_text}{with_clients}[haproxy]\nhosts = \"edge\"\n[haproxy.listen]\npostgres_primary = 5000\n");
    let with_tls = |keys: &str| full.replacen("[tls]\n", &format!("[tls]\n{keys}"), 1);
    let new_ca = "ca = { file = \"new-ca.crt\" }\nca_key = { file = \"new-ca.key\" }\n";
    std::fs::write(&grown, with_tls(new_ca)).unwrap();
    let p = rampart(&["-i", &inv, "-s", &grown_s, "plan"]);
    assert!(
        p.code != 0
            && p.stderr.contains("do not trust yet")
            && p.stderr.contains("nothing was changed"),
        "straight to a new CA is refused: {}",
        p.all()
    );
    // the three applies run under the same two writers as the renewal
    let w = Writers::start("ca", &superuser);
    let t = Instant::now();
    apply_then_quiet(
        &with_tls("trust = [{ file = \"new-ca.crt\" }]\n"),
        "CA change 1/3: the new CA trusted",
    );
    apply_then_quiet(
        &with_tls(&format!(
            "{new_ca}trust = [{{ file = \".rampart/e2e/tls/ca.crt\" }}]\n"
        )),
        "CA change 2/3: the new CA signs, the old one still trusted",
    );
    let final_text = with_tls(new_ca);
    apply_then_quiet(&final_text, "CA change 3/3: the old CA dropped");
    let ca_secs = t.elapsed().as_secs_f64();
    let (
        (etcd_ok, etcd_bad, min_up),
        WriteStats {
            n,
            failed,
            worst,
            slowest,
            still_failing,
        },
    ) = w.stop();
    measured!(
        "MEASURED CA change in three applies (etcd, Patroni, PostgreSQL, HAProxy): {ca_secs:.1}s; etcd: {etcd_ok} writes every 0.2 s, {etcd_bad} failed, fewest members answering {min_up}; PostgreSQL through HAProxy: {n} writes every 100 ms, {failed} failed (longest run of failures {worst:.2}s), slowest successful write {slowest:.2}s"
    );
    assert!(
        etcd_ok > 20,
        "the etcd writer ran: {etcd_ok} writes, {etcd_bad} failed"
    );
    assert_eq!(etcd_bad, 0, "no etcd write failed during the CA change");
    assert!(
        min_up >= 2,
        "at most one etcd member down at a time during the CA change; saw {min_up} of 3"
    );
    assert!(
        n > 20 && !still_failing,
        "the PostgreSQL writer ran ({n} writes) and ended writing"
    );
    assert!(
        worst <= 1.0,
        "PostgreSQL writes failed for {worst:.2}s at most during the CA change (the rolling restart's goal: 1 s)"
    );
    let new_pem = std::fs::read_to_string(sdir.path().join("new-ca.crt")).unwrap();
    for h in ["lab1", "lab2", "lab3"] {
        for f in ["/etc/etcd/tls/ca.crt", "/etc/patroni/tls/ca.crt"] {
            assert_eq!(
                ssh_ok(h, &format!("cat {f}")).trim_end(),
                new_pem.trim_end(),
                "{h}:{f} holds the new CA alone"
            );
        }
    }
    let new_ca_here = sdir.path().join("new-ca.crt").display().to_string();
    for (i, h) in ["lab1", "lab2", "lab3"].iter().enumerate() {
        let ip = format!("198.18.0.1{}", i + 1);
        for port in ["2379", "8008"] {
            let r = std::process::Command::new("openssl")
                .args([
                    "s_client",
                    "-connect",
                    &format!("{ip}:{port}"),
                    "-verify_return_error",
                    "-verify_ip",
                    &ip,
                    "-CAfile",
                    &new_ca_here,
                    "-cert",
                    &format!("{}/{h}-etcd.crt", tls_dir.display()),
                    "-key",
                    &format!("{}/{h}-etcd.key", tls_dir.display()),
                ])
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&r.stdout);
            assert!(
                out.contains("Verify return code: 0 (ok)"),
                "{h}:{port} verifies against the new CA: {out}"
            );
        }
    }
    let health = ssh_ok(
        "lab1",
        &format!("{ETCDCTL} --endpoints={ALL_HTTPS} endpoint health 2>&1"),
    );
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
    let r = psql_here(
        &format!("host=198.18.0.12 port=5000 user=postgres dbname=postgres sslmode=verify-full sslrootcert={new_ca_here}"),
        &superuser,
        "select pg_is_in_recovery()",
    );
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "f"),
        "verify-full through HAProxy with the new CA: {}",
        r.all()
    );

    // the leader's host is lost outright: a replica is promoted and a write
    // through the other edge host's HAProxy works again; the host comes back,
    // rejoins as a replica, and the plan is quiet
    let leader = || -> Option<String> {
        let out = ssh(
            "lab3",
            "curl -sf --max-time 3 --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/cluster",
        )
        .stdout;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v["members"]
            .as_array()?
            .iter()
            .find(|m| m["role"] == "leader" && m["state"] == "running")
            .and_then(|m| m["name"].as_str().map(str::to_string))
    };
    let old = leader().expect("a leader");
    let haproxy = if old == "lab2" {
        "198.18.0.11"
    } else {
        "198.18.0.12"
    };
    let lost_at = Instant::now();
    let k = rampart(&["lab", "kill", &old]);
    assert_eq!(k.code, 0, "{}", k.all());
    let r = loop {
        let r = psql_here(
            &format!("host={haproxy} port=5000 user=postgres dbname=postgres connect_timeout=2"),
            &superuser,
            "select pg_is_in_recovery()",
        );
        if (r.code == 0 && r.stdout.trim() == "f") || lost_at.elapsed().as_secs() > 180 {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "f"),
        "a writable primary through HAProxy after losing {old}: {}",
        r.all()
    );
    let failover_secs = lost_at.elapsed().as_secs_f64();
    let survivor = if old == "lab3" { "lab2" } else { "lab3" };
    let new = {
        let out = ssh_ok(
            survivor,
            "curl -sf --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/cluster",
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "leader")
            .map(|m| m["name"].as_str().unwrap().to_string())
            .expect("a new leader")
    };
    assert_ne!(new, old, "a replica was promoted");
    let s = rampart(&["lab", "start", &old]);
    assert_eq!(s.code, 0, "{}", s.all());
    apply_then_quiet(&final_text, "after the old leader came back");
    let t = Instant::now();
    loop {
        let out = ssh(
            survivor,
            "curl -sf --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/cluster",
        )
        .stdout;
        let back = serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| {
                v["members"].as_array().map(|m| {
                    m.iter().any(|x| {
                        x["name"] == old.as_str()
                            && x["role"] == "replica"
                            && (x["state"] == "streaming" || x["state"] == "running")
                    })
                })
            })
            .unwrap_or(false);
        if back {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 180,
            "{old} did not rejoin as a replica: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    measured!("MEASURED Debian 12: PostgreSQL write through HAProxy after losing the leader's host ({old} -> {new}): {failover_secs:.1}s");
}

/// `psql` on this machine, as the PostgreSQL superuser.
/// Two writers during a roll of certificates: lab3 writes to etcd every
/// 0.2 s through all three endpoints (its own client certificate, read anew
/// each time) and counts the members answering; this machine inserts into
/// `renew_w` through HAProxy every 100 ms (`sslmode=require`: the CA may
/// change under it).
struct Writers {
    tag: &'static str,
    etcd: std::thread::JoinHandle<String>,
    pg: std::thread::JoinHandle<String>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Writers {
    fn start(tag: &'static str, superuser: &str) -> Writers {
        let etcd = std::thread::spawn(move || {
            ssh_ok("lab3", &format!("rm -f /tmp/stop-{tag}; ok=0; bad=0; min=3; end=$(( $(date +%s) + 900 )); while [ ! -e /tmp/stop-{tag} ] && [ $(date +%s) -lt $end ]; do n=0; for a in 11 12 13; do curl -sf --max-time 0.5 --cacert /etc/etcd/tls/ca.crt --cert /etc/etcd/tls/etcd.crt --key /etc/etcd/tls/etcd.key https://198.18.0.$a:2379/version >/dev/null && n=$((n+1)); done; [ $n -lt $min ] && min=$n; if {ETCDCTL} --endpoints={ALL_HTTPS} --command-timeout=5s put /rampart-{tag} \"$(date +%s%N)\" >/dev/null 2>&1; then ok=$((ok+1)); else bad=$((bad+1)); fi; sleep 0.2; done; echo $ok $bad $min"))
        });
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pg = {
            let stop = stop.clone();
            let superuser = superuser.to_string();
            std::thread::spawn(move || {
                let mut log = String::new();
                let epoch = || {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs_f64()
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = epoch();
                    let r = psql_here(
                        "host=198.18.0.11 port=5000 user=postgres dbname=postgres sslmode=require",
                        &superuser,
                        "insert into renew_w default values",
                    );
                    log.push_str(&format!(
                        "{t} {} {}\n",
                        epoch(),
                        if r.code == 0 { "ok" } else { "fail" }
                    ));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                log
            })
        };
        std::thread::sleep(std::time::Duration::from_secs(2));
        Writers {
            tag,
            etcd,
            pg,
            stop,
        }
    }

    /// Stops both: the etcd writer's `ok bad fewest-members` and the
    /// PostgreSQL writer's log.
    /// Stops both writers: (etcd writes done, failed, fewest members
    /// answering) and the PostgreSQL writes' figures.
    fn stop(self) -> ((u32, u32, u32), WriteStats) {
        std::thread::sleep(std::time::Duration::from_secs(2));
        ssh_ok("lab3", &format!("touch /tmp/stop-{}", self.tag));
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (counts, log) = (self.etcd.join().unwrap(), self.pg.join().unwrap());
        let c: Vec<u32> = counts
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        ((c[0], c[1], c[2]), write_stats(&log))
    }
}

fn psql_here(conninfo: &str, password: &str, sql: &str) -> Run {
    need_tool("psql", "postgresql-client");
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-At",
            "-d",
            &format!("{conninfo} connect_timeout=5"),
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGPASSFILE", "/dev/null")
        .output()
        .expect("psql (apt-get install postgresql-client)");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes an inventory like the lab's but with another known_hosts file.
fn inventory_with_known_hosts(dir: &std::path::Path, known_hosts: &str, policy: &str) -> String {
    let text = std::fs::read_to_string(lab_inventory()).unwrap();
    let text = text
        .replace(
            "known_hosts = \"/var/lib/rampart-lab/known_hosts\"",
            &format!("known_hosts = \"{known_hosts}\""),
        )
        .replace(
            "host_key_policy = \"strict\"",
            &format!("host_key_policy = \"{policy}\""),
        );
    let p = dir.join("inv.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn unknown_or_changed_host_keys_are_refused_before_any_command() {
    let _lab = lab(3);
    let dir = tempfile::tempdir().unwrap();
    // a role whose fact-gathering would leave a marker if any command ran
    let roles = dir.path().join("roles/marker");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(roles.join("role.toml"), "[[resources]]\nkind = \"command\"\nname = \"m\"\nrun = \"true\"\nunless = \"touch /tmp/rampart-ran\"\n").unwrap();
    let stack = dir.path().join("stack.toml");
    std::fs::write(
        &stack,
        "[stack]\nname = \"keys\"\n[roles.marker]\nhosts = [\"lab1\"]\n",
    )
    .unwrap();
    let roles_dir = dir.path().join("roles").display().to_string();
    let stack = stack.display().to_string();

    // unknown: an empty known_hosts under strict
    let empty = dir.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let inv = inventory_with_known_hosts(dir.path(), &empty.display().to_string(), "strict");
    let r = rampart(&["-i", &inv, "-s", &stack, "--roles", &roles_dir, "plan"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("lab1") && r.stderr.contains("no key for 198.18.0.11"),
        "{}",
        r.stderr
    );
    assert_eq!(
        ssh("lab1", "test -e /tmp/rampart-ran").code,
        1,
        "a command ran before the host key was accepted"
    );

    // changed: known_hosts holds another key for the address
    let changed = dir.path().join("known_hosts_changed");
    let other = dir.path().join("otherkey");
    let kg = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(kg.success());
    let pubkey = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let mut parts = pubkey.split_whitespace();
    let (kt, kb) = (parts.next().unwrap(), parts.next().unwrap());
    std::fs::write(
        &changed,
        format!("# another host's key\n198.18.0.11 {kt} {kb}\n"),
    )
    .unwrap();
    for policy in ["strict", "accept-new"] {
        let inv = inventory_with_known_hosts(dir.path(), &changed.display().to_string(), policy);
        let r = rampart(&["-i", &inv, "-s", &stack, "--roles", &roles_dir, "plan"]);
        assert_eq!(r.code, 1, "{policy}: {}", r.all());
        assert!(
            r.stderr.contains("has changed") && r.stderr.contains("line 2"),
            "{policy}: {}",
            r.stderr
        );
        assert_eq!(
            ssh("lab1", "test -e /tmp/rampart-ran").code,
            1,
            "{policy}: a command ran with a changed host key"
        );
    }

    // accept-new records an unknown key, then strict accepts it
    let fresh = dir.path().join("known_hosts_new");
    let inv = inventory_with_known_hosts(dir.path(), &fresh.display().to_string(), "accept-new");
    let r = rampart(&["-i", &inv, "-s", &stack, "--roles", &roles_dir, "plan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let recorded = std::fs::read_to_string(&fresh).unwrap();
    assert_eq!(
        recorded
            .lines()
            .filter(|l| l.contains("198.18.0.11"))
            .count(),
        1,
        "{recorded}"
    );
    let inv = inventory_with_known_hosts(dir.path(), &fresh.display().to_string(), "strict");
    assert_eq!(
        rampart(&["-i", &inv, "-s", &stack, "--roles", &roles_dir, "plan"]).code,
        0
    );
}

/// Authentication through ssh-agent (no identity file in the inventory), and
/// no agent forwarding: the remote session never sees SSH_AUTH_SOCK.
#[test]
fn ssh_agent_authenticates_and_is_never_forwarded() {
    let _lab = lab(3);
    let dir = tempfile::tempdir().unwrap();
    let roles = dir.path().join("roles/marker");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(roles.join("role.toml"), "[[resources]]\nkind = \"command\"\nname = \"env\"\nrun = \"true\"\nunless = \"env > /tmp/rampart-env\"\n").unwrap();
    let stack = dir.path().join("stack.toml");
    std::fs::write(
        &stack,
        "[stack]\nname = \"agent\"\n[roles.marker]\nhosts = [\"lab1\"]\n",
    )
    .unwrap();
    let (roles_dir, stack) = (
        dir.path().join("roles").display().to_string(),
        stack.display().to_string(),
    );
    let text = std::fs::read_to_string(lab_inventory()).unwrap();
    assert!(text.contains("identity = "));
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        text.lines()
            .filter(|l| !l.starts_with("identity = "))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let inv = inv.display().to_string();

    // without an agent and without an identity file: refused, saying why
    let r = rampart_env(
        &["-i", &inv, "-s", &stack, "--roles", &roles_dir, "plan"],
        &[("SSH_AUTH_SOCK", "")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("no identity file given and no ssh-agent"),
        "{}",
        r.stderr
    );

    // an agent of our own, holding the lab key
    let sock = dir.path().join("agent.sock");
    let out = std::process::Command::new("ssh-agent")
        .arg("-a")
        .arg(&sock)
        .arg("-s")
        .output()
        .expect("ssh-agent (openssh-client)");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let pid: i32 = text
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.parse().ok())
        .expect("agent pid");
    struct Agent(i32);
    impl Drop for Agent {
        fn drop(&mut self) {
            unsafe { libc::kill(self.0, libc::SIGTERM) };
        }
    }
    let _agent = Agent(pid);
    let sock_s = sock.display().to_string();
    let add = std::process::Command::new("ssh-add")
        .arg("-q")
        .arg("/var/lib/rampart-lab/id_ed25519")
        .env("SSH_AUTH_SOCK", &sock_s)
        .output()
        .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let r = rampart_env(
        &["-i", &inv, "-s", &stack, "--roles", &roles_dir, "plan"],
        &[("SSH_AUTH_SOCK", &sock_s)],
    );
    assert!(
        r.code == 0 || r.code == 2,
        "agent authentication works: {}",
        r.all()
    );
    let env = ssh_ok("lab1", "cat /tmp/rampart-env");
    assert!(
        env.contains("SSH_CONNECTION="),
        "the facts ran in rampart's session: {env}"
    );
    assert!(
        !env.contains("SSH_AUTH_SOCK"),
        "the agent is not forwarded: {env}"
    );
}
