//! Any text as an inventory: parsed or refused with diagnostics, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rampart::diag::Source;
use rampart::model::inventory::Inventory;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Inventory::parse(Source::new("inv.toml", text));
    }
});
