//! Issue "every seed's stack", on lab hosts: each of plans/{aegis,aeterna,
//! titan,egide}.toml, turned into its lab variant (hosts node1..3 -> lab1..3,
//! each app image pulled from the lab's registry instead of its own, Qdrant
//! and Dragonfly left out), applied to fresh Docker-capable hosts; then
//! `status` healthy, the next plan empty, each app container answering
//! through HAProxy with its image's name, no error in the containers' logs,
//! and each seed's own promise checked: Aegis' routes, Aeterna's two
//! synchronous standbys, Titan's migration once before the rollout (in its
//! image) and readiness routing, Egide's TLS on 443.
//!
//! The seed plans name their real images (`ghcr.io/example/aegis-backend:1.4.2`,
//! `openpolicyagent/opa:0.70.0`); the lab variant keeps each image's name and
//! tag and swaps its registry for the lab's (`198.18.0.1:5000/example/aegis-backend:1.4.2`),
//! where `rampart lab image` pushed a stand-in under that name, built once per
//! run. Dragonfly is left out: a stand-in would not replicate.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod common;
use common::*;

const REGISTRY: &str = "198.18.0.1:5000";

/// An image's name and tag without its registry (`ghcr.io/example/x:1` ->
/// `example/x:1`, `openpolicyagent/opa:0.70.0` unchanged): the stand-in's name.
fn standin_name(image: &str) -> String {
    match image.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            rest.to_string()
        }
        _ => image.to_string(),
    }
}

/// Builds and pushes the stand-in `name` once per test run (the registry
/// outlives `lab up --fresh`; the image layer is shared by every name).
fn standin_image(name: &str) {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if built.iter().any(|b| b == name) {
        return;
    }
    let r = rampart(&["lab", "image", name]);
    assert_eq!(r.code, 0, "lab image {name}: {}", r.all());
    built.push(name.to_string());
}

/// The seed's stack for the lab, and the secrets it reads from the environment.
fn lab_variant(seed: &str, dir: &std::path::Path) -> (String, Vec<(String, String)>) {
    let text = std::fs::read_to_string(format!("{ROOT}/plans/{seed}.toml")).unwrap();
    let text = text
        .replace("node1", "lab1")
        .replace("node2", "lab2")
        .replace("node3", "lab3")
        .replace("10.0.1.1", "198.18.0.1");
    let mut t: toml::Table = toml::from_str(&text).unwrap();
    t.remove("qdrant");
    if let Some(toml::Value::Table(services)) = t.get_mut("services") {
        services.retain(|name, _| !name.starts_with("dragonfly"));
        for (_, s) in services.iter_mut() {
            let s = s.as_table_mut().unwrap();
            let image = s["image"]
                .as_str()
                .expect("every seed service names an image");
            let name = standin_name(image);
            standin_image(&name);
            let image = format!("{REGISTRY}/{name}");
            if s.contains_key("migrate") {
                // records where and when it ran, and the environment it saw in the service's image
                s.insert("migrate".into(), toml::Value::String(format!(
                    "echo \"$(hostname) $(date +%s.%N) $(docker run --rm -e DATABASE_URL {image} sh -c 'echo $DATABASE_URL')\" >> /var/lib/rampart/migrations.log"
                )));
            }
            s.insert("image".into(), toml::Value::String(image));
        }
    }
    if let Some(tls) = t
        .get_mut("haproxy")
        .and_then(|h| h.get_mut("tls"))
        .and_then(|v| v.as_table_mut())
    {
        let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        need_tool("openssl", "openssl");
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=egide.lab",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .expect("openssl is needed (apt-get install openssl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = |p: &std::path::Path| {
            toml::Value::Table(toml::Table::from_iter([(
                "file".to_string(),
                toml::Value::String(p.display().to_string()),
            )]))
        };
        tls.insert("cert".into(), file(&crt));
        tls.insert("key".into(), file(&key));
    }
    // every { env = "NAME" } gets a lab value
    let mut env = Vec::new();
    fn walk(v: &toml::Value, env: &mut Vec<(String, String)>) {
        match v {
            toml::Value::Table(t) => {
                if let (1, Some(toml::Value::String(n))) = (t.len(), t.get("env")) {
                    env.push((
                        n.clone(),
                        format!("lab-{}", n.to_lowercase().replace('_', "-")),
                    ));
                }
                t.values().for_each(|v| walk(v, env));
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, env)),
            _ => {}
        }
    }
    walk(&toml::Value::Table(t.clone()), &mut env);
    let path = dir.join(format!("{seed}.toml"));
    std::fs::write(&path, toml::to_string(&t).unwrap()).unwrap();
    (path.display().to_string(), env)
}

