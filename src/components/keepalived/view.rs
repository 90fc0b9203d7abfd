//! keepalived's view: the VIP, this host's priority and its peers.

use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct KeepalivedView {
    pub vip: String,
    pub interface: String,
    pub virtual_router_id: u8,
    /// Highest on the first host of the group.
    pub priority: u32,
    pub peers: Vec<String>,
    pub address: String,
}

pub fn keepalived(inv: &Inventory, stack: &Stack, this_host: &str) -> Option<KeepalivedView> {
    let k = stack.keepalived.as_ref()?;
    let hosts = stack.hosts_of("keepalived");
    let pos = hosts.iter().position(|h| h == this_host)?;
    let me = inv.hosts.get(this_host)?;
    Some(KeepalivedView {
        vip: k.vip.get_ref().clone(),
        interface: k.interface.get_ref().clone(),
        virtual_router_id: k.virtual_router_id,
        priority: 150u32.saturating_sub(10 * pos as u32),
        peers: hosts
            .iter()
            .filter(|h| *h != this_host)
            .filter_map(|h| inv.hosts.get(h))
            .map(|h| h.address.clone())
            .collect(),
        address: me.address.clone(),
    })
}
