//! Prints the facts script rampart would run on one host, for measuring its
//! cost on the host itself (`bench/RESULTS.md`: what a no-op's time goes to).
//! The stack's secrets are not read: a file made from one gets a placeholder's
//! hash, so the script asks for its content (exact for the benchmark's
//! workload, which has none; an upper bound for a stack with secrets).
//!
//!     cargo run --release --example facts_script -- INVENTORY STACK ROLES_DIR HOST > facts.sh
//!     ssh HOST 'sh -c "time sh"' < facts.sh
// a benchmark's report is what it prints
#![allow(clippy::print_stdout, clippy::print_stderr)]

use rampart::compile::{compile, SecretValues};
use rampart::roles::RoleSet;
use std::path::Path;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [inv, stack, roles, host] = a.as_slice() else {
        eprintln!("usage: facts_script INVENTORY STACK ROLES_DIR HOST");
        std::process::exit(2);
    };
    let (inv, stack) = match rampart::model::load::load(Path::new(inv), Path::new(stack)) {
        Ok(v) => v,
        Err(d) => {
            eprintln!("{d:?}");
            std::process::exit(1);
        }
    };
    let roles = RoleSet::load(Some(Path::new(roles))).unwrap_or_else(|d| {
        eprintln!("{d:?}");
        std::process::exit(1)
    });
    let c = compile(&inv, &stack, &roles, &SecretValues::Placeholder).unwrap_or_else(|d| {
        eprintln!("{d:?}");
        std::process::exit(1)
    });
    if !c.hosts.iter().any(|h| h == host) {
        eprintln!("no host `{host}` in the stack");
        std::process::exit(1);
    }
    print!("{}", rampart::facts::script(&c, host, &[]));
}