fn apply_seed(seed: &str, dir: &std::path::Path) -> (String, Vec<(String, String)>) {
    let up = rampart(&["lab", "up", "3", "--fresh", "--docker"]);
    assert_eq!(up.code, 0, "{}", up.all());
    let (stack, env) = lab_variant(seed, dir);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let inv = lab_inventory();
    let t = std::time::Instant::now();
    let a = rampart_env(
        &["-i", &inv, "-s", &stack, "apply", "--auto-approve"],
        &env_ref,
    );
    assert_eq!(a.code, 0, "{seed}: apply:\n{}", a.all());
    eprintln!(
        "MEASURED {seed}: apply on fresh lab hosts {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let p = rampart_env(
        &["-i", &inv, "-s", &stack, "plan", "--detailed-exitcode"],
        &env_ref,
    );
    assert_eq!(
        p.code,
        0,
        "{seed}: the plan after apply is empty:\n{}",
        p.all()
    );
    // Patroni replicas and Sentinels settle within seconds of the apply
    let mut last = String::new();
    for _ in 0..30 {
        let s = rampart_env(&["-i", &inv, "-s", &stack, "status"], &env_ref);
        if s.code == 0 {
            last.clear();
            break;
        }
        last = s.all();
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert!(last.is_empty(), "{seed}: status stays unhealthy:\n{last}");
    container_logs_are_clean(seed);
    let t = std::time::Instant::now();
    tls_everywhere(seed, &stack, &env);
    eprintln!(
        "MEASURED {seed}: TLS checks {:.1}s",
        t.elapsed().as_secs_f64()
    );
    (stack, env)
}

/// `[tls]` (issue 16) in the seed's stack: its CA made beside the stack file
/// (a temporary copy, never the repository), every host and app service
/// handed that CA, every TCP listener on the hosts TLS verified by it but
/// sshd and the plaintext-on-purpose ports (HAProxy's stats page, the app
/// services' ports and HAProxy's listeners of them), and plaintext
/// PostgreSQL (remote and through HAProxy) and Redis/Sentinel refused.
fn tls_everywhere(seed: &str, stack: &str, env: &[(String, String)]) {
    use std::os::unix::fs::PermissionsExt;
    let secret = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{seed}: no {name}"))
    };
    let dir = std::path::Path::new(stack)
        .parent()
        .unwrap()
        .join(format!(".rampart/{seed}/tls"));
    let ca = std::fs::read_to_string(dir.join("ca.crt"))
        .unwrap_or_else(|e| panic!("{seed}: the CA beside the stack, {}: {e}", dir.display()));
    for (f, mode) in [("ca.key", 0o600), ("", 0o700)] {
        let m = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{seed}: {}/{f}", dir.display());
    }
    let text = std::fs::read_to_string(stack).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    let hosts = ["lab1", "lab2", "lab3"];
    for h in hosts {
        assert_eq!(
            ssh_ok(h, "cat /etc/etcd/tls/ca.crt"),
            ca,
            "{seed}: {h} trusts the stack's CA"
        );
    }
    // every app service on lab1 has the CA (RAMPART_TLS_CA_FILE)
    let services: Vec<&String> = t["services"].as_table().unwrap().keys().collect();
    let files = ssh_ok("lab1", "ls /etc/rampart/tls/");
    let on_lab1: Vec<&str> = files.lines().collect();
    assert!(!on_lab1.is_empty(), "{seed}: no app service's CA on lab1");
    for s in &on_lab1 {
        assert!(
            services.iter().any(|x| x == s),
            "{seed}: /etc/rampart/tls/{s}"
        );
        assert_eq!(
            ssh_ok("lab1", &format!("cat /etc/rampart/tls/{s}/ca.crt")),
            ca,
            "{seed}: {s}'s CA"
        );
    }

    let plain = common::tls::plain_ports(&text);
    let listeners = common::tls::tls_listeners(&hosts, &plain, &common::tls::ETCD_CERT);
    eprintln!(
        "{seed}: TLS verified on {} listeners (plaintext on purpose: {plain:?}): {}",
        listeners.len(),
        listeners.join(", ")
    );
    let mut want = vec![2379, 2380, 8008, 5432, 5000];
    if t.contains_key("redis") {
        want.extend([6379, 26379, 6380]);
    }
    for port in want {
        assert!(
            listeners.iter().any(|l| l.ends_with(&format!(":{port}"))),
            "{seed}: no TLS listener on port {port} among {listeners:?}"
        );
    }

    // PostgreSQL: the app's user with the CA (verify-full) is admitted, remote
    // and through HAProxy; the same without TLS is refused by pg_hba
    let pw = secret(&format!("{}_DB_PASSWORD", seed.to_uppercase()));
    for (host, port) in [("198.18.0.12", 5432), ("198.18.0.11", 5000)] {
        let conn = |mode: &str| {
            format!("PGPASSWORD={pw} PGCONNECT_TIMEOUT=3 psql -X -tA \"host={host} port={port} user={seed} dbname={seed} sslmode={mode} sslrootcert=/etc/patroni/tls/ca.crt\" -c 'select current_user' 2>&1")
        };
        assert_eq!(
            ssh_ok("lab1", &conn("verify-full")).trim(),
            seed,
            "{seed}: {host}:{port} verify-full"
        );
        let plain = ssh("lab1", &conn("disable"));
        assert!(
            plain.code != 0 && plain.stdout.contains("pg_hba.conf"),
            "{seed}: {host}:{port} took a plaintext connection: {}",
            plain.all()
        );
    }
    // Redis and Sentinel: no plaintext answer; TLS with the CA through HAProxy
    if t.contains_key("redis") {
        let pw = secret(&format!("{}_REDIS_PASSWORD", seed.to_uppercase()));
        for port in [6379, 26379] {
            let plain = ssh(
                "lab1",
                &format!("REDISCLI_AUTH={pw} timeout 3 redis-cli --no-auth-warning -h 198.18.0.12 -p {port} ping 2>&1"),
            );
            assert!(
                !plain.stdout.contains("PONG") && !plain.stdout.contains("NOAUTH"),
                "{seed}: plaintext Redis protocol answered on {port}: {}",
                plain.all()
            );
        }
        assert_eq!(
            ssh_ok("lab1", &format!("REDISCLI_AUTH={pw} timeout 3 redis-cli --no-auth-warning --tls --cacert /etc/redis/tls/ca.crt -h 198.18.0.11 -p 6380 ping")).trim(),
            "PONG",
            "{seed}: Redis over TLS through HAProxy"
        );
    }
}

