//! `rampart restore`: the PostgreSQL cluster back to a point in time
//! (`--to`), a backup (`--backup`) or the end of the archive, with pgBackRest.
//! A plan like any other: shown, confirmed (or `--auto-approve`), saved with
//! `--out` and applied exactly by `rampart apply FILE`. Targets the repository
//! cannot reach are refused with the reason before anything is stopped.

use super::context::{fail, load, stack_hosts, warn, Globals};
use crate::components::backup::{discard, repo, restore, stack::pgbackrest, target, view};
use crate::lock::Held;
use crate::plan::{Plan, FORMAT_VERSION};
use crate::printer::{self, Style};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Restore to this point in time, with its UTC offset: "2026-11-30 14:04:00+00"
    #[arg(long, value_name = "TIME", conflicts_with = "backup")]
    pub to: Option<String>,
    /// Restore this backup (a label from `pgbackrest info`) to its end
    #[arg(long, value_name = "LABEL")]
    pub backup: Option<String>,
    /// Remove the data directories earlier restores kept aside (DATA.before-restore-STAMP), once the restored cluster is checked
    #[arg(long, conflicts_with_all = ["to", "backup"])]
    pub discard_old: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Save the plan instead of applying it (apply it with `rampart apply FILE`)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Take over a lock left by a killed run
    #[arg(long)]
    pub break_lock: bool,
}

pub async fn run(g: &Globals, a: Args) -> i32 {
    let mut held = Held::new("restore", a.break_lock);
    let code = locked(g, &a, &mut held).await;
    held.release().await;
    code
}

fn refuse(msg: &str) -> i32 {
    printer::err(&format!("error: {msg}\nNothing was stopped or changed.\n"));
    super::EXIT_ERROR
}

