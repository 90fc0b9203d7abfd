//! `[qdrant]`: the stack table and its checks.

use crate::model::stack::{HostsRef, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Qdrant {
    pub hosts: Spanned<HostsRef>,
    pub image: String,
    pub replication_factor: Spanned<u32>,
    pub shard_number: u32,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

/// Ports every peer serves: REST (6333), gRPC (6334) and p2p (6335).
pub(crate) const PORTS: [u16; 3] = [6333, 6334, 6335];

/// The `[qdrant]` part of the stack's rules: a possible replication factor, shards.
pub(crate) fn validate(
    v: &mut Validator,
    qdrant: Option<&Qdrant>,
    placement: &BTreeMap<String, Vec<String>>,
) {
    let Some(q) = qdrant else {
        return;
    };
    let rf = *q.replication_factor.get_ref();
    let c = placement.get("qdrant").map(Vec::len).unwrap_or(0) as u32;
    if c > 0 && (rf == 0 || rf > c) {
        v.err(
            Some(q.replication_factor.span()),
            format!("qdrant replication_factor {rf} is impossible with {c} peers"),
            format!("use 1 to {c}, or add hosts"),
        );
    }
    if q.shard_number == 0 {
        let span = v.at(
            &["qdrant", "shard_number"],
            Some(q.replication_factor.span()),
        );
        v.err(
            span,
            "qdrant shard_number must be at least 1",
            "write shard_number = 3 (it is fixed when a collection is created)",
        );
    }
}