/// Every app container runs, and none logged an error (the stand-in logs
/// nothing but its failures: a traceback, a bind error).
fn container_logs_are_clean(seed: &str) {
    for h in ["lab1", "lab2", "lab3"] {
        let out = ssh_ok(
            h,
            "for c in $(docker ps -aq); do docker inspect -f '== {{.Name}} {{.State.Status}}' $c; docker logs $c 2>&1 | tail -n 50; done",
        );
        for l in out.lines() {
            let low = l.to_ascii_lowercase();
            assert!(
                !low.starts_with("== ") || low.ends_with(" running"),
                "{seed}: {h}: a container is not running:\n{out}"
            );
            assert!(
                !["error", "traceback", "exception", "fatal", "panic"]
                    .iter()
                    .any(|w| low.contains(w)),
                "{seed}: {h}: a container logged an error:\n{out}"
            );
        }
    }
}

/// The body `url` answers, fetched on `from`.
fn body(from: &str, url: &str) -> String {
    ssh(from, &format!("curl -sk --max-time 5 {url}"))
        .stdout
        .trim()
        .to_string()
}

fn http_code(from: &str, url: &str) -> String {
    ssh(
        from,
        &format!("curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 {url}"),
    )
    .stdout
}

#[test]
fn every_seed_applies_on_lab_hosts() {
    let _lab = lab_docker(3);
    let dir = tempfile::tempdir().unwrap();

    // Aegis: Patroni + Sentinel + backend/frontend x2 behind HAProxy, OPA, backups on a timer
    apply_seed("aegis", dir.path());
    assert_eq!(
        body("lab3", "http://198.18.0.11:8080/"),
        "example/aegis-backend:1.4.2",
        "the backend's container through HAProxy"
    );
    assert_eq!(
        body("lab3", "http://198.18.0.12:8081/"),
        "example/aegis-frontend:1.4.2",
        "the frontend's container through HAProxy"
    );
    assert_eq!(
        body("lab3", "http://198.18.0.11:8181/"),
        "openpolicyagent/opa:0.70.0",
        "OPA's container on lab1"
    );
    assert_eq!(
        http_code("lab3", "http://198.18.0.11:8080/health"),
        "200",
        "backend through HAProxy"
    );
    assert_eq!(
        http_code("lab3", "http://198.18.0.12:8081/"),
        "200",
        "frontend through HAProxy"
    );
    assert!(
        ssh_ok("lab1", "systemctl list-timers --all --no-legend").contains("rampart"),
        "the backup timer is installed"
    );

    // Aeterna: quorum commit, ANY 2 of its two standbys, as its seed asks
    // (Patroni 4: bootstrapped synchronous, switched to quorum by PATCH /config)
    apply_seed("aeterna", dir.path());
    let mut roles = String::new();
    for _ in 0..30 {
        roles = ssh_ok(
            "lab1",
            "curl -sf --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/cluster",
        );
        if roles.matches("\"quorum_standby\"").count() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert_eq!(
        roles.matches("\"quorum_standby\"").count(),
        2,
        "ANY 2 through synchronous_mode = \"quorum\" and synchronous_node_count = 2: {roles}"
    );
    let leader = ["lab1", "lab2", "lab3"]
        .into_iter()
        .find(|h| {
            ssh(
                h,
                "curl -sf -o /dev/null --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/primary",
            )
            .code
                == 0
        })
        .expect("a leader");
    // both standbys must confirm every commit: Patroni writes `ANY 2 (a,b)`, or
    // keeps the bootstrap's `2 (a,b)` (FIRST 2 of 2), which is the same
    // quorum when it is every standby (its quorum resolver sees nothing to change)
    let both = |ssn: &str| {
        (ssn.starts_with("ANY 2 (") || ssn.starts_with("2 ("))
            && ["lab1", "lab2", "lab3"]
                .iter()
                .filter(|h| **h != leader)
                .all(|h| ssn.contains(*h))
    };
    let mut ssn = String::new();
    for _ in 0..30 {
        ssn = ssh_ok(
            leader,
            "cd / && runuser -u postgres -- psql -XtAc 'show synchronous_standby_names'",
        )
        .trim()
        .to_string();
        if both(&ssn) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    assert!(both(&ssn), "quorum commit of both standbys: {ssn}");
    for (port, name) in [
        (8090, "memory"),
        (8091, "knowledge"),
        (8092, "sync"),
        (8093, "tools"),
    ] {
        assert_eq!(
            http_code("lab3", &format!("http://198.18.0.11:{port}/health")),
            "200",
            "service on {port} through HAProxy"
        );
        assert_eq!(
            body("lab3", &format!("http://198.18.0.12:{port}/")),
            format!("example/aeterna-{name}:2.0.1"),
            "{name}'s container (9090..9093) through HAProxy"
        );
    }
    for a in ["198.18.0.11", "198.18.0.12"] {
        assert_eq!(
            http_code("lab3", &format!("http://{a}:7002/healthcheck")),
            "200"
        );
        assert_eq!(
            body("lab3", &format!("http://{a}:7002/")),
            "permitio/opal-server:0.7.6",
            "OPAL's container on {a}"
        );
    }

    // Titan: the migration ran once, on lab1, before any host got the app; routed on readiness, least connections
    let (stack, env) = apply_seed("titan", dir.path());
    let log = ssh_ok("lab1", "cat /var/lib/rampart/migrations.log");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.starts_with("lab1 ")
            && log.contains("postgresql+asyncpg://titan@198.18.0.100:5000/titan"),
        "ran with the service's environment: {log}"
    );
    let ran: f64 = log.split_whitespace().nth(1).unwrap().parse().unwrap();
    for h in ["lab2", "lab3"] {
        assert_eq!(
            ssh(h, "test -e /var/lib/rampart/migrations.log").code,
            1,
            "{h}: the migration runs on one host only"
        );
    }
    for h in ["lab1", "lab2", "lab3"] {
        let unit: f64 = ssh_ok(h, "find /etc/systemd/system -maxdepth 1 -name 'rampart-titan-titan.service' -printf '%T@'").trim().parse().unwrap();
        assert!(
            ran < unit,
            "{h}: the app was installed ({unit}) before the migration ran ({ran})"
        );
    }
    let cfg = ssh_ok("lab1", "cat /etc/haproxy/haproxy.cfg");
    assert!(
        cfg.contains("balance leastconn") && cfg.contains("option httpchk GET /health/ready"),
        "{cfg}"
    );
    assert_eq!(
        http_code("lab3", "http://198.18.0.11:80/health/ready"),
        "200"
    );
    assert_eq!(
        body("lab3", "http://198.18.0.11:80/"),
        "example/titan-aas:3.2.0",
        "Titan's container through HAProxy"
    );
    // a second apply does not migrate again
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        rampart_env(
            &[
                "-i",
                &lab_inventory(),
                "-s",
                &stack,
                "apply",
                "--auto-approve"
            ],
            &env_ref
        )
        .code,
        0
    );
    assert_eq!(
        ssh_ok("lab1", "wc -l < /var/lib/rampart/migrations.log").trim(),
        "1"
    );

    // Egide: TLS terminated by HAProxy on 443 with a root-only PEM
    apply_seed("egide", dir.path());
    assert_eq!(
        http_code("lab3", "https://198.18.0.11/v1/sys/health"),
        "200",
        "HTTPS through HAProxy"
    );
    assert_eq!(
        body("lab3", "https://198.18.0.12/"),
        "example/egide:1.0.0",
        "Egide's container through HAProxy's TLS"
    );
    assert_eq!(
        ssh_ok("lab1", "stat -c '%a %U' /etc/haproxy/tls.pem").trim(),
        "600 root"
    );
    let subject = ssh_ok("lab3", "curl -skv --max-time 5 https://198.18.0.12/v1/sys/health 2>&1 >/dev/null | grep -i 'subject:'");
    assert!(
        subject.contains("egide.lab"),
        "served with the stack's certificate: {subject}"
    );
    assert_ne!(
        http_code("lab3", "http://198.18.0.11:443/v1/sys/health"),
        "200",
        "no plain HTTP on 443"
    );
}

