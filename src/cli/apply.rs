use super::context::{fail, load, warn, Globals, Loaded};
use crate::exec::{self, Event, Report};
use crate::gather::Gathered;
use crate::lock::Held;
use crate::plan::saved::{self, FactsDigest, SavedPlan};
use crate::plan::Plan;
use crate::printer::{self, Style};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `rampart plan --out FILE`: applied exactly, or refused if anything changed since
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Only this resource (host/kind/name) and what it needs
    #[arg(long, value_name = "ID")]
    pub target: Vec<String>,
    /// Print one JSON event per line instead of text
    #[arg(long)]
    pub json: bool,
    /// Take over a lock left by a killed run
    #[arg(long)]
    pub break_lock: bool,
}

pub async fn run(g: &Globals, a: Args) -> i32 {
    // Taken before any fact is read, held through the plan, the question and
    // the apply, and released here whatever the way out.
    let mut held = Held::new("apply", a.break_lock);
    let code = locked(g, &a, &mut held).await;
    held.release().await;
    code
}

async fn locked(g: &Globals, a: &Args, held: &mut Held) -> i32 {
    let (l, plan, gathered) = match &a.plan_file {
        Some(f) => match from_file(g, f, a.json, held).await {
            Ok(x) => x,
            Err(code) => return code,
        },
        None => {
            let l = match load(g, true) {
                Ok(l) => l,
                Err(d) => return fail(&d),
            };
            warn(&l.compiled.warnings);
            match super::plan::make(&l, &a.target, Some(held)).await {
                Ok((p, gathered)) => (l, p, gathered),
                Err(code) => return code,
            }
        }
    };
    let style = Style::detect();
    if !a.json {
        printer::out(&printer::plan_text(&plan, style));
    } else {
        printer::out(&format!(
            "{}\n",
            serde_json::json!({"event": "plan", "format_version": crate::plan::FORMAT_VERSION, "counts": plan.counts(), "steps": plan.steps.len()})
        ));
    }
    if !plan.has_changes() {
        if a.json {
            printer::out(&format!(
                "{}\n",
                serde_json::json!({"event": "summary", "ok": true, "changed": 0})
            ));
        }
        return super::EXIT_OK;
    }
    if !a.auto_approve
        && a.plan_file.is_none()
        && !confirm("apply", "Do you want to perform these actions?")
    {
        return super::EXIT_ERROR;
    }
    let report = execute(&l, &plan, &gathered, a.json, style).await;
    if report.ok() {
        super::EXIT_OK
    } else {
        super::EXIT_ERROR
    }
}

/// Asks on the terminal; refuses when there is none.
pub fn confirm(what: &str, question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        printer::err(&format!("error: {what} needs confirmation and there is no terminal to ask on; pass --auto-approve\n"));
        return false;
    }
    printer::out(&format!("\n{question} Only 'yes' will be accepted: "));
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() || line.trim() != "yes" {
        printer::err(&format!("{what} cancelled; nothing was changed.\n"));
        return false;
    }
    true
}

pub async fn execute(l: &Loaded, plan: &Plan, g: &Gathered, json: bool, style: Style) -> Report {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let live = !json && style.color;
    let hosts: Vec<(String, usize)> = plan
        .hosts()
        .into_iter()
        .map(|h| {
            let n = plan.steps.iter().filter(|s| s.host == h).count();
            (h, n)
        })
        .collect();
    let monitor = tokio::spawn(async move {
        let mut bars = if live {
            Some(printer::LiveProgress::new(&hosts))
        } else {
            None
        };
        while let Some(e) = rx.recv().await {
            if json {
                printer::out(&format!(
                    "{}\n",
                    serde_json::to_string(&e).unwrap_or_default()
                ));
            } else if let Some(b) = bars.as_mut() {
                b.event(&e);
            } else if let Some(line) = printer::event_line(&e) {
                printer::out(&line);
            }
        }
        if let Some(b) = bars {
            b.finish();
        }
    });
    let report = exec::apply(plan, &l.compiled, &g.sessions, &g.failed, tx).await;
    let _ = monitor.await;
    if json {
        let hosts: serde_json::Value = report
            .hosts
            .iter()
            .map(|(h, r)| (h.clone(), serde_json::json!({"done": r.done, "failed": r.failed, "skipped": r.skipped, "seconds": r.seconds})))
            .collect::<serde_json::Map<_, _>>()
            .into();
        printer::out(&format!(
            "{}\n",
            serde_json::json!({"event": "summary", "ok": report.ok(), "hosts": hosts})
        ));
    } else {
        printer::out(&printer::summary(&report, style));
    }
    report
}

