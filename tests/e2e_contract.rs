//! Issue "plans you can trust", end to end on lab hosts: saved plans applied
//! exactly, stale plans refused, the apply lock, an owed restart recovered,
//! destroy keeping data directories.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
use common::*;

fn args<'a>(inv: &'a str, stack: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-i", inv, "-s", stack];
    v.extend_from_slice(rest);
    v
}

/// rampart run from `dir` (not the project root, whose default files it would pick).
fn rampart_in(dir: &std::path::Path, args: &[&str]) -> Run {
    let o = std::process::Command::new(bin())
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run rampart");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn canonical(p: &str) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

/// Runs `apply` (no --auto-approve) on a pseudo-terminal until it asks,
/// calls `at_prompt`, then answers `answer`. Returns everything it printed and its exit code.
fn apply_answering(
    inv: &str,
    stack: &str,
    answer: &str,
    at_prompt: impl FnOnce(),
) -> (String, i32) {
    use std::io::{Read, Write};
    let cmd = format!("{} -i {inv} -s {stack} apply", bin());
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run script(1)");
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut b = [0u8; 4096];
        while let Ok(n) = out.read(&mut b) {
            if n == 0 || tx.send(b[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !String::from_utf8_lossy(&seen).contains("Only 'yes' will be accepted") {
        match rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(b) => seen.extend(b),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                if std::time::Instant::now() < deadline => {}
            Err(_) => {
                let _ = child.kill();
                panic!("apply never asked:\n{}", String::from_utf8_lossy(&seen));
            }
        }
    }
    at_prompt();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    let _ = reader.join();
    seen.extend(rx.try_iter().flatten());
    (
        String::from_utf8_lossy(&seen).into_owned(),
        status.code().unwrap_or(-1),
    )
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
    let t = rampart(&args(
        &inv,
        &stack,
        &["plan", "--target", "lab1/file/etc/default/etcd"],
    ));
    assert_eq!(t.code, 0, "{}", t.all());
    assert!(
        t.stdout.contains("+ lab1/package/etcd-server")
            && t.stdout.contains("+ lab1/file/etc/default/etcd"),
        "{}",
        t.stdout
    );
    assert!(
        !t.stdout.contains("lab2/") && !t.stdout.contains("lab1/service/etcd"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout
            .contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{}",
        t.stdout
    );
    let bad = rampart(&args(
        &inv,
        &stack,
        &["plan", "--target", "lab1/file/etc/default/etc"],
    ));
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("did you mean lab1/file/etc/default/etcd"),
        "{}",
        bad.stderr
    );

    // a saved plan is applied exactly, with the files it was made from (it
    // records them: no -i/-s needed, from any folder)
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0, "{}", p.all());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(doc["format"], 2);
    assert_eq!(doc["sources"]["stack"], canonical(&stack));
    assert_eq!(doc["sources"]["inventory"], canonical(&inv));
    let planned: Vec<String> = doc["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    // the same stack at another path is another file: refused, both named, before anything is read
    let other = dir.path().join("other.toml").display().to_string();
    std::fs::copy(fixture("etcd.toml"), &other).unwrap();
    let r = rampart_in(dir.path(), &["-s", &other, "apply", &saved]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(&format!(
            "-s: the plan was made from {}, you passed {}",
            canonical(&stack),
            canonical(&other)
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("stale"), "{}", r.stderr);
    assert_eq!(
        ssh("lab1", "test -e /var/lib/rampart/lock").code,
        1,
        "a refused apply leaves no lock"
    );
    let a = rampart_in(dir.path(), &["apply", "--json", "plan.json"]);
    assert_eq!(a.code, 0, "{}", a.all());
    let first: serde_json::Value = serde_json::from_str(a.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "sources", "{}", a.stdout);
    assert_eq!(
        (
            first["stack"].as_str().unwrap(),
            first["inventory"].as_str().unwrap()
        ),
        (canonical(&stack).as_str(), canonical(&inv).as_str()),
        "{}",
        a.stdout
    );
    let mut applied: Vec<String> = a
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "finished" && e["outcome"] == "ok")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let mut want = planned.clone();
    applied.sort();
    want.sort();
    assert_eq!(applied, want, "apply PLAN runs exactly the saved steps");
    assert_eq!(
        rampart(&args(&inv, &stack, &["plan", "--detailed-exitcode"])).code,
        0
    );

    // a plan saved before the hosts changed is refused, naming what changed
    ssh_ok("lab1", "echo '# by hand' >> /etc/default/etcd");
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0, "{}", p.all());
    ssh_ok("lab1", "echo '# by hand, again' >> /etc/default/etcd");
    let r = rampart(&args(&inv, &stack, &["apply", &saved]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("refusing a stale plan")
            && r.stderr.contains("lab1: file /etc/default/etcd"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains(&format!(
            "Applying {saved}, made from the inventory {}, the stack {} and the built-in roles.",
            canonical(&inv),
            canonical(&stack)
        )),
        "{}",
        r.stdout
    );
    // and one made before the inputs changed
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0);
    std::fs::write(
        &stack_path,
        std::fs::read_to_string(&stack_path).unwrap() + "cluster_token = \"other\"\n",
    )
    .unwrap();
    let r = rampart(&args(&inv, &stack, &["apply", &saved]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!(
            "the contents of the stack {} changed",
            canonical(&stack)
        )),
        "{}",
        r.stderr
    );
    std::fs::copy(fixture("etcd.toml"), &stack_path).unwrap();
    assert_eq!(
        rampart(&args(&inv, &stack, &["apply", "--auto-approve"])).code,
        0,
        "repair lab1's file"
    );

    // a second apply while one runs is refused, naming the holder; a dead holder's lock can be broken
    let holder = r#"{"who":"ops@elsewhere","machine":"elsewhere","pid":4242,"since":1700000000,"command":"apply","token":"t"}"#;
    ssh_ok(
        "lab2",
        &format!("mkdir -p /var/lib/rampart/lock && echo '{holder}' > /var/lib/rampart/lock/owner"),
    );
    ssh_ok("lab2", "echo '# drift' >> /etc/default/etcd");
    // plan alone takes no lock (and leaves the holder's alone)
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0, "{}", p.all());
    assert!(ssh_ok("lab2", "cat /var/lib/rampart/lock/owner").contains("ops@elsewhere"));
    let r = rampart(&args(&inv, &stack, &["apply", "--auto-approve"]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("lab2: another apply or destroy holds the lock: ops@elsewhere (pid 4242"),
        "{}",
        r.stderr
    );
    // the lock comes first: refused before any fact was read, so no plan was shown
    assert!(
        !r.stdout.contains("lab2/file/etc/default/etcd") && !r.stdout.contains("Plan:"),
        "planned before taking the lock:\n{}",
        r.stdout
    );
    assert!(
        ssh_ok("lab2", "cat /etc/default/etcd").contains("# drift"),
        "nothing changed while refused"
    );
    for h in ["lab1", "lab3"] {
        assert_eq!(
            ssh(h, "test -e /var/lib/rampart/lock").code,
            1,
            "{h}: the locks taken are given back on refusal"
        );
    }
    // a saved plan, stale by now, is refused for the lock, before its facts are compared
    ssh_ok("lab2", "echo '# drift again' >> /etc/default/etcd");
    let r = rampart(&args(&inv, &stack, &["apply", &saved]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("lab2: another apply or destroy holds the lock")
            && !r.stderr.contains("stale"),
        "{}",
        r.stderr
    );
    // so is destroy, before it lists anything
    let r = rampart(&args(&inv, &stack, &["destroy", "--auto-approve"]));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("refusing to destroy")
            && r.stderr
                .contains("lab2: another apply or destroy holds the lock"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stdout.contains("- lab1/"),
        "listed before taking the lock:\n{}",
        r.stdout
    );
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let dead = format!(
        r#"{{"who":"root@{here}","machine":"{here}","pid":4194300,"since":1700000000,"command":"apply","token":"t"}}"#
    );
    ssh_ok(
        "lab2",
        &format!("echo '{dead}' > /var/lib/rampart/lock/owner"),
    );
    let r = rampart(&args(&inv, &stack, &["apply", "--auto-approve"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no longer alive") && r.stderr.contains("--break-lock"),
        "{}",
        r.stderr
    );
    let r = rampart(&args(
        &inv,
        &stack,
        &["apply", "--auto-approve", "--break-lock"],
    ));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        ssh("lab2", "test -e /var/lib/rampart/lock").code,
        1,
        "the lock is released after apply"
    );
    let r = rampart(&args(&inv, &stack, &["apply", "--auto-approve"]));
    assert!(
        r.code == 0 && r.stdout.contains("No changes"),
        "{}",
        r.all()
    );
    assert_eq!(
        ssh("lab1", "test -e /var/lib/rampart/lock").code,
        1,
        "the lock is released when there is nothing to do"
    );

    // the lock is held while apply waits for its answer, and given back when the answer is no
    ssh_ok("lab3", "echo '# drift' >> /etc/default/etcd");
    let me = std::cell::RefCell::new(String::new());
    let (out, code) = apply_answering(&inv, &stack, "no", || {
        *me.borrow_mut() = ssh_ok("lab1", "cat /var/lib/rampart/lock/owner");
    });
    assert!(
        me.borrow().contains(r#""command":"apply""#),
        "lab1 not locked while asking: {:?}\n{out}",
        me.borrow()
    );
    assert!(
        out.contains("~ lab3/file/etc/default/etcd") && out.contains("apply cancelled"),
        "{out}"
    );
    assert_eq!(code, 1, "{out}");
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh(h, "test -e /var/lib/rampart/lock").code,
            1,
            "{h}: the lock is released after a cancelled apply"
        );
    }
    assert!(
        ssh_ok("lab3", "cat /etc/default/etcd").contains("# drift"),
        "nothing changed when the answer was no"
    );
    assert_eq!(
        rampart(&args(&inv, &stack, &["apply", "--auto-approve"])).code,
        0
    );

    // a plan saved before the etcd membership changed is refused, naming the change
    let p = rampart(&args(&inv, &stack, &["plan", "--out", &saved]));
    assert_eq!(p.code, 0, "{}", p.all());
    const ETCDCTL: &str = "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379";
    // etcd refuses a member add until every member has been connected a few seconds (after the apply's restart)
    ssh_ok("lab1", &format!("for i in $(seq 60); do {ETCDCTL} member add e2e-extra --peer-urls=http://198.18.0.99:2380 && exit 0; sleep 1; done; exit 1"));
    let r = rampart(&args(&inv, &stack, &["apply", &saved]));
    ssh_ok(
        "lab1",
        &format!(
            "{ETCDCTL} member remove $({ETCDCTL} member list | grep 198.18.0.99 | cut -d, -f1)"
        ),
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("refusing a stale plan")
            && r.stderr.contains("lab1: etcd members: was lab1 "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(unnamed) ") && r.stderr.contains("http://198.18.0.99:2380 (unstarted)"),
        "{}",
        r.stderr
    );

    // a restart owed by an apply that died after writing the config is still done
    let before = ssh_ok(
        "lab3",
        "systemctl show -p ActiveEnterTimestampMonotonic --value etcd",
    );
    ssh_ok(
        "lab3",
        "mkdir -p /var/lib/rampart/pending && : > /var/lib/rampart/pending/etcd",
    );
    let p = rampart(&args(&inv, &stack, &["plan", "--detailed-exitcode"]));
    assert_eq!(p.code, 2, "{}", p.all());
    assert!(
        p.stdout.contains("~ lab3/service/etcd") && p.stdout.contains("owed by an earlier apply"),
        "{}",
        p.stdout
    );
    assert_eq!(
        rampart(&args(&inv, &stack, &["apply", "--auto-approve"])).code,
        0
    );
    assert_ne!(
        before,
        ssh_ok(
            "lab3",
            "systemctl show -p ActiveEnterTimestampMonotonic --value etcd"
        ),
        "etcd was restarted"
    );
    assert_eq!(ssh("lab3", "test -e /var/lib/rampart/pending/etcd").code, 1);
    assert_eq!(
        rampart(&args(&inv, &stack, &["plan", "--detailed-exitcode"])).code,
        0
    );

    // destroy removes what rampart put there but keeps the data directory
    let d = rampart(&args(&inv, &stack, &["destroy", "--auto-approve"]));
    assert_eq!(d.code, 0, "{}", d.all());
    assert!(
        d.stdout.contains("- lab1/service/etcd") && d.stdout.contains("- lab1/package/etcd-server"),
        "{}",
        d.stdout
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert!(
            ssh(h, "systemctl is-active etcd").code != 0,
            "{h}: etcd still running"
        );
        assert_eq!(
            ssh(
                h,
                "test -e /etc/default/etcd.dpkg-bak || test ! -e /usr/bin/etcd"
            )
            .code,
            0,
            "{h}: etcd-server still installed"
        );
        assert_eq!(
            ssh(h, "test -d /var/lib/etcd/e2e-etcd/member").code,
            0,
            "{h}: the data directory must survive destroy"
        );
    }
    // the data directories are still recorded: --destroy-data removes them, and only then
    let data = rampart(&args(
        &inv,
        &stack,
        &["destroy", "--auto-approve", "--destroy-data"],
    ));
    assert_eq!(data.code, 0, "{}", data.all());
    assert!(
        data.stdout.contains("- lab1/data/var/lib/etcd/e2e-etcd"),
        "{}",
        data.stdout
    );
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(
            ssh(h, "test -e /var/lib/etcd/e2e-etcd").code,
            1,
            "{h}: --destroy-data keeps nothing"
        );
    }
    let again = rampart(&args(&inv, &stack, &["destroy", "--auto-approve"]));
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
}
