//! The template views: a stack that parses is compiled (views computed,
//! every built-in template rendered in strict mode) without a panic, and
//! secret values of any content stay out of the graph text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rampart::compile::{compile, SecretValues};
use rampart::diag::Source;
use rampart::model::inventory::Inventory;
use rampart::model::secret::Secret;
use rampart::model::stack::Stack;
use rampart::roles::RoleSet;
use std::collections::BTreeMap;

const INV: &str = "[defaults]\nuser = \"root\"\n[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[groups]\nall3 = [\"a\", \"b\", \"c\"]\n";

fuzz_target!(|data: &[u8]| {
    // first line: a secret value; the rest: the stack
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (secret, stack_text) = text.split_once('\n').unwrap_or(("", text));
    let inv = Inventory::parse(Source::new("inv.toml", INV)).expect("fixed inventory");
    let Ok(stack) = Stack::parse(Source::new("stack.toml", stack_text), &inv) else { return };
    let roles = RoleSet::load(None).expect("built-in roles");
    let values: BTreeMap<String, Secret> = stack.secret_refs().into_iter().map(|(k, _)| (k, Secret::new(secret))).collect();
    if let Ok(c) = compile(&inv, &stack, &roles, &SecretValues::Values(values)) {
        if secret.len() >= 8 {
            assert!(!c.graph_text().contains(secret), "a secret reached the graph text");
        }
    }
});
