//! `[tls]`: the stack's own CA (the operator's, or one rampart creates) and
//! when certificates are renewed; its checks.

use crate::model::secret::SecretRef;
use crate::model::stack::{RawStack, Validator};
use serde::Deserialize;
use toml::Spanned;

/// Days a certificate rampart issues is valid.
pub const LEAF_DAYS: u32 = 365;
/// Days the CA rampart creates is valid.
pub const CA_DAYS: u32 = 3650;
/// Renew a certificate this many days before it expires, by default.
pub const RENEW_DAYS: u32 = 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Default true: the table's presence turns TLS on; `false` keeps every
    /// link plaintext (for those who terminate TLS elsewhere).
    pub enabled: Option<bool>,
    /// The operator's CA certificate (PEM); with `ca_key`. Neither: rampart
    /// creates a CA of the stack's own in `.rampart/STACK/tls/`.
    pub ca: Option<SecretRef>,
    /// The operator's CA private key (PEM, PKCS#8 or SEC1).
    pub ca_key: Option<SecretRef>,
    /// Renew a certificate when it expires within this many days (default 30).
    pub renew_days: Option<Spanned<u32>>,
    /// More CA certificates every host trusts besides the CA (PEM): the new
    /// CA before a CA change, then the old one until every host holds a
    /// certificate from the new (README: Changing the CA).
    #[serde(default)]
    pub trust: Vec<SecretRef>,
}

impl Tls {
    pub fn on(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
    /// The secret key the `n`th `trust` certificate is read under.
    pub fn trust_key(n: usize) -> String {
        format!("tls.trust.{n}")
    }
    pub fn renew_days(&self) -> u32 {
        self.renew_days
            .as_ref()
            .map_or(RENEW_DAYS, |d| *d.get_ref())
    }
}

/// The `[tls]` part of the stack's rules: `ca` and `ca_key` together, and a
/// renewal threshold shorter than a certificate's life.
pub(crate) fn validate(v: &mut Validator, raw: &RawStack) {
    let Some(t) = &raw.tls else {
        return;
    };
    if t.ca.is_some() != t.ca_key.is_some() {
        let (given, missing) = if t.ca.is_some() {
            ("ca", "ca_key")
        } else {
            ("ca_key", "ca")
        };
        let span = v.key_at(&["tls", given], None);
        v.err(
            span,
            format!("given without {missing} (rampart signs with the CA's key)"),
            "give both `ca = { file = \"ca.crt\" }` and `ca_key = { file = \"ca.key\" }`, or neither (rampart then creates a CA of the stack's own)",
        );
    }
    if let Some(d) = &t.renew_days {
        let days = *d.get_ref();
        if days == 0 || days >= LEAF_DAYS {
            v.err(
                Some(d.span()),
                format!("{days} days is out of range"),
                format!(
                    "write a number of days from 1 to {} (certificates live {LEAF_DAYS} days); {RENEW_DAYS} is the default",
                    LEAF_DAYS - 1
                ),
            );
        }
    }
}
