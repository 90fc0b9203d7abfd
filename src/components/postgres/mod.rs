//! PostgreSQL under Patroni (`[postgres]`, with its `databases`,
//! `parameters` and `client_networks`): everything rampart knows about it
//! outside its role's templates (roles/postgres).
//!
//! - `stack`: the `[postgres]` table, the settings rampart owns and its checks
//! - `view`: what the role's templates see (members, parameters, databases)
//! - `facts`: Patroni's `/cluster` as the facts script reads it
//! - `day2`: rolling restarts, switchovers, members joining and leaving
//! - `status`: `rampart status` for the cluster
//! - `alerts`: its Prometheus alert rules
//! - `zones`: what the loss of one zone does to it
//!

pub mod alerts;
pub mod day2;
pub mod facts;
pub mod ops;
pub mod stack;
pub mod status;
pub mod view;
pub mod zones;

use super::prelude::*;

/// Patroni's service: restarted one member at a time, removed when a member leaves.
pub const SERVICE: RoleRef = RoleRef::new("postgres", Kind::Service, "patroni");
/// Patroni's config: a change is a reload, and rolls with the owed restarts.
pub const CONFIG: RoleRef = RoleRef::new("postgres", Kind::File, "/etc/patroni/config.yml");
/// The PATCH /config of `[postgres.parameters]`, before restarts are rolled.
pub const DYNAMIC_CONFIG: RoleRef =
    RoleRef::new("postgres", Kind::Command, "patroni-dynamic-config");

/// The Patroni cluster as a whole, for its day-2 steps and facts probe.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Its hosts, in stack order.
    pub hosts: Vec<String>,
    /// `[postgres.parameters]` and what pgBackRest adds to them
    /// (`view::effective_parameters`), as JSON `{name: "value"}`.
    pub parameters: String,
    /// `[tls]`: Patroni's REST API is https (with the stack's CA).
    pub tls: bool,
}

/// Whether Patroni's REST API is https (`[tls]`).
pub fn api_tls(c: &Compiled) -> bool {
    c.topology_of::<Cluster>("postgres").is_some_and(|k| k.tls)
}

/// The hosts of the Patroni cluster, in stack order (none when the stack
/// does not deploy it).
pub fn hosts(c: &Compiled) -> &[String] {
    c.topology_of::<Cluster>("postgres")
        .map(|k| k.hosts.as_slice())
        .unwrap_or(&[])
}

/// PostgreSQL under Patroni, through the one component interface.
pub struct Postgres;

impl Component for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn level(&self) -> u8 {
        1
    }
    fn rolling(&self) -> bool {
        true
    }
    fn secret_refs<'a>(&self, stack: &'a Stack, out: &mut Vec<(String, &'a SecretRef)>) {
        if let Some(p) = &stack.postgres {
            out.push((
                "postgres.superuser_password".to_string(),
                &p.superuser_password,
            ));
            out.push((
                "postgres.replication_password".to_string(),
                &p.replication_password,
            ));
            for d in &p.databases {
                out.push((
                    format!("postgres.databases.{}.password", d.name),
                    &d.password,
                ));
            }
        }
    }
    fn secret_fields(&self) -> &'static [&'static str] {
        &[
            "superuser_password",
            "replication_password",
            "databases[].password_sql",
            "api_password",
        ]
    }
    fn relies_on(&self) -> &'static [RoleRef] {
        &[SERVICE, CONFIG, DYNAMIC_CONFIG]
    }
    fn topology(&self, _: &Inventory, stack: &Stack) -> Option<Arc<dyn Topology>> {
        Some(Arc::new(Cluster {
            hosts: stack.hosts_of("postgres").to_vec(),
            parameters: view::effective_parameters_json(stack).to_string(),
            tls: crate::tls::view::on(stack),
        }))
    }
    fn fact_tag(&self) -> Option<&'static str> {
        Some("T")
    }
    fn parse_fact(&self, payload: &str) -> Result<Option<ClusterFact>, String> {
        let bytes = crate::util::b64_decode(payload).ok_or("not base64")?;
        Ok(facts::parse_patroni_cluster(&bytes).map(ClusterFact::Patroni))
    }
    fn fingerprint(&self, fact: &ClusterFact) -> Vec<(String, String)> {
        match fact {
            ClusterFact::Patroni(m) => facts::fingerprint(m),
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
    fn day2(&self, compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
        day2::steps(compiled, facts, plan)
    }
    fn validate(&self, v: &mut Validator, raw: &RawStack, placement: &Placement) {
        if let Some(p) = &raw.postgres {
            let hosts = placement.get("postgres").map(Vec::as_slice).unwrap_or(&[]);
            stack::validate(v, p, raw.etcd.is_some(), hosts);
        }
    }
    fn ports(&self, raw: &RawStack, claim: &mut Claim<'_>) {
        if let Some(p) = &raw.postgres {
            claim_ports(claim, "postgres", stack::PORTS, &p.hosts);
        }
    }
    fn zones(&self, stack: &Stack, _: &Inventory, quorum: &mut Quorum<'_>, _: &mut Warn<'_>) {
        zones::check(stack, quorum);
    }
    fn alert_rules(&self, stack: &Stack, rule: &mut AlertRule<'_>) {
        alerts::rules(stack, rule);
    }
    fn template_view(&self, cx: &ViewCx<'_>) -> View {
        keyed_view(
            "postgres",
            view::postgres(cx.inv, cx.stack, cx.host, cx.secrets),
        )
    }
}
