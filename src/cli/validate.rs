use super::context::{fail, load, warn, Globals};
use crate::printer;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Treat warnings (zone risks, components without a role) as errors
    #[arg(long)]
    pub strict: bool,
}

pub fn run(g: &Globals, a: Args) -> i32 {
    match load(g, false) {
        Ok(l) => {
            warn(&l.compiled.warnings);
            if a.strict && !l.compiled.warnings.is_empty() {
                printer::err(&format!(
                    "error: {} warning(s), and --strict makes them errors\n",
                    l.compiled.warnings.0.len()
                ));
                return super::EXIT_ERROR;
            }
            let n = l
                .compiled
                .resources
                .iter()
                .filter(|r| r.id.host != crate::compile::NO_HOST)
                .count();
            printer::out(&format!(
                "The stack `{}` is valid: {} resources on {} hosts.\n",
                l.stack.name,
                n,
                l.compiled.hosts.len()
            ));
            super::EXIT_OK
        }
        Err(d) => fail(&d),
    }
}
