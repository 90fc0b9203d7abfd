//! `[tls]` without SSH: the loader's certificates reach the etcd and Patroni
//! roles' files (keys 0600, owned by the service's user, never shown), etcd
//! and Patroni are configured for TLS with client certificates, a second
//! load plans nothing, and `enabled = false` is the plaintext stack.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rampart::compile::{Compiled, Desired};
use rampart::diag::Source;
use rampart::facts::HostFacts;
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::plan::{plan, Action};
use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::{compiled_with, converged_guards_hold, fresh};

const STACK: &str = "[stack]\nname = \"e2e\"\n\n[etcd]\nhosts = \"data\"\n\n[postgres]\nhosts = \"data\"\nsuperuser_password = { env = \"X\" }\nreplication_password = { env = \"Y\" }\n\n[haproxy]\nhosts = \"edge\"\n[haproxy.listen]\npostgres_primary = 5000\n";

fn inv() -> Inventory {
    Inventory::parse(Source::new(
        "inventory/default.toml",
        include_str!("../inventory/default.toml"),
    ))
    .unwrap()
}

const SECRETS: &[(&str, &str)] = &[
    ("postgres.superuser_password", "S3cr3t-super"),
    ("postgres.replication_password", "S3cr3t-repl"),
    ("redis.password", "S3cr3t-redis"),
];

/// The stack with `tls` appended, compiled with the certificates the loader
/// keeps beside `stack_path`; also the secret values it rendered with.
fn compiled(tls: &str, stack_path: &Path) -> (Compiled, BTreeMap<String, String>) {
    let inv = inv();
    let stack = Stack::parse(Source::new("stack.toml", format!("{STACK}{tls}")), &inv).unwrap();
    let (c, m) = compiled_with(&inv, &stack, stack_path, SECRETS).unwrap();
    (c, exposed(&m))
}

/// `compiled`, with its `[tls]` secrets (the operator's CA, `trust`) read
/// from files beside `stack_path`, and the loader's refusal as an error.
fn compiled_reading(tls: &str, stack_path: &Path) -> Result<Compiled, String> {
    let inv = inv();
    let stack = Stack::parse(Source::new("stack.toml", format!("{STACK}{tls}")), &inv).unwrap();
    compiled_with(&inv, &stack, stack_path, SECRETS).map(|(c, _)| c)
}

fn exposed(m: &BTreeMap<String, Secret>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect()
}

fn file<'a>(c: &'a Compiled, id: &str) -> &'a Desired {
    &c.resources[c.index_of(id).unwrap_or_else(|| panic!("no {id}"))].desired
}

/// A file's mode, owner, group and whether it is never shown.
fn access(c: &Compiled, id: &str) -> (u32, String, String, bool) {
    match file(c, id) {
        Desired::File {
            mode,
            owner,
            group,
            sensitive,
            ..
        } => (*mode, owner.clone(), group.clone(), *sensitive),
        _ => panic!("{id} is not a file"),
    }
}

fn text(c: &Compiled, id: &str) -> String {
    match file(c, id) {
        Desired::File { content, .. } => String::from_utf8(content.clone()).unwrap(),
        _ => panic!("{id} is not a file"),
    }
}

