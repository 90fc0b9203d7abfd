//! `[pgbouncer]`: the table's fields and the check of its pool mode.

use crate::diag::did_you_mean;
use crate::model::stack::{HostsRef, Validator};
use serde::Deserialize;
use toml::Spanned;

/// PgBouncer's pool modes.
pub const POOL_MODES: [&str; 3] = ["session", "transaction", "statement"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pgbouncer {
    pub hosts: Spanned<HostsRef>,
    #[serde(default = "pgb_port")]
    pub port: u16,
    pub pool_mode: Option<String>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}
fn pgb_port() -> u16 {
    6432
}

/// The checks of `[pgbouncer]`.
pub(crate) fn validate(v: &mut Validator, b: &Pgbouncer) {
    if let Some(m) = b.pool_mode.as_deref().filter(|m| !POOL_MODES.contains(m)) {
        let span = v.at(&["pgbouncer", "pool_mode"], Some(b.hosts.span()));
        let help = match did_you_mean(m, POOL_MODES) {
            Some(s) => format!("did you mean `{s}`? write pool_mode = \"session\", \"transaction\" (the default) or \"statement\""),
            None => "write pool_mode = \"session\", \"transaction\" (the default) or \"statement\"".to_string(),
        };
        v.err(
            span,
            format!(
                "pool_mode `{}` is not a PgBouncer pool mode",
                m.escape_debug()
            ),
            help,
        );
    }
}
