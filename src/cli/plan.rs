use super::context::{fail, load, stack_hosts, warn, Globals, Loaded};
use crate::gather::{gather, gather_locked, Gathered};
use crate::lock::Held;
use crate::plan::saved::{keyed, new_salt, FactsDigest, Inputs, SavedPlan, SAVED_FORMAT};
use crate::plan::{self, Plan};
use crate::printer::{self, Style};
use crate::transport::Connector;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Save the plan to FILE for `rampart apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Only this resource (host/kind/name) and what it needs
    #[arg(long, value_name = "ID")]
    pub target: Vec<String>,
    /// Print the plan as one JSON document
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when there is nothing to change, 2 when there is, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub fn connector() -> Arc<dyn Connector> {
    Arc::new(crate::transport::ssh::SshConnector)
}

/// Reads `hosts`' facts; with `lock`, takes the apply lock on them first.
/// A lock refusal is printed and its exit code returned.
pub async fn read(l: &Loaded, hosts: &[String], lock: Option<&mut Held>) -> Result<Gathered, i32> {
    match lock {
        None => Ok(gather(connector(), &l.inv, &l.inv_base, &l.compiled, hosts).await),
        Some(held) => gather_locked(connector(), &l.inv, &l.inv_base, &l.compiled, hosts, held)
            .await
            .map_err(|e| {
                printer::err(&format!(
                    "error: refusing to {}; nothing was changed.\n{e}\n",
                    held.me.command
                ));
                super::EXIT_ERROR
            }),
    }
}

/// Connects, reads facts and plans; with `lock` (apply), takes the apply lock
/// on every host before reading anything. On failure prints why and returns
/// the exit code (the caller releases the lock).
pub async fn make(
    l: &Loaded,
    targets: &[String],
    mut lock: Option<&mut Held>,
) -> Result<(Plan, Gathered), i32> {
    let hosts = stack_hosts(l);
    let g = read(l, &hosts, lock.as_deref_mut()).await?;
    if !g.failed.is_empty() {
        let mut s = String::new();
        for (h, e) in &g.failed {
            s.push_str(&format!(
                "error: {}\n",
                if e.starts_with(&format!("{h}:")) {
                    e.clone()
                } else {
                    format!("{h}: {e}")
                }
            ));
        }
        s.push_str(&format!("{} of {} hosts could not be read; nothing was changed. Fix their connection (address, key, known_hosts) and plan again.\n", g.failed.len(), hosts.len()));
        printer::err(&s);
        return Err(super::EXIT_ERROR);
    }
    let mut g = g;
    leftovers(l, &hosts, &mut g, lock).await?;
    let mut p = plan::plan(&l.compiled, &g.facts);
    if !p.refused.is_empty() {
        let mut s = String::new();
        for r in &p.refused {
            s.push_str(&format!("error: {r}\n"));
        }
        s.push_str("rampart refuses this plan; nothing was changed.\n");
        printer::err(&s);
        return Err(super::EXIT_ERROR);
    }
    if !targets.is_empty() {
        match restrict(l, &mut p, targets) {
            Ok(()) => {}
            Err(e) => {
                printer::err(&format!("error: {e}\n"));
                return Err(super::EXIT_ERROR);
            }
        }
    }
    Ok((p, g))
}

/// Hosts that held this stack at the last apply but are no longer in it are
/// read too, so the plan removes what rampart put there (and, for etcd, their
/// membership). One that cannot be reached is a warning: its files stay.
/// With `lock`, they are locked before their facts are read (a refusal is an error).
async fn leftovers(
    l: &Loaded,
    placed: &[String],
    g: &mut Gathered,
    lock: Option<&mut Held>,
) -> Result<(), i32> {
    let mut left: Vec<String> = g
        .facts
        .values()
        .filter_map(|f| f.state.as_ref())
        .filter(|st| st.stack == l.stack.name)
        .flat_map(|st| st.hosts.iter().cloned())
        .filter(|h| !placed.contains(h))
        .collect();
    left.sort();
    left.dedup();
    let mut warnings = String::new();
    left.retain(|h| {
        let known = l.inv.hosts.contains_key(h);
        if !known {
            warnings.push_str(&format!("warning: {h} held this stack at the last apply but is no longer in the inventory: what rampart put there stays. Add it back to the inventory (not to the stack) to have it cleaned up.\n"));
        }
        known
    });
    if !left.is_empty() {
        let more = match read(l, &left, lock).await {
            Ok(m) => m,
            Err(code) => {
                if !warnings.is_empty() {
                    printer::err(&warnings);
                }
                return Err(code);
            }
        };
        for (h, e) in more.failed {
            warnings.push_str(&format!("warning: {h} was taken out of the stack and cannot be reached ({e}): what rampart put there stays until it can be.\n"));
        }
        for (h, f) in more.facts {
            if f.state.as_ref().is_some_and(|st| st.stack == l.stack.name) {
                g.facts.insert(h, f);
            }
        }
        g.sessions.extend(more.sessions);
    }
    if !warnings.is_empty() {
        printer::err(&warnings);
    }
    Ok(())
}

/// Keeps only the targets' steps and what they need (no destroys, no state rewrite beyond them).
fn restrict(l: &Loaded, p: &mut Plan, targets: &[String]) -> Result<(), String> {
    let mut keep = std::collections::BTreeSet::new();
    for t in targets {
        let Some(i) = l.compiled.index_of(t) else {
            let ids: Vec<String> = l
                .compiled
                .resources
                .iter()
                .map(|r| r.id.to_string())
                .collect();
            let hint = crate::diag::did_you_mean(t, ids.iter().map(String::as_str))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_else(|| "; `rampart graph --text` lists the ids".into());
            return Err(format!("--target {t}: no such resource{hint}"));
        };
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            if keep.insert(l.compiled.resources[n].id.to_string()) {
                stack.extend(l.compiled.resources[n].deps.iter().copied());
            }
        }
    }
    p.steps.retain(|s| keep.contains(&s.id));
    // a partial apply does not rewrite what the hosts record as managed
    p.states.clear();
    Ok(())
}

pub fn saved(l: &Loaded, p: &Plan, g: &Gathered) -> SavedPlan {
    let salt = new_salt();
    SavedPlan {
        format: SAVED_FORMAT,
        rampart_version: env!("CARGO_PKG_VERSION").into(),
        inputs: inputs(l, &salt),
        salt,
        sources: l.sources.clone(),
        facts: g
            .facts
            .iter()
            .map(|(h, f)| (h.clone(), FactsDigest::of(f)))
            .collect(),
        plan: p.clone(),
    }
}

pub fn inputs(l: &Loaded, salt: &str) -> Inputs {
    Inputs {
        inventory_sha256: crate::util::sha256_hex(l.inv.source.text.as_bytes()),
        stack_sha256: crate::util::sha256_hex(l.stack.source.text.as_bytes()),
        roles_sha256: l.roles.digest(),
        secrets_keyed_sha256: keyed(salt, &l.compiled.secrets),
    }
}

pub async fn run(g: &Globals, a: Args) -> i32 {
    let l = match load(g, true) {
        Ok(l) => l,
        Err(d) => return fail(&d),
    };
    warn(&l.compiled.warnings);
    let (p, gathered) = match make(&l, &a.target, None).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    if a.json {
        let doc = serde_json::json!({ "format_version": crate::plan::FORMAT_VERSION, "plan": p, "counts": p.counts() });
        printer::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
    } else {
        printer::out(&printer::plan_text(&p, Style::detect()));
    }
    if let Some(out) = &a.out {
        let s = saved(&l, &p, &gathered);
        let body = match serde_json::to_vec_pretty(&s) {
            Ok(b) => b,
            Err(e) => {
                printer::err(&format!("error: cannot encode the plan: {e}\n"));
                return super::EXIT_ERROR;
            }
        };
        if let Err(e) = crate::util::write_atomic(out, &body) {
            printer::err(&format!("error: cannot write {}: {e}\n", out.display()));
            return super::EXIT_ERROR;
        }
        if !a.json {
            printer::out(&format!(
                "\nSaved the plan to {}. Apply exactly it with: rampart apply {}\n",
                out.display(),
                out.display()
            ));
        }
    }
    if a.detailed_exitcode && p.has_changes() {
        super::EXIT_CHANGES
    } else {
        super::EXIT_OK
    }
}