#[test]
fn etcd_and_patroni_get_certificates_and_talk_tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (c, values) = compiled("\n[tls]\n", &dir.path().join("stack.toml"));
    let env = text(&c, "lab1/file/etc/default/etcd");
    for line in [
        "ETCD_LISTEN_PEER_URLS=\"https://198.18.0.11:2380\"",
        "ETCD_LISTEN_CLIENT_URLS=\"https://198.18.0.11:2379,https://127.0.0.1:2379\"",
        "ETCD_ADVERTISE_CLIENT_URLS=\"https://198.18.0.11:2379\"",
        "ETCD_CERT_FILE=\"/etc/etcd/tls/etcd.crt\"",
        "ETCD_KEY_FILE=\"/etc/etcd/tls/etcd.key\"",
        "ETCD_TRUSTED_CA_FILE=\"/etc/etcd/tls/ca.crt\"",
        "ETCD_CLIENT_CERT_AUTH=\"true\"",
        "ETCD_PEER_CLIENT_CERT_AUTH=\"true\"",
        "ETCD_PEER_TRUSTED_CA_FILE=\"/etc/etcd/tls/ca.crt\"",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in:\n{env}");
    }
    assert!(!env.contains("http://"), "{env}");
    let initial = text(&c, "lab2/file/etc/default/etcd-initial");
    assert!(
        initial.contains("lab1=https://198.18.0.11:2380,lab2=https://198.18.0.12:2380"),
        "{initial}"
    );
    let patroni = text(&c, "lab1/file/etc/patroni/config.yml");
    assert!(
        patroni.contains("etcd3:\n  hosts: \"198.18.0.11:2379,198.18.0.12:2379,198.18.0.13:2379\"\n  # [tls]: etcd over https, with this member's client certificate\n  protocol: https\n  cacert: \"/etc/patroni/tls/ca.crt\"\n  cert: \"/etc/patroni/tls/patroni.crt\"\n  key: \"/etc/patroni/tls/patroni.key\"\n"),
        "{patroni}"
    );
    // Patroni's REST API: https with its certificate, the unsafe endpoints
    // behind rampart's generated password, patronictl verifying the CA
    let api_pw = &values["tls.patroni_api_password"];
    assert!(
        patroni.contains(&format!("restapi:\n  listen: \"0.0.0.0:8008\"\n  connect_address: \"198.18.0.11:8008\"\n  # [tls]: https with this member's certificate; switchover, restart, config\n  # and the other unsafe endpoints need rampart's user and password\n  certfile: \"/etc/patroni/tls/patroni.crt\"\n  keyfile: \"/etc/patroni/tls/patroni.key\"\n  cafile: \"/etc/patroni/tls/ca.crt\"\n  authentication:\n    username: \"rampart\"\n    password: \"{api_pw}\"\n\n# patronictl: over https, verified against the stack's CA\nctl:\n  insecure: false\n  cacert: \"/etc/patroni/tls/ca.crt\"\n")),
        "{patroni}"
    );
    assert_eq!(
        text(&c, "lab2/file/etc/patroni/tls/api.netrc"),
        format!("machine 127.0.0.1 login rampart password {api_pw}\n")
    );
    let (mode, owner, _, sensitive) = access(&c, "lab2/file/etc/patroni/tls/api.netrc");
    assert_eq!((mode, owner.as_str(), sensitive), (0o600, "root", true));
    // HAProxy checks Patroni over TLS, verifying the member's name against the CA
    let cfg = text(&c, "lab1/file/etc/haproxy/haproxy.cfg");
    assert!(
        cfg.contains("    server lab2 198.18.0.12:5432 check port 8008 check-ssl verify required ca-file /etc/haproxy/rampart-ca.crt verifyhost lab2\n"),
        "{cfg}"
    );
    assert_eq!(
        text(&c, "lab1/file/etc/haproxy/rampart-ca.crt").trim_end(),
        values["tls.ca"].trim_end()
    );
    // rampart's own calls: https with the CA; PATCH /config with the netrc file
    let cmd = |id: &str| match file(&c, id) {
        Desired::Command { run, unless, .. } => format!("{run} {unless:?}"),
        Desired::Health { check, .. } => format!("{check:?}"),
        _ => panic!("{id}"),
    };
    let running = cmd("lab1/health/patroni-running");
    assert!(running.contains("curl -fsS -o /dev/null --max-time 5 --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/health"), "{running}");
    // Patroni binds its API again a moment after a reload: the member is done
    // only once the API serves the certificate in the file
    assert!(
        running.contains("openssl s_client -connect 127.0.0.1:8008")
            && running.contains("-fingerprint -sha256 -in /etc/patroni/tls/patroni.crt"),
        "{running}"
    );
    let patch = cmd("lab1/command/patroni-dynamic-config");
    assert!(patch.contains("--cacert /etc/patroni/tls/ca.crt --netrc-file /etc/patroni/tls/api.netrc https://127.0.0.1:8008/config"), "{patch}");
    assert!(
        !patch.contains(api_pw.as_str()),
        "the password is never on a command line"
    );
    let probe = rampart::components::ALL
        .iter()
        .find(|x| x.name() == "postgres")
        .unwrap()
        .facts_probe(&c, "lab1")
        .unwrap();
    assert!(
        probe.contains(
            "curl -sf --max-time 3 --retry 2 --retry-connrefused --retry-delay 1 --cacert /etc/patroni/tls/ca.crt https://127.0.0.1:8008/cluster"
        ),
        "{probe}"
    );
    // the health gate and rampart's own etcdctl present the member's certificate
    let gate = c
        .resources
        .iter()
        .find(|r| r.id.to_string() == "lab1/health/etcd-cluster")
        .unwrap();
    let Desired::Health { check, .. } = &gate.desired else {
        panic!("not a gate")
    };
    let check = format!("{check:?}");
    assert!(
        check.contains("ETCDCTL_CACERT=/etc/etcd/tls/ca.crt ETCDCTL_CERT=/etc/etcd/tls/etcd.crt ETCDCTL_KEY=/etc/etcd/tls/etcd.key etcdctl --endpoints=https://198.18.0.11:2379"),
        "{check}"
    );
    // each host's CA, certificate and key, as the loader keeps them
    for (host, dir, purpose, owner) in [
        ("lab1", "etc/etcd/tls", "etcd", "etcd"),
        ("lab3", "etc/patroni/tls", "patroni", "postgres"),
    ] {
        assert_eq!(
            text(&c, &format!("{host}/file/{dir}/ca.crt")).trim_end(),
            values["tls.ca"].trim_end()
        );
        assert_eq!(
            text(&c, &format!("{host}/file/{dir}/{purpose}.crt")).trim_end(),
            values[&format!("tls.{host}.{purpose}.cert")].trim_end()
        );
        let key_id = format!("{host}/file/{dir}/{purpose}.key");
        assert_eq!(
            text(&c, &key_id).trim_end(),
            values[&format!("tls.{host}.{purpose}.key")].trim_end()
        );
        let (mode, o, group, sensitive) = access(&c, &key_id);
        assert_eq!(
            (mode, o.as_str(), group.as_str(), sensitive),
            (0o600, owner, owner, true),
            "{key_id}"
        );
    }
    // a renewed certificate restarts etcd (one member at a time, as any change)
    let svc = c.index_of("lab1/service/etcd").unwrap();
    match file(&c, "lab1/file/etc/etcd/tls/etcd.crt") {
        Desired::File { notify, .. } => assert!(notify.contains(&"etcd".to_string())),
        _ => unreachable!(),
    }
    let cert = c.index_of("lab1/file/etc/etcd/tls/etcd.crt").unwrap();
    assert!(cert < svc || c.resources[svc].deps.contains(&cert));
}

