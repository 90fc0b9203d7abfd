//! keepalived (`[keepalived]`): a virtual IP that moves between the hosts
//! (usually the HAProxy hosts) by VRRP. Stateless: the role
//! (roles/keepalived) writes keepalived.conf; there is no day-2 logic.
//!
//! - `stack`: the `[keepalived]` table and its checks (vip, interface,
//!   virtual_router_id).
//! - `view`: this host's priority (highest on the first host) and its peers.
//! - `status`: the probe for the VIP and the rule that exactly one host holds it.
//!
//! Its deploy level is in `model::stack::level`.

pub mod stack;
pub mod status;
pub mod view;
