//! Any text as a stack against a fixed inventory: parsed or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rampart::diag::Source;
use rampart::model::inventory::Inventory;
use rampart::model::stack::Stack;

const INV: &str = "[defaults]\nuser = \"root\"\n[hosts.a]\naddress = \"10.0.0.1\"\nzone = \"x\"\n[hosts.b]\naddress = \"10.0.0.2\"\nzone = \"y\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[groups]\nall3 = [\"a\", \"b\", \"c\"]\ntwo = [\"a\", \"b\"]\n";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let inv = Inventory::parse(Source::new("inv.toml", INV)).expect("fixed inventory");
        if let Ok(stack) = Stack::parse(Source::new("stack.toml", text), &inv) {
            let _ = rampart::model::zones::check(&stack, &inv);
        }
    }
});
