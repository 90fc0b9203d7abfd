//! Issue "day-2 operations", end to end on lab hosts over real SSH: cluster
//! membership changed by editing the stack file alone, and plans that would
//! break a quorum refused.

mod common;
use common::*;

fn members(h: &str) -> Vec<String> {
    let out = ssh_ok(h, "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 member list");
    let mut v: Vec<String> = out.lines().map(|l| format!("{} {}", l.split(", ").nth(2).unwrap_or("?"), l.split(", ").nth(1).unwrap_or("?"))).collect();
    v.sort();
    v
}

fn etcd_stack(dir: &std::path::Path, name: &str, hosts: &[&str], extra: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    let list = hosts.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ");
    std::fs::write(&p, format!("[stack]\nname = \"grow\"\n\n[etcd]\nhosts = [{list}]\n{extra}")).unwrap();
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
    let five = etcd_stack(dir.path(), "five", &["lab1", "lab2", "lab3", "lab4", "lab5"], "");
    let apply = |stack: &str| rampart(&["-i", &inv, "-s", stack, "apply", "--auto-approve"]);
    let plan = |stack: &str| rampart(&["-i", &inv, "-s", stack, "plan", "--detailed-exitcode"]);

    let a = apply(&three);
    assert_eq!(a.code, 0, "{}", a.all());
    assert_eq!(members("lab1"), vec!["lab1 started", "lab2 started", "lab3 started"]);
    let started = |h: &str| ssh_ok(h, "systemctl show -p ActiveEnterTimestampMonotonic --value etcd").trim().to_string();
    let before: Vec<String> = ["lab1", "lab2", "lab3"].iter().map(|h| started(h)).collect();

    // lab1 writes a key every 0.3 s for the whole change: every write needs a quorum
    let writer = std::thread::spawn(|| {
        ssh_ok("lab1", "rm -f /tmp/stop-writer; ok=0; bad=0; end=$(( $(date +%s) + 400 )); while [ ! -e /tmp/stop-writer ] && [ $(date +%s) -lt $end ]; do if ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --command-timeout=5s put /rampart-probe \"$(date +%s%N)\" >/dev/null 2>&1; then ok=$((ok+1)); else bad=$((bad+1)); date +%T.%N >> /tmp/writer-failures; fi; sleep 0.3; done; echo $ok $bad")
    });

    // 3 -> 5: the plan adds each new member before its first start, restarts nobody
    let p = plan(&five);
    assert_eq!(p.code, 2, "{}", p.all());
    for want in ["lab4/member/etcd-join", "lab5/member/etcd-join", "etcdctl member add lab4 (the cluster has 3 members)", "etcdctl member add lab5 (the cluster has 4 members)"] {
        assert!(p.stdout.contains(want), "plan lacks `{want}`:\n{}", p.stdout);
    }
    assert!(!p.stdout.contains("lab1/service/etcd"), "the running members are not restarted:\n{}", p.stdout);
    let a = apply(&five);
    assert_eq!(a.code, 0, "{}", a.all());
    for h in ["lab1", "lab4", "lab5"] {
        assert_eq!(members(h), vec!["lab1 started", "lab2 started", "lab3 started", "lab4 started", "lab5 started"], "{h}");
    }
    let health = ssh_ok("lab1", "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health --cluster 2>&1");
    assert_eq!(health.matches("is healthy").count(), 5, "{health}");
    assert!(ssh_ok("lab4", "cat /var/lib/rampart/etcd-join.env").contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""));
    let p = plan(&five);
    assert_eq!(p.code, 0, "plan after growing is empty:\n{}", p.all());

    // 5 -> 3: removed from a remaining member, one at a time, then stopped
    let p = plan(&three);
    assert_eq!(p.code, 2, "{}", p.all());
    for want in ["lab1/member/etcd-remove-lab4", "lab1/member/etcd-remove-lab5", "- lab4/service/etcd", "- lab5/service/etcd"] {
        assert!(p.stdout.contains(want), "plan lacks `{want}`:\n{}", p.stdout);
    }
    let a = apply(&three);
    assert_eq!(a.code, 0, "{}", a.all());
    ssh_ok("lab1", "touch /tmp/stop-writer");
    let counts = writer.join().unwrap();
    let (ok, bad): (u32, u32) = {
        let mut it = counts.split_whitespace().map(|x| x.parse().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    };
    eprintln!("MEASURED etcd 3 -> 5 -> 3 with a write every 0.3 s: {ok} writes succeeded, {bad} failed");
    assert!(bad == 0 && ok > 10, "every write found a quorum ({ok} ok, {bad} failed at {})", ssh("lab1", "cat /tmp/writer-failures").stdout);
    for h in ["lab1", "lab2", "lab3"] {
        assert_eq!(members(h), vec!["lab1 started", "lab2 started", "lab3 started"], "{h}");
    }
    for h in ["lab4", "lab5"] {
        assert_ne!(ssh(h, "systemctl is-active etcd").stdout.trim(), "active", "{h}'s etcd is stopped");
    }
    let after: Vec<String> = ["lab1", "lab2", "lab3"].iter().map(|h| started(h)).collect();
    assert_eq!(before, after, "the members that stayed were never restarted");
    let p = plan(&three);
    assert_eq!(p.code, 0, "plan after shrinking is empty:\n{}", p.all());

    // a restart while one of three members is down would leave one: refused
    ssh_ok("lab3", "systemctl stop etcd");
    let slower = etcd_stack(dir.path(), "slower", &["lab1", "lab2", "lab3"], "heartbeat_interval = 150\nelection_timeout = 1500\n");
    let conf_before = ssh_ok("lab1", "cat /etc/default/etcd");
    let r = rampart(&["-i", &inv, "-s", &slower, "apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("would leave 1 of 3 running") && r.stderr.contains("lab3 down now") && r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(conf_before, ssh_ok("lab1", "cat /etc/default/etcd"), "a refused plan changes nothing");
    ssh_ok("lab3", "systemctl start etcd");
    let r = rampart(&["-i", &inv, "-s", &slower, "plan"]);
    assert_eq!(r.code, 0, "with every member back the same change is planned: {}", r.all());
}
