//! The stack's etcd cluster as every role (and the day-2 steps) sees it:
//! members, initial-cluster string, endpoints, data directory, timing.

use crate::compile::view::join_host_port;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EtcdMember {
    pub name: String,
    pub address: String,
    pub peer_url: String,
    pub client_url: String,
}

/// The stack's etcd cluster, as every role sees it.
#[derive(Debug, Clone, Serialize)]
pub struct EtcdView {
    pub members: Vec<EtcdMember>,
    pub size: usize,
    /// `name=http://ip:2380,...` (https with `[tls]`)
    pub initial_cluster: String,
    pub initial_cluster_state: String,
    pub cluster_token: String,
    /// `http://ip:2379,...`
    pub endpoints: String,
    /// `ip:2379,...` (Patroni's etcd3.hosts)
    pub hosts_list: String,
    pub data_dir: String,
    pub heartbeat_interval: u32,
    pub election_timeout: u32,
    /// This host's member entry, when the host is a member.
    pub member: Option<EtcdMember>,
    /// `[tls]` on: clients and peers on https with certificates of the
    /// stack's CA (`tls::view::ETCD`'s files).
    pub tls: bool,
    /// A member's own loopback client URL (rampart's etcdctl on a member).
    pub local_url: String,
    /// What rampart's etcdctl on a member is prefixed with: the member's CA,
    /// certificate and key as ETCDCTL_* variables with TLS on; empty without.
    pub ctl_env: String,
}

pub fn etcd(inv: &Inventory, stack: &Stack, this_host: &str) -> Option<EtcdView> {
    let e = stack.etcd.as_ref()?;
    let tls = crate::tls::view::on(stack);
    let scheme = if tls { "https" } else { "http" };
    let members: Vec<EtcdMember> = stack
        .hosts_of("etcd")
        .iter()
        .filter_map(|n| inv.hosts.get(n))
        .map(|h| EtcdMember {
            name: h.name.clone(),
            address: h.address.clone(),
            peer_url: format!("{scheme}://{}", join_host_port(&h.address, 2380)),
            client_url: format!("{scheme}://{}", join_host_port(&h.address, 2379)),
        })
        .collect();
    let token = e
        .cluster_token
        .clone()
        .unwrap_or_else(|| format!("{}-etcd", stack.name));
    Some(EtcdView {
        size: members.len(),
        initial_cluster: members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(","),
        initial_cluster_state: "new".into(),
        endpoints: members
            .iter()
            .map(|m| m.client_url.clone())
            .collect::<Vec<_>>()
            .join(","),
        hosts_list: members
            .iter()
            .map(|m| join_host_port(&m.address, 2379))
            .collect::<Vec<_>>()
            .join(","),
        data_dir: format!("/var/lib/etcd/{token}"),
        heartbeat_interval: e
            .heartbeat_interval
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(100),
        election_timeout: e
            .election_timeout
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(1000),
        member: members.iter().find(|m| m.name == this_host).cloned(),
        cluster_token: token,
        members,
        tls,
        local_url: format!("{scheme}://127.0.0.1:2379"),
        ctl_env: if tls {
            format!("{} ", crate::tls::view::etcdctl_env())
        } else {
            String::new()
        },
    })
}
