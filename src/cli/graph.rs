use super::context::{fail, load, Globals};
use crate::printer;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plain text rendering (one resource per line, with what it waits for) instead of DOT
    #[arg(long)]
    pub text: bool,
}

pub fn run(g: &Globals, a: Args) -> i32 {
    match load(g, false) {
        Ok(l) => {
            printer::out(&if a.text {
                l.compiled.graph_text()
            } else {
                l.compiled.dot()
            });
            super::EXIT_OK
        }
        Err(d) => fail(&d),
    }
}
