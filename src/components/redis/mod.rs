//! Redis with Sentinel: one Redis server and one Sentinel per host, the
//! first host (or `master`) the initial master; afterwards Redis and
//! Sentinel own who is master. The server is Redis or Valkey (`[redis]
//! server`), the same component under other names. What rampart knows about
//! it lives here:
//! - `server`: Redis or Valkey, and every name that differs between them;
//! - `stack`: `[redis]` and `[redis.sentinel]`, the directives rampart owns
//!   (`REDIS_OWNED`), their checks and ports;
//! - `view`: what the redis role's templates see (members, initial master,
//!   settings as Redis config strings, Sentinel's settings);
//! - `facts`: the facts script's probe of `INFO replication` and its parser;
//! - `day2`: the plan's day-2 steps: failover before the master restarts,
//!   Sentinel restarts kept above quorum, hosts leaving (failover, reset);
//! - `switch`: the plan refused where a host runs the other server;
//! - `scheme`: the plan refused where a host's Redis was deployed
//!   plaintext and the stack has `[tls]` (or the reverse);
//! - `status`: `rampart status` probe lines and health of Redis and Sentinel;
//! - `alerts` and `zones`: its Prometheus rules and failure-domain checks.
//!
//! The role itself (packages, templates, health gates) is `roles/redis/`.

pub mod alerts;
pub mod day2;
pub mod facts;
pub mod ops;
pub mod scheme;
pub mod server;
pub mod stack;
pub mod status;
pub mod switch;
pub mod view;
pub mod zones;

use super::prelude::*;
use crate::compile::view::Backend;
pub use server::Server;

// The role names the units through `redis.server` (one role for Redis and
// Valkey): these refs hold the names as role.toml writes them, checked
// there at load; `id` gives a resource's id for one server.

/// Redis' service: rolled replicas first, the master last after a failover.
pub const SERVER: RoleRef = RoleRef::new("redis", Kind::Service, "{{redis.server.unit}}");
/// Sentinel's service: restarts kept above the quorum; reset when a host leaves.
pub const SENTINEL: RoleRef =
    RoleRef::new("redis", Kind::Service, "{{redis.server.sentinel_unit}}");
/// The gate a Sentinel reset waits on.
pub const SENTINEL_QUORUM: RoleRef = RoleRef::new("redis", Kind::Health, "sentinel-quorum");

/// The id on `host` of the resource `r` names, for `server`
/// (`host/service/redis-server`, `host/service/valkey-server`).
pub fn id(r: &RoleRef, server: Server, host: &str) -> String {
    server.names().fill(&r.id(host))
}

/// Redis and its Sentinels as a whole, for the facts probe and day-2 steps.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Its hosts (and their Sentinels'), in stack order, with their addresses.
    pub hosts: Vec<Backend>,
    /// What `[redis]` runs: Redis or Valkey.
    pub server: Server,
    /// Sentinel's name for the master and its quorum.
    pub sentinel: Option<view::SentinelView>,
    /// `[tls]`: Redis and Sentinel listen on TLS only; rampart's CLI calls
    /// speak TLS (`Names::cli_call`).
    pub tls: bool,
    /// The stack file's path (for messages).
    pub stack_file: String,
}

/// The Redis cluster the stack deploys (None when it does not).
pub fn cluster(c: &Compiled) -> Option<&Cluster> {
    c.topology_of("redis")
}

/// Redis with Sentinel, through the one component interface.
pub struct Redis;

impl Component for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn level(&self) -> u8 {
        1
    }
    fn rolling(&self) -> bool {
        true
    }
    fn secret_refs<'a>(&self, stack: &'a Stack, out: &mut Vec<(String, &'a SecretRef)>) {
        if let Some(r) = &stack.redis {
            out.push(("redis.password".to_string(), &r.password));
        }
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        &["password", "password_conf"]
    }
    fn relies_on(&self) -> &'static [RoleRef] {
        &[SERVER, SENTINEL, SENTINEL_QUORUM]
    }
    fn topology(&self, inv: &Inventory, stack: &Stack) -> Option<Arc<dyn Topology>> {
        let hosts = view::redis_members(inv, stack);
        let r = stack.redis.as_ref();
        Some(Arc::new(Cluster {
            server: r.map(|r| r.server()).unwrap_or_default(),
            sentinel: r
                .filter(|_| !hosts.is_empty())
                .and_then(|r| r.sentinel.as_ref())
                .map(view::sentinel),
            hosts,
            tls: crate::tls::view::on(stack),
            stack_file: stack.source.path.clone(),
        }))
    }
    fn fact_tag(&self) -> Option<&'static str> {
        Some("X")
    }
    fn parse_fact(&self, payload: &str) -> Result<Option<ClusterFact>, String> {
        Ok(facts::parse_redis_info(payload).map(ClusterFact::Redis))
    }
    fn fingerprint(&self, fact: &ClusterFact) -> Vec<(String, String)> {
        match fact {
            ClusterFact::Redis(r) => facts::fingerprint(r),
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
        // Redis' master restarts last, after a failover (`day2::steps`)
        RollHints {
            not_rolled: Vec::new(),
            last: day2::master(compiled, facts).into_iter().collect(),
        }
    }
    fn day2(&self, compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
        let master = day2::master(compiled, facts);
        day2::steps(compiled, facts, master.as_deref(), plan)
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, placement: &Placement) {
        if let Some(r) = &raw.redis {
            stack::validate(v, r, placement);
        }
    }
    fn validate_releases(&self, v: &mut Validator, raw: &RawStack, placement: &Placement) {
        if let (Some(r), Some(hosts)) = (&raw.redis, placement.get("redis")) {
            stack::releases(v, r, hosts);
        }
    }
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        if let Some(r) = &raw.redis {
            claim_ports(claim, "redis", stack::ports(r), &r.hosts);
        }
    }
    fn zones(&self, stack: &Stack, _: &Inventory, quorum: &mut Quorum<'_>, _: &mut Warn<'_>) {
        zones::check(stack, quorum);
    }
    fn alert_rules(&self, stack: &Stack, rule: &mut AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view("redis", view::redis(cx.inv, cx.stack, cx.host, cx.secrets))
    }
}
