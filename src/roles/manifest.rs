//! The role manifest: the resources a role puts on each host of its instance.
//! String fields may hold handlebars expressions, rendered with the host's view.

use crate::compile::Kind;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleManifest {
    #[serde(default)]
    pub description: String,
    /// Hosts one at a time: each host's steps wait for the previous host's
    /// last step (its health gate), so all but one keep serving.
    #[serde(default)]
    pub serial: bool,
    /// With `serial`: the first resource (`kind:name`, rendered) of the part
    /// that rolls one host at a time. The resources before it run on every
    /// host at once (an image pull), and each host's rolled part waits for
    /// all of them, so nothing changes anywhere before every host is ready.
    #[serde(default)]
    pub serial_from: Option<String>,
    /// Data the service makes itself (never resources): kept by `destroy`
    /// unless `--destroy-data` is given.
    #[serde(default)]
    pub data_dirs: Vec<String>,
    /// Shared parts (`roles/_shared/NAME.toml`) whose resources come after
    /// this role's own, in this order (`RoleSet::load` appends them to
    /// `resources`); their templates are looked up in `roles/_shared/templates/`.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub resources: Vec<RoleResource>,
}

fn yes() -> bool {
    true
}
fn sixty() -> u64 {
    60
}
fn two() -> u64 {
    2
}

/// One resource of a role. `after` names other resources of the same role
/// on the same host as `kind:name` (e.g. `file:/etc/default/etcd`); resources
/// also run in the order they are listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RoleResource {
    /// An apt package, installed when missing (`apt-get update` only if needed).
    Package {
        name: String,
        /// Keep the package's postinst from starting its service.
        #[serde(default)]
        no_start: bool,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
    Directory {
        path: String,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        group: Option<String>,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
    /// A file from a template or literal content, written atomically.
    File {
        path: String,
        #[serde(default)]
        template: Option<String>,
        #[serde(default)]
        content: Option<String>,
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        group: Option<String>,
        /// Never show the content (also set by itself when it holds a secret).
        #[serde(default)]
        sensitive: bool,
        /// Command run against the new file before it replaces the old one;
        /// `{{file}}` is the temporary file's path.
        #[serde(default)]
        validate: Option<String>,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
    /// A systemd unit file under /etc/systemd/system; daemon-reload follows a change.
    Unit {
        name: String,
        #[serde(default)]
        template: Option<String>,
        #[serde(default)]
        content: Option<String>,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
    Service {
        name: String,
        #[serde(default = "yes")]
        enabled: bool,
        #[serde(default = "yes")]
        running: bool,
        /// `systemctl --no-block` for start/restart (members that wait for a quorum).
        #[serde(default)]
        no_block: bool,
        /// Reload instead of restart when an input changed.
        #[serde(default)]
        reload: bool,
        /// Resources (`kind:name`) whose change restarts (or reloads) it.
        #[serde(default)]
        restart_on: Vec<String>,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
    /// A command with a guard: it runs only when `unless` fails, `creates`
    /// does not exist, or something in `on_change` changed.
    Command {
        name: String,
        run: String,
        #[serde(default)]
        unless: Option<String>,
        #[serde(default)]
        creates: Option<String>,
        #[serde(default)]
        on_change: Vec<String>,
        /// Rendered; what the plan says this command does (instead of "its
        /// `unless` check fails").
        #[serde(default)]
        describe: Option<String>,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
    /// A gate: waits until the check passes (or the timeout ends in failure).
    Health {
        name: String,
        #[serde(default)]
        command: Option<String>,
        /// URL answered with 2xx, checked from the host itself.
        #[serde(default)]
        http: Option<String>,
        /// host:port accepting TCP, checked from the host itself.
        #[serde(default)]
        tcp: Option<String>,
        #[serde(default = "sixty")]
        timeout: u64,
        #[serde(default = "two")]
        interval: u64,
        /// `cluster`: wait for the step before this one on every host of the role.
        #[serde(default)]
        scope: HealthScope,
        /// Rendered; the resource exists only where this renders non-empty
        /// and not `false` (e.g. `{{#if haproxy.tls}}yes{{/if}}`).
        #[serde(default)]
        when: Option<String>,
        #[serde(default)]
        after: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthScope {
    #[default]
    Host,
    Cluster,
}

/// A health check after rendering.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    Command(String),
    Http(String),
    Tcp(String),
}

impl RoleResource {
    pub fn template(&self) -> Option<&str> {
        match self {
            RoleResource::File { template, .. } | RoleResource::Unit { template, .. } => {
                template.as_deref()
            }
            _ => None,
        }
    }
    pub fn when(&self) -> Option<&str> {
        match self {
            RoleResource::Package { when, .. }
            | RoleResource::Directory { when, .. }
            | RoleResource::File { when, .. }
            | RoleResource::Unit { when, .. }
            | RoleResource::Service { when, .. }
            | RoleResource::Command { when, .. }
            | RoleResource::Health { when, .. } => when.as_deref(),
        }
    }
    /// The kind and (unrendered) name that make the resource's id
    /// (`host/service/patroni`, `host/file/etc/patroni/config.yml`).
    pub fn kind_name(&self) -> (Kind, &str) {
        match self {
            RoleResource::Package { name, .. } => (Kind::Package, name),
            RoleResource::Directory { path, .. } => (Kind::Directory, path),
            RoleResource::File { path, .. } => (Kind::File, path),
            RoleResource::Unit { name, .. } => (Kind::Unit, name),
            RoleResource::Service { name, .. } => (Kind::Service, name),
            RoleResource::Command { name, .. } => (Kind::Command, name),
            RoleResource::Health { name, .. } => (Kind::Health, name),
        }
    }
    pub fn after(&self) -> &[String] {
        match self {
            RoleResource::Package { after, .. }
            | RoleResource::Directory { after, .. }
            | RoleResource::File { after, .. }
            | RoleResource::Unit { after, .. }
            | RoleResource::Service { after, .. }
            | RoleResource::Command { after, .. }
            | RoleResource::Health { after, .. } => after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_in_a_resource_is_an_error() {
        let e = toml::from_str::<RoleManifest>(
            "[[resources]]\nkind = \"file\"\npath = \"/x\"\nmod = \"0644\"\n",
        )
        .unwrap_err();
        assert!(e.message().contains("unknown field `mod`"), "{e}");
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let e = toml::from_str::<RoleManifest>("[[resources]]\nkind = \"fiel\"\npath = \"/x\"\n")
            .unwrap_err();
        assert!(e.message().contains("unknown variant `fiel`"), "{e}");
    }

    #[test]
    fn builtin_etcd_manifest_parses() {
        let m: RoleManifest = toml::from_str(include_str!("../../roles/etcd/role.toml")).unwrap();
        assert!(matches!(
            m.resources[0],
            RoleResource::Package { no_start: true, .. }
        ));
    }
}
