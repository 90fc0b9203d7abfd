//! The host key check: the key a host offers against known_hosts, before
//! authentication (strict, or accept-new recording an unknown key).

use crate::transport::known_hosts::{self, Verdict};
use crate::transport::{HostKeyPolicy, HostSpec, TransportError};
use russh::client;
use russh::keys::PublicKey;
use std::sync::{Arc, Mutex};

pub(super) struct Checker {
    pub(super) spec: HostSpec,
    /// Why the key was refused (russh only reports a generic error).
    pub(super) refusal: Arc<Mutex<Option<TransportError>>>,
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(Default::default()).to_string()
}

impl Checker {
    fn refused(&self, message: String) -> TransportError {
        TransportError::HostKey {
            host: self.spec.name.clone(),
            message,
        }
    }

    fn verify(&self, key: &PublicKey) -> Result<(), TransportError> {
        let s = &self.spec;
        let entry = known_hosts::host_entry(&s.address, s.port);
        let openssh = key
            .to_openssh()
            .map_err(|e| self.refused(format!("cannot read the host key: {e}")))?;
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
            Verdict::Changed { line, recorded } => Err(self.refused(format!(
                "REFUSED: the host key for {entry} has changed (it now offers {kt} {fp}); {path} line {line} holds another key ({recorded}). \
                 Someone may be intercepting the connection, or the host was reinstalled. If the change is expected, remove that line \
                 (ssh-keygen -R {entry} -f {path}) and run again."
            ))),
            Verdict::Unknown => match s.host_key_policy {
                HostKeyPolicy::Strict => Err(self.refused(format!(
                    "REFUSED: no key for {entry} in {path} (host_key_policy = \"strict\"). The host offers {kt} {fp}. \
                     Check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it \
                     (ssh-keyscan -t ed25519 {} >> {path}), or set host_key_policy = \"accept-new\".",
                    s.address
                ))),
                HostKeyPolicy::AcceptNew => self.record(&entry, kt, kd, &path),
            },
        }
    }

    /// Appends the new key to known_hosts (accept-new), creating it 0600.
    fn record(&self, entry: &str, kt: &str, kd: &str, path: &str) -> Result<(), TransportError> {
        use std::io::Write;
        let s = &self.spec;
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
            .and_then(|mut f| f.write_all(known_hosts::line(entry, kt, kd).as_bytes()))
            .map_err(|e| self.refused(format!("cannot record the new host key in {path}: {e}")))
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