/// A client through HAProxy: one GET every 50 ms until `stop`; (sent, failed, bodies seen).
fn client(
    url_host: &'static str,
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(usize, usize, Vec<String>)> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let (mut sent, mut failed, mut seen) = (0, 0, Vec::new());
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            sent += 1;
            let got = (|| -> std::io::Result<String> {
                let addr = format!("{url_host}:{port}").parse().unwrap();
                let mut s =
                    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))?;
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
                s.write_all(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                Ok(out)
            })();
            match got {
                Ok(r) if r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200") => {
                    let body = r.rsplit("\r\n\r\n").next().unwrap_or("").trim().to_string();
                    if !seen.contains(&body) {
                        seen.push(body);
                    }
                }
                Ok(r) => {
                    failed += 1;
                    eprintln!("request {sent} failed: {}", r.lines().next().unwrap_or(""));
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("request {sent} failed: {e}");
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        (sent, failed, seen)
    })
}

/// Samples `ps -eo args` on lab1..lab3 every 50 ms until stopped; the lines
/// that hold the registry password are kept (grep's own pattern does not).
struct PsSampler(Vec<(String, std::thread::JoinHandle<Run>)>);

impl PsSampler {
    fn start() -> PsSampler {
        PsSampler(
            ["lab1", "lab2", "lab3"]
                .iter()
                .map(|h| {
                    let host = h.to_string();
                    let cmd = "rm -f /run/ps-sample-stop; n=0; end=$((SECONDS+300)); \
                        while [ $SECONDS -lt $end ] && [ ! -e /run/ps-sample-stop ]; do \
                        ps -eo args | grep -e 'lab-registry-pa[s]s'; n=$((n+1)); sleep 0.05; done; \
                        echo samples=$n";
                    (host.clone(), std::thread::spawn(move || ssh(&host, cmd)))
                })
                .collect(),
        )
    }

