//! `[keepalived]`: its table and its checks.

use crate::model::stack::{HostsRef, RawStack, Validator};
use crate::model::valid_name;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keepalived {
    pub hosts: Spanned<HostsRef>,
    pub vip: Spanned<String>,
    pub interface: Spanned<String>,
    #[serde(default = "vrid")]
    pub virtual_router_id: u8,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}
fn vrid() -> u8 {
    51
}

/// The VIP, the interface and the virtual router id.
pub(crate) fn validate(v: &mut Validator, raw: &RawStack) {
    let Some(k) = &raw.keepalived else { return };
    if k.virtual_router_id == 0 {
        let span = v.at(&["keepalived", "virtual_router_id"], Some(k.vip.span()));
        v.err(span, "virtual_router_id 0 is out of range", "write virtual_router_id from 1 to 255, unique on the network segment (51 is the default)");
    }
    if k.vip.get_ref().parse::<std::net::Ipv4Addr>().is_err() {
        v.err(
            Some(k.vip.span()),
            format!(
                "keepalived vip `{}` is not an IPv4 address",
                k.vip.get_ref().escape_debug()
            ),
            "write vip = \"10.0.1.100\"",
        );
    }
    if !valid_name(k.interface.get_ref()) {
        v.err(
            Some(k.interface.span()),
            format!(
                "keepalived interface `{}` is not an interface name",
                k.interface.get_ref().escape_debug()
            ),
            "write interface = \"eth0\"",
        );
    }
}
