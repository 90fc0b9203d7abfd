//! Qdrant: the vector database, in cluster mode (Raft) as a compose project
//! on each host of `[qdrant]`: REST on 6333, gRPC on 6334, p2p on 6335.
//!
//! Where its knowledge lives:
//! - `stack`: the `[qdrant]` table and its checks;
//! - `view`: the compose project's view (`roles/qdrant`);
//! - `facts`: the facts script's peer id and shards (`Q`) and its parser;
//! - `day2`: peers taken out of the stack (refused while they hold shards);
//! - `alerts`: its Prometheus rule;
//! - `zones`: its Raft quorum and replica spread under the loss of one zone.
//!
//! `rampart status` does not probe Qdrant.
pub mod alerts;
pub mod day2;
pub mod facts;
pub mod ops;
pub mod stack;
pub mod view;
pub mod zones;

use super::prelude::*;

/// The Qdrant cluster as a whole, for its day-2 steps.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Its peers, in stack order.
    pub hosts: Vec<String>,
}

/// The Qdrant peers, in stack order (none when the stack does not deploy it).
pub fn hosts(c: &Compiled) -> &[String] {
    c.topology_of::<Cluster>("qdrant")
        .map(|k| k.hosts.as_slice())
        .unwrap_or(&[])
}

/// Qdrant, through the one component interface (`rampart status` does not probe it).
pub struct Qdrant;

impl Component for Qdrant {
    fn name(&self) -> &'static str {
        "qdrant"
    }
    fn level(&self) -> u8 {
        1
    }
    fn topology(&self, _: &Inventory, stack: &Stack) -> Option<Arc<dyn Topology>> {
        Some(Arc::new(Cluster {
            hosts: stack.hosts_of("qdrant").to_vec(),
        }))
    }
    fn fact_tag(&self) -> Option<&'static str> {
        Some("Q")
    }
    fn parse_fact(&self, payload: &str) -> Result<Option<ClusterFact>, String> {
        Ok(facts::parse_qdrant(payload).map(ClusterFact::Qdrant))
    }
    fn fingerprint(&self, fact: &ClusterFact) -> Vec<(String, String)> {
        match fact {
            ClusterFact::Qdrant(q) => facts::fingerprint(q),
            _ => Vec::new(),
        }
    }
    fn fingerprint_keys(&self) -> &'static [&'static str] {
        &facts::FINGERPRINT_KEYS
    }
    fn facts_probe(&self, c: &Compiled, host: &str) -> Option<String> {
        facts::probe(c, host)
    }
    fn day2(&self, compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
        day2::steps(compiled, facts, plan)
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, placement: &Placement) {
        stack::validate(v, raw.qdrant.as_ref(), placement);
    }
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        if let Some(q) = &raw.qdrant {
            claim_ports(claim, "qdrant", stack::PORTS, &q.hosts);
        }
    }
    fn zones(&self, stack: &Stack, inv: &Inventory, quorum: &mut Quorum<'_>, warn: &mut Warn<'_>) {
        zones::raft_quorum(stack, quorum);
        zones::replica_spread(stack, inv, warn);
    }
    fn alert_rules(&self, stack: &Stack, rule: &mut AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view("qdrant", view::qdrant(cx.inv, cx.stack, cx.host))
    }
}
