//! Prometheus alert rules for what the seeds monitor, derived from the stack:
//! members below the minimum, no leader or master, replication lag, Qdrant
//! peers, instances down. Pure: the stack in, the rules file's text out.
//!
//! The rules expect scrape jobs named after the component: `etcd` (:2379),
//! `patroni` (Patroni's REST API :8008/metrics), `redis` and `sentinel`
//! (redis_exporter), `qdrant` (:6333/metrics), `haproxy` (its Prometheus
//! exporter) and `service_NAME` for each app service.

use crate::model::stack::Stack;
use std::fmt::Write;

struct Rule {
    name: String,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    summary: String,
}

/// A YAML string: JSON's double-quoted form is valid YAML.
pub(crate) fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The Prometheus alert name prefix: the stack name in CamelCase.
pub(crate) fn prefix(stack: &str) -> String {
    let p: String = stack
        .split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    // alert names start with a letter
    if p.starts_with(|c: char| c.is_ascii_digit()) {
        format!("S{p}")
    } else {
        p
    }
}

/// `count(... == 1)`, 0 when nothing matches.
pub(crate) fn up_count(selector: &str) -> String {
    format!("(count({selector} == 1) or vector(0))")
}

pub fn rules(stack: &Stack) -> String {
    let p = prefix(&stack.name);
    let mut rules: Vec<Rule> = Vec::new();
    let mut rule =
        |name: &str, expr: String, for_: &'static str, severity: &'static str, summary: String| {
            rules.push(Rule {
                name: format!("{p}{name}"),
                expr,
                for_,
                severity,
                summary,
            });
        };
    for c in crate::components::TABLE_ORDER {
        c.alert_rules(stack, &mut rule);
    }
    crate::tls::alerts::rules(stack, &mut rule);
    rule(
        "InstanceDown",
        "up{job=~\"etcd|patroni|redis|sentinel|qdrant|haproxy|service_.*\"} == 0".into(),
        "1m",
        "warning",
        "{{ $labels.job }} on {{ $labels.instance }} is down".into(),
    );

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Prometheus alert rules for stack {}, written by `rampart alerts`.",
        stack.name
    );
    let mut node = Vec::new();
    if crate::components::backup::stack::pgbackrest(stack.backup.as_ref()).is_some() {
        node.push("the pgBackRest repository host");
    }
    if crate::tls::view::on(stack) {
        node.push("every host holding a [tls] certificate");
    }
    let _ = writeln!(
        out,
        "# Scrape jobs expected: etcd, patroni, redis, sentinel, qdrant, haproxy, service_NAME{}.",
        if node.is_empty() {
            String::new()
        } else {
            format!(
                ", node (node_exporter's textfile collector on {})",
                node.join(" and on ")
            )
        }
    );
    let _ = writeln!(
        out,
        "groups:\n  - name: {}\n    rules:",
        q(&format!("rampart-{}", stack.name))
    );
    for r in rules {
        let _ = writeln!(out, "      - alert: {}", r.name);
        let _ = writeln!(out, "        expr: {}", q(&r.expr));
        let _ = writeln!(out, "        for: {}", r.for_);
        let _ = writeln!(
            out,
            "        labels:\n          severity: {}\n          stack: {}",
            r.severity,
            q(&stack.name)
        );
        let _ = writeln!(
            out,
            "        annotations:\n          summary: {}",
            q(&r.summary)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_is_camel_case() {
        assert_eq!(super::prefix("aeterna"), "Aeterna");
        assert_eq!(super::prefix("dragonfly-primary"), "DragonflyPrimary");
        assert_eq!(super::prefix("a_b-c"), "ABC");
    }
}