#[test]
fn keys_never_reach_plan_text_or_json_and_a_second_plan_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let stack_path = dir.path().join("stack.toml");
    let (c, values) = compiled("\n[tls]\n", &stack_path);
    let p = plan(&c, &fresh(&c));
    let text = rampart::printer::plan_text(&p, rampart::printer::Style::plain());
    let json = serde_json::to_string(&p).unwrap();
    let keys: Vec<(&String, &String)> =
        values.iter().filter(|(k, _)| k.ends_with(".key")).collect();
    assert_eq!(
        keys.len(),
        6,
        "an etcd and a Patroni key on each of 3 hosts"
    );
    for (k, v) in keys {
        // any line of the key's base64 body would be a leak
        let body = v.lines().nth(1).unwrap();
        assert!(!text.contains(body), "plan text leaks {k}");
        assert!(!json.contains(body), "plan JSON leaks {k}");
    }
    let pw = &values["tls.patroni_api_password"];
    assert!(
        !text.contains(pw.as_str()) && !json.contains(pw.as_str()),
        "the REST API password leaks"
    );
    let ca_key = std::fs::read_to_string(dir.path().join(".rampart/e2e/tls/ca.key")).unwrap();
    let ca_body = ca_key.lines().nth(1).unwrap();
    assert!(!text.contains(ca_body) && !json.contains(ca_body));
    assert!(
        !values.values().any(|v| v.contains(ca_body)),
        "the CA key is never rendered"
    );
    let step = p
        .steps
        .iter()
        .find(|s| s.id == "lab2/file/etc/patroni/tls/patroni.key")
        .unwrap();
    assert!(step.sensitive && step.diff.is_none());

    // the same files loaded again (the next plan): identical, so converged hosts plan nothing
    let (again, values2) = compiled("\n[tls]\n", &stack_path);
    assert_eq!(values, values2);
    let facts: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged_guards_hold(&c, h)))
        .collect();
    let p = plan(&again, &facts);
    // (guarded commands are asked of the hosts; no file, directory or restart is planned)
    let changes: Vec<&String> = p
        .steps
        .iter()
        .filter(|s| !matches!(s.action, Action::Run | Action::Wait))
        .map(|s| &s.id)
        .collect();
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn tls_off_is_the_plaintext_stack() {
    let dir = tempfile::tempdir().unwrap();
    let (off, values) = compiled("\n[tls]\nenabled = false\n", &dir.path().join("stack.toml"));
    let (none, _) = compiled("", &dir.path().join("stack.toml"));
    assert!(!values.keys().any(|k| k.starts_with("tls.")));
    assert!(
        !dir.path().join(".rampart").exists(),
        "nothing is made with TLS off"
    );
    assert_eq!(
        off.resources
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>(),
        none.resources
            .iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        text(&off, "lab1/file/etc/default/etcd"),
        text(&none, "lab1/file/etc/default/etcd")
    );
    let env = text(&off, "lab1/file/etc/default/etcd");
    assert!(
        env.contains("ETCD_LISTEN_CLIENT_URLS=\"http://198.18.0.11:2379,http://127.0.0.1:2379\""),
        "{env}"
    );
    assert!(!env.contains("CERT"), "{env}");
    let patroni = text(&off, "lab1/file/etc/patroni/config.yml");
    assert!(
        !patroni.contains("protocol: https")
            && !patroni.contains("certfile")
            && !patroni.contains("authentication:\n    username: \"rampart\"")
    );
    assert!(!text(&off, "lab1/file/etc/haproxy/haproxy.cfg").contains("check-ssl"));
}

/// Each bad `[tls]` is refused before any connection, at its key, with the fix.
#[test]
fn bad_tls_tables_are_refused_at_their_key_with_the_fix() {
    let inv = inv();
    for (tail, expect) in [
        (
            "ca = { file = \"ca.crt\" }\n",
            &["stack.toml:18:1: [tls] ca: given without ca_key", "give both `ca = { file = \"ca.crt\" }` and `ca_key = { file = \"ca.key\" }`, or neither"][..],
        ),
        (
            "renew_days = 400\n",
            &["stack.toml:18:14: [tls] renew_days: 400 days is out of range", "from 1 to 364"][..],
        ),
        ("renew_days = 0\n", &["[tls] renew_days: 0 days is out of range"][..]),
        (
            "ca = \"-----BEGIN CERTIFICATE-----\"\nca_key = { file = \"k\" }\n",
            &["secrets are never written literally"][..],
        ),
        ("enable = false\n", &["unknown field `enable`"][..]),
    ] {
        let text = format!("{STACK}\n[tls]\n{tail}");
        let Err(d) = Stack::parse(Source::new("stack.toml", text), &inv) else {
            panic!("accepted: {tail}");
        };
        let out = rampart::printer::diagnostics(&d);
        for e in expect {
            assert!(out.contains(e), "{tail}: `{e}` not in:\n{out}");
        }
    }
}

fn members(scheme: &str) -> Option<Vec<rampart::facts::EtcdMemberFact>> {
    Some(
        (1..=3)
            .map(|n| rampart::facts::EtcdMemberFact {
                id: format!("id{n}"),
                status: "started".into(),
                name: format!("lab{n}"),
                peer_url: format!("{scheme}://198.18.0.{}:2380", 10 + n),
            })
            .collect(),
    )
}

