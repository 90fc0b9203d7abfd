//! `[haproxy]`: its table, its checks and the ports it claims.

use crate::model::secret::SecretRef;
use crate::model::stack::{HostsRef, RawStack, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Haproxy {
    pub hosts: Spanned<HostsRef>,
    #[serde(default)]
    pub listen: BTreeMap<Spanned<String>, Spanned<u16>>,
    #[serde(default = "stats_port")]
    pub stats_port: u16,
    pub tls: Option<HaproxyTls>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

/// TLS termination: one certificate (with its chain) and key for the listed listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaproxyTls {
    pub cert: SecretRef,
    pub key: SecretRef,
    pub listens: Spanned<Vec<Spanned<String>>>,
}
fn stats_port() -> u16 {
    7000
}

/// Each listener routes to a component of the stack; TLS names app service listeners.
pub(crate) fn validate(v: &mut Validator, raw: &RawStack) {
    let Some(h) = &raw.haproxy else { return };
    check_listen(v, h, raw);
    if let Some(t) = &h.tls {
        check_tls(v, h, t, raw);
    }
}

/// `postgres_primary`, `postgres_replicas`, `redis_master` or an app service, present in the stack.
fn check_listen(v: &mut Validator, h: &Haproxy, raw: &RawStack) {
    for k in h.listen.keys() {
        let ok = match k.get_ref().as_str() {
            "postgres_primary" | "postgres_replicas" => raw.postgres.is_some(),
            "redis_master" => raw.redis.is_some(),
            other => raw.services.keys().any(|s| s.get_ref() == other),
        };
        if !ok {
            let mut known = vec!["postgres_primary", "postgres_replicas", "redis_master"];
            known.extend(raw.services.keys().map(|s| s.get_ref().as_str()));
            v.err(
                Some(k.span()),
                format!(
                    "`{}` routes to nothing in this stack",
                    k.get_ref().escape_debug()
                ),
                format!(
                    "use one of: {}, and make sure that component is in the stack",
                    known.join(", ")
                ),
            );
        }
    }
}

/// TLS terminates app service listeners only.
fn check_tls(v: &mut Validator, h: &Haproxy, t: &HaproxyTls, raw: &RawStack) {
    for l in t.listens.get_ref() {
        if !raw.services.keys().any(|s| s.get_ref() == l.get_ref())
            || !h.listen.keys().any(|k| k.get_ref() == l.get_ref())
        {
            let known: Vec<&str> = h
                .listen
                .keys()
                .map(|k| k.get_ref().as_str())
                .filter(|k| raw.services.keys().any(|s| s.get_ref() == k))
                .collect();
            v.err(
                Some(l.span()),
                format!(
                    "`{}` is not an app service listener of [haproxy.listen]",
                    l.get_ref().escape_debug()
                ),
                format!(
                    "TLS terminates HTTP listeners only; name one of: {}",
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    if t.listens.get_ref().is_empty() {
        v.err(
            Some(t.listens.span()),
            "listens is empty",
            "name the listeners to serve over TLS, e.g. listens = [\"vault\"]",
        );
    }
}

/// The ports HAProxy listens on: the stats port (its claim carries the
/// hosts' span) and each listener (with its own span).
pub(crate) fn ports(h: &Haproxy, claim: &mut crate::model::stack::Claim<'_>) {
    claim("haproxy", h.stats_port, Some(h.hosts.span()));
    for p in h.listen.values() {
        claim("haproxy", *p.get_ref(), Some(p.span()));
    }
}
