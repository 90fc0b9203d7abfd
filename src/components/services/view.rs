//! An app service's view (`[services.NAME]`), for the service (systemd) and
//! compose roles.

use crate::model::stack::Stack;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    /// `"NAME=value"` quoted for a systemd `Environment=` line.
    pub systemd: String,
}

/// One app service (`[services.NAME]`).
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub unit: String,
    pub command: Option<String>,
    pub image: Option<String>,
    pub port: u16,
    pub health: String,
    pub env: Vec<EnvVar>,
    /// The migration command, on the service's first host only.
    pub migrate: Option<String>,
    /// Marker of this version's migration: it runs once, where the marker is missing.
    pub migrate_mark: String,
    /// The registry of a private image (its name's first part), with its user and password.
    pub registry: Option<Registry>,
}

/// A private image's registry and its login (the password is a secret).
#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    pub host: String,
    pub user: String,
    pub password: String,
}

/// The registry an image is pulled from: its first part when that names a
/// host (holds `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

/// Quoting for systemd unit values: `%` doubled, `\` and `"` escaped, in double quotes.
pub fn systemd_quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
    )
}

pub fn service(stack: &Stack, name: &str, this_host: &str) -> Option<ServiceView> {
    service_with(stack, name, this_host, None)
}

/// The view with the registry password from `secrets` (the role's templates' view).
pub fn service_with(
    stack: &Stack,
    name: &str,
    this_host: &str,
    secrets: Option<&crate::compile::SecretValues>,
) -> Option<ServiceView> {
    let s = stack.services.get(name)?;
    let first = stack
        .hosts_of(&format!("services.{name}"))
        .first()
        .is_some_and(|h| h == this_host);
    let migrate = s
        .migrate
        .as_ref()
        .filter(|_| first)
        .map(|m| m.get_ref().clone());
    let parts = [
        s.command.as_deref(),
        s.image.as_deref(),
        s.migrate.as_ref().map(|m| m.get_ref().as_str()),
    ]
    .map(|p| p.unwrap_or(""));
    let version = crate::util::sha256_hex(parts.join("\0").as_bytes())[..16].to_string();
    Some(ServiceView {
        name: name.to_string(),
        unit: format!("rampart-{}-{name}.service", stack.name),
        command: s.command.as_ref().map(|c| c.replace('%', "%%")),
        image: s.image.clone(),
        port: *s.port.get_ref(),
        health: s.health.clone().unwrap_or_else(|| "/".into()),
        env: s
            .env
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.clone(),
                value: v.clone(),
                systemd: systemd_quote(&format!("{k}={v}")),
            })
            .collect(),
        migrate,
        registry: match (&s.image, &s.registry_user) {
            (Some(image), Some(user)) => Some(Registry {
                host: registry_of(image),
                user: user.get_ref().clone(),
                password: secrets
                    .map(|v| v.get(&format!("services.{name}.registry_password")))
                    .unwrap_or_default(),
            }),
            _ => None,
        },
        migrate_mark: format!(
            "/var/lib/rampart/migrations/{}-{name}-{version}",
            stack.name
        ),
    })
}
