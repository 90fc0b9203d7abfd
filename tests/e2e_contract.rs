//! Issue "plans you can trust", end to end on lab hosts: saved plans applied
//! exactly, stale plans refused, the apply lock, an owed restart recovered,
//! destroy keeping data directories.

mod common;
use common::*;

fn args<'a>(inv: &'a str, stack: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-i", inv, "-s", stack];
    v.extend_from_slice(rest);
    v
}

#[test]
fn saved_plans_locks_owed_restarts_and_destroy() {
    let _lab = lab(3);
    let inv = lab_inventory();
    let dir = tempfile::tempdir().unwrap();
    let stack_path = dir.path().join("etcd.toml");
    std::fs::copy(fixture("etcd.toml"), &stack_path).unwrap();
    let stack = stack_path.display().to_string();
    let saved = dir.path().join("plan.json").display().to_string();

    // --target keeps a resource and what it needs, nothing else
    let t = rampart(&args(&inv, &stack, &["plan", "--target", "lab1/file/etc/default/etcd"]));
    assert_eq!(t.code, 0, "{}", t.all());
    assert!(t.stdout.contains("+ lab1/package/etcd-server") && t.stdout.contains("+ lab1/file/etc/default/etcd"), "{}", t.stdout);
    assert!(!t.stdout.contains("lab2/") && !t.stdout.contains("lab1/service/etcd"), "{}", t.stdout);
    assert!(t.stdout.contains("Plan: 3 to add, 0 to change, 0 to destroy."), "{}", t.stdout);
    let bad = rampart(&args(&inv, &stack, &["plan", "--target", "lab1/file/etc/default/etc"]));
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("did you mean lab1/file/etc/default/etcd"), "{}", bad.stderr);

    // a saved plan is applied exactly
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0, "{}", p.all());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(doc["format"], 1);
    let planned: Vec<String> = doc["plan"]["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let a = rampart(&args(&inv, &stack, &["apply", "--json", &saved]));
    assert_eq!(a.code, 0, "{}", a.all());
    let mut applied: Vec<String> = a.stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter(|e| e["event"] == "finished" && e["outcome"] == "ok").map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let mut want = planned.clone();
    applied.sort();
    want.sort();
    assert_eq!(applied, want, "apply PLAN runs exactly the saved steps");
    assert_eq!(rampart(&args(&inv, &stack, &["plan", "--detailed-exitcode"])).code, 0);

    // a plan saved before the hosts changed is refused, naming what changed
    ssh_ok("lab1", "echo '# by hand' >> /etc/default/etcd");
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0, "{}", p.all());
    ssh_ok("lab1", "echo '# by hand, again' >> /etc/default/etcd");
    let r = rampart(&args(&inv, &stack, &["apply", &saved]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("refusing a stale plan") && r.stderr.contains("lab1: file /etc/default/etcd"), "{}", r.stderr);
    // and one made before the inputs changed
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0);
    std::fs::write(&stack_path, std::fs::read_to_string(&stack_path).unwrap() + "cluster_token = \"other\"\n").unwrap();
    let r = rampart(&args(&inv, &stack, &["apply", &saved]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("the stack file changed"), "{}", r.stderr);
    std::fs::copy(fixture("etcd.toml"), &stack_path).unwrap();
    assert_eq!(rampart(&args(&inv, &stack, &["apply", "--auto-approve"])).code, 0, "repair lab1's file");

    // a second apply while one runs is refused, naming the holder; a dead holder's lock can be broken
    let holder = r#"{"who":"ops@elsewhere","machine":"elsewhere","pid":4242,"since":1700000000,"command":"apply","token":"t"}"#;
    ssh_ok("lab2", &format!("mkdir -p /var/lib/rampart/lock && echo '{holder}' > /var/lib/rampart/lock/owner"));
    ssh_ok("lab2", "echo '# drift' >> /etc/default/etcd");
    let r = rampart(&args(&inv, &stack, &["apply", "--auto-approve"]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("lab2: another apply or destroy holds the lock: ops@elsewhere (pid 4242"), "{}", r.stderr);
    assert!(ssh_ok("lab2", "cat /etc/default/etcd").contains("# drift"), "nothing changed while refused");
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let dead = format!(r#"{{"who":"root@{here}","machine":"{here}","pid":4194300,"since":1700000000,"command":"apply","token":"t"}}"#);
    ssh_ok("lab2", &format!("echo '{dead}' > /var/lib/rampart/lock/owner"));
    let r = rampart(&args(&inv, &stack, &["apply", "--auto-approve"]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no longer alive") && r.stderr.contains("--break-lock"), "{}", r.stderr);
    let r = rampart(&args(&inv, &stack, &["apply", "--auto-approve", "--break-lock"]));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(ssh("lab2", "test -e /var/lib/rampart/lock").code, 1, "the lock is released after apply");

    // a restart owed by an apply that died after writing the config is still done
    let before = ssh_ok("lab3", "systemctl show -p ActiveEnterTimestampMonotonic --value etcd");
    ssh_ok("lab3", "mkdir -p /var/lib/rampart/pending && : > /var/lib/rampart/pending/etcd");
    let p = rampart(&args(&inv, &stack, &["plan", "--detailed-exitcode"]));
    assert_eq!(p.code, 2, "{}", p.all());
    assert!(p.stdout.contains("~ lab3/service/etcd") && p.stdout.contains("owed by an earlier apply"), "{}", p.stdout);
    assert_eq!(rampart(&args(&inv, &stack, &["apply", "--auto-approve"])).code, 0);
    assert_ne!(before, ssh_ok("lab3", "systemctl show -p ActiveEnterTimestampMonotonic --value etcd"), "etcd was restarted");
    assert_eq!(ssh("lab3", "test -e /var/lib/rampart/pending/etcd").code, 1);
    assert_eq!(rampart(&args(&inv, &stack, &["plan", "--detailed-exitcode"])).code, 0);

    // destroy removes what rampart put there but keeps the data directory
    let d = rampart(&args(&inv, &stack, &["destroy", "--auto-approve"]));
    assert_eq!(d.code, 0, "{}", d.all());
    assert!(d.stdout.contains("- lab1/service/etcd") && d.stdout.contains("- lab1/package/etcd-server"), "{}", d.stdout);
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(ssh(h, "systemctl is-active etcd").code == 0, false, "{h}: etcd still running");
        assert_eq!(ssh(h, "test -e /etc/default/etcd.dpkg-bak || test ! -e /usr/bin/etcd").code, 0, "{h}: etcd-server still installed");
        assert_eq!(ssh(h, "test -d /var/lib/etcd/e2e-etcd/member").code, 0, "{h}: the data directory must survive destroy");
    }
    // the data directories are still recorded: --destroy-data removes them, and only then
    let data = rampart(&args(&inv, &stack, &["destroy", "--auto-approve", "--destroy-data"]));
    assert_eq!(data.code, 0, "{}", data.all());
    assert!(data.stdout.contains("- lab1/data/var/lib/etcd/e2e-etcd"), "{}", data.stdout);
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(ssh(h, "test -e /var/lib/etcd/e2e-etcd").code, 1, "{h}: --destroy-data keeps nothing");
    }
    let again = rampart(&args(&inv, &stack, &["destroy", "--auto-approve"]));
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}
