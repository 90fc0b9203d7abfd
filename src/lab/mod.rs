//! The local lab: `lab/lab.sh`, embedded in the binary and run with bash.
//! `RAMPART_LAB_SCRIPT` points at another copy (for developing the script).

use std::path::PathBuf;
use std::process::Command;

pub const SCRIPT: &str = include_str!("../../lab/lab.sh");

/// Where the lab keeps its hosts, key and known_hosts.
pub fn default_dir() -> PathBuf {
    std::env::var_os("RAMPART_LAB_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/lib/rampart-lab"))
}

/// Runs the lab script with `args`, output to the terminal; returns its exit code.
pub fn run(args: &[String]) -> std::io::Result<i32> {
    if !cfg!(target_os = "linux") {
        return Err(std::io::Error::other("the lab runs on Linux only"));
    }
    let (path, temp) = match std::env::var_os("RAMPART_LAB_SCRIPT") {
        Some(p) => (PathBuf::from(p), false),
        None => {
            let p = std::env::temp_dir().join(format!("rampart-lab-{}.sh", std::process::id()));
            std::fs::write(&p, SCRIPT)?;
            (p, true)
        }
    };
    let status = Command::new("bash").arg(&path).args(args).status();
    if temp {
        let _ = std::fs::remove_file(&path);
    }
    Ok(status?.code().unwrap_or(1))
}
