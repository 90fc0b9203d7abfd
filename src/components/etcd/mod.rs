//! etcd: the stack's consensus store, Patroni's DCS. Debian's etcd-server,
//! one member per host of `[etcd]`, clients on 2379 and peers on 2380.
//!
//! Where its knowledge lives:
//! - `stack`: the `[etcd]` table, its timing bounds and its checks;
//! - `view`: the cluster as roles and templates see it (`roles/etcd`);
//! - `facts`: the facts script's member list (`E`) and its parser;
//! - `day2`: membership changes (member add/remove, one at a time, quorum kept);
//! - `status`: `rampart status`'s probe and verdict;
//! - `alerts`: its Prometheus rules;
//! - `zones`: its quorum under the loss of one zone.
pub mod alerts;
pub mod day2;
pub mod facts;
pub mod ops;
pub mod stack;
pub mod status;
pub mod view;
pub mod zones;

use super::prelude::*;

/// etcd's service: restarted one member at a time, started founders-together
/// or after `member add`, stopped after `member remove`.
pub const SERVICE: RoleRef = RoleRef::new("etcd", Kind::Service, "etcd");

/// The stack's etcd cluster as a whole (no `member`), for its membership
/// changes and facts probe; None when the stack does not deploy etcd.
pub fn cluster(c: &Compiled) -> Option<&view::EtcdView> {
    c.topology_of("etcd")
}

/// etcd, through the one component interface.
pub struct Etcd;

impl Component for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }
    fn level(&self) -> u8 {
        0
    }
    fn rolling(&self) -> bool {
        true
    }
    fn relies_on(&self) -> &'static [RoleRef] {
        &[SERVICE]
    }
    fn topology(&self, inv: &Inventory, stack: &Stack) -> Option<Arc<dyn Topology>> {
        view::etcd(inv, stack, "").map(|v| Arc::new(v) as _)
    }
    fn fact_tag(&self) -> Option<&'static str> {
        Some("E")
    }
    fn parse_fact(&self, payload: &str) -> Result<Option<ClusterFact>, String> {
        let bytes = crate::util::b64_decode(payload).ok_or("not base64")?;
        Ok(facts::parse_etcd_members(&String::from_utf8_lossy(&bytes)).map(ClusterFact::Etcd))
    }
    fn fingerprint(&self, fact: &ClusterFact) -> Vec<(String, String)> {
        match fact {
            ClusterFact::Etcd(m) => facts::fingerprint(m),
            _ => Vec::new(),
        }
    }
    fn fingerprint_keys(&self) -> &'static [&'static str] {
        &facts::FINGERPRINT_KEYS
    }
    fn facts_probe(&self, c: &Compiled, host: &str) -> Option<String> {
        facts::probe(c, host)
    }
    fn status_probe(&self, stack: &Stack, host: &str) -> String {
        status::probe(stack, host)
    }
    fn status(&self, stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
        status::evaluate(stack, probes)
    }
    fn roll_hints(&self, compiled: &Compiled, facts: &BTreeMap<String, HostFacts>) -> RollHints {
        // members joining a running etcd start once, after `member add`: not part of a roll
        RollHints {
            not_rolled: day2::etcd_change(compiled, facts)
                .map(|c| c.joiners.into_iter().map(|m| m.name).collect())
                .unwrap_or_default(),
            last: Vec::new(),
        }
    }
    fn day2(&self, compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
        day2::etcd(compiled, facts, plan)
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, placement: &Placement) {
        stack::validate(v, raw.etcd.as_ref(), placement);
    }
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        if let Some(e) = &raw.etcd {
            claim_ports(claim, "etcd", stack::PORTS, &e.hosts);
        }
    }
    fn zones(&self, stack: &Stack, _: &Inventory, quorum: &mut Quorum<'_>, _: &mut Warn<'_>) {
        zones::check(stack, quorum);
    }
    fn alert_rules(&self, stack: &Stack, rule: &mut AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view("etcd", view::etcd(cx.inv, cx.stack, cx.host))
    }
}
