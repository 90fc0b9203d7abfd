//! The SSH transport (russh): one connection per host, a channel per command.
//! Host keys are checked against known_hosts before authentication; no
//! password authentication; no agent forwarding.

use super::known_hosts::{self, Verdict};
use super::{BoxFuture, Connector, ExecOutput, HostKeyPolicy, HostSpec, Session, TransportError};
use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct SshConnector;

/// The command line for a script: `sh -c 'script'`, under `sudo -n` when asked.
pub fn command_line(script: &str, sudo: bool) -> String {
    let inner = format!("sh -c {}", super::quote::sh(script));
    if sudo {
        format!("sudo -n -- {inner}")
    } else {
        inner
    }
}

struct Checker {
    spec: HostSpec,
    /// Why the key was refused (russh only reports a generic error).
    refusal: Arc<Mutex<Option<TransportError>>>,
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(Default::default()).to_string()
}

impl Checker {
    fn verify(&self, key: &PublicKey) -> Result<(), TransportError> {
        let s = &self.spec;
        let entry = known_hosts::host_entry(&s.address, s.port);
        let openssh = key.to_openssh().map_err(|e| TransportError::HostKey {
            host: s.name.clone(),
            message: format!("cannot read the host key: {e}"),
        })?;
        let mut parts = openssh.split_whitespace();
        let (kt, kd) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let path = s.known_hosts.display().to_string();
        let text = std::fs::read_to_string(&s.known_hosts).unwrap_or_default();
        let fp = fingerprint(key);
        match known_hosts::check(&text, &entry, kt, kd) {
            Verdict::Known => Ok(()),
            Verdict::Changed { line, recorded } => Err(TransportError::HostKey {
                host: s.name.clone(),
                message: format!(
                    "REFUSED: the host key for {entry} has changed (it now offers {kt} {fp}); {path} line {line} holds another key ({recorded}). \
                     Someone may be intercepting the connection, or the host was reinstalled. If the change is expected, remove that line \
                     (ssh-keygen -R {entry} -f {path}) and run again."
                ),
            }),
            Verdict::Unknown => match s.host_key_policy {
                HostKeyPolicy::Strict => Err(TransportError::HostKey {
                    host: s.name.clone(),
                    message: format!(
                        "REFUSED: no key for {entry} in {path} (host_key_policy = \"strict\"). The host offers {kt} {fp}. \
                         Check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it \
                         (ssh-keyscan -t ed25519 {} >> {path}), or set host_key_policy = \"accept-new\".",
                        s.address
                    ),
                }),
                HostKeyPolicy::AcceptNew => {
                    use std::io::Write;
                    if let Some(dir) = s.known_hosts.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let mut opts = std::fs::OpenOptions::new();
                    opts.create(true).append(true);
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::OpenOptionsExt;
                        opts.mode(0o600);
                    }
                    opts.open(&s.known_hosts)
                        .and_then(|mut f| f.write_all(known_hosts::line(&entry, kt, kd).as_bytes()))
                        .map_err(|e| TransportError::HostKey { host: s.name.clone(), message: format!("cannot record the new host key in {path}: {e}") })
                }
            },
        }
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let pk = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(c) => {
                *self.refusal.lock().expect("lock") = Some(TransportError::HostKey { host: self.spec.name.clone(), message: "the host offers a certificate; rampart checks plain host keys against known_hosts only".into() });
                let _ = c;
                return Ok(false);
            }
        };
        match self.verify(&pk) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.refusal.lock().expect("lock") = Some(e);
                Ok(false)
            }
        }
    }
}

struct SshSession {
    name: String,
    sudo: bool,
    handle: Handle<Checker>,
    /// The jump host's connection, kept open while this one lives.
    _jump: Option<Box<SshSession>>,
}

impl Session for SshSession {
    fn exec<'a>(
        &'a self,
        script: &'a str,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let err = |e: russh::Error| TransportError::Channel {
                host: self.name.clone(),
                reason: format!("SSH channel failed: {e}"),
            };
            let mut ch = self.handle.channel_open_session().await.map_err(err)?;
            ch.exec(true, command_line(script, self.sudo))
                .await
                .map_err(err)?;
            if !stdin.is_empty() {
                ch.data(stdin).await.map_err(err)?;
            }
            ch.eof().await.map_err(err)?;
            let mut out = ExecOutput {
                status: -1,
                ..Default::default()
            };
            while let Some(msg) = ch.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        out.stderr.extend_from_slice(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.status = exit_status as i32,
                    ChannelMsg::ExitSignal { signal_name, .. } => out.stderr.extend_from_slice(
                        format!("killed by signal {signal_name:?}\n").as_bytes(),
                    ),
                    _ => {}
                }
            }
            if out.status == -1
                && !String::from_utf8_lossy(&out.stderr).contains("killed by signal")
            {
                return Err(TransportError::Channel { host: self.name.clone(), reason: "the SSH connection was lost before the command finished (no exit status); the host may be unreachable or overloaded".into() });
            }
            Ok(out)
        })
    }

    fn host(&self) -> &str {
        &self.name
    }
}

