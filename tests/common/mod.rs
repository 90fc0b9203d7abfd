//! Shared helpers for the end-to-end tests on lab hosts (real SSH, real
//! Debian packages). The lab is one per machine: these tests take a lock
//! and reset the hosts they use.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![allow(dead_code)]

mod compiled;
mod converged;
pub mod tls;
#[allow(unused_imports)] // each test binary uses what it needs
pub use compiled::compiled_with;
#[allow(unused_imports)]
pub use converged::{converged, converged_guards_hold, fresh};

use std::fs::File;
use std::process::{Command, Output};
use std::time::Instant;

/// The lab is one per machine: every test that uses it, in any test binary
/// and any checkout, holds this file lock (flock: released when the process dies).
const LAB_LOCK: &str = "/run/lock/rampart-lab-tests.lock";

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Prints a measured figure; with `RAMPART_MEASURED=FILE` also appends it
/// there (a run whose output is captured, such as CI's, keeps its figures).
#[allow(unused_macros)]
macro_rules! measured {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        eprintln!("{line}");
        $crate::common::record_measured(&line);
    }};
}

pub fn record_measured(line: &str) {
    if let Some(path) = std::env::var_os("RAMPART_MEASURED").filter(|p| !p.is_empty()) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

pub fn bin() -> String {
    env!("CARGO_BIN_EXE_rampart").to_string()
}

/// Holds the lab for one test; takes it down when dropped (even on panic).
pub struct Lab {
    _guard: File,
    pub up_seconds: f64,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::env::var_os("RAMPART_KEEP_LAB").is_none() {
            let _ = Command::new(bin()).args(["lab", "down"]).output();
        }
    }
}

/// The machine-wide lab lock alone, for a test that must not run while another uses the lab.
pub fn lab_lock() -> File {
    let _ = std::fs::create_dir_all("/run/lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LAB_LOCK)
        .unwrap_or_else(|e| panic!("open {LAB_LOCK}: {e}"));
    f.lock().unwrap_or_else(|e| panic!("lock {LAB_LOCK}: {e}"));
    f
}

/// Fresh lab hosts lab1..labN on the lab's default release (Debian 13).
/// Fails the test (never skips) when the lab cannot run.
pub fn lab(n: u32) -> Lab {
    lab_on(n, 13)
}

/// Fresh lab hosts lab1..labN on Debian `debian` (12 or 13).
pub fn lab_on(n: u32, debian: u32) -> Lab {
    lab_with(n, debian, &[])
}

/// Fresh Debian 13 lab hosts able to run Docker, and the lab's registry.
#[allow(dead_code)]
pub fn lab_docker(n: u32) -> Lab {
    lab_with(n, 13, &["--docker"])
}

fn lab_with(n: u32, debian: u32, extra: &[&str]) -> Lab {
    let guard = lab_lock();
    let t = Instant::now();
    let (n_s, debian_s) = (n.to_string(), debian.to_string());
    let mut args = vec!["lab", "up", &n_s, "--fresh", "--debian", &debian_s];
    args.extend_from_slice(extra);
    let out = Command::new(bin())
        .args(&args)
        .output()
        .expect("run rampart lab up");
    assert!(out.status.success(), "lab up failed (the end-to-end tests need Linux, root and the lab's Debian packages; see README):\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let up_seconds = t.elapsed().as_secs_f64();
    eprintln!(
        "lab up {n} --fresh --debian {debian} {}: {up_seconds:.1}s",
        extra.join(" ")
    );
    Lab {
        _guard: guard,
        up_seconds,
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn to_run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs rampart from the project root with extra environment.
pub fn rampart_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin());
    c.current_dir(ROOT).args(args).env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    to_run(c.output().expect("run rampart"))
}

pub fn rampart(args: &[&str]) -> Run {
    rampart_env(args, &[])
}

/// A command on a lab host over SSH (through `rampart lab ssh`).
pub fn ssh(host: &str, cmd: &str) -> Run {
    to_run(
        Command::new(bin())
            .args(["lab", "ssh", host, cmd])
            .output()
            .expect("run rampart lab ssh"),
    )
}

pub fn ssh_ok(host: &str, cmd: &str) -> String {
    let r = ssh(host, cmd);
    assert_eq!(r.code, 0, "{host}: `{cmd}` failed:\n{}", r.all());
    r.stdout
}

pub fn fixture(name: &str) -> String {
    format!("{ROOT}/tests/fixtures/{name}")
}

pub fn lab_inventory() -> String {
    format!("{ROOT}/inventory/default.toml")
}

/// The inventory `rampart lab inventory` writes for the hosts that are up
/// (each with the Debian release it runs), in `dir`.
pub fn lab_inventory_in(dir: &std::path::Path) -> String {
    let path = dir.join("lab-inventory.toml");
    let p = path.display().to_string();
    let r = rampart(&["lab", "inventory", "--out", &p]);
    assert_eq!(r.code, 0, "rampart lab inventory: {}", r.all());
    p
}

/// A writer's log: one `start end ok|fail` line per write.
pub struct WriteStats {
    pub n: usize,
    pub failed: usize,
    /// The longest run of failures: from the first failed write's start to the next good one's.
    pub worst: f64,
    /// The longest a successful write took.
    pub slowest: f64,
    /// The last writes failed (no good write after them).
    pub still_failing: bool,
}

pub fn write_stats(log: &str) -> WriteStats {
    let mut entries: Vec<(f64, f64, bool)> = log
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() != 3 {
                return None;
            }
            Some((f[0].parse().ok()?, f[1].parse().ok()?, f[2] == "ok"))
        })
        .collect();
    entries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let failed = entries.iter().filter(|e| !e.2).count();
    let (mut worst, mut start) = (0.0f64, None::<f64>);
    for &(t, _, ok) in &entries {
        match (ok, start) {
            (false, None) => start = Some(t),
            (true, Some(s)) => {
                worst = worst.max(t - s);
                start = None;
            }
            _ => {}
        }
    }
    let slowest = entries
        .iter()
        .filter(|e| e.2)
        .map(|e| e.1 - e.0)
        .fold(0.0f64, f64::max);
    WriteStats {
        n: entries.len(),
        failed,
        worst,
        slowest,
        still_failing: start.is_some(),
    }
}

/// Makes sure a command the test runs exists: when it is missing and we are
/// root on Debian, installs its package with apt-get (saying so), as `rampart
/// lab up` does for the lab's own tools; otherwise fails the test naming the package.
pub fn need_tool(cmd: &str, package: &str) {
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let found = || {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {cmd}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if found() {
        return;
    }
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    if !found() && std::path::Path::new("/etc/debian_version").exists() {
        eprintln!("installing {package} (for `{cmd}`): apt-get install {package}");
        let install = || {
            Command::new("apt-get")
                .args([
                    "-o",
                    "DPkg::Lock::Timeout=300",
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    package,
                ])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        if !install() {
            let _ = Command::new("apt-get")
                .args(["-o", "DPkg::Lock::Timeout=300", "update", "-q"])
                .output();
            install();
        }
    }
    assert!(found(), "`{cmd}` is needed by this test and could not be installed: apt-get install {package} (as root)");
}
