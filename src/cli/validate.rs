use super::context::{fail, load, warn, Globals};
use crate::printer;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(g: &Globals, _a: Args) -> i32 {
    match load(g, false) {
        Ok(l) => {
            warn(&l.compiled.warnings);
            let n = l.compiled.resources.iter().filter(|r| r.id.host != crate::compile::NO_HOST).count();
            printer::out(&format!("The stack `{}` is valid: {} resources on {} hosts.\n", l.stack.name, n, l.compiled.hosts.len()));
            super::EXIT_OK
        }
        Err(d) => fail(&d),
    }
}
