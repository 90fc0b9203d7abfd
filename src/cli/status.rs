use super::context::{fail, load, Globals};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON document
    #[arg(long)]
    pub json: bool,
}

/// Live health per component. Each component's check runs on its hosts.
pub async fn run(g: &Globals, a: Args) -> i32 {
    let l = match load(g, false) {
        Ok(l) => l,
        Err(d) => return fail(&d),
    };
    crate::status::run(
        &l.inv,
        &l.inv_base,
        &l.stack,
        super::plan::connector(),
        a.json,
    )
    .await
}
