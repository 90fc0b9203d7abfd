//! The SSH transport (russh): one connection per host, a channel per command.
//! Host keys are checked against known_hosts before authentication; no
//! password authentication; no agent forwarding.

mod auth;
mod host_key;

use super::known_hosts;
use super::{BoxFuture, Connector, ExecOutput, HostSpec, Session, TransportError};
use auth::authenticate;
use host_key::Checker;
use russh::client::{self, Handle};
use russh::{Channel, ChannelMsg};
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

/// A long-lived connection; a host that vanishes mid-apply is noticed
/// within ~30 s, a busy one (apt, dpkg and a loaded control machine) is not
/// dropped for it.
fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(3600)),
        keepalive_interval: Some(Duration::from_secs(5)),
        keepalive_max: 6,
        nodelay: true,
        ..Default::default()
    })
}

/// A tunnel to `spec`'s host through its jump host `j`, which is verified
/// and authenticated like any host; the target's key is then checked end to
/// end through the tunnel.
async fn tunnel(
    spec: &HostSpec,
    j: &HostSpec,
    fmt_addr: &str,
) -> Result<(SshSession, Channel<client::Msg>), TransportError> {
    let connect_error = |reason: String| TransportError::Connect {
        host: spec.name.clone(),
        addr: fmt_addr.to_string(),
        reason,
    };
    let via: SshSession = Box::pin(connect_once(j))
        .await
        .map_err(|e| connect_error(format!("through jump host {}: {e}", j.name)))?;
    let channel = via
        .handle
        .channel_open_direct_tcpip(spec.address.clone(), u32::from(spec.port), "127.0.0.1", 0)
        .await
        .map_err(|e| connect_error(format!("jump host {} cannot open a tunnel: {e}", j.name)))?;
    Ok((via, channel))
}

async fn connect_once(spec: &HostSpec) -> Result<SshSession, TransportError> {
    let config = client_config();
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
            let (via, channel) = tunnel(spec, j, &fmt_addr).await?;
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
