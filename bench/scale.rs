//! Scale of compile + plan without SSH: N hosts (default 10,000), a role of
//! a package, F rendered files, a service and a health check on every host
//! (F = 10 and then 50 by default: the file-count axis), facts from a fake
//! (every host converged, and every host fresh). Prints wall time and peak
//! memory (VmHWM) of each case: parse + compile + plan, with one plan alive
//! at a time as in `rampart plan` (the peak is reset between the cases
//! through /proc/self/clear_refs).
//!
//!     cargo run --release --example scale -- 10000 10,50
// a benchmark's report is what it prints
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(dead_code)] // the tests' helpers; this uses fresh and converged_hashes
#[path = "../tests/common/converged.rs"]
mod converged;

use rampart::compile::{compile, SecretValues};
use rampart::diag::Source;
use rampart::facts::HostFacts;
use rampart::model::inventory::Inventory;
use rampart::model::stack::Stack;
use rampart::roles::RoleSet;
use std::collections::BTreeMap;
use std::time::Instant;

fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let files: Vec<usize> = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "10,50".into())
        .split(',')
        .filter_map(|f| f.parse().ok())
        .collect();
    for f in files {
        case(n, f);
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
}

/// One case: `n` hosts with `files` files each.
fn case(n: usize, files: usize) {
    let dir = std::env::temp_dir().join(format!("rampart-scale-{}-{files}", std::process::id()));
    let role = dir.join("roles/demo/templates");
    std::fs::create_dir_all(&role).unwrap();
    let mut manifest = String::from("[[resources]]\nkind = \"package\"\nname = \"haproxy\"\n");
    for i in 1..=files {
        manifest.push_str(&format!("[[resources]]\nkind = \"file\"\npath = \"/etc/hademo/conf-{i:02}.cfg\"\ntemplate = \"conf.hbs\"\n"));
    }
    manifest.push_str("[[resources]]\nkind = \"service\"\nname = \"haproxy\"\nrestart_on = [\"file:/etc/hademo/conf-01.cfg\"]\n");
    manifest.push_str("[[resources]]\nkind = \"health\"\nname = \"up\"\ntcp = \"127.0.0.1:80\"\n");
    std::fs::write(dir.join("roles/demo/role.toml"), manifest).unwrap();
    std::fs::write(
        role.join("conf.hbs"),
        "# {{host.name}} {{host.address}} {{vars.color}}\n".repeat(40),
    )
    .unwrap();

    let mut inv = String::from("[defaults]\nuser = \"root\"\n");
    for i in 0..n {
        inv.push_str(&format!(
            "[hosts.h{i}]\naddress = \"10.{}.{}.{}\"\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    // one role instance per host (so member lists stay per host, as in a fleet of single boxes)
    let stack = format!(
        "[stack]\nname = \"scale\"\n[roles.demo]\nhosts = [{}]\nvars = {{ color = \"blue\" }}\n",
        (0..n)
            .map(|i| format!("\"h{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );

    let t = Instant::now();
    let inv = Inventory::parse(Source::new("inv.toml", inv)).expect("inventory");
    let stack = Stack::parse(Source::new("stack.toml", stack), &inv).expect("stack");
    let roles = RoleSet::load(Some(&dir.join("roles"))).expect("roles");
    let parse = t.elapsed();
    let t = Instant::now();
    let c = compile(&inv, &stack, &roles, &SecretValues::Values(BTreeMap::new())).expect("compile");
    let compile_t = t.elapsed();

    let fresh = converged::fresh(&c);
    let t = Instant::now();
    let p = rampart::plan::plan(&c, &fresh);
    let plan_fresh = t.elapsed();
    let peak_fresh = peak_mb();
    let steps_fresh = p.steps.len();
    drop(p);
    drop(fresh);
    // the converged case's own peak (its facts and plan next to the compiled stack)
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    // as the probe answers a converged host: hashes, no file contents
    let done: BTreeMap<String, HostFacts> = c
        .hosts
        .iter()
        .map(|h| (h.clone(), converged::converged_hashes(&c, h)))
        .collect();
    let t = Instant::now();
    let p2 = rampart::plan::plan(&c, &done);
    let plan_noop = t.elapsed();
    let peak_converged = peak_mb();
    let _ = std::fs::remove_dir_all(&dir);
    let base = parse + compile_t;
    println!(
        "hosts: {n}; files per host: {files}; resources: {}; steps planned (fresh): {}; steps planned (converged): {}",
        c.resources.len(),
        steps_fresh,
        p2.steps.len()
    );
    println!(
        "parse {:.3}s, compile {:.3}s, plan fresh {:.3}s, plan converged {:.3}s",
        parse.as_secs_f64(),
        compile_t.as_secs_f64(),
        plan_fresh.as_secs_f64(),
        plan_noop.as_secs_f64()
    );
    println!(
        "compile + plan: fresh {:.3}s, converged {:.3}s; peak memory: fresh {:.0} MB, converged {:.0} MB{}",
        (base + plan_fresh).as_secs_f64(),
        (base + plan_noop).as_secs_f64(),
        peak_fresh,
        peak_converged,
        if reset { "" } else { " (peak not reset: the converged figure includes the fresh case)" }
    );
}
