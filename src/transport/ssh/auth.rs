//! Authentication: the inventory's identity file, then ssh-agent's keys; no
//! password authentication.

use super::host_key::Checker;
use crate::transport::{HostSpec, TransportError};
use russh::client::Handle;
use russh::keys::PrivateKeyWithHashAlg;
use std::path::Path;
use std::sync::Arc;

/// What one way of authenticating came to.
enum Tried {
    Accepted,
    /// Why not, for the error listing every way tried.
    NotAccepted(String),
}

fn auth_error(spec: &HostSpec, reason: String) -> TransportError {
    TransportError::Auth {
        host: spec.name.clone(),
        user: spec.user.clone(),
        reason,
    }
}

pub(super) async fn authenticate(
    handle: &mut Handle<Checker>,
    spec: &HostSpec,
) -> Result<(), TransportError> {
    let mut tried = Vec::new();
    if let Some(id) = &spec.identity {
        match with_identity(handle, spec, id).await? {
            Tried::Accepted => return Ok(()),
            Tried::NotAccepted(why) => tried.push(why),
        }
    }
    // an empty SSH_AUTH_SOCK means no agent, as for OpenSSH
    if std::env::var_os("SSH_AUTH_SOCK").is_some_and(|v| !v.is_empty()) {
        match with_agent(handle, spec).await {
            Tried::Accepted => return Ok(()),
            Tried::NotAccepted(why) => tried.push(why),
        }
    }
    if tried.is_empty() {
        tried.push("no identity file given and no ssh-agent (SSH_AUTH_SOCK)".into());
    }
    Err(auth_error(
        spec,
        format!(
            "{}; set identity in the inventory or load the key into ssh-agent",
            tried.join("; ")
        ),
    ))
}

/// The RSA signature hash the server supports best (None: its default).
async fn rsa_hash(handle: &Handle<Checker>) -> Option<russh::keys::HashAlg> {
    handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten()
}

/// The identity file named in the inventory (unencrypted keys only).
async fn with_identity(
    handle: &mut Handle<Checker>,
    spec: &HostSpec,
    id: &Path,
) -> Result<Tried, TransportError> {
    let key = match russh::keys::load_secret_key(id, None) {
        Ok(key) => key,
        Err(e) => {
            return Ok(Tried::NotAccepted(format!(
                "cannot load key {} ({e}; encrypted keys need ssh-agent)",
                id.display()
            )))
        }
    };
    let hash = rsa_hash(handle).await;
    let r = handle
        .authenticate_publickey(
            spec.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await
        .map_err(|e| auth_error(spec, format!("{e}")))?;
    if r.success() {
        return Ok(Tried::Accepted);
    }
    Ok(Tried::NotAccepted(format!(
        "key {} was not accepted",
        id.display()
    )))
}

/// Each public key ssh-agent holds, in its order.
async fn with_agent(handle: &mut Handle<Checker>, spec: &HostSpec) -> Tried {
    let mut agent = match russh::keys::agent::client::AgentClient::connect_env().await {
        Ok(agent) => agent,
        Err(e) => return Tried::NotAccepted(format!("ssh-agent unreachable ({e})")),
    };
    let ids = agent.request_identities().await.unwrap_or_default();
    for id in ids {
        let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = id else {
            continue;
        };
        let hash = rsa_hash(handle).await;
        if let Ok(r) = handle
            .authenticate_publickey_with(spec.user.clone(), key, hash, &mut agent)
            .await
        {
            if r.success() {
                return Tried::Accepted;
            }
        }
    }
    Tried::NotAccepted("no ssh-agent key was accepted".into())
}
