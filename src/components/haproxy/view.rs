//! HAProxy's view: its listeners with their backends, the TLS PEM and the
//! tuned check timings, computed from the stack for the haproxy role.

use crate::compile::view::Backend;
use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

/// What a listener routes to; the template writes each kind's section
/// (`{{#if (eq kind "http")}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenKind {
    PostgresPrimary,
    PostgresReplicas,
    RedisMaster,
    /// An app service.
    Http,
}

/// HAProxy's `balance` algorithm for a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// PostgreSQL's primary and Redis' master: the one backend that is up.
    First,
    Roundrobin,
    Leastconn,
    Source,
}

impl Balance {
    /// The balances an app service may choose (`[services.NAME] balance`).
    pub const FOR_SERVICES: [Balance; 3] =
        [Balance::Roundrobin, Balance::Leastconn, Balance::Source];
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::First => "first",
            Balance::Roundrobin => "roundrobin",
            Balance::Leastconn => "leastconn",
            Balance::Source => "source",
        }
    }
    /// An app service's balance as written, None when it is not one of
    /// `FOR_SERVICES`.
    pub fn of_service(s: &str) -> Option<Balance> {
        Balance::FOR_SERVICES.into_iter().find(|b| b.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    /// The `[haproxy.listen]` key.
    pub name: String,
    pub port: u16,
    /// `postgres_primary`, `postgres_replicas`, `redis_master`, `http`.
    pub kind: ListenKind,
    /// For `postgres_*`: the Patroni path checked on 8008; for `http`: the health path.
    pub check_path: String,
    pub backends: Vec<Backend>,
    /// HAProxy `balance` (http listeners).
    pub balance: Balance,
    /// Terminates TLS with /etc/haproxy/tls.pem.
    pub tls: bool,
}

/// HAProxy's listeners with their backends, computed from the stack.
#[derive(Debug, Clone, Serialize)]
pub struct HaproxyView {
    pub stats_port: u16,
    pub listens: Vec<Listen>,
    /// A compose service is routed: its rolls drain hosts through the runtime API (socat).
    pub drains: bool,
    /// The certificate chain and key for TLS listeners, as one PEM (sensitive).
    pub tls_pem: Option<String>,
    /// The Redis password escaped for `tcp-check send` (spaces as `\ `), when redis_master is routed.
    pub redis_auth: String,
    /// Tuned checks (the defaults add 3-6 s after a promotion): inter 1s
    /// (fastinter/downinter 200ms) fall 2 rise 1.
    pub inter: String,
    pub fastinter: String,
    pub fall: u32,
    pub rise: u32,
}

pub fn haproxy(inv: &Inventory, stack: &Stack, secrets: &SecretValues) -> Option<HaproxyView> {
    let h = stack.haproxy.as_ref()?;
    let backends = |comp: &str, port: u16| -> Vec<Backend> {
        stack
            .hosts_of(comp)
            .iter()
            .filter_map(|n| inv.hosts.get(n))
            .map(|h| Backend {
                name: h.name.clone(),
                address: h.address.clone(),
                port,
            })
            .collect()
    };
    let mut listens = Vec::new();
    let tls_for = |name: &str| {
        h.tls
            .as_ref()
            .is_some_and(|t| t.listens.get_ref().iter().any(|l| l.get_ref() == name))
    };
    for (k, p) in &h.listen {
        let name = k.get_ref().clone();
        let port = *p.get_ref();
        let l = |kind: ListenKind, check: &str, backends: Vec<Backend>, balance: Balance| Listen {
            kind,
            check_path: check.into(),
            backends,
            balance,
            tls: tls_for(&name),
            name: name.clone(),
            port,
        };
        let l = match name.as_str() {
            "postgres_primary" => l(
                ListenKind::PostgresPrimary,
                "/primary",
                backends("postgres", 5432),
                Balance::First,
            ),
            "postgres_replicas" => l(
                ListenKind::PostgresReplicas,
                "/replica",
                backends("postgres", 5432),
                Balance::Roundrobin,
            ),
            "redis_master" => l(
                ListenKind::RedisMaster,
                "",
                backends("redis", 6379),
                Balance::First,
            ),
            svc => match stack.services.get(svc) {
                Some(s) => {
                    let check = s
                        .ready
                        .clone()
                        .or_else(|| s.health.clone())
                        .unwrap_or_else(|| "/".into());
                    // checked by `services::stack::validate`: one of `FOR_SERVICES`
                    let balance = s
                        .balance
                        .as_ref()
                        .and_then(|b| Balance::of_service(b.get_ref()))
                        .unwrap_or(Balance::Roundrobin);
                    l(
                        ListenKind::Http,
                        &check,
                        backends(&format!("services.{svc}"), *s.port.get_ref()),
                        balance,
                    )
                }
                None => continue,
            },
        };
        listens.push(l);
    }
    let tls_pem = h.tls.as_ref().map(|_| {
        let cert = secrets.get("haproxy.tls.cert");
        let key = secrets.get("haproxy.tls.key");
        format!("{}\n{}\n", cert.trim_end(), key.trim_end())
    });
    let redis_auth = if stack.redis.is_some() {
        secrets
            .get("redis.password")
            .replace('\\', "\\\\")
            .replace(' ', "\\ ")
    } else {
        String::new()
    };
    let drains = h.listen.keys().any(|k| {
        stack
            .services
            .get(k.get_ref())
            .is_some_and(|s| s.image.is_some())
    });
    Some(HaproxyView {
        drains,
        stats_port: h.stats_port,
        listens,
        tls_pem,
        redis_auth,
        inter: "1s".into(),
        fastinter: "200ms".into(),
        fall: 2,
        rise: 1,
    })
}
