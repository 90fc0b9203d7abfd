//! Issue "every seed's stack", on lab hosts: each of plans/{aegis,aeterna,
//! titan,egide}.toml, turned into its lab variant (hosts node1..3 -> lab1..3,
//! app images -> a systemd stand-in answering 200 on every path, Qdrant left
//! out since its image cannot run here), applied to fresh hosts; then
//! `status` healthy, the next plan empty, and each seed's own promise checked:
//! Aegis' routes, Aeterna's two synchronous standbys, Titan's migration once
//! before the rollout and readiness routing, Egide's TLS on 443.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
use common::*;

/// A stand-in for an app image: answers 200 to any GET, on `port`.
fn stand_in(port: i64) -> String {
    format!("/usr/bin/python3 -c \"import http.server as h; C=type('C', (h.BaseHTTPRequestHandler,), {{'do_GET': lambda s: (s.send_response(200), s.end_headers(), s.wfile.write(b'ok'))}}); h.ThreadingHTTPServer(('', {port}), C).serve_forever()\"")
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
        for (_, s) in services.iter_mut() {
            let s = s.as_table_mut().unwrap();
            if s.remove("image").is_some() {
                let port = s["port"].as_integer().unwrap();
                s.insert("command".into(), toml::Value::String(stand_in(port)));
            }
            if s.contains_key("migrate") {
                // records where and when it ran
                s.insert("migrate".into(), toml::Value::String("echo \"$(hostname) $(date +%s.%N) $DATABASE_URL\" >> /var/lib/rampart/migrations.log".into()));
            }
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
    let up = rampart(&["lab", "up", "3", "--fresh"]);
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
    (stack, env)
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
    let _lab = lab(3);
    let dir = tempfile::tempdir().unwrap();

    // Aegis: Patroni + Sentinel + backend/frontend x2 behind HAProxy, backups on a timer
    apply_seed("aegis", dir.path());
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
        roles = ssh_ok("lab1", "curl -sf http://127.0.0.1:8008/cluster");
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
        .find(|h| ssh(h, "curl -sf -o /dev/null http://127.0.0.1:8008/primary").code == 0)
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
    for port in [8090, 8091, 8092, 8093] {
        assert_eq!(
            http_code("lab3", &format!("http://198.18.0.11:{port}/health")),
            "200",
            "service on {port} through HAProxy"
        );
    }

    // Titan: the migration ran once, on lab1, before any host got the app; routed on readiness, least connections
    let (stack, env) = apply_seed("titan", dir.path());
    let log = ssh_ok("lab1", "cat /var/lib/rampart/migrations.log");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.starts_with("lab1 ") && log.contains("postgresql+asyncpg://titan@127.0.0.1:5000/titan"),
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
