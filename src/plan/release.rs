//! The plan's first refusal: a host that runs another Debian release than
//! the inventory says. Its files were rendered for the declared release
//! (package names, paths, Patroni's settings), so nothing is changed.

use crate::compile::Compiled;
use crate::facts::HostFacts;
use crate::model::release::ReleaseFrom;
use std::collections::BTreeMap;

/// One line per host of the stack whose `/etc/os-release` is not the
/// release its inventory entry declares (hosts whose release was not read
/// are not judged).
pub(super) fn refusals(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Vec<String> {
    let mut out = Vec::new();
    for h in &compiled.hosts {
        let (Some(os), Some(&(want, from))) = (
            facts.get(h).and_then(|f| f.os.as_ref()),
            compiled.releases.get(h),
        ) else {
            continue;
        };
        let inv = &compiled.inventory;
        let also = if from == ReleaseFrom::Host {
            ""
        } else {
            " (or [defaults])"
        };
        match os.release() {
            Some(runs) if runs == want => {}
            Some(runs) => out.push(format!(
                "{h} runs {runs}, but the inventory says debian = {}{} for it: write debian = {} in [hosts.{h}]{also} of {inv}",
                want.number(),
                from.note(),
                runs.number()
            )),
            None => out.push(format!(
                "{h} runs {os}, but the inventory says debian = {}{} for it, and rampart manages Debian 12 (bookworm) and 13 (trixie) hosts only: reinstall {h} with one of them and write its debian = N in [hosts.{h}] of {inv}, or take it out of the stack",
                want.number(),
                from.note()
            )),
        }
    }
    out
}
