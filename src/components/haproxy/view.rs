//! HAProxy's view: its listeners with their backends, the TLS PEM and the
//! tuned check timings, computed from the stack for the haproxy role.

use crate::compile::view::Backend;
use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    /// The `[haproxy.listen]` key.
    pub name: String,
    pub port: u16,
    /// `postgres_primary`, `postgres_replicas`, `redis_master`, `http`.
    pub kind: String,
    /// For `postgres_*`: the Patroni path checked on 8008; for `http`: the health path.
    pub check_path: String,
    pub backends: Vec<Backend>,
    /// HAProxy `balance` (http listeners).
    pub balance: String,
    /// Terminates TLS with /etc/haproxy/tls.pem.
    pub tls: bool,
}

/// HAProxy's listeners with their backends, computed from the stack.
#[derive(Debug, Clone, Serialize)]
pub struct HaproxyView {
    pub stats_port: u16,
    pub listens: Vec<Listen>,
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
        let l = |kind: &str, check: &str, backends: Vec<Backend>, balance: &str| Listen {
            kind: kind.into(),
            check_path: check.into(),
            backends,
            balance: balance.into(),
            tls: tls_for(&name),
            name: name.clone(),
            port,
        };
        let l = match name.as_str() {
            "postgres_primary" => l(
                "postgres_primary",
                "/primary",
                backends("postgres", 5432),
                "first",
            ),
            "postgres_replicas" => l(
                "postgres_replicas",
                "/replica",
                backends("postgres", 5432),
                "roundrobin",
            ),
            "redis_master" => l("redis_master", "", backends("redis", 6379), "first"),
            svc => match stack.services.get(svc) {
                Some(s) => {
                    let check = s
                        .ready
                        .clone()
                        .or_else(|| s.health.clone())
                        .unwrap_or_else(|| "/".into());
                    let balance = s
                        .balance
                        .as_ref()
                        .map(|b| b.get_ref().clone())
                        .unwrap_or_else(|| "roundrobin".into());
                    l(
                        "http",
                        &check,
                        backends(&format!("services.{svc}"), *s.port.get_ref()),
                        &balance,
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
    Some(HaproxyView {
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
