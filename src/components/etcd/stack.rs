//! `[etcd]`: the stack table, its defaults and bounds, and its checks.

use crate::model::stack::{HostsRef, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Etcd {
    pub hosts: Spanned<HostsRef>,
    /// ETCD_INITIAL_CLUSTER_TOKEN; defaults to the stack's name.
    pub cluster_token: Option<String>,
    /// ms; default 100. A change restarts the members one at a time.
    pub heartbeat_interval: Option<Spanned<u32>>,
    /// ms; default 1000; etcd refuses to start below 5 x heartbeat_interval.
    pub election_timeout: Option<Spanned<u32>>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

/// etcd's bounds (ms): heartbeats faster than 10 ms only add load; etcd refuses an election timeout above 50 s.
const ETCD_HEARTBEAT: std::ops::RangeInclusive<u32> = 10..=10_000;
const ETCD_ELECTION: std::ops::RangeInclusive<u32> = 50..=50_000;
/// Ports every member serves: clients (2379) and peers (2380).
pub(crate) const PORTS: [u16; 2] = [2379, 2380];

/// The `[etcd]` part of the stack's rules: timing bounds and an odd member count.
pub(crate) fn validate(
    v: &mut Validator,
    etcd: Option<&Etcd>,
    placement: &BTreeMap<String, Vec<String>>,
) {
    let Some(e) = etcd else {
        return;
    };
    let hb = e
        .heartbeat_interval
        .as_ref()
        .map(|v| *v.get_ref())
        .unwrap_or(100);
    let el = e
        .election_timeout
        .as_ref()
        .map(|v| *v.get_ref())
        .unwrap_or(1000);
    let mut in_range = true;
    if let Some(h) = e
        .heartbeat_interval
        .as_ref()
        .filter(|_| !(ETCD_HEARTBEAT.contains(&hb)))
    {
        in_range = false;
        v.err(
            Some(h.span()),
            format!("etcd heartbeat_interval {hb} ms is out of range"),
            format!(
                "write a heartbeat_interval from {} to {} ms; 100 is etcd's default",
                ETCD_HEARTBEAT.start(),
                ETCD_HEARTBEAT.end()
            ),
        );
    }
    if let Some(t) = e
        .election_timeout
        .as_ref()
        .filter(|_| !(ETCD_ELECTION.contains(&el)))
    {
        in_range = false;
        v.err(
            Some(t.span()),
            format!("etcd election_timeout {el} ms is out of range"),
            format!(
                "write an election_timeout from {} to {} ms; 1000 is etcd's default",
                ETCD_ELECTION.start(),
                ETCD_ELECTION.end()
            ),
        );
    }
    // both are in range here, so 5 x heartbeat cannot overflow (u64 all the same)
    let min_election = 5 * u64::from(hb);
    if in_range && u64::from(el) < min_election {
        let span = e
            .election_timeout
            .as_ref()
            .or(e.heartbeat_interval.as_ref())
            .map(|v| v.span());
        v.err(span, format!("etcd election_timeout {el} ms is below 5 x heartbeat_interval ({hb} ms); etcd refuses to start"), format!("raise election_timeout to at least {min_election}"));
    }
    let c = placement.get("etcd").map(Vec::len).unwrap_or(0);
    if c > 0 && c.is_multiple_of(2) {
        v.err(
            Some(e.hosts.span()),
            format!("etcd has {c} members; a quorum needs an odd number"),
            format!(
                "use {} or {} hosts: an even count tolerates no more failures than one fewer",
                c - 1,
                c + 1
            ),
        );
    }
}
