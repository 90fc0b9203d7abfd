//! Command-line interface: one file per subcommand, each with its args and `run()`.

mod alerts;
mod apply;
mod context;
mod destroy;
mod graph;
mod lab;
mod plan;
mod restore;
mod status;
mod validate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
/// `plan --detailed-exitcode` with changes.
pub const EXIT_CHANGES: i32 = 2;

#[derive(Debug, Parser)]
#[command(name = "rampart", version, about = "Plan and apply HA stacks (etcd, Patroni, Redis Sentinel, HAProxy...) on your own machines over SSH", long_about = None)]
pub struct Cli {
    /// Inventory file (the machines). Default: inventory/default.toml
    #[arg(short = 'i', long, global = true, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Stack file (the desired state). Default: plans/default.toml
    #[arg(short = 's', long, global = true, value_name = "FILE")]
    pub stack: Option<PathBuf>,
    /// A folder of roles that adds roles or overrides built-in templates
    #[arg(long, global = true, value_name = "DIR")]
    pub roles: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and compile the inventory and stack; no network
    Validate(validate::Args),
    /// Read the hosts' facts and show what apply would change
    Plan(plan::Args),
    /// Apply a saved plan, or plan, show, ask and apply
    Apply(apply::Args),
    /// Print the dependency graph as DOT
    Graph(graph::Args),
    /// Live health of every component
    Status(status::Args),
    /// Restore PostgreSQL to a point in time or a backup (pgBackRest): a plan, shown and confirmed
    Restore(restore::Args),
    /// Remove everything rampart manages on the stack's hosts (data directories kept)
    Destroy(destroy::Args),
    /// Prometheus alert rules for the stack's clusters and services
    Alerts(alerts::Args),
    /// Local Debian test hosts (systemd-nspawn; Linux, root)
    Lab(lab::Args),
}

/// Parses arguments and runs; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::printer::err(&format!("error: cannot start the runtime: {e}\n"));
            return EXIT_ERROR;
        }
    };
    let g = context::Globals {
        inventory: cli.inventory,
        stack: cli.stack,
        roles: cli.roles,
    };
    match cli.command {
        Command::Validate(a) => validate::run(&g, a),
        Command::Alerts(a) => alerts::run(&g, a),
        Command::Plan(a) => rt.block_on(plan::run(&g, a)),
        Command::Apply(a) => rt.block_on(apply::run(&g, a)),
        Command::Graph(a) => graph::run(&g, a),
        Command::Status(a) => rt.block_on(status::run(&g, a)),
        Command::Destroy(a) => rt.block_on(destroy::run(&g, a)),
        Command::Restore(a) => rt.block_on(restore::run(&g, a)),
        Command::Lab(a) => lab::run(a),
    }
}
