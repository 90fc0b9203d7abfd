//! This host's Redis replication role, read by the facts script (tag `X`):
//! the probe line it emits on a Redis host and the parser of its answer;
//! and which servers (Redis, Valkey) the host has installed.

use super::Server;
use crate::compile::Compiled;
use serde::{Deserialize, Serialize};

/// The facts script's lines for Redis on `host` (None when it is not a Redis
/// host): `X` and the `role`/`master_host`/`master_link_status` fields of
/// `INFO replication` on one line, when the stack's server runs and its
/// password is there; then the package of every server rampart knows (`P`
/// lines, as the script's own package query prints them), so that a host
/// running the other one is seen (`switch`).
pub fn probe(compiled: &Compiled, host: &str) -> Option<String> {
    let k = super::cluster(compiled)?;
    let n = k.server.names();
    k.hosts.iter().any(|h| h.name == host).then(|| {
        let packages: Vec<&str> = Server::ALL.iter().map(|s| s.names().package).collect();
        format!(
            "if active {unit} && [ -r {dir}/rampart-auth ]; then printf 'X\\t'; REDISCLI_AUTH=\"$(cat {dir}/rampart-auth)\" timeout 5 {cli} --no-auth-warning -h 127.0.0.1 info replication 2>/dev/null | tr -d '\\r' | grep -E '^(role|master_host|master_link_status):' | tr '\\n' ' '; echo; fi\n\
             dpkg-query -W -f='P\\t${{Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' {packages} 2>/dev/null\n",
            unit = n.unit,
            dir = n.conf_dir,
            cli = n.cli_call(k.tls),
            packages = packages.join(" "),
        )
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisFact {
    /// `master` or `slave`.
    pub role: String,
    /// The master this replica follows (empty on a master).
    pub master_host: String,
    /// A replica's link to its master is up (always true on a master).
    pub link_up: bool,
}

/// Parses the `role:`/`master_host:`/`master_link_status:` fields of `INFO replication`.
pub fn parse_redis_info(text: &str) -> Option<RedisFact> {
    let mut f = RedisFact::default();
    let mut link = None;
    for l in text.split(['\n', ' ']).map(str::trim) {
        if let Some(v) = l.strip_prefix("role:") {
            f.role = v.to_string();
        } else if let Some(v) = l.strip_prefix("master_host:") {
            f.master_host = v.to_string();
        } else if let Some(v) = l.strip_prefix("master_link_status:") {
            link = Some(v == "up");
        }
    }
    if f.role.is_empty() {
        return None;
    }
    f.link_up = f.role == "master" || link == Some(true);
    Some(f)
}

/// The role in words, as a saved plan names a change of it: `master`, or
/// `replica of ADDRESS` (not the link state, which comes and goes on its own).
pub fn role_words(r: &RedisFact) -> String {
    if r.role == "master" || r.master_host.is_empty() {
        r.role.clone()
    } else {
        format!("replica of {}", r.master_host)
    }
}

/// The saved plan's item of the replication role.
pub const FINGERPRINT_KEYS: [&str; 1] = ["Redis role"];

/// The role in words for a saved plan (not the link state).
pub fn fingerprint(r: &RedisFact) -> Vec<(String, String)> {
    vec![(FINGERPRINT_KEYS[0].into(), role_words(r))]
}

#[cfg(test)]
mod tests {
    use crate::facts::parse;

    #[test]
    fn parses_the_replication_role() {
        // Redis' replication role, as the facts script flattens it
        let r = parse(
            "X\trole:slave master_host:198.18.0.11 master_link_status:up \nEND\n",
            &[],
        )
        .unwrap()
        .redis()
        .cloned()
        .unwrap();
        assert_eq!(
            (r.role.as_str(), r.master_host.as_str(), r.link_up),
            ("slave", "198.18.0.11", true)
        );
        let r = parse(
            "X\trole:slave master_host:198.18.0.11 master_link_status:down \nEND\n",
            &[],
        )
        .unwrap()
        .redis()
        .cloned()
        .unwrap();
        assert!(!r.link_up);
        assert!(
            parse("X\trole:master \nEND\n", &[])
                .unwrap()
                .redis()
                .cloned()
                .unwrap()
                .link_up
        );
        assert!(parse("X\t\nEND\n", &[]).unwrap().redis().is_none());
    }
}
