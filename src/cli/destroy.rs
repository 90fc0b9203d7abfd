use super::context::{fail, load, stack_hosts, Globals};
use crate::lock::Held;
use crate::plan::{destroy_steps, Plan, FORMAT_VERSION};
use crate::printer::{self, Style};
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Also delete data directories (PostgreSQL, etcd, Redis, Qdrant data) and compose projects' volumes
    #[arg(long)]
    pub destroy_data: bool,
    /// Take over a lock left by a killed run
    #[arg(long)]
    pub break_lock: bool,
}

pub async fn run(g: &Globals, a: Args) -> i32 {
    // Taken before any fact is read, held through the question and the
    // destroy, and released here whatever the way out.
    let mut held = Held::new("destroy", a.break_lock);
    let code = locked(g, &a, &mut held).await;
    held.release().await;
    code
}

async fn locked(g: &Globals, a: &Args, held: &mut Held) -> i32 {
    let l = match load(g, false) {
        Ok(l) => l,
        Err(d) => return fail(&d),
    };
    let hosts = stack_hosts(&l);
    let gathered = match super::plan::read(&l, &hosts, Some(held)).await {
        Ok(g) => g,
        Err(code) => return code,
    };
    if !gathered.failed.is_empty() {
        for (h, e) in &gathered.failed {
            printer::err(&format!("error: {h}: {e}\n"));
        }
        return super::EXIT_ERROR;
    }
    let mut plan = Plan {
        format_version: FORMAT_VERSION,
        stack: l.stack.name.clone(),
        ..Default::default()
    };
    for (h, f) in &gathered.facts {
        if let Some(st) = &f.state {
            plan.steps
                .extend(destroy_steps(h, st.resources.iter(), a.destroy_data));
            // kept data directories stay recorded, so a later --destroy-data finds them
            let kept: BTreeMap<_, _> = st
                .resources
                .iter()
                .filter(|(_, e)| e.data && !a.destroy_data)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            plan.states.insert(h.clone(), kept);
        }
    }
    let style = Style::detect();
    printer::out(&printer::plan_text(&plan, style));
    if !plan.has_changes() {
        return super::EXIT_OK;
    }
    if !a.destroy_data {
        printer::out("Data directories and compose volumes are kept (pass --destroy-data to delete them too).\n");
    }
    if !a.auto_approve && !super::apply::confirm("destroy", "Destroy everything listed above?") {
        return super::EXIT_ERROR;
    }
    let report = super::apply::execute(&l, &plan, &gathered, false, style).await;
    if report.ok() {
        super::EXIT_OK
    } else {
        super::EXIT_ERROR
    }
}
