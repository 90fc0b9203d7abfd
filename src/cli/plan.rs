use super::context::{fail, load, stack_hosts, warn, Globals, Loaded};
use crate::gather::{gather, Gathered};
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
    Arc::new(crate::transport::ssh::SshConnector::default())
}

/// Connects, reads facts and plans. On failure prints why and returns the exit code.
pub async fn make(l: &Loaded, targets: &[String]) -> Result<(Plan, Gathered), i32> {
    let hosts = stack_hosts(l);
    let g = gather(connector(), &l.inv, &l.inv_base, &l.compiled, &hosts).await;
    if !g.failed.is_empty() {
        let mut s = String::new();
        for (h, e) in &g.failed {
            s.push_str(&format!("error: {}\n", if e.starts_with(&format!("{h}:")) { e.clone() } else { format!("{h}: {e}") }));
        }
        s.push_str(&format!("{} of {} hosts could not be read; nothing was changed. Fix their connection (address, key, known_hosts) and plan again.\n", g.failed.len(), hosts.len()));
        printer::err(&s);
        return Err(super::EXIT_ERROR);
    }
    let mut p = plan::plan(&l.compiled, &g.facts);
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

/// Keeps only the targets' steps and what they need (no destroys, no state rewrite beyond them).
fn restrict(l: &Loaded, p: &mut Plan, targets: &[String]) -> Result<(), String> {
    let mut keep = std::collections::BTreeSet::new();
    for t in targets {
        let Some(i) = l.compiled.index_of(t) else {
            let ids: Vec<String> = l.compiled.resources.iter().map(|r| r.id.to_string()).collect();
            let hint = crate::diag::did_you_mean(t, ids.iter().map(String::as_str)).map(|s| format!("; did you mean {s}?")).unwrap_or_else(|| "; `rampart graph --text` lists the ids".into());
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
        facts: g.facts.iter().map(|(h, f)| (h.clone(), FactsDigest::of(f))).collect(),
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
    let (p, gathered) = match make(&l, &a.target).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    if a.json {
        let doc = serde_json::json!({ "format_version": crate::plan::FORMAT_VERSION, "plan": p, "counts": p.counts() });
        printer::out(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()));
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
            printer::out(&format!("\nSaved the plan to {}. Apply exactly it with: rampart apply {}\n", out.display(), out.display()));
        }
    }
    if a.detailed_exitcode && p.has_changes() {
        super::EXIT_CHANGES
    } else {
        super::EXIT_OK
    }
}
