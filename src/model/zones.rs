//! Failure domains: what the loss of one zone (the inventory's `zone` of each
//! host) would do to each cluster of the stack. Warnings from `plan` and
//! `validate`; errors under `validate --strict`.

use super::inventory::Inventory;
use super::stack::Stack;
use crate::diag::{Diagnostic, Diagnostics};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

/// `quorum(what, component, span, need)`: a quorum of `need` of the
/// component's members must survive the loss of any one zone.
pub(crate) type Quorum<'a> = dyn FnMut(&str, &str, Option<Range<usize>>, usize) + 'a;
/// `warn(span, message, help)`: one failure-domain warning.
pub(crate) type Warn<'a> = dyn FnMut(Option<Range<usize>>, String, &str) + 'a;

/// Hosts of `members` by zone. A host without a zone is its own failure domain.
pub(crate) fn by_zone(inv: &Inventory, members: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in members {
        let z = inv
            .hosts
            .get(h)
            .and_then(|h| h.zone.clone())
            .map(|z| format!("zone {z}"))
            .unwrap_or_else(|| format!("host {h} (no zone)"));
        m.entry(z).or_default().push(h.clone());
    }
    m
}

/// The zone whose loss leaves the fewest members, with its hosts.
pub(crate) fn worst(zones: &BTreeMap<String, Vec<String>>) -> Option<(&String, &Vec<String>)> {
    zones.iter().max_by_key(|(_, h)| h.len())
}

pub(crate) fn any_zone(inv: &Inventory, members: &[String]) -> bool {
    members
        .iter()
        .any(|h| inv.hosts.get(h).is_some_and(|h| h.zone.is_some()))
}

pub fn check(stack: &Stack, inv: &Inventory) -> Diagnostics {
    // shared by `warn` and `quorum`, which each component gets both of
    let out = RefCell::new(Diagnostics::default());
    let push = |span: Option<Range<usize>>, msg: String, help: &str| {
        out.borrow_mut().push(Diagnostic {
            warning: true,
            ..stack.source.diag(span, msg, Some(help.to_string()))
        });
    };
    let mut warn = |span: Option<Range<usize>>, msg: String, help: &str| push(span, msg, help);
    // a quorum of `need` out of the members must survive the loss of any one zone
    let mut quorum = |what: &str, key: &str, span: Option<Range<usize>>, need: usize| {
        let members = stack.hosts_of(key);
        if members.len() < 2 || !any_zone(inv, members) {
            return;
        }
        let zones = by_zone(inv, members);
        if let Some((z, hs)) = worst(&zones) {
            let left = members.len() - hs.len();
            if left < need {
                push(
                    span,
                    format!("losing {z} ({}) leaves {left} of {} {what}, below the {need} needed", hs.join(", "), members.len()),
                    "spread the members over at least three zones so that no zone holds half of them",
                );
            }
        }
    };
    for c in crate::components::TABLE_ORDER {
        c.zones(stack, inv, &mut quorum, &mut warn);
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use crate::diag::Source;
    use crate::model::inventory::Inventory;
    use crate::model::stack::Stack;

    fn inv(zones: &[&str]) -> Inventory {
        let mut t = String::from("[defaults]\nuser = \"root\"\n");
        for (i, z) in zones.iter().enumerate() {
            t.push_str(&format!(
                "[hosts.h{}]\naddress = \"10.0.0.{}\"\nzone = \"{z}\"\n",
                i + 1,
                i + 1
            ));
        }
        t.push_str(&format!(
            "[groups]\nall3 = [{}]\n",
            (1..=zones.len())
                .map(|i| format!("\"h{i}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Inventory::parse(Source::new("inv.toml", t)).unwrap()
    }

    fn warnings(zones: &[&str], stack: &str) -> Vec<String> {
        let i = inv(zones);
        let s = Stack::parse(Source::new("stack.toml", stack.to_string()), &i).unwrap();
        super::check(&s, &i)
            .0
            .iter()
            .map(|d| format!("{}:{}: {}", d.file, d.line, d.message))
            .collect()
    }

    const STACK: &str = "[stack]\nname = \"z\"\n[etcd]\nhosts = \"all3\"\n[redis]\nhosts = \"all3\"\npassword = { env = \"X\" }\n[redis.sentinel]\nquorum = 2\n";

    #[test]
    fn three_zones_are_quiet() {
        assert!(warnings(&["a", "b", "c"], STACK).is_empty());
    }

    #[test]
    fn two_of_three_in_one_zone_loses_the_etcd_and_sentinel_quorums() {
        let w = warnings(&["a", "a", "b"], STACK);
        assert!(
            w.iter().any(|m| m.starts_with("stack.toml:4:")
                && m.contains(
                    "losing zone a (h1, h2) leaves 1 of 3 etcd members, below the 2 needed"
                )),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|m| m.contains("of 3 Sentinels, below the 2 needed")),
            "{w:?}"
        );
        assert!(
            !w.iter().any(|m| m.contains("Redis servers")),
            "a Redis server survives: {w:?}"
        );
    }

    #[test]
    fn one_zone_for_everything_warns_for_services_and_servers() {
        let stack = format!(
            "{STACK}[services.api]\nhosts = \"all3\"\ncommand = \"/bin/true\"\nport = 8080\n"
        );
        let w = warnings(&["a", "a", "a"], &stack);
        assert!(
            w.iter()
                .any(|m| m.contains("all 3 replicas of services.api sit in zone a")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|m| m.contains("leaves 0 of 3 Redis servers")),
            "{w:?}"
        );
    }

    /// Warnings come in the stack file's table order (`TABLE_ORDER`):
    /// services' before HAProxy's, though `ALL` visits HAProxy first.
    #[test]
    fn warnings_follow_the_table_order() {
        let stack = "[stack]\nname = \"z\"\n[haproxy]\nhosts = \"all3\"\n[services.api]\nhosts = \"all3\"\ncommand = \"/bin/true\"\nport = 8080\n";
        let w = warnings(&["a", "a", "a"], stack);
        let at = |s: &str| w.iter().position(|m| m.contains(s));
        let (Some(service), Some(haproxy)) = (at("replicas of services.api"), at("HAProxy hosts"))
        else {
            panic!("{w:?}")
        };
        assert!(service < haproxy, "{w:?}");
    }
}