async fn authenticate(handle: &mut Handle<Checker>, spec: &HostSpec) -> Result<(), TransportError> {
    let auth_err = |reason: String| TransportError::Auth {
        host: spec.name.clone(),
        user: spec.user.clone(),
        reason,
    };
    let mut tried = Vec::new();
    if let Some(id) = &spec.identity {
        match russh::keys::load_secret_key(id, None) {
            Ok(key) => {
                let hash = handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten();
                let r = handle
                    .authenticate_publickey(
                        spec.user.clone(),
                        PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                    )
                    .await
                    .map_err(|e| auth_err(format!("{e}")))?;
                if r.success() {
                    return Ok(());
                }
                tried.push(format!("key {} was not accepted", id.display()));
            }
            Err(e) => tried.push(format!(
                "cannot load key {} ({e}; encrypted keys need ssh-agent)",
                id.display()
            )),
        }
    }
    // an empty SSH_AUTH_SOCK means no agent, as for OpenSSH
    if std::env::var_os("SSH_AUTH_SOCK").is_some_and(|v| !v.is_empty()) {
        match russh::keys::agent::client::AgentClient::connect_env().await {
            Ok(mut agent) => {
                let ids = agent.request_identities().await.unwrap_or_default();
                for id in ids {
                    let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = id else {
                        continue;
                    };
                    let hash = handle
                        .best_supported_rsa_hash()
                        .await
                        .ok()
                        .flatten()
                        .flatten();
                    if let Ok(r) = handle
                        .authenticate_publickey_with(spec.user.clone(), key, hash, &mut agent)
                        .await
                    {
                        if r.success() {
                            return Ok(());
                        }
                    }
                }
                tried.push("no ssh-agent key was accepted".into());
            }
            Err(e) => tried.push(format!("ssh-agent unreachable ({e})")),
        }
    }
    if tried.is_empty() {
        tried.push("no identity file given and no ssh-agent (SSH_AUTH_SOCK)".into());
    }
    Err(auth_err(format!(
        "{}; set identity in the inventory or load the key into ssh-agent",
        tried.join("; ")
    )))
}

async fn connect_once(spec: &HostSpec) -> Result<SshSession, TransportError> {
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(3600)),
        // a host that vanishes mid-apply is noticed within ~30 s; a busy one
        // (apt, dpkg and a loaded control machine) is not dropped for it
        keepalive_interval: Some(Duration::from_secs(5)),
        keepalive_max: 6,
        nodelay: true,
        ..Default::default()
    });
    let refusal = Arc::new(Mutex::new(None));
    let checker = Checker {
        spec: spec.clone(),
        refusal: refusal.clone(),
    };
    let addr = (spec.address.as_str(), spec.port);
    let fmt_addr = known_hosts::host_entry(&spec.address, spec.port);
    let (handle, jump) = match &spec.jump {
        None => {
            let socket = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
                TransportError::Connect {
                    host: spec.name.clone(),
                    addr: fmt_addr.clone(),
                    reason: e.to_string(),
                }
            })?;
            let _ = socket.set_nodelay(true);
            (client::connect_stream(config, socket, checker).await, None)
        }
        Some(j) => {
            // the jump host is verified and authenticated like any host; the
            // target's key is then checked end to end through the tunnel
            let via: SshSession =
                Box::pin(connect_once(j))
                    .await
                    .map_err(|e| TransportError::Connect {
                        host: spec.name.clone(),
                        addr: fmt_addr.clone(),
                        reason: format!("through jump host {}: {e}", j.name),
                    })?;
            let channel = via
                .handle
                .channel_open_direct_tcpip(
                    spec.address.clone(),
                    u32::from(spec.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|e| TransportError::Connect {
                    host: spec.name.clone(),
                    addr: fmt_addr.clone(),
                    reason: format!("jump host {} cannot open a tunnel: {e}", j.name),
                })?;
            (
                client::connect_stream(config, channel.into_stream(), checker).await,
                Some(Box::new(via)),
            )
        }
    };
    let mut handle = match handle {
        Ok(h) => h,
        Err(e) => {
            if let Some(r) = refusal.lock().expect("lock").take() {
                return Err(r);
            }
            return Err(TransportError::Connect {
                host: spec.name.clone(),
                addr: fmt_addr,
                reason: format!("SSH handshake failed: {e}"),
            });
        }
    };
    authenticate(&mut handle, spec).await?;
    Ok(SshSession {
        name: spec.name.clone(),
        sudo: spec.sudo,
        handle,
        _jump: jump,
    })
}

/// Connection attempts in progress at once, over all hosts: bounds sockets
/// and handshakes. Hosts waiting between attempts hold no slot.
static SETUP: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(crate::gather::CONNECT_PARALLEL);

impl Connector for SshConnector {
    fn connect<'a>(
        &'a self,
        spec: &'a HostSpec,
    ) -> BoxFuture<'a, Result<Arc<dyn Session>, TransportError>> {
        Box::pin(async move {
            let mut last = None;
            for attempt in 0..spec.connect_attempts.max(1) {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
                }
                let slot = SETUP.acquire().await;
                let r = tokio::time::timeout(spec.connect_timeout, connect_once(spec)).await;
                drop(slot);
                match r {
                    Ok(Ok(s)) => return Ok(Arc::new(s) as Arc<dyn Session>),
                    // a refused key or failed authentication is final: never retried
                    Ok(Err(e @ (TransportError::HostKey { .. } | TransportError::Auth { .. }))) => {
                        return Err(e)
                    }
                    Ok(Err(e)) => last = Some(e),
                    Err(_) => {
                        last = Some(TransportError::Timeout {
                            host: spec.name.clone(),
                            addr: known_hosts::host_entry(&spec.address, spec.port),
                            secs: spec.connect_timeout.as_secs(),
                        })
                    }
                }
            }
            Err(last.unwrap_or_else(|| TransportError::Connect {
                host: spec.name.clone(),
                addr: spec.address.clone(),
                reason: "no attempt made".into(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_exact() {
        assert_eq!(
            super::command_line("echo 'a b'", false),
            "sh -c 'echo '\\''a b'\\'''"
        );
        assert_eq!(super::command_line("id", true), "sudo -n -- sh -c id");
    }
}