/// A running plaintext etcd with `[tls]` turned on (or the reverse) is
/// refused before anything changes: a roll would cut its peers apart.
#[test]
fn switching_a_running_etcd_between_plaintext_and_tls_is_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let stack_path = dir.path().join("stack.toml");
    for (tls, running, expect) in [
        (
            "\n[tls]\n",
            "http",
            "the running cluster talks plaintext (http://198.18.0.11:2380",
        ),
        (
            "",
            "https",
            "the running cluster talks TLS (https://198.18.0.11:2380",
        ),
    ] {
        let (c, _) = compiled(tls, &stack_path);
        let mut facts: BTreeMap<String, HostFacts> = c
            .hosts
            .iter()
            .map(|h| (h.clone(), converged_guards_hold(&c, h)))
            .collect();
        facts
            .get_mut("lab1")
            .unwrap()
            .set_etcd_members(members(running));
        let p = plan(&c, &facts);
        assert_eq!(p.refused.len(), 1, "{:?}", p.refused);
        assert!(p.refused[0].contains(expect), "{}", p.refused[0]);
        // the same scheme: nothing refused
        let same = if running == "http" { "https" } else { "http" };
        facts
            .get_mut("lab1")
            .unwrap()
            .set_etcd_members(members(same));
        assert!(plan(&c, &facts).refused.is_empty());
    }
    // the facts probe asks in the stack's scheme first, then the other
    let (c, _) = compiled("\n[tls]\n", &stack_path);
    let probe = rampart::components::ALL
        .iter()
        .find(|x| x.name() == "etcd")
        .unwrap()
        .facts_probe(&c, "lab1")
        .unwrap();
    let https = probe.find("--endpoints=https://127.0.0.1:2379").unwrap();
    let http = probe.find("--endpoints=http://127.0.0.1:2379").unwrap();
    assert!(https < http, "{probe}");
}

