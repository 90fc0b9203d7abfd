//! `[pgbouncer]`: the table's fields and the check of its pool mode.

use crate::diag::did_you_mean;
use crate::model::stack::{HostsRef, Validator};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// PgBouncer's pool modes, as `pool_mode` writes them.
pub const POOL_MODES: [&str; 3] = ["session", "transaction", "statement"];

/// PgBouncer's pool mode (`[pgbouncer] pool_mode`, a string in the table,
/// checked by `validate` so that its error names the key and the modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    Session,
    #[default]
    Transaction,
    Statement,
}

impl PoolMode {
    /// The mode as written, None when it is not one of `POOL_MODES`.
    pub fn parse(s: &str) -> Option<PoolMode> {
        match s {
            "session" => Some(PoolMode::Session),
            "transaction" => Some(PoolMode::Transaction),
            "statement" => Some(PoolMode::Statement),
            _ => None,
        }
    }
}

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
    if let Some(m) = b
        .pool_mode
        .as_deref()
        .filter(|m| PoolMode::parse(m).is_none())
    {
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
