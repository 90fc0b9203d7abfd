//! etcd's member list as a host's running member sees it: the facts
//! script's `E` line (its probe) and its parser.

use crate::compile::Compiled;
use crate::transport::quote::sh;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdMemberFact {
    pub id: String,
    /// `started` or `unstarted` (added, not yet joined: no name).
    pub status: String,
    pub name: String,
    pub peer_url: String,
}

/// Parses `etcdctl member list` (simple format).
pub fn parse_etcd_members(text: &str) -> Option<Vec<EtcdMemberFact>> {
    let mut v = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 4 {
            return None;
        }
        v.push(EtcdMemberFact {
            id: f[0].to_string(),
            status: f[1].to_string(),
            name: f[2].to_string(),
            peer_url: f[3].split(' ').next().unwrap_or("").to_string(),
        });
    }
    (!v.is_empty()).then_some(v)
}

/// The saved plan's items of a member list.
pub const FINGERPRINT_KEYS: [&str; 1] = ["etcd members"];

/// The member list in words for a saved plan: by name, members added but
/// not yet joined (no name) last.
pub fn fingerprint(members: &[EtcdMemberFact]) -> Vec<(String, String)> {
    let mut sorted: Vec<_> = members.iter().collect();
    sorted.sort_by_key(|e| (e.name.is_empty(), &e.name, &e.id));
    let m: Vec<String> = sorted
        .iter()
        .map(|e| {
            format!(
                "{} {} {} ({})",
                if e.name.is_empty() {
                    "(unnamed)"
                } else {
                    &e.name
                },
                e.id,
                e.peer_url,
                e.status
            )
        })
        .collect();
    vec![(FINGERPRINT_KEYS[0].into(), m.join(", "))]
}

/// The facts script's line for this host: `E` and the member list (base64),
/// read from our cluster's data directory only (Debian's throwaway cluster is
/// not read). None when the host is not a member.
pub fn probe(compiled: &Compiled, host: &str) -> Option<String> {
    let e = super::cluster(compiled).filter(|e| e.members.iter().any(|m| m.name == host))?;
    // the stack's scheme first, then the other: a running cluster that talks
    // plaintext while the stack says [tls] (or the reverse) still answers,
    // and its members' URLs tell day-2 the switch it would take (refused)
    let tls_env = format!("{} ", crate::tls::view::etcdctl_env());
    let (other_env, other_url) = if e.tls {
        ("", "http://127.0.0.1:2379")
    } else {
        (tls_env.as_str(), "https://127.0.0.1:2379")
    };
    Some(format!(
        "if [ -d {}/member ] && active etcd; then printf 'E\\t'; {{ ETCDCTL_API=3 {}etcdctl --endpoints={} --command-timeout=3s member list 2>/dev/null || ETCDCTL_API=3 {other_env}etcdctl --endpoints={other_url} --command-timeout=3s member list 2>/dev/null; }} | base64 -w0; echo; fi\n",
        sh(&e.data_dir),
        e.ctl_env,
        e.local_url
    ))
}