/// Reads a saved plan, loads the files it was made from, takes the lock and
/// checks that nothing it relied on changed.
async fn from_file(
    g: &Globals,
    f: &PathBuf,
    json: bool,
    held: &mut Held,
) -> Result<(Loaded, Plan, Gathered), i32> {
    let refuse = |msg: String| {
        printer::err(&format!("error: {}: {msg}\n", f.display()));
        super::EXIT_ERROR
    };
    let body = std::fs::read(f).map_err(|e| refuse(format!("cannot read: {e}")))?;
    let saved: SavedPlan = saved::parse(&body).map_err(refuse)?;
    let sources = saved.sources.resolve(g.inventory.as_deref(), g.stack.as_deref(), g.roles.as_deref()).map_err(|wrong| {
        refuse(format!(
            "refusing the plan: {}.\nApply it without -i/-s/--roles (it records its files) or with the same ones, or make a new plan from these.",
            wrong.join(";\n  ")
        ))
    })?;
    if json {
        printer::out(&format!(
            "{}\n",
            serde_json::json!({"event": "sources", "plan": f, "inventory": sources.inventory, "stack": sources.stack, "roles": sources.roles})
        ));
    } else {
        printer::out(&format!(
            "Applying {}, made from {}.\n",
            f.display(),
            sources.describe()
        ));
    }
    let recorded = Globals {
        inventory: Some(sources.inventory.clone()),
        stack: Some(sources.stack.clone()),
        roles: sources.roles.clone(),
    };
    let l = load(&recorded, true).map_err(|d| {
        let code = fail(&d);
        printer::err(&format!(
            "{} was made from these files: put them back, or make a new plan.\n",
            f.display()
        ));
        code
    })?;
    warn(&l.compiled.warnings);
    let now = super::plan::inputs(&l, &saved.salt);
    let mut changed = Vec::new();
    if now.inventory_sha256 != saved.inputs.inventory_sha256 {
        changed.push(format!(
            "the contents of the inventory {}",
            sources.inventory.display()
        ));
    }
    if now.stack_sha256 != saved.inputs.stack_sha256 {
        changed.push(format!(
            "the contents of the stack {}",
            sources.stack.display()
        ));
    }
    if now.roles_sha256 != saved.inputs.roles_sha256 {
        changed.push("the roles".to_string());
    }
    if now.secrets_keyed_sha256 != saved.inputs.secrets_keyed_sha256 {
        changed.push("a secret value".to_string());
    }
    if !changed.is_empty() {
        return Err(refuse(format!(
            "refusing a stale plan: {} changed since it was made. Run `rampart plan` again.",
            changed.join(", ")
        )));
    }
    let hosts: Vec<String> = saved.facts.keys().cloned().collect();
    let g = super::plan::read(&l, &hosts, Some(held)).await?;
    if !g.failed.is_empty() {
        let list: Vec<String> = g.failed.iter().map(|(h, e)| format!("{h}: {e}")).collect();
        return Err(refuse(format!(
            "cannot read the hosts to check the plan:\n  {}",
            list.join("\n  ")
        )));
    }
    let mut diffs = Vec::new();
    for (h, was) in &saved.facts {
        let now = g.facts.get(h).map(FactsDigest::of).unwrap_or_default();
        for d in was.differences(&now) {
            diffs.push(format!("{h}: {d}"));
        }
    }
    if !diffs.is_empty() {
        return Err(refuse(format!("refusing a stale plan: the hosts changed since it was made:\n  {}\nRun `rampart plan` again.", diffs.join("\n  "))));
    }
    Ok((l, saved.plan, g))
}
