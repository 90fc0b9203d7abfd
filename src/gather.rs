//! Connect to every host (one connection each, in parallel, bounded) and
//! read its facts in one round trip.

use crate::compile::{Compiled, Desired};
use crate::facts::{self, HostFacts};
use crate::lock::Held;
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
    let jump = h
        .proxy_jump
        .as_deref()
        .filter(|j| *j != name && inv.hosts.contains_key(*j))
        .map(|j| {
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
        identity: h
            .identity
            .as_deref()
            .map(|p| crate::model::expand_path(p, base)),
        known_hosts: crate::model::expand_path(&d.known_hosts, base),
        host_key_policy: d.host_key_policy,
        sudo: inv.sudo_for(h),
        connect_timeout: Duration::from_secs(d.connect_timeout),
        connect_attempts: d.connect_attempts,
        jump,
    }
}

/// What a host's facts are read with: the script and the packages it asks about.
fn facts_query(compiled: &Compiled, h: &str) -> (String, Vec<String>) {
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
    (script, wanted)
}

/// Runs the facts script on one connected host.
async fn read_facts(
    name: &str,
    session: &Arc<dyn Session>,
    script: &str,
    wanted: &[String],
) -> Result<HostFacts, String> {
    let out = session.exec(script, b"").await.map_err(|e| e.to_string())?;
    if !out.ok() {
        return Err(format!(
            "{name}: reading facts failed (exit {}): {}",
            out.status,
            out.stderr_str().trim()
        ));
    }
    facts::parse(&out.stdout_str(), wanted).map_err(|e| format!("{name}: {e}"))
}

/// Connects to `hosts` and gathers facts for the compiled resources.
pub async fn gather(
    connector: Arc<dyn Connector>,
    inv: &Inventory,
    base: &Path,
    compiled: &Compiled,
    hosts: &[String],
) -> Gathered {
    // bounds the hosts being connected or read at once (the connector bounds attempts)
    let sem = Arc::new(Semaphore::new(4 * CONNECT_PARALLEL));
    let mut tasks = Vec::new();
    for h in hosts {
        let spec = host_spec(inv, h, base);
        let (script, wanted) = facts_query(compiled, h);
        let (connector, sem) = (connector.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let session = connector.connect(&spec).await;
            drop(permit);
            let session = match session {
                Ok(s) => s,
                Err(e) => return (spec.name.clone(), Err(e.to_string()), None),
            };
            let parsed = read_facts(&spec.name, &session, &script, &wanted).await;
            (spec.name.clone(), parsed, Some(session))
        }));
    }
    let mut g = Gathered {
        sessions: BTreeMap::new(),
        facts: BTreeMap::new(),
        failed: BTreeMap::new(),
    };
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

/// Like `gather`, for a run that changes the hosts: connects to every host,
/// takes the apply lock on all that answered (all or none: `Err` is the
/// refusal, naming the holders, and no fact was read anywhere), and only
/// then reads their facts. Hosts that cannot be reached are in `failed`.
pub async fn gather_locked(
    connector: Arc<dyn Connector>,
    inv: &Inventory,
    base: &Path,
    compiled: &Compiled,
    hosts: &[String],
    lock: &mut Held,
) -> Result<Gathered, String> {
    let sem = Arc::new(Semaphore::new(4 * CONNECT_PARALLEL));
    let mut tasks = Vec::new();
    for h in hosts {
        let spec = host_spec(inv, h, base);
        let (connector, sem) = (connector.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let session = connector.connect(&spec).await;
            drop(permit);
            (spec.name.clone(), session.map_err(|e| e.to_string()))
        }));
    }
    let mut g = Gathered {
        sessions: BTreeMap::new(),
        facts: BTreeMap::new(),
        failed: BTreeMap::new(),
    };
    for t in tasks {
        match t.await {
            Ok((name, Ok(s))) => {
                g.sessions.insert(name, s);
            }
            Ok((name, Err(e))) => {
                g.failed.insert(name, e);
            }
            Err(e) => {
                g.failed.insert("?".into(), format!("internal error: {e}"));
            }
        }
    }
    lock.take(&g.sessions).await?;
    let mut reads = Vec::new();
    for (h, session) in &g.sessions {
        let (script, wanted) = facts_query(compiled, h);
        let (h, session) = (h.clone(), session.clone());
        reads.push(tokio::spawn(async move {
            let r = read_facts(&h, &session, &script, &wanted).await;
            (h, r)
        }));
    }
    for t in reads {
        match t.await {
            Ok((h, Ok(f))) => {
                g.facts.insert(h, f);
            }
            Ok((h, Err(e))) => {
                g.failed.insert(h, e);
            }
            Err(e) => {
                g.failed.insert("?".into(), format!("internal error: {e}"));
            }
        }
    }
    Ok(g)
}

/// Whether a host key policy lets unknown keys in (for messages).
pub fn policy_name(p: HostKeyPolicy) -> &'static str {
    match p {
        HostKeyPolicy::Strict => "strict",
        HostKeyPolicy::AcceptNew => "accept-new",
    }
}
