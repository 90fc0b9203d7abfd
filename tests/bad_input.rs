//! A catalogue of bad inventories and stacks: each is refused by
//! `rampart validate` (no network) with the file, line and a fix.

use assert_cmd::Command;
use std::path::Path;

const INV: &str = "[defaults]\nuser = \"root\"\n\n[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[hosts.d]\naddress = \"10.0.0.4\"\n\n[groups]\nthree = [\"a\", \"b\", \"c\"]\ntwo = [\"a\", \"b\"]\nfour = [\"a\", \"b\", \"c\", \"d\"]\n";

struct Case {
    name: &'static str,
    inv: &'static str,
    stack: &'static str,
    /// Substrings the error output must hold (file:line:col or the fix).
    expect: &'static [&'static str],
}

fn run(dir: &Path, inv: &str, stack: &str) -> (i32, String) {
    std::fs::write(dir.join("inv.toml"), inv).unwrap();
    std::fs::write(dir.join("stack.toml"), stack).unwrap();
    let out = Command::cargo_bin("rampart").unwrap().current_dir(dir).args(["-i", "inv.toml", "-s", "stack.toml", "validate"]).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_bad_input_is_refused_with_position_and_fix() {
    let cases = [
        Case { name: "toml syntax", inv: INV, stack: "[stack\nname = \"x\"\n", expect: &["stack.toml:1:", "error"] },
        Case { name: "unknown top-level key", inv: INV, stack: "[stack]\nname = \"x\"\n[etdc]\nhosts = \"three\"\n", expect: &["stack.toml:3:", "did you mean `etcd`"] },
        Case { name: "unknown key in etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhost = \"three\"\n", expect: &["stack.toml:4:1", "did you mean `hosts`"] },
        Case { name: "unknown inventory key", inv: "[hosts.a]\nadress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:1", "did you mean `address`"] },
        Case { name: "wrong type", inv: INV, stack: "[stack]\nname = 5\n", expect: &["stack.toml:2:8", "string"] },
        Case { name: "unknown group", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"thre\"\n", expect: &["stack.toml:4:9", "did you mean `three`"] },
        Case { name: "unknown host in list", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = [\"a\", \"zz\", \"c\"]\n", expect: &["stack.toml:4:", "`zz` is neither a group nor a host"] },
        Case { name: "group names unknown host", inv: "[hosts.a]\naddress = \"10.0.0.1\"\n[groups]\ng = [\"a\", \"q\"]\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:4:11", "not in [hosts]"] },
        Case { name: "even etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"two\"\n", expect: &["stack.toml:4:9", "odd number", "use 1 or 3 hosts"] },
        Case { name: "four etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"four\"\n", expect: &["odd number", "use 3 or 5 hosts"] },
        Case { name: "postgres without etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n", expect: &["stack.toml:4:", "needs an etcd cluster", "add an [etcd] table"] },
        Case { name: "literal secret", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[redis]\nhosts = \"three\"\npassword = \"hunter2\"\n", expect: &["stack.toml:7:", "never written literally"] },
        Case { name: "sentinel quorum too high", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 4\n", expect: &["stack.toml:7:10", "quorum 4 is impossible with 3 Sentinels", "a majority (2)"] },
        Case { name: "redis setting owned by rampart", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n[redis.settings]\nreplicaof = \"10.9.9.9 6379\"\n", expect: &["stack.toml:4:", "`replicaof` is set by rampart", "remove it from [redis.settings]"] },
        Case { name: "redis setting injecting a line", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n[redis.settings]\nmaxmemory = \"1mb\\nslaveof 10.9.9.9 6379\"\n", expect: &["stack.toml:4:", "redis.settings.maxmemory: the value must be a one-line string"] },
        Case { name: "qdrant rf too high", inv: INV, stack: "[stack]\nname = \"x\"\n[qdrant]\nhosts = \"two\"\nimage = \"q\"\nreplication_factor = 3\nshard_number = 3\n", expect: &["stack.toml:6:22", "replication_factor 3 is impossible with 2 peers"] },
        Case { name: "port clash", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"three\"\ncommand = \"x\"\nport = 9000\n[services.b]\nhosts = [\"c\"]\ncommand = \"y\"\nport = 9000\n", expect: &["stack.toml:10:8", "both want port 9000 on host c"] },
        Case { name: "service port on etcd port", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[services.a]\nhosts = \"a\"\ncommand = \"x\"\nport = 2379\n", expect: &["stack.toml:8:8", "port 2379 on host a"] },
        Case { name: "shell injection in address", inv: "[hosts.a]\naddress = \"$(reboot)\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:11", "not an IP address or DNS name"] },
        Case { name: "newline in host name", inv: "[hosts.\"a\\nb\"]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:1:", "host name `a\\nb` is not allowed"] },
        Case { name: "quote in stack name", inv: INV, stack: "[stack]\nname = \"x\\\"; rm -rf /\"\n", expect: &["stack name", "not allowed"] },
        Case { name: "injection in service env", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\ncommand = \"x\"\nport = 9000\nenv = { \"A;B\" = \"1\" }\n", expect: &["env name `A;B` is not allowed"] },
        Case { name: "unknown role", inv: INV, stack: "[stack]\nname = \"x\"\n[roles.web]\nrole = \"etdc\"\nhosts = \"a\"\n", expect: &["stack.toml:4:8", "there is no role `etdc`", "did you mean `etcd`"] },
        Case { name: "after cycle", inv: INV, stack: "[stack]\nname = \"x\"\n[roles.p]\nrole = \"etcd\"\nhosts = \"a\"\nafter = [\"roles.q\"]\n[roles.q]\nrole = \"etcd\"\nhosts = \"b\"\nafter = [\"roles.p\"]\n", expect: &["cycle", "roles.p -> roles.q -> roles.p"] },
        Case { name: "after unknown", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nafter = [\"postgress\"]\n", expect: &["stack.toml:5:10", "not in this stack"] },
        Case { name: "bad vip", inv: INV, stack: "[stack]\nname = \"x\"\n[keepalived]\nhosts = \"two\"\nvip = \"10.0.0.300\"\ninterface = \"eth0\"\n", expect: &["stack.toml:5:7", "not an IPv4 address"] },
        Case { name: "haproxy routes to nothing", inv: INV, stack: "[stack]\nname = \"x\"\n[haproxy]\nhosts = \"two\"\n[haproxy.listen]\npostgres_primary = 5000\n", expect: &["stack.toml:6:1", "routes to nothing"] },
        Case { name: "duplicate address", inv: "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:4:11", "same address"] },
        Case { name: "service with image and command", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\nimage = \"i\"\ncommand = \"c\"\nport = 1\n", expect: &["stack.toml:3:", "exactly one of image"] },
        Case { name: "bad health path", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\ncommand = \"c\"\nport = 1\nhealth = \"health; reboot\"\n", expect: &["is not an HTTP path"] },
        Case { name: "etcd election timeout too short", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nheartbeat_interval = 300\n", expect: &["stack.toml:5:22", "below 5 x heartbeat_interval", "at least 1500"] },
        Case { name: "unknown jump host", inv: "[hosts.a]\naddress = \"10.0.0.1\"\nproxy_jump = \"bastoin\"\n[hosts.bastion]\naddress = \"10.0.0.9\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:3:14", "proxy_jump `bastoin` is not a host", "did you mean `bastion`"] },
        Case { name: "client network prefix too long", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\nclient_networks = [\"10.20.0.0/16\", \"10.20.0.0/33\"]\n", expect: &["stack.toml:9:36", "postgres.client_networks: `10.20.0.0/33`", "from 0 to 32", "e.g. client_networks = [\"10.20.0.0/16\""] },
        Case { name: "client network that is a name", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\nclient_networks = [\"bastion\"]\n", expect: &["stack.toml:9:20", "`bastion` is not an IPv4 or IPv6 network", "write networks in CIDR form"] },
        Case { name: "client network with host bits", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\nclient_networks = [\"10.20.0.5/16\"]\n", expect: &["stack.toml:9:20", "the network is 10.20.0.0/16"] },
        Case { name: "bad host key policy", inv: "[defaults]\nhost_key_policy = \"trust\"\n[hosts.a]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:", "accept-new"] },
    ];
    assert!(cases.len() >= 25);
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        let (code, err) = run(dir.path(), c.inv, c.stack);
        if code != 1 {
            failures.push(format!("{}: exit {code}, want 1\n{err}", c.name));
            continue;
        }
        for e in c.expect {
            if !err.contains(e) {
                failures.push(format!("{}: output lacks `{e}`:\n{err}", c.name));
            }
        }
        if err.contains("panicked") {
            failures.push(format!("{}: panicked:\n{err}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(dir.path(), INV, "[stack]\nname = \"x\"\n[etcd]\nhosts = \"two\"\n[redis]\nhosts = \"nope\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\n");
    assert_eq!(code, 1);
    assert!(err.contains("odd number") && err.contains("`nope`"), "{err}");
    assert!(err.contains("2 errors found; nothing was contacted."), "{err}");
}

#[test]
fn examples_validate() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (i, s) in [("inventory/default.toml", "plans/default.toml"), ("inventory/example.toml", "plans/example.toml")] {
        let out = Command::cargo_bin("rampart").unwrap().current_dir(root).args(["-i", i, "-s", s, "validate"]).output().unwrap();
        assert!(out.status.success(), "{s}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `apply FILE` with a bad saved plan: refused with the file and the fix,
/// before any host is contacted.
#[test]
fn bad_saved_plans_are_refused_naming_the_file_and_the_fix() {
    use rampart::plan::saved::{absolute, FactsDigest, Inputs, SavedPlan, Sources, SAVED_FORMAT};
    let dir = tempfile::tempdir().unwrap();
    let apply = |args: &[&str]| {
        let out = Command::cargo_bin("rampart").unwrap().current_dir(dir.path()).args(args).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    std::fs::write(dir.path().join("old.json"), r#"{"format": 1, "rampart_version": "0.0.9", "salt": "s", "inputs": {}, "facts": {}, "plan": {}}"#).unwrap();
    let (code, err) = apply(&["apply", "old.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("old.json: this plan file has format 1 (made by rampart 0.0.9)") && err.contains("Make the plan again: rampart plan --out FILE"), "{err}");
    std::fs::write(dir.path().join("junk.json"), "plan: yes").unwrap();
    let (code, err) = apply(&["apply", "junk.json"]);
    assert!(code == 1 && err.contains("junk.json: not a rampart plan file"), "{err}");

    // a plan recording its files: other ones passed are refused, naming both
    for f in ["inv.toml", "stack.toml", "other.toml"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let sources = Sources { inventory: absolute(&dir.path().join("inv.toml")), stack: absolute(&dir.path().join("stack.toml")), roles: None };
    let saved = SavedPlan {
        format: SAVED_FORMAT,
        rampart_version: "test".into(),
        salt: "s".into(),
        sources: sources.clone(),
        inputs: Inputs { inventory_sha256: String::new(), stack_sha256: String::new(), roles_sha256: String::new(), secrets_keyed_sha256: String::new() },
        facts: [("a".to_string(), FactsDigest::default())].into_iter().collect(),
        plan: Default::default(),
    };
    std::fs::write(dir.path().join("p.json"), serde_json::to_vec(&saved).unwrap()).unwrap();
    let (code, err) = apply(&["-s", "other.toml", "apply", "p.json"]);
    assert_eq!(code, 1);
    let other = absolute(&dir.path().join("other.toml"));
    assert!(err.contains(&format!("-s: the plan was made from {}, you passed {}", sources.stack.display(), other.display())), "{err}");
    assert!(!err.contains("stale"), "{err}");
    // the recorded files are the ones loaded: a recorded file that is gone is named
    std::fs::remove_file(dir.path().join("stack.toml")).unwrap();
    let (code, err) = apply(&["apply", "p.json"]);
    assert_eq!(code, 1);
    assert!(err.contains(&sources.stack.display().to_string()) && err.contains("p.json was made from these files: put them back, or make a new plan."), "{err}");
}
