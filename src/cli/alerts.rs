use super::context::{fail, load, Globals};
use crate::printer;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write the rules to FILE (atomically) instead of printing them
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(g: &Globals, a: Args) -> i32 {
    let l = match load(g, false) {
        Ok(l) => l,
        Err(d) => return fail(&d),
    };
    let text = crate::alerts::rules(&l.stack);
    match &a.out {
        None => printer::out(&text),
        Some(p) => {
            if let Err(e) = crate::util::write_atomic(p, text.as_bytes()) {
                printer::err(&format!("error: cannot write {}: {e}\n", p.display()));
                return super::EXIT_ERROR;
            }
            printer::err(&format!(
                "Alert rules for stack `{}` written to {}; point Prometheus' rule_files at it.\n",
                l.stack.name,
                p.display()
            ));
        }
    }
    super::EXIT_OK
}
