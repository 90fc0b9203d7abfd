//! The local lab: `lab/lab.sh`, embedded in the binary and run with bash.
//! `RAMPART_LAB_SCRIPT` points at another copy (for developing the script).

use std::path::PathBuf;
use std::process::Command;

pub const SCRIPT: &str = include_str!("../../lab/lab.sh");

/// Where the lab keeps its hosts, key and known_hosts (`RAMPART_LAB_DIR`, else /var/lib/rampart-lab).
pub fn default_dir() -> PathBuf {
    match std::env::var_os("RAMPART_LAB_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("/var/lib/rampart-lab"),
    }
}

/// The script file named by `RAMPART_LAB_SCRIPT`, when set: it runs instead of the embedded copy.
pub fn script_path_env() -> Option<PathBuf> {
    std::env::var_os("RAMPART_LAB_SCRIPT")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Runs the lab script with `args` (`up 3`, `down`, ...), its output going to ours; returns its exit code.
pub fn run(args: &[String]) -> std::io::Result<i32> {
    if !cfg!(target_os = "linux") {
        crate::printer::err("rampart lab: the lab runs on Linux only (root, systemd-nspawn)\n");
        return Ok(2);
    }
    let (path, temp) = match script_path_env() {
        Some(p) => (p, false),
        None => {
            let p = std::env::temp_dir().join(format!("rampart-lab-{}.sh", std::process::id()));
            std::fs::write(&p, SCRIPT)?;
            (p, true)
        }
    };
    let status = Command::new("bash")
        .arg(&path)
        .args(args)
        .env("RAMPART_LAB_PROG", "rampart lab")
        .status();
    if temp {
        let _ = std::fs::remove_file(&path);
    }
    let status = status?;
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return Ok(128 + sig); // killed by a signal: the shell's convention
        }
    }
    Ok(status.code().unwrap_or(1))
}