    fn stop_and_check(self) {
        for (host, t) in self.0 {
            ssh_ok(&host, "touch /run/ps-sample-stop");
            let r = t.join().unwrap();
            let n: u32 = r
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("samples="))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            assert!(
                n > 10,
                "{host}: the process list was sampled ({n} times):\n{}",
                r.all()
            );
            assert!(
                !r.stdout.contains(AUTH_REGISTRY_PASSWORD),
                "{host}: the registry password shows in a process's arguments:\n{}",
                r.stdout
            );
            eprintln!("{host}: process list sampled {n} times, no password");
        }
    }
}

/// The lab's registry that asks for a login (`lab up --docker`, 198.18.0.1:5001).
const AUTH_REGISTRY_PASSWORD: &str = "lab-registry-pass";

/// The roll's stack: the image comes from the lab's registry that asks for a
/// login, the password from `$ROLL_REGISTRY_PASSWORD`.
fn roll_stack(dir: &std::path::Path, tag: &str) -> String {
    let path = dir.join(format!("roll-{tag}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[stack]
name = "roll"

[services.web]
hosts = "app"
image = "198.18.0.1:5001/rampart-test/web:{tag}"
registry_user = "rampart"
registry_password = {{ env = "ROLL_REGISTRY_PASSWORD" }}
port = 8000
health = "/health/live"
ready = "/health/ready"

[haproxy]
hosts = ["lab1"]
[haproxy.listen]
web = 8080
"#
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// Issue 18: a three-replica compose service rolls from v1 to v2 behind
/// HAProxy while a client sends a request every 50 ms: no request fails,
/// every host serves v2, the next plan is empty; a v2 that never turns
/// healthy stops the roll at its first host, the others keep serving, and
/// no server stays drained.
#[test]
fn a_compose_service_rolls_behind_haproxy_with_no_failed_request() {
    let _lab = lab_docker(3);
    let dir = tempfile::tempdir().unwrap();
    for (tag, extra) in [("v1", None), ("v2", None), ("bad", Some("--unhealthy"))] {
        let image = format!("rampart-test/web:{tag}");
        let mut args = vec!["lab", "image", &image];
        args.extend(extra);
        let r = rampart(&args);
        assert_eq!(r.code, 0, "lab image {image}: {}", r.all());
    }
    let inv = lab_inventory();
    // the image comes from a registry that asks for a login: the password
    // never shows in rampart's output, a saved plan, the JSON plan, or the
    // hosts' process lists
    let pass = [("ROLL_REGISTRY_PASSWORD", AUTH_REGISTRY_PASSWORD)];
    let rampart = |args: &[&str]| {
        let r = rampart_env(args, &pass);
        assert!(
            !r.all().contains(AUTH_REGISTRY_PASSWORD),
            "the registry password shows in the output of {args:?}"
        );
        r
    };
    let v1 = roll_stack(dir.path(), "v1");
    let saved = dir.path().join("v1.plan");
    let saved_s = saved.to_string_lossy().into_owned();
    let p = rampart(&["-i", &inv, "-s", &v1, "plan", "--out", &saved_s]);
    assert_eq!(p.code, 0, "plan --out:\n{}", p.all());
    let saved_text = String::from_utf8_lossy(&std::fs::read(&saved).unwrap()).into_owned();
    assert!(
        saved_text.contains("registry-password"),
        "the saved plan writes the password file"
    );
    assert!(
        !saved_text.contains(AUTH_REGISTRY_PASSWORD),
        "the password is not in the saved plan"
    );
    let j = rampart(&["-i", &inv, "-s", &v1, "plan", "--json"]);
    assert_eq!(j.code, 0, "plan --json:\n{}", j.all());
    assert!(
        j.stdout.contains("web-login"),
        "the JSON plan logs in:\n{}",
        j.stdout
    );
    let ps = PsSampler::start();
    let t = std::time::Instant::now();
    let a = rampart(&["-i", &inv, "-s", &v1, "apply", "--auto-approve"]);
    ps.stop_and_check();
    let diag = || {
        ssh("lab1", "journalctl -u rampart-roll-web --no-pager | tail -n 20; docker ps -a; journalctl -u docker --no-pager | tail -n 5").all()
    };
    assert_eq!(a.code, 0, "apply v1:\n{}\n{}", a.all(), diag());
    eprintln!(
        "MEASURED compose v1 on 3 fresh hosts (Docker installed): {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let serves = |h: &str| {
        ssh_ok("lab1", &format!("curl -s -m 3 http://{h}:8000/"))
            .trim()
            .to_string()
    };
    for h in ["198.18.0.11", "198.18.0.12", "198.18.0.13"] {
        assert_eq!(serves(h), "rampart-test/web:v1", "{h} serves v1");
    }

    // a wrong password: the login fails naming the service and the keys,
    // before anything pulls or rolls (only the password file changes)
    let v2 = roll_stack(dir.path(), "v2");
    let w = rampart_env(
        &["-i", &inv, "-s", &v2, "apply", "--auto-approve"],
        &[("ROLL_REGISTRY_PASSWORD", "wrong-registry-pass")],
    );
    assert_ne!(w.code, 0, "a wrong registry password fails:\n{}", w.all());
    assert!(
        w.all().contains("refused the login of services.web")
            && w.all().contains("registry_password"),
        "the error names the service and the key:\n{}",
        w.all()
    );
    assert!(!w.all().contains("wrong-registry-pass"), "{}", w.all());
    for (k, h) in ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
        .iter()
        .enumerate()
    {
        assert_eq!(serves(h), "rampart-test/web:v1", "{h} still serves v1");
        let host = format!("lab{}", k + 1);
        let img = ssh(
            &host,
            "docker image inspect 198.18.0.1:5001/rampart-test/web:v2",
        );
        assert_ne!(img.code, 0, "{host} did not pull v2 with a wrong password");
        assert_ne!(
            ssh(&host, "test -e /etc/rampart/compose/web/registry-password").code,
            0,
            "{host} does not keep the password the registry refused"
        );
    }
    // the refused password is not taken as converged: the next plan logs in again
    let again = rampart_env(
        &["-i", &inv, "-s", &v2, "plan", "--detailed-exitcode"],
        &[("ROLL_REGISTRY_PASSWORD", "wrong-registry-pass")],
    );
    assert_eq!(
        again.code,
        2,
        "the plan after a refused login is not empty:\n{}",
        again.all()
    );
    assert!(
        again.stdout.contains("web-login"),
        "it logs in again:\n{}",
        again.all()
    );

    // v1 -> v2 under traffic
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let c = client("198.18.0.11", 8080, stop.clone());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let ps = PsSampler::start();
    let t = std::time::Instant::now();
    let a = rampart(&["-i", &inv, "-s", &v2, "apply", "--auto-approve"]);
    ps.stop_and_check();
    let roll = t.elapsed().as_secs_f64();
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, failed, seen) = c.join().unwrap();
    assert_eq!(a.code, 0, "apply v2:\n{}\n{}", a.all(), diag());
    measured!("MEASURED compose roll of 3 replicas v1 -> v2: {roll:.1}s; requests through HAProxy every 50 ms: {sent} sent, {failed} failed; bodies seen {seen:?}");
    assert!(
        a.all().contains("drain"),
        "the roll drains hosts in HAProxy:\n{}",
        a.all()
    );
    assert_eq!(failed, 0, "no request fails during the roll ({sent} sent)");
    assert!(sent > 20, "the client ran during the roll ({sent} sent)");
    for h in ["198.18.0.11", "198.18.0.12", "198.18.0.13"] {
        assert_eq!(serves(h), "rampart-test/web:v2", "{h} serves v2");
    }
    let p = rampart(&["-i", &inv, "-s", &v2, "plan", "--detailed-exitcode"]);
    assert_eq!(p.code, 0, "the plan after the roll is empty:\n{}", p.all());
    let st = rampart(&["-i", &inv, "-s", &v2, "status"]);
    assert_eq!(st.code, 0, "status after the roll:\n{}", st.all());
    assert!(
        st.stdout
            .matches("198.18.0.1:5001/rampart-test/web:v2 running")
            .count()
            == 3,
        "status shows each container's image and state:\n{}",
        st.all()
    );

    // v2 -> an image that never turns healthy: the roll stops at the first host
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let c = client("198.18.0.11", 8080, stop.clone());
    let bad = roll_stack(dir.path(), "bad");
    let a = rampart(&["-i", &inv, "-s", &bad, "apply", "--auto-approve"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sent, failed, _) = c.join().unwrap();
    measured!("MEASURED compose roll to an unhealthy image: {sent} requests sent, {failed} failed");
    assert_ne!(
        a.code,
        0,
        "a roll to an unhealthy image fails:\n{}",
        a.all()
    );
    assert!(
        a.all().contains("web-health") || a.all().contains("never answered 200"),
        "the summary says why:\n{}",
        a.all()
    );
    for h in ["198.18.0.12", "198.18.0.13"] {
        assert_eq!(serves(h), "rampart-test/web:v2", "{h} keeps serving v2");
    }
    assert_eq!(
        serves("198.18.0.11"),
        "rampart-test/web:bad",
        "lab1 was replaced first"
    );
    let state = ssh_ok(
        "lab1",
        "echo 'show stat web 4 -1' | socat stdio unix-connect:/run/haproxy/admin.sock | cut -d, -f2,18",
    );
    for l in state.lines().filter(|l| l.starts_with("lab")) {
        assert!(
            !l.contains("DRAIN") && !l.contains("MAINT"),
            "nothing stays drained:\n{state}"
        );
    }
    // lab1 is back in rotation as far as the roll goes (ready), and out of
    // it by its own failing check while its image stays unhealthy
    assert!(
        state.contains("lab1,DOWN") && state.contains("lab2,UP") && state.contains("lab3,UP"),
        "{state}"
    );
}
