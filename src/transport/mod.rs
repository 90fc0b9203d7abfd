//! Transports: the only place (with `exec`) that touches the network.
//!
//! A [`Connector`] opens one [`Session`] per host; a session runs many
//! commands (one SSH channel each) over that single connection.
//! Every command is a POSIX shell script; data (file contents, secrets)
//! travels on stdin, never on the remote command line.

pub mod fake;
pub mod known_hosts;
pub mod quote;
pub mod ssh;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a finished remote command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status; -1 when the remote side gave none (killed by a signal).
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// How host keys are checked against known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Unknown or changed key: refuse.
    Strict,
    /// Unknown key: record it in known_hosts and continue. Changed key: refuse.
    AcceptNew,
}

/// Everything needed to reach one host. Built from the inventory.
#[derive(Debug, Clone)]
pub struct HostSpec {
    /// Inventory name, used in every message.
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private key file; None = ssh-agent only.
    pub identity: Option<PathBuf>,
    pub known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    /// Wrap commands in `sudo -n` (set for non-root users unless disabled).
    pub sudo: bool,
    pub connect_timeout: Duration,
    /// Attempts to connect before giving up (>= 1).
    pub connect_attempts: u32,
    /// Reach this host through that one (an SSH direct-tcpip channel).
    pub jump: Option<Box<HostSpec>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{host}: cannot connect to {addr}: {reason}")]
    Connect {
        host: String,
        addr: String,
        reason: String,
    },
    #[error("{host}: connection to {addr} timed out after {secs}s")]
    Timeout {
        host: String,
        addr: String,
        secs: u64,
    },
    #[error("{host}: {message}")]
    HostKey { host: String, message: String },
    #[error("{host}: authentication as {user} failed: {reason}")]
    Auth {
        host: String,
        user: String,
        reason: String,
    },
    #[error("{host}: {reason}")]
    Channel { host: String, reason: String },
}

impl TransportError {
    pub fn host(&self) -> &str {
        match self {
            TransportError::Connect { host, .. }
            | TransportError::Timeout { host, .. }
            | TransportError::HostKey { host, .. }
            | TransportError::Auth { host, .. }
            | TransportError::Channel { host, .. } => host,
        }
    }
}

/// One open connection to one host.
pub trait Session: Send + Sync {
    /// Runs `script` with `sh -c` on the host (under `sudo -n` when the
    /// host spec says so), feeding `stdin` to it, and waits for it to end.
    fn exec<'a>(
        &'a self,
        script: &'a str,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>>;
    /// The inventory name of the host.
    fn host(&self) -> &str;
}

/// Opens sessions.
pub trait Connector: Send + Sync {
    fn connect<'a>(
        &'a self,
        spec: &'a HostSpec,
    ) -> BoxFuture<'a, Result<Arc<dyn Session>, TransportError>>;
}