async fn locked(g: &Globals, a: &Args, held: &mut Held) -> i32 {
    if a.discard_old {
        return discard_old(g, a, held).await;
    }
    // the target first: a bad time is refused before any connection
    let tgt = match (&a.to, &a.backup) {
        (Some(t), _) => match target::parse_time(t) {
            Ok(t) => t,
            Err(e) => return refuse(&format!("--to: {e}")),
        },
        (None, Some(b)) => target::Target::Backup(b.clone()),
        (None, None) => target::Target::Latest,
    };
    let l = match load(g, true) {
        Ok(l) => l,
        Err(d) => return fail(&d),
    };
    warn(&l.compiled.warnings);
    let Some(b) = pgbackrest(l.stack.backup.as_ref()) else {
        return refuse(&format!("{}: restore needs pgBackRest: set [backup.postgres] method = \"pgbackrest\" and repo_host, and apply, before there is anything to restore", l.stack.source.path));
    };
    let (Some(repo_host), Some(data_dir)) = (
        b.repo_host(),
        crate::components::postgres::view::data_dir_of(&l.inv, &l.stack),
    ) else {
        return refuse("the stack has no repository host or no PostgreSQL members");
    };
    let hosts = stack_hosts(&l);
    let gathered = match super::plan::read(&l, &hosts, Some(held)).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    if !gathered.failed.is_empty() {
        let list: Vec<String> = gathered
            .failed
            .iter()
            .map(|(h, e)| format!("{h}: {e}"))
            .collect();
        return refuse(&format!(
            "cannot reach every host of the stack, so the restore cannot run:\n  {}",
            list.join("\n  ")
        ));
    }
    let Some(session) = gathered.sessions.get(repo_host) else {
        return refuse(&format!("no connection to the repository host {repo_host}"));
    };
    let out = match session
        .exec(
            &repo::probe(&l.stack.name, &view::newest_wal_of(b, &l.stack.name)),
            b"",
        )
        .await
    {
        Ok(o) if o.ok() => o.stdout_str(),
        Ok(o) => {
            return refuse(&format!(
                "{repo_host}: cannot read the repository (pgbackrest info): {}",
                o.stderr_str().trim()
            ))
        }
        Err(e) => return refuse(&format!("{repo_host}: {e}")),
    };
    let state = match repo::parse(&out, &l.stack.name) {
        Ok(s) => s,
        Err(e) => return refuse(&format!("{repo_host}: {e}")),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let chosen = match repo::choose(&state, &tgt, now) {
        Ok(c) => c,
        Err(e) => return refuse(&format!("refusing the restore: {e}")),
    };
    // the member restored first: the leader now, if there is one
    let mut members: Vec<String> = crate::components::postgres::hosts(&l.compiled).to_vec();
    let leader = gathered
        .facts
        .values()
        .filter_map(|f| f.patroni())
        .flatten()
        .find(|m| ["leader", "master", "primary"].contains(&m.role.as_str()))
        .map(|m| m.name.clone());
    if let Some(pos) = leader.and_then(|n| members.iter().position(|m| *m == n)) {
        let l = members.remove(pos);
        members.insert(0, l);
    }
    let version = data_dir
        .trim_start_matches("/var/lib/postgresql/")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let bin_dir = format!("/usr/lib/postgresql/{version}/bin");
    let stamp = target::utc_text(now as i64)
        .replace(['-', ':'], "")
        .replace(' ', "T")
        + "Z";
    let plan = Plan {
        format_version: FORMAT_VERSION,
        stack: l.stack.name.clone(),
        steps: restore::steps(&restore::Restore {
            stanza: &l.stack.name,
            members,
            repo_host,
            data_dir: &data_dir,
            bin_dir: &bin_dir,
            stamp: &stamp,
            chosen: &chosen,
            tls: crate::tls::view::on(&l.stack),
        }),
        ..Default::default()
    };
    printer::out(&format!(
        "Restoring the PostgreSQL cluster `{}` to {}.\n",
        l.stack.name, chosen.describe
    ));
    let note = format!("The data directories are kept aside as {data_dir}.before-restore-{stamp} on every member (remove them with `rampart restore --discard-old` once the restore is checked).\n");
    show_and_run(
        &l,
        a,
        &plan,
        &gathered,
        &note,
        "Stop the cluster and restore it as shown above?",
    )
    .await
}

/// Prints the plan; saves it with `--out`, or asks (unless `--auto-approve`) and applies it.
async fn show_and_run(
    l: &super::context::Loaded,
    a: &Args,
    plan: &Plan,
    gathered: &crate::gather::Gathered,
    note: &str,
    question: &str,
) -> i32 {
    let style = Style::detect();
    printer::out(&printer::plan_text(plan, style));
    if let Some(out) = &a.out {
        let s = super::plan::saved(l, plan, gathered);
        let body = match serde_json::to_vec_pretty(&s) {
            Ok(b) => b,
            Err(e) => return refuse(&format!("cannot encode the plan: {e}")),
        };
        if let Err(e) = crate::util::write_atomic(out, &body) {
            return refuse(&format!("cannot write {}: {e}", out.display()));
        }
        printer::out(&format!(
            "\nSaved the restore plan to {}. Apply exactly it with: rampart apply {}\n",
            out.display(),
            out.display()
        ));
        return super::EXIT_OK;
    }
    printer::out(note);
    if !a.auto_approve && !super::apply::confirm("restore", question) {
        return super::EXIT_ERROR;
    }
    let report = super::apply::execute(l, plan, gathered, false, style).await;
    if report.ok() {
        super::EXIT_OK
    } else {
        super::EXIT_ERROR
    }
}

/// `--discard-old`: the data directories earlier restores kept aside on the
/// members, removed by a plan that names each one; refused when there is none.
async fn discard_old(g: &Globals, a: &Args, held: &mut Held) -> i32 {
    let l = match load(g, true) {
        Ok(l) => l,
        Err(d) => return fail(&d),
    };
    warn(&l.compiled.warnings);
    let Some(data_dir) = crate::components::postgres::view::data_dir_of(&l.inv, &l.stack) else {
        return refuse(&format!(
            "{}: the stack has no [postgres] members, so no data directory is kept aside",
            l.stack.source.path
        ));
    };
    let members: Vec<String> = crate::components::postgres::hosts(&l.compiled).to_vec();
    let gathered = match super::plan::read(&l, &members, Some(held)).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    if !gathered.failed.is_empty() {
        let list: Vec<String> = gathered
            .failed
            .iter()
            .map(|(h, e)| format!("{h}: {e}"))
            .collect();
        return refuse(&format!(
            "cannot reach every PostgreSQL member, so what they keep aside is unknown:\n  {}",
            list.join("\n  ")
        ));
    }
    let mut kept = Vec::new();
    for h in &members {
        let Some(session) = gathered.sessions.get(h) else {
            return refuse(&format!("no connection to {h}"));
        };
        match session.exec(&discard::probe(&data_dir), b"").await {
            Ok(o) if o.ok() => kept.push((h.clone(), discard::parse(&o.stdout_str(), &data_dir))),
            Ok(o) => {
                return refuse(&format!(
                    "{h}: cannot list {data_dir}.before-restore-*: {}",
                    o.stderr_str().trim()
                ))
            }
            Err(e) => return refuse(&format!("{h}: {e}")),
        }
    }
    let steps = discard::steps(&kept);
    if steps.is_empty() {
        return refuse(&format!(
            "no data directory is kept aside ({data_dir}.before-restore-*) on {}: there is nothing to discard",
            members.join(", ")
        ));
    }
    let plan = Plan {
        format_version: FORMAT_VERSION,
        stack: l.stack.name.clone(),
        steps,
        ..Default::default()
    };
    printer::out(&format!(
        "Removing the data directories earlier restores of `{}` kept aside; the running cluster is not touched.\n",
        l.stack.name
    ));
    show_and_run(
        &l,
        a,
        &plan,
        &gathered,
        "",
        "Remove the directories listed above? This cannot be undone.",
    )
    .await
}
