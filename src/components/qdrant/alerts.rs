//! Qdrant's Prometheus alert rule: a peer that sees fewer peers than the
//! stack has (scrape job `qdrant`, :6333/metrics).

use crate::model::stack::Stack;

/// Qdrant's rule, added with `rule(name, expr, for, severity, summary)`
/// (alerts.rs prefixes the name with the stack's).
pub(crate) fn rules(
    stack: &Stack,
    rule: &mut dyn FnMut(&str, String, &'static str, &'static str, String),
) {
    if stack.qdrant.is_none() {
        return;
    }
    let n = stack.hosts_of("qdrant").len();
    rule(
        "QdrantPeersBelowMinimum",
        format!("(min(cluster_peers_total{{job=\"qdrant\"}}) or vector(0)) < {n}"),
        "1m",
        "warning",
        format!("a Qdrant peer sees fewer than {n} peers"),
    );
}
