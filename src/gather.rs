//! Connect to every host (one connection each, in parallel, bounded) and
//! read its facts in one round trip.

use crate::compile::{Compiled, Desired};
use crate::facts::{self, HostFacts};
use crate::model::inventory::Inventory;
use crate::transport::{Connector, HostKeyPolicy, HostSpec, Session};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// At most this many connection attempts are in progress at once (enforced
/// by the SSH connector, per attempt).
pub const CONNECT_PARALLEL: usize = 64;

pub struct Gathered {
    pub sessions: BTreeMap<String, Arc<dyn Session>>,
    pub facts: BTreeMap<String, HostFacts>,
    /// Host -> why it could not be reached or read.
    pub failed: BTreeMap<String, String>,
}

pub fn host_spec(inv: &Inventory, name: &str, base: &Path) -> HostSpec {
    let h = &inv.hosts[name];
    let jump = h.proxy_jump.as_deref().filter(|j| *j != name && inv.hosts.contains_key(*j)).map(|j| {
        let mut s = host_spec(inv, j, base);
        s.jump = None;
        Box::new(s)
    });
    let d = &inv.defaults;
    HostSpec {
        name: h.name.clone(),
        address: h.address.clone(),
        port: h.port,
        user: h.user.clone(),
        identity: h.identity.as_deref().map(|p| crate::model::expand_path(p, base)),
        known_hosts: crate::model::expand_path(&d.known_hosts, base),
        host_key_policy: d.host_key_policy,
        sudo: inv.sudo_for(h),
        connect_timeout: Duration::from_secs(d.connect_timeout),
        connect_attempts: d.connect_attempts,
        jump,
    }
}

/// Connects to `hosts` and gathers facts for the compiled resources.
pub async fn gather(connector: Arc<dyn Connector>, inv: &Inventory, base: &Path, compiled: &Compiled, hosts: &[String]) -> Gathered {
    // bounds the hosts being connected or read at once (the connector bounds attempts)
    let sem = Arc::new(Semaphore::new(4 * CONNECT_PARALLEL));
    let mut tasks = Vec::new();
    for h in hosts {
        let spec = host_spec(inv, h, base);
        let managed_paths: Vec<String> = Vec::new();
        let script = facts::script(compiled, h, &managed_paths);
        let wanted: Vec<String> = compiled
            .host_order(h)
            .iter()
            .filter_map(|&i| match &compiled.resources[i].desired {
                Desired::Package { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let (connector, sem) = (connector.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let session = connector.connect(&spec).await;
            drop(permit);
            let session = match session {
                Ok(s) => s,
                Err(e) => return (spec.name.clone(), Err(e.to_string()), None),
            };
            let out = match session.exec(&script, b"").await {
                Ok(o) => o,
                Err(e) => return (spec.name.clone(), Err(e.to_string()), Some(session)),
            };
            if !out.ok() {
                return (spec.name.clone(), Err(format!("{}: reading facts failed (exit {}): {}", spec.name, out.status, out.stderr_str().trim())), Some(session));
            }
            let parsed = facts::parse(&out.stdout_str(), &wanted).map_err(|e| format!("{}: {e}", spec.name));
            (spec.name.clone(), parsed, Some(session))
        }));
    }
    let mut g = Gathered { sessions: BTreeMap::new(), facts: BTreeMap::new(), failed: BTreeMap::new() };
    for t in tasks {
        match t.await {
            Ok((name, res, session)) => {
                if let Some(s) = session {
                    g.sessions.insert(name.clone(), s);
                }
                match res {
                    Ok(f) => {
                        g.facts.insert(name, f);
                    }
                    Err(e) => {
                        g.failed.insert(name, e);
                    }
                }
            }
            Err(e) => {
                g.failed.insert("?".into(), format!("internal error: {e}"));
            }
        }
    }
    g
}

/// Whether a host key policy lets unknown keys in (for messages).
pub fn policy_name(p: HostKeyPolicy) -> &'static str {
    match p {
        HostKeyPolicy::Strict => "strict",
        HostKeyPolicy::AcceptNew => "accept-new",
    }
}
