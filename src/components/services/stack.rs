//! `[services.NAME]`: the app services' tables, their checks and their ports.

use crate::components::haproxy::view::Balance;
use crate::model::secret::SecretRef;
use crate::model::stack::{HostsRef, RawStack, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub hosts: Spanned<HostsRef>,
    pub image: Option<String>,
    pub command: Option<String>,
    pub port: Spanned<u16>,
    pub health: Option<String>,
    /// The path HAProxy checks before sending traffic (readiness); defaults to `health`.
    pub ready: Option<String>,
    /// HAProxy's balance for this service: `roundrobin` (default), `leastconn` or `source`.
    pub balance: Option<Spanned<String>>,
    /// A command run once per version of the service (its command or image
    /// and this line), on the service's first host, before any host is updated.
    pub migrate: Option<Spanned<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The registry user for a private image (`docker login` on each host).
    pub registry_user: Option<Spanned<String>>,
    /// Its password (a secret: `{ env = "NAME" }` or `{ file = "path" }`),
    /// handed to `docker login --password-stdin` from a root-only file.
    pub registry_password: Option<SecretRef>,
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
}

/// Each `[services.NAME]` table (its name and port are checked with the others).
pub(crate) fn validate(v: &mut Validator, raw: &RawStack) {
    for (name, s) in &raw.services {
        validate_one(v, name, s);
    }
}

/// One service: image or command, balance, migrate, paths, env, command.
fn validate_one(v: &mut Validator, name: &Spanned<String>, s: &Service) {
    match (&s.image, &s.command) {
        (Some(_), Some(_)) | (None, None) => v.err(
            Some(name.span()),
            "give exactly one of image (compose) or command (systemd)",
            "keep `image = \"...\"` or `command = \"...\"`",
        ),
        _ => {}
    }
    match (&s.registry_user, &s.registry_password) {
        (Some(u), None) => v.err(
            Some(u.span()),
            "registry_user is given without registry_password",
            "add registry_password = { env = \"NAME\" } (or { file = \"path\" })",
        ),
        (None, Some(_)) => v.err(
            Some(name.span()),
            "registry_password is given without registry_user",
            "add registry_user = \"...\"",
        ),
        (Some(u), Some(_)) if s.image.is_none() => v.err(
            Some(u.span()),
            "registry_user is for an image (compose) service",
            "remove registry_user and registry_password, or give image = \"...\"",
        ),
        (Some(u), Some(_))
            if u.get_ref().is_empty()
                || !u
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c)) =>
        {
            v.err(
                Some(u.span()),
                format!(
                    "registry_user `{}` is not a user name",
                    u.get_ref().escape_debug()
                ),
                "use letters, digits and . _ @ -",
            )
        }
        _ => {}
    }
    if let Some(b) = &s.balance {
        if Balance::of_service(b.get_ref()).is_none() {
            v.err(
                Some(b.span()),
                format!(
                    "balance `{}` is not one rampart writes",
                    b.get_ref().escape_debug()
                ),
                "write balance = \"roundrobin\", \"leastconn\" or \"source\"",
            );
        }
    }
    if let Some(m) = &s.migrate {
        if m.get_ref().contains('\n') || m.get_ref().trim().is_empty() {
            v.err(
                Some(m.span()),
                "migrate must be one non-empty line",
                "write the migration command on one line",
            );
        }
    }
    let sn = name.get_ref().as_str();
    for (key, h) in [("health", &s.health), ("ready", &s.ready)] {
        let Some(h) = h else { continue };
        if !h.starts_with('/')
            || h.chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\'')
        {
            let span = v.at(&["services", sn, key], Some(name.span()));
            v.err(
                span,
                format!("{key} `{}` is not an HTTP path", h.escape_debug()),
                "write a path like \"/health\"",
            );
        }
    }
    for k in s.env.keys() {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let span = v.key_at(&["services", sn, "env", k], Some(name.span()));
            v.err(
                span,
                format!("env name `{}` is not allowed", k.escape_debug()),
                "use letters, digits and _",
            );
        }
    }
    for (k, value) in &s.env {
        if value.contains('\n') || value.contains('\0') {
            let span = v.at(&["services", sn, "env", k], Some(name.span()));
            v.err(
                span,
                format!("env {} holds a newline", k.escape_debug()),
                "write the value on one line",
            );
        }
    }
    if let Some(c) = &s.command {
        if c.contains('\n') || c.trim().is_empty() {
            let span = v.at(&["services", sn, "command"], Some(name.span()));
            v.err(
                span,
                "command must be one non-empty line",
                "write the command on one line",
            );
        }
    }
}

/// Each service's port (with its span).
pub(crate) fn ports(raw: &RawStack, claim: &mut crate::model::stack::Claim<'_>) {
    for (name, s) in &raw.services {
        claim(
            &format!("services.{}", name.get_ref()),
            *s.port.get_ref(),
            Some(s.port.span()),
        );
    }
}
