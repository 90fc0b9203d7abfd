//! What the plan reads of a running Patroni cluster: its `/cluster` as this
//! host's Patroni reports it (the facts script's `T` line).

use crate::compile::Compiled;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatroniMemberFact {
    pub name: String,
    /// `leader`, `replica`, `sync_standby`, ...
    pub role: String,
    /// `running`, `streaming`, `stopped`, ...
    pub state: String,
    pub pending_restart: bool,
    /// Its timeline, as Patroni's JSON writes it (`status` shows it).
    /// Volatile: not in the saved plan's fingerprint.
    #[serde(default)]
    pub timeline: Option<String>,
    /// Its replication lag, as Patroni's JSON writes it (a number, or
    /// `"unknown"`; none on the leader). Volatile: not in the fingerprint.
    #[serde(default)]
    pub lag: Option<String>,
}

/// Parses Patroni's `GET /cluster`.
pub fn parse_patroni_cluster(body: &[u8]) -> Option<Vec<PatroniMemberFact>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let members = v.get("members")?.as_array()?;
    Some(
        members
            .iter()
            .map(|m| PatroniMemberFact {
                name: m
                    .get("name")
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string(),
                role: m
                    .get("role")
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string(),
                state: m
                    .get("state")
                    .and_then(|x| x.as_str())
                    .unwrap_or("")
                    .to_string(),
                pending_restart: m
                    .get("pending_restart")
                    .and_then(|x| x.as_bool())
                    .unwrap_or(false),
                timeline: m.get("timeline").map(|x| x.to_string()),
                lag: m.get("lag").map(|x| x.to_string()),
            })
            .collect(),
    )
}

/// The saved plan's items of Patroni's `/cluster`.
pub const FINGERPRINT_KEYS: [&str; 3] = [
    "PostgreSQL leader",
    "PostgreSQL members",
    "PostgreSQL pending restart",
];

/// The leader, the members' roles and who owes a restart, for a saved plan
/// (not the members' state, which moves on its own).
pub fn fingerprint(members: &[PatroniMemberFact]) -> Vec<(String, String)> {
    let none_or = |mut v: Vec<&str>| {
        v.sort();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let leaders: Vec<&str> = members
        .iter()
        .filter(|m| matches!(m.role.as_str(), "leader" | "master" | "standby_leader"))
        .map(|m| m.name.as_str())
        .collect();
    let mut m: Vec<String> = members
        .iter()
        .map(|m| format!("{} {}", m.name, m.role))
        .collect();
    m.sort();
    let pending: Vec<&str> = members
        .iter()
        .filter(|m| m.pending_restart)
        .map(|m| m.name.as_str())
        .collect();
    vec![
        (FINGERPRINT_KEYS[0].into(), none_or(leaders)),
        (FINGERPRINT_KEYS[1].into(), m.join(", ")),
        (FINGERPRINT_KEYS[2].into(), none_or(pending)),
    ]
}

/// The facts script's line for Patroni's `/cluster` (tag `T`), on a member only.
pub fn probe(compiled: &Compiled, host: &str) -> Option<String> {
    let (tls, api) = crate::tls::view::patroni_local(super::api_tls(compiled), false);
    super::hosts(compiled)
        .iter()
        .any(|h| h == host)
        .then(|| {
            format!("if active patroni; then printf 'T\\t'; curl -sf --max-time 3 --retry 2 --retry-connrefused --retry-delay 1 {tls}{api}/cluster 2>/dev/null | base64 -w0; echo; fi\n")
        })
}