/// PostgreSQL on TLS with replication and remote clients on hostssl only;
/// PgBouncer requires TLS of its clients and verifies PostgreSQL's certificate.
#[test]
fn postgresql_and_pgbouncer_take_tls_and_remote_lines_are_hostssl() {
    let dir = tempfile::tempdir().unwrap();
    let (c, values) = compiled(
        "[pgbouncer]\nhosts = \"data\"\n\n[tls]\n",
        &dir.path().join("stack.toml"),
    );
    let patroni = text(&c, "lab2/file/etc/patroni/config.yml");
    assert!(
        patroni.contains("    unix_socket_directories: /var/run/postgresql\n    # [tls]: TLS with this member's certificate (replication and remote\n    # clients must use it: hostssl below; the loopback may go without)\n    ssl: \"on\"\n    ssl_cert_file: \"/etc/patroni/tls/patroni.crt\"\n    ssl_key_file: \"/etc/patroni/tls/patroni.key\"\n    ssl_ca_file: \"/etc/patroni/tls/ca.crt\"\n"),
        "{patroni}"
    );
    // both pg_hba lists: the loopback may go without TLS, nothing else
    assert_eq!(
        patroni
            .matches("    - hostssl replication replicator 198.18.0.13/32 scram-sha-256\n")
            .count(),
        2
    );
    assert_eq!(
        patroni
            .matches("    - hostssl all all 198.18.0.11/32 scram-sha-256\n")
            .count(),
        2
    );
    let plain: Vec<&str> = patroni
        .lines()
        .filter(|l| l.trim_start().starts_with("- host "))
        .collect();
    assert!(
        plain
            .iter()
            .all(|l| l.contains(" 127.0.0.1/32 ") || l.contains(" ::1/128 ")),
        "{plain:?}"
    );
    // PostgreSQL's certificate names the HAProxy hosts (verify-full through them) and the loopback
    let cert = &values["tls.lab3.patroni.cert"];
    let tmp = dir.path().join("pg.crt");
    std::fs::write(&tmp, cert).unwrap();
    let ca = dir.path().join(".rampart/e2e/tls/ca.crt");
    for name in ["198.18.0.11", "198.18.0.12", "127.0.0.1"] {
        let out = std::process::Command::new("openssl")
            .args(["verify", "-verify_ip", name, "-CAfile"])
            .arg(&ca)
            .arg(&tmp)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ini = text(&c, "lab1/file/etc/pgbouncer/pgbouncer.ini");
    assert!(
        ini.ends_with("client_tls_sslmode = require\nclient_tls_cert_file = /etc/pgbouncer/tls/pgbouncer.crt\nclient_tls_key_file = /etc/pgbouncer/tls/pgbouncer.key\nclient_tls_ca_file = /etc/pgbouncer/tls/ca.crt\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = /etc/pgbouncer/tls/ca.crt\n"),
        "{ini}"
    );
    let (mode, owner, _, sensitive) = access(&c, "lab1/file/etc/pgbouncer/tls/pgbouncer.key");
    assert_eq!((mode, owner.as_str(), sensitive), (0o600, "postgres", true));
    // with TLS off: no ssl, every line `host`, PgBouncer as before
    let (off, _) = compiled(
        "[pgbouncer]\nhosts = \"data\"\n",
        &dir.path().join("stack.toml"),
    );
    let patroni = text(&off, "lab2/file/etc/patroni/config.yml");
    assert!(!patroni.contains("hostssl") && !patroni.contains("ssl: \"on\""));
    assert!(!text(&off, "lab1/file/etc/pgbouncer/pgbouncer.ini").contains("tls"));
}

/// Redis and Sentinel on their TLS ports only, replication and Sentinel's
/// links over TLS, HAProxy's master check over TLS with the CA, and every
/// CLI call rampart makes (gates, seed script, facts, status, failover)
/// with `--tls` and the CA.
#[test]
fn redis_and_sentinel_listen_on_tls_only_and_rampart_calls_them_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let stack = STACK.replace(
        "postgres_primary = 5000\n",
        "postgres_primary = 5000\nredis_master = 6380\n",
    );
    let redis = "[redis]\nhosts = \"data\"\npassword = { env = \"R\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"mymaster\"\n\n[services.web]\nhosts = \"app\"\ncommand = \"/usr/bin/web\"\nport = 8001\n";
    let build = |tls: &str| {
        let inv = inv();
        let st = Stack::parse(
            Source::new("stack.toml", format!("{stack}{redis}{tls}")),
            &inv,
        )
        .unwrap();
        let (c, m) = compiled_with(&inv, &st, &dir.path().join("stack.toml"), SECRETS).unwrap();
        (c, exposed(&m), st)
    };
    let (c, values, st) = build("\n[tls]\n");
    let conf = text(&c, "lab2/file/etc/redis/rampart.conf");
    assert!(
        conf.contains("port 0\ntls-port 6379\ntls-cert-file /etc/redis/tls/redis.crt\ntls-key-file /etc/redis/tls/redis.key\ntls-ca-cert-file /etc/redis/tls/ca.crt\ntls-replication yes\ntls-auth-clients no\n"),
        "{conf}"
    );
    assert!(!conf.contains("\nport 6379"), "{conf}");
    let sentinel = text(&c, "lab2/file/etc/redis/sentinel.conf.seed");
    assert!(
        sentinel.contains("port 0\ntls-port 26379\ntls-cert-file /etc/redis/tls/redis.crt\ntls-key-file /etc/redis/tls/redis.key\ntls-ca-cert-file /etc/redis/tls/ca.crt\ntls-replication yes\ntls-auth-clients yes\n"),
        "{sentinel}"
    );
    let (mode, owner, _, sensitive) = access(&c, "lab2/file/etc/redis/tls/redis.key");
    assert_eq!((mode, owner.as_str(), sensitive), (0o600, "redis", true));
    // its expiry reaches node_exporter like the other certificates'
    let metrics = text(&c, "lab2/file/usr/local/sbin/rampart-tls-metrics-redis");
    assert!(
        metrics.contains("for f in /etc/redis/tls/redis.crt /etc/redis/tls/ca.crt;"),
        "{metrics}"
    );
    assert!(c
        .index_of("lab2/service/rampart-tls-metrics-redis.timer")
        .is_some());
    // Redis' certificate names the HAProxy hosts (clients verify it through them)
    let tmp = dir.path().join("redis.crt");
    std::fs::write(&tmp, &values["tls.lab1.redis.cert"]).unwrap();
    for ip in ["198.18.0.11", "198.18.0.12", "127.0.0.1"] {
        let out = std::process::Command::new("openssl")
            .args(["verify", "-verify_ip", ip, "-CAfile"])
            .arg(dir.path().join(".rampart/e2e/tls/ca.crt"))
            .arg(&tmp)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "{ip}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cfg = text(&c, "lab1/file/etc/haproxy/haproxy.cfg");
    assert!(cfg.contains("    tcp-check connect ssl\n"), "{cfg}");
    assert!(
        cfg.contains("    server lab2 198.18.0.12:6379 check check-ssl verify required ca-file /etc/haproxy/rampart-ca.crt verifyhost lab2\n"),
        "{cfg}"
    );
    // every CLI call: the role's gates and seed script, facts, status, day-2 scripts
    let cli = "redis-cli --tls --cacert /etc/redis/tls/ca.crt --cert /etc/redis/tls/redis.crt --key /etc/redis/tls/redis.key";
    let seed = text(&c, "lab2/file/etc/redis/rampart-seed.sh");
    assert!(
        seed.contains(&format!("$(timeout 3 {cli} -h \"$s\" -p 26379")),
        "{seed}"
    );
    let calls = |t: &str| t.matches("redis-cli").count() == t.matches(cli).count();
    for r in &c.resources {
        let t = match &r.desired {
            Desired::File { content, .. } => String::from_utf8_lossy(content).to_string(),
            d => format!("{d:?}"),
        };
        assert!(calls(&t), "{}: {t}", r.id);
    }
    let facts = rampart::facts::script(&c, "lab2", &[]);
    assert!(facts.contains(cli) && calls(&facts), "{facts}");
    let status = rampart::components::redis::status::probe(&st, "lab2");
    assert!(status.contains(cli) && calls(&status), "{status}");
    for script in [
        rampart::components::redis::day2::failover_script(
            rampart::components::redis::Server::Redis,
            true,
            "mymaster",
            None,
            &["198.18.0.12".to_string()],
        ),
        rampart::components::redis::day2::reset_script(
            rampart::components::redis::Server::Redis,
            true,
            "mymaster",
            2,
            1,
        ),
    ] {
        assert!(script.contains(cli) && calls(&script), "{script}");
    }
    // an app service is handed the CA: the file and its path in the environment
    let ca = std::fs::read_to_string(dir.path().join(".rampart/e2e/tls/ca.crt")).unwrap();
    assert_eq!(
        text(&c, "lab3/file/etc/rampart/tls/web/ca.crt").trim_end(),
        ca.trim_end()
    );
    let unit = text(&c, "lab3/unit/rampart-e2e-web.service");
    assert!(
        unit.contains("Environment=RAMPART_TLS_CA_FILE=/etc/rampart/tls/web/ca.crt"),
        "{unit}"
    );
    // ... and the host's client certificate (Sentinel asks for one): a copy in
    // the service's folder, the key root's 0600 and never shown, read by the
    // dynamic user through LoadCredential; a renewal restarts the service
    let kept = |name: &str| {
        std::fs::read_to_string(dir.path().join(format!(".rampart/e2e/tls/{name}"))).unwrap()
    };
    let (crt, key) = (
        "lab3/file/etc/rampart/tls/web/client.crt",
        "lab3/file/etc/rampart/tls/web/client.key",
    );
    assert_eq!(text(&c, crt).trim_end(), kept("lab3-app.crt").trim_end());
    assert_eq!(text(&c, key).trim_end(), kept("lab3-app.key").trim_end());
    assert_eq!(access(&c, crt).0, 0o644);
    assert_eq!(access(&c, key), (0o600, "root".into(), "root".into(), true));
    let verify = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(dir.path().join(".rampart/e2e/tls/ca.crt"))
        .arg(dir.path().join(".rampart/e2e/tls/lab3-app.crt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "the app's certificate is a client certificate of the CA: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    for line in [
        "LoadCredential=rampart-tls-client.key:/etc/rampart/tls/web/client.key",
        "Environment=RAMPART_TLS_CERT_FILE=/etc/rampart/tls/web/client.crt",
        "Environment=RAMPART_TLS_KEY_FILE=%d/rampart-tls-client.key",
    ] {
        assert!(unit.contains(line), "{line} in {unit}");
    }
    let svc = c
        .index_of("lab3/service/rampart-e2e-web.service")
        .expect("the web service");
    let Desired::Service { restart_on, .. } = &c.resources[svc].desired else {
        panic!("not a service")
    };
    for f in [crt, key] {
        assert!(
            restart_on.contains(&c.index_of(f).unwrap()),
            "a new {f} restarts the service"
        );
    }
    // its days left in `status`, read from the service's copy on its host
    let probe = rampart::tls::status::probe(&st, "lab3");
    assert!(
        probe.contains("-in /etc/rampart/tls/web/client.crt") && probe.contains("tls|app:web|"),
        "{probe}"
    );
    let mut probes = rampart::status::Probes::new();
    probes.insert(
        "lab3".into(),
        Ok("tls|app:web|1800000000|1790000000\nEND\n".into()),
    );
    let days = rampart::tls::status::evaluate(&st, &probes);
    assert_eq!(
        (
            days[0].purpose.as_str(),
            days[0].file.as_str(),
            days[0].days_left
        ),
        ("app:web", "/etc/rampart/tls/web/client.crt", Some(115))
    );
    // without [tls]: the plaintext ports, no TLS flag
    let (off, _, st) = build("");
    assert!(off
        .index_of("lab3/file/etc/rampart/tls/web/ca.crt")
        .is_none());
    assert!(off
        .index_of("lab3/file/etc/rampart/tls/web/client.key")
        .is_none());
    let conf = text(&off, "lab2/file/etc/redis/rampart.conf");
    assert!(
        conf.starts_with("# Managed") && conf.contains("\nport 6379\n") && !conf.contains("tls"),
        "{conf}"
    );
    assert!(!text(&off, "lab1/file/etc/haproxy/haproxy.cfg").contains("check-ssl"));
    assert!(!rampart::components::redis::status::probe(&st, "lab2").contains("--tls"));
}

/// The expiry metric and alert: the script each certificate's role delivers
/// reads the certificate and its CA (run here on the files the loader kept,
/// its output valid for promtool), and the alert rules fire under
/// `renew_days` (warning) and under 7 days (critical), quiet before.
#[test]
fn certificate_expiry_is_written_for_node_exporter_and_alerted_under_renew_days() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = compiled("\n[tls]\nrenew_days = 30\n", &dir.path().join("stack.toml"));
    for id in [
        "lab1/file/usr/local/sbin/rampart-tls-metrics-etcd",
        "lab1/file/usr/local/sbin/rampart-tls-metrics-patroni",
        "lab1/unit/rampart-tls-metrics-etcd.timer",
        "lab1/service/rampart-tls-metrics-etcd.timer",
    ] {
        assert!(c.index_of(id).is_some(), "no {id}");
    }
    assert!(
        c.index_of("lab1/file/usr/local/sbin/rampart-tls-metrics-pgbouncer")
            .is_none(),
        "no PgBouncer on lab1"
    );
    let store = dir.path().join(".rampart/e2e/tls");
    let out = dir.path().join("textfile");
    let script = text(&c, "lab1/file/usr/local/sbin/rampart-tls-metrics-etcd")
        .replace(
            "/etc/etcd/tls/etcd.crt",
            &store.join("lab1-etcd.crt").display().to_string(),
        )
        .replace(
            "/etc/etcd/tls/ca.crt",
            &store.join("ca.crt").display().to_string(),
        )
        .replace(
            "/var/lib/prometheus/node-exporter",
            &out.display().to_string(),
        );
    let r = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let prom = std::fs::read_to_string(out.join("rampart_tls_etcd.prom")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let values: Vec<(String, i64)> = prom
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(values.len(), 2, "{prom}");
    assert!(values[0].0.starts_with(
        "rampart_tls_cert_not_after_timestamp_seconds{stack=\"e2e\",purpose=\"etcd\",file=\""
    ));
    assert!(
        (364..=365).contains(&((values[0].1 - now) / 86_400)),
        "the certificate: {prom}"
    );
    assert!((values[1].1 - now) / 86_400 > 3000, "the CA: {prom}");

    common::need_tool("promtool", "prometheus");
    let promtool = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new("promtool")
            .args(args)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.unwrap_or("").as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    promtool(&["check", "metrics"], Some(&prom));

    let stack = Stack::parse(
        Source::new("stack.toml", format!("{STACK}\n[tls]\nrenew_days = 30\n")),
        &inv(),
    )
    .unwrap();
    let rules = rampart::alerts::rules(&stack);
    assert!(
        rules.contains(
            "node (node_exporter's textfile collector on every host holding a [tls] certificate)"
        ),
        "{rules}"
    );
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let day = 86_400;
    let test = format!(
        r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {{series: 'rampart_tls_cert_not_after_timestamp_seconds{{job="node", instance="lab1:9100", stack="e2e", purpose="etcd", file="/etc/etcd/tls/etcd.crt"}}', values: '{}x200'}}
      - {{series: 'rampart_tls_cert_not_after_timestamp_seconds{{job="node", instance="lab2:9100", stack="e2e", purpose="etcd", file="/etc/etcd/tls/etcd.crt"}}', values: '{}x200'}}
      - {{series: 'rampart_tls_cert_not_after_timestamp_seconds{{job="node", instance="lab3:9100", stack="e2e", purpose="patroni", file="/etc/patroni/tls/patroni.crt"}}', values: '{}x200'}}
    alert_rule_test:
      - eval_time: 2h
        alertname: E2eCertificateExpiresSoon
        exp_alerts:
          - exp_labels: {{severity: warning, stack: e2e, instance: "lab1:9100", purpose: etcd, file: /etc/etcd/tls/etcd.crt}}
            exp_annotations: {{summary: "/etc/etcd/tls/etcd.crt (etcd) on lab1:9100 expires within 30 days: run `rampart plan` and `rampart apply` to renew it"}}
          - exp_labels: {{severity: warning, stack: e2e, instance: "lab3:9100", purpose: patroni, file: /etc/patroni/tls/patroni.crt}}
            exp_annotations: {{summary: "/etc/patroni/tls/patroni.crt (patroni) on lab3:9100 expires within 30 days: run `rampart plan` and `rampart apply` to renew it"}}
      - eval_time: 2h
        alertname: E2eCertificateExpiresVerySoon
        exp_alerts:
          - exp_labels: {{severity: critical, stack: e2e, instance: "lab3:9100", purpose: patroni, file: /etc/patroni/tls/patroni.crt}}
            exp_annotations: {{summary: "/etc/patroni/tls/patroni.crt (patroni) on lab3:9100 expires within 7 days"}}
"#,
        20 * day,
        200 * day,
        3 * day
    );
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    promtool(&["check", "rules", "rules.yml"], None);
    promtool(&["test", "rules", "test.yml"], None);
}

fn facts_of(c: &Compiled) -> BTreeMap<String, HostFacts> {
    c.hosts
        .iter()
        .map(|h| (h.clone(), converged_guards_hold(c, h)))
        .collect()
}

/// A CA change rolls in three applies with both CAs trusted in between
/// (`[tls] trust`): the new CA trusted, then signing with the old one still
/// trusted, then the old one dropped. Skipping a step is refused with the
/// steps, before anything changes.
#[test]
fn a_ca_change_rolls_with_both_cas_trusted_and_a_skipped_step_is_refused() {
    let now = time::OffsetDateTime::now_utc();
    let (a, b) = (
        rampart::tls::issue::new_ca("old", now, 3650).unwrap(),
        rampart::tls::issue::new_ca("new", now, 3650).unwrap(),
    );
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for d in &dirs {
        for (n, t) in [
            ("a.crt", &a.cert),
            ("a.key", &a.key),
            ("b.crt", &b.cert),
            ("b.key", &b.key),
        ] {
            std::fs::write(d.path().join(n), t).unwrap();
        }
    }
    let ca = |x: &str| {
        format!("\n[tls]\nca = {{ file = \"{x}.crt\" }}\nca_key = {{ file = \"{x}.key\" }}\n")
    };
    let trusting = |x: &str, y: &str| format!("{}trust = [{{ file = \"{y}.crt\" }}]\n", ca(x));
    let (main, other) = (
        dirs[0].path().join("stack.toml"),
        dirs[1].path().join("stack.toml"),
    );
    let ca_file = "lab1/file/etc/etcd/tls/ca.crt";
    let leaf = "lab1/file/etc/etcd/tls/etcd.crt";

    // running on CA a
    let c0 = compiled_reading(&ca("a"), &main).unwrap();
    let f0 = facts_of(&c0);
    assert!(plan(&c0, &f0).refused.is_empty());
    // straight to b: refused, naming the two applies
    let direct = compiled_reading(&ca("b"), &other).unwrap();
    let r = plan(
        &direct,
        &facts_of(&compiled_reading(&ca("a"), &other).unwrap()),
    )
    .refused;
    assert!(
        !r.is_empty() && r[0].contains("do not trust yet") && r[0].contains("`[tls] trust`"),
        "{r:?}"
    );
    // 1: b trusted beside a, a still signs: only the trust bundles change
    let c1 = compiled_reading(&trusting("a", "b"), &main).unwrap();
    assert!(plan(&c1, &f0).refused.is_empty());
    assert_eq!(text(&c1, leaf), text(&c0, leaf));
    assert!(
        text(&c1, ca_file).contains(a.cert.trim_end())
            && text(&c1, ca_file).contains(b.cert.trim_end())
    );
    let f1 = facts_of(&c1);
    // 2 without a trusted: refused (the members rolled first would refuse the others)
    let r = plan(&compiled_reading(&ca("b"), &main).unwrap(), &f1).refused;
    assert!(
        !r.is_empty() && r.iter().any(|m| m.contains("would no longer trust")),
        "{r:?}"
    );
    // 2: b signs, a still trusted: new certificates, the same bundle (no extra restart)
    let c2 = compiled_reading(&trusting("b", "a"), &main).unwrap();
    assert!(
        plan(&c2, &f1).refused.is_empty(),
        "{:?}",
        plan(&c2, &f1).refused
    );
    assert_ne!(text(&c2, leaf), text(&c1, leaf));
    assert_eq!(text(&c2, ca_file), text(&c1, ca_file));
    let ids: Vec<String> = plan(&c2, &f1)
        .steps
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    assert!(
        ids.contains(&leaf.to_string()) && !ids.contains(&ca_file.to_string()),
        "{ids:?}"
    );
    // 3: a dropped, once every host holds b's certificates
    let c3 = compiled_reading(&ca("b"), &main).unwrap();
    assert!(plan(&c3, &facts_of(&c2)).refused.is_empty());
    assert_eq!(text(&c3, ca_file).trim_end(), b.cert.trim_end());
    // a trust entry that is no CA certificate: named with the fix
    std::fs::write(dirs[0].path().join("leaf.crt"), text(&c3, leaf)).unwrap();
    let e = compiled_reading(&trusting("b", "leaf"), &main)
        .err()
        .unwrap();
    assert!(
        e.starts_with("[tls] trust[0]: it is not a CA's certificate"),
        "{e}"
    );
}

/// The CA-change check sees Valkey's certificates in /etc/valkey/tls, not
/// only Redis' folder: going straight to a new CA names Valkey's too.
#[test]
fn a_ca_change_on_a_valkey_stack_is_checked_in_valkeys_folder() {
    let now = time::OffsetDateTime::now_utc();
    let (a, b) = (
        rampart::tls::issue::new_ca("old", now, 3650).unwrap(),
        rampart::tls::issue::new_ca("new", now, 3650).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    for (n, t) in [
        ("a.crt", &a.cert),
        ("a.key", &a.key),
        ("b.crt", &b.cert),
        ("b.key", &b.key),
    ] {
        std::fs::write(dir.path().join(n), t).unwrap();
    }
    let stack = |x: &str| {
        format!("\n[redis]\nhosts = \"data\"\nserver = \"valkey\"\npassword = {{ env = \"R\" }}\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n\n[services.web]\nhosts = \"app\"\ncommand = \"/usr/bin/web\"\nport = 8001\n\n[tls]\nca = {{ file = \"{x}.crt\" }}\nca_key = {{ file = \"{x}.key\" }}\n")
    };
    let path = dir.path().join("stack.toml");
    let running = compiled_reading(&stack("a"), &path).unwrap();
    assert!(running
        .index_of("lab1/file/etc/valkey/tls/redis.crt")
        .is_some());
    std::fs::remove_dir_all(dir.path().join(".rampart")).unwrap();
    let r = plan(
        &compiled_reading(&stack("b"), &path).unwrap(),
        &facts_of(&running),
    )
    .refused;
    assert!(
        r.iter()
            .any(|m| m.contains("new redis certificate") && m.contains("do not trust yet")),
        "{r:?}"
    );
    // the apps' client certificates (Sentinel verifies them) are checked too
    assert!(
        r.iter()
            .any(|m| m.contains("new app certificate") && m.contains("do not trust yet")),
        "{r:?}"
    );
}

/// A Redis deployed plaintext whose stack (Redis alone, no etcd to refuse it)
/// gains `[tls]`, or the reverse, is refused before anything changes, naming
/// the stack file, the key and the steps; a host that already speaks the
/// stack's scheme, or whose rampart.conf is as planned, is not.
#[test]
fn switching_a_running_redis_between_plaintext_and_tls_is_refused_with_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let redis_only = "[stack]\nname = \"cache\"\n\n[redis]\nhosts = \"data\"\npassword = { env = \"R\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n";
    let build = |tls: &str| -> Compiled {
        let inv = inv();
        let st = Stack::parse(
            Source::new("plans/cache.toml", format!("{redis_only}{tls}")),
            &inv,
        )
        .unwrap();
        compiled_with(
            &inv,
            &st,
            &dir.path().join("cache.toml"),
            &[("redis.password", "S3cr3t-redis")],
        )
        .unwrap()
        .0
    };
    let (plain, tls) = (build(""), build("\n[tls]\n"));
    let conf = "/etc/redis/rampart.conf";
    // `to` planned on hosts whose rampart.conf is `from`'s (None: as planned)
    let refused = |from: Option<&Compiled>, to: &Compiled| {
        let mut facts = facts_of(to);
        if let Some(from) = from {
            for h in ["lab1", "lab2", "lab3"] {
                let f = facts.get_mut(h).unwrap().files.get_mut(conf).unwrap();
                f.content = Some(text(from, &format!("{h}/file{conf}")).into_bytes());
                f.sha256 = Some("0".repeat(64));
            }
        }
        plan(to, &facts).refused
    };
    let on = refused(Some(&plain), &tls);
    assert_eq!(on.len(), 1, "{on:?}");
    for part in [
        "redis: lab1, lab2, lab3 run Redis and its Sentinel on plaintext (/etc/redis/rampart.conf has no `tls-port`)",
        "plans/cache.toml turns TLS on (`[tls]`)",
        "in plans/cache.toml, set `[tls] enabled = false`",
        "1. apply a stack with `[tls]` whose `[redis] hosts` are new hosts",
        "3. point the clients at the new hosts",
    ] {
        assert!(on[0].contains(part), "`{part}` not in: {}", on[0]);
    }
    let off = refused(Some(&tls), &plain);
    assert_eq!(off.len(), 1, "{off:?}");
    assert!(
        off[0].contains("lab1, lab2, lab3 run Redis and its Sentinel on TLS")
            && off[0].contains("Put `[tls]` back in plans/cache.toml"),
        "{}",
        off[0]
    );
    // the same scheme, or the file as planned: nothing refused
    assert!(refused(Some(&tls), &tls).is_empty());
    assert!(refused(None, &tls).is_empty());
    assert!(refused(None, &plain).is_empty());
    // a changed setting on a plaintext cluster is no switch
    let tuned = {
        let mut f = facts_of(&plain);
        let c = f.get_mut("lab2").unwrap().files.get_mut(conf).unwrap();
        c.content = Some(b"port 6379\nmaxmemory 1mb\n".to_vec());
        c.sha256 = Some("0".repeat(64));
        plan(&plain, &f).refused
    };
    assert!(tuned.is_empty(), "{tuned:?}");
}
