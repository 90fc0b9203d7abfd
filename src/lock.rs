//! The apply lock: one apply or destroy at a time on a host. A directory
//! made atomically by `mkdir` on the host, holding who took it and when.

use crate::transport::Session;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const LOCK_DIR: &str = "/var/lib/rampart/lock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// user@machine that runs rampart.
    pub who: String,
    pub machine: String,
    pub pid: u32,
    /// Unix seconds.
    pub since: u64,
    pub command: String,
    /// Random per run; only the run holding it releases it.
    pub token: String,
}

impl Holder {
    pub fn me(command: &str) -> Holder {
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Holder {
            who: format!("{user}@{machine}"),
            machine,
            pid: std::process::id(),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            command: command.to_string(),
            token: crate::plan::saved::new_salt(),
        }
    }

    /// A holder on this machine whose process is gone: a killed run.
    pub fn is_stale_here(&self) -> bool {
        let here = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        self.machine == here && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    pub fn describe(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!(
            "{} (pid {}, `rampart {}`) since {} s ago",
            self.who,
            self.pid,
            self.command,
            now.saturating_sub(self.since)
        )
    }
}

pub fn acquire_script(break_lock: bool) -> String {
    let mut s = "mkdir -p /var/lib/rampart && chmod 0700 /var/lib/rampart\n".to_string();
    if break_lock {
        s.push_str(&format!("rm -rf {LOCK_DIR}\n"));
    }
    s.push_str(&format!("if mkdir {LOCK_DIR} 2>/dev/null; then cat > {LOCK_DIR}/owner; echo ACQUIRED; else echo HELD; cat {LOCK_DIR}/owner 2>/dev/null; fi\n"));
    s
}

pub fn release_script(token: &str) -> String {
    format!(
        "if grep -q {} {LOCK_DIR}/owner 2>/dev/null; then rm -rf {LOCK_DIR}; fi\n",
        crate::transport::quote::sh(token)
    )
}

/// Takes the lock on every host, or none: on any refusal the ones taken are released.
pub async fn acquire_all(
    sessions: &BTreeMap<String, Arc<dyn Session>>,
    me: &Holder,
    break_lock: bool,
) -> Result<(), String> {
    let body = serde_json::to_vec(me).unwrap_or_default();
    let script = acquire_script(break_lock);
    let mut taken = Vec::new();
    let mut refusals = Vec::new();
    let mut tasks = Vec::new();
    for (h, s) in sessions {
        let (h, s, body, script) = (h.clone(), s.clone(), body.clone(), script.clone());
        tasks.push(tokio::spawn(async move {
            let r = s.exec(&script, &body).await;
            (h, s, r)
        }));
    }
    for t in tasks {
        let Ok((h, s, r)) = t.await else { continue };
        match r {
            Ok(o) if o.stdout_str().starts_with("ACQUIRED") => taken.push(s),
            Ok(o) => {
                let text = o.stdout_str();
                let owner = text.lines().skip(1).collect::<Vec<_>>().join("\n");
                match serde_json::from_str::<Holder>(&owner) {
                    Ok(holder) if holder.is_stale_here() => refusals.push(format!("{h}: locked by a run that is no longer alive: {}. Run again with --break-lock to take it over.", holder.describe())),
                    Ok(holder) => refusals.push(format!("{h}: another apply or destroy holds the lock: {}. Wait for it to finish (if it was killed on another machine, run again with --break-lock).", holder.describe())),
                    Err(_) => refusals.push(format!("{h}: {LOCK_DIR} exists but names no owner; if no rampart is running against it, run again with --break-lock")),
                }
            }
            Err(e) => refusals.push(format!("{h}: cannot take the lock: {e}")),
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        for s in taken {
            let _ = s.exec(&release_script(&me.token), b"").await;
        }
        Err(refusals.join("\n"))
    }
}

/// The locks one run holds. Taken host by host as the run meets its hosts
/// (the stack's, then any taken out of it), always before their facts are
/// read; released together by `release`, which the run calls on every exit.
pub struct Held {
    pub me: Holder,
    pub break_lock: bool,
    sessions: BTreeMap<String, Arc<dyn Session>>,
}

impl Held {
    pub fn new(command: &str, break_lock: bool) -> Held {
        Held {
            me: Holder::me(command),
            break_lock,
            sessions: BTreeMap::new(),
        }
    }

    /// Takes the lock on every host of `sessions` not held yet, or on none of them.
    pub async fn take(
        &mut self,
        sessions: &BTreeMap<String, Arc<dyn Session>>,
    ) -> Result<(), String> {
        let new: BTreeMap<String, Arc<dyn Session>> = sessions
            .iter()
            .filter(|(h, _)| !self.sessions.contains_key(*h))
            .map(|(h, s)| (h.clone(), s.clone()))
            .collect();
        acquire_all(&new, &self.me, self.break_lock).await?;
        self.sessions.extend(new);
        Ok(())
    }

    /// The hosts locked so far.
    pub fn hosts(&self) -> Vec<String> {
        self.sessions.keys().cloned().collect()
    }

    pub async fn release(self) {
        release_all(&self.sessions, &self.me).await;
    }
}

pub async fn release_all(sessions: &BTreeMap<String, Arc<dyn Session>>, me: &Holder) {
    let script = release_script(&me.token);
    let mut tasks = Vec::new();
    for s in sessions.values() {
        let (s, script) = (s.clone(), script.clone());
        tasks.push(tokio::spawn(async move { s.exec(&script, b"").await }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_pid_on_this_machine_is_stale() {
        let mut h = Holder::me("apply");
        assert!(!h.is_stale_here(), "our own pid is alive");
        h.pid = u32::MAX - 1;
        assert!(h.is_stale_here());
        h.machine = "elsewhere".into();
        assert!(
            !h.is_stale_here(),
            "another machine's pid cannot be judged here"
        );
    }

    #[test]
    fn scripts_parse() {
        for s in [acquire_script(true), release_script("ab'c")] {
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&s)
                .output()
                .unwrap();
            assert!(out.status.success(), "{s}");
        }
    }
}
