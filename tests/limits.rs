//! Issue "hardening", resource limits: a 1,000-host inventory whose hosts
//! all refuse connections (loopback addresses, port 1: nothing else is ever
//! a target) fails with every host named, within a file-descriptor limit of
//! 256 and bounded memory. The time is printed, never asserted.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Write;
use std::process::Command;
use std::time::Instant;

#[test]
fn a_thousand_unreachable_hosts_fail_within_fd_and_memory_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = String::from("[defaults]\nuser = \"root\"\nport = 1\nconnect_timeout = 5\n");
    let _ = writeln!(
        inv,
        "known_hosts = \"{}\"",
        dir.path().join("known_hosts").display()
    );
    let mut names = Vec::new();
    for k in 0..1000u32 {
        let _ = write!(
            inv,
            "[hosts.h{k:04}]\naddress = \"127.1.{}.{}\"\n",
            k / 250,
            k % 250 + 1
        );
        names.push(format!("\"h{k:04}\""));
    }
    let _ = writeln!(inv, "[groups]\nfleet = [{}]", names.join(", "));
    std::fs::write(dir.path().join("inv.toml"), inv).unwrap();
    std::fs::write(dir.path().join("known_hosts"), "").unwrap();
    let role = dir.path().join("roles/motd");
    std::fs::create_dir_all(&role).unwrap();
    std::fs::write(role.join("role.toml"), "[[resources]]\nkind = \"file\"\npath = \"/etc/motd\"\ncontent = \"hello {{host.name}}\\n\"\n").unwrap();
    std::fs::write(
        dir.path().join("stack.toml"),
        "[stack]\nname = \"big\"\n[roles.motd]\nhosts = \"fleet\"\n",
    )
    .unwrap();

    let t = Instant::now();
    // at most 256 open files: more connections at once than that would fail with EMFILE
    let out = Command::new("prlimit")
        .args(["--nofile=256", "--"])
        .arg(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(dir.path())
        .args([
            "-i",
            "inv.toml",
            "-s",
            "stack.toml",
            "--roles",
            "roles",
            "plan",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("prlimit (util-linux) runs rampart");
    let secs = t.elapsed().as_secs_f64();
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let peak_mb = usage.ru_maxrss as f64 / 1024.0;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !err.contains("Too many open files") && !err.contains("os error 24"),
        "connections must be bounded: {err}"
    );
    for k in [0, 499, 999] {
        assert!(err.contains(&format!("h{k:04}")), "h{k:04} is named: {err}");
    }
    let refused = err.lines().filter(|l| l.contains("refused")).count();
    assert!(refused >= 1000, "every host fails for its own reason (refused), not a panic or a limit: {refused} lines\n{}", &err[..err.len().min(2000)]);
    assert!(peak_mb < 500.0, "peak memory {peak_mb:.0} MB");
    eprintln!("MEASURED 1000 refusing hosts: plan failed after {secs:.1}s, peak RSS {peak_mb:.0} MB (fd limit 256)");
}
