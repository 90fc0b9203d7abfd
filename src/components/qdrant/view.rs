//! Qdrant's view for its compose project: image, replication, this peer's
//! p2p URI and the peer it bootstraps from.

use crate::compile::view::join_host_port;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

/// Qdrant in cluster mode, as a compose project.
#[derive(Debug, Clone, Serialize)]
pub struct QdrantView {
    pub image: String,
    pub replication_factor: u32,
    pub shard_number: u32,
    pub uri: String,
    /// None on the first peer; the first peer's p2p URL on the others.
    pub bootstrap: Option<String>,
    /// p2p (6335) binds this address only, never all interfaces.
    pub p2p_bind: String,
}

pub fn qdrant(inv: &Inventory, stack: &Stack, this_host: &str) -> Option<QdrantView> {
    let q = stack.qdrant.as_ref()?;
    let hosts = stack.hosts_of("qdrant");
    let first = inv.hosts.get(hosts.first()?)?;
    let me = inv.hosts.get(this_host)?;
    Some(QdrantView {
        image: q.image.clone(),
        replication_factor: *q.replication_factor.get_ref(),
        shard_number: q.shard_number,
        uri: format!("http://{}", join_host_port(&me.address, 6335)),
        bootstrap: (first.name != me.name)
            .then(|| format!("http://{}", join_host_port(&first.address, 6335))),
        p2p_bind: me.address.clone(),
    })
}
