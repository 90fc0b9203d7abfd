//! Loaders: the only place that reads the user's files from disk.

use super::inventory::Inventory;
use super::stack::Stack;
use crate::diag::{Diagnostic, Diagnostics, Source};
use std::path::Path;

pub fn source(path: &Path) -> Result<Source, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Source::new(path.display().to_string(), t)),
        Err(e) => {
            let mut d = Diagnostics::default();
            d.push(Diagnostic::plain(
                path.display().to_string(),
                format!("cannot read: {e}"),
                Some("pass the right file with -i/--inventory or -s/--stack".into()),
            ));
            Err(d)
        }
    }
}

/// Reads and checks both files; all problems of both are reported together.
pub fn load(inventory: &Path, stack: &Path) -> Result<(Inventory, Stack), Diagnostics> {
    let inv_src = source(inventory);
    let stack_src = source(stack);
    let (inv_src, stack_src) = match (inv_src, stack_src) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let mut d = Diagnostics::default();
            if let Err(e) = a {
                d.extend(e);
            }
            if let Err(e) = b {
                d.extend(e);
            }
            return Err(d);
        }
    };
    let inv = Inventory::parse(inv_src)?;
    let stack = Stack::parse(stack_src, &inv)?;
    Ok((inv, stack))
}
