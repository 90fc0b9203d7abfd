//! Roles are data: `roles/NAME/role.toml` (a manifest of resources) and
//! `roles/NAME/templates/*.hbs`. The built-in roles are embedded in the
//! binary; `--roles DIR` adds roles or overrides a built-in's files.

pub mod manifest;

use crate::compile::Kind;
use crate::diag::{from_toml, Diagnostic, Diagnostics, Source};
use include_dir::{include_dir, Dir};
pub use manifest::{Check, HealthScope, RoleManifest, RoleResource};
use std::collections::BTreeMap;
use std::path::Path;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/roles");

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// Where the manifest came from, for messages.
    pub origin: String,
    pub manifest: RoleManifest,
    /// Template file name -> text.
    pub templates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct RoleSet {
    pub roles: BTreeMap<String, Role>,
}

/// Raw files of one role before parsing: manifest source and templates.
#[derive(Default)]
struct RawRole {
    manifest: Option<Source>,
    templates: BTreeMap<String, String>,
}

impl RoleSet {
    /// The built-in roles, plus (if given) a user's roles directory on top.
    pub fn load(user_dir: Option<&Path>) -> Result<RoleSet, Diagnostics> {
        let mut raw: BTreeMap<String, RawRole> = BTreeMap::new();
        for d in BUILTIN.dirs() {
            let name = d
                .path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let r = raw.entry(name.clone()).or_default();
            if let Some(f) = d.get_file(d.path().join("role.toml")) {
                r.manifest = Some(Source::new(
                    format!("(built-in) roles/{name}/role.toml"),
                    f.contents_utf8().unwrap_or_default(),
                ));
            }
            if let Some(t) = d.get_dir(d.path().join("templates")) {
                for f in t.files() {
                    if let (Some(n), Some(text)) = (
                        f.path().file_name().and_then(|n| n.to_str()),
                        f.contents_utf8(),
                    ) {
                        r.templates.insert(n.to_string(), text.to_string());
                    }
                }
            }
        }
        let mut diags = Diagnostics::default();
        if let Some(dir) = user_dir {
            if let Err(e) = read_user_dir(dir, &mut raw) {
                diags.push(Diagnostic::plain(
                    dir.display().to_string(),
                    format!("cannot read roles directory: {e}"),
                    Some("pass an existing folder with --roles".into()),
                ));
                return Err(diags);
            }
        }
        let mut set = RoleSet::default();
        for (name, r) in raw {
            let Some(src) = r.manifest else {
                diags.push(Diagnostic::plain(
                    format!("roles/{name}"),
                    "role has templates but no role.toml",
                    Some("add role.toml listing its resources".into()),
                ));
                continue;
            };
            match toml::from_str::<RoleManifest>(&src.text) {
                Ok(m) => {
                    for res in &m.resources {
                        if let Some(t) = res.template() {
                            if !r.templates.contains_key(t) {
                                diags.push(src.diag(
                                    None,
                                    format!("role {name}: template `{t}` is not in templates/"),
                                    Some(format!("add roles/{name}/templates/{t}")),
                                ));
                            }
                        }
                    }
                    set.roles.insert(
                        name.clone(),
                        Role {
                            name,
                            origin: src.path.clone(),
                            manifest: m,
                            templates: r.templates,
                        },
                    );
                }
                Err(e) => diags.push(from_toml(&src, &e)),
            }
        }
        set.check_relied_on(&mut diags);
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(set)
        }
    }

    /// Every role resource a component's day-2 steps find by id must be in
    /// its role: an override that renames or drops one is refused here, at
    /// load, instead of silently turning a rolling restart or a failover off.
    fn check_relied_on(&self, diags: &mut Diagnostics) {
        for c in crate::components::ALL {
            for r in c.relies_on() {
                let Some(role) = self.roles.get(r.role) else {
                    continue; // a built-in role is always there; only its files can be overridden
                };
                let found = role.manifest.resources.iter().any(|res| {
                    let (kind, name) = res.kind_name();
                    kind == r.kind && name.trim_start_matches('/') == r.name.trim_start_matches('/')
                });
                if !found {
                    diags.push(Diagnostic::plain(
                        role.origin.clone(),
                        format!(
                            "role {}: rampart's {} day-2 steps rely on the resource `{}:{}`, which this role.toml does not have",
                            r.role,
                            c.name(),
                            r.kind,
                            r.name
                        ),
                        Some(format!(
                            "keep a [[resources]] entry with kind = \"{}\" and {} = \"{}\" (rename others freely)",
                            r.kind,
                            if matches!(r.kind, Kind::File | Kind::Directory) { "path" } else { "name" },
                            r.name
                        )),
                    ));
                }
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// A digest of every role file, for saved-plan fingerprints.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for r in self.roles.values() {
            h.update(r.origin.as_bytes());
            h.update(format!("{:?}", r.manifest).as_bytes());
            for (k, v) in &r.templates {
                h.update(k.as_bytes());
                h.update(v.as_bytes());
            }
        }
        hex::encode(h.finalize())
    }
}

fn read_user_dir(dir: &Path, raw: &mut BTreeMap<String, RawRole>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let r = raw.entry(name.clone()).or_default();
        let manifest = entry.path().join("role.toml");
        if manifest.exists() {
            r.manifest = Some(Source::new(
                manifest.display().to_string(),
                std::fs::read_to_string(&manifest)?,
            ));
        }
        let tdir = entry.path().join("templates");
        if tdir.is_dir() {
            for t in std::fs::read_dir(tdir)? {
                let t = t?;
                if t.file_type()?.is_file() {
                    r.templates.insert(
                        t.file_name().to_string_lossy().to_string(),
                        std::fs::read_to_string(t.path())?,
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's override of a built-in role.toml that renames a resource a
    /// component's day-2 steps find by id is refused when roles load; the
    /// redis role names its units through `redis.server` (Redis or Valkey),
    /// so even a literal `redis-sentinel` in their place is refused.
    #[test]
    fn a_renamed_resource_that_day2_relies_on_is_an_error_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let builtin = BUILTIN
            .get_file("redis/role.toml")
            .and_then(|f| f.contents_utf8())
            .unwrap();
        let templated = "name = \"{{redis.server.sentinel_unit}}\"";
        assert!(builtin.contains(templated));
        std::fs::create_dir_all(dir.path().join("redis")).unwrap();
        for renamed in ["name = \"sentinel\"", "name = \"redis-sentinel\""] {
            std::fs::write(
                dir.path().join("redis/role.toml"),
                builtin.replace(templated, renamed),
            )
            .unwrap();
            let e = RoleSet::load(Some(dir.path())).unwrap_err();
            let text = format!("{e:?}");
            assert!(
                text.contains(
                    "redis day-2 steps rely on the resource `service:{{redis.server.sentinel_unit}}`"
                ),
                "{text}"
            );
            assert!(
                text.contains(
                    "kind = \\\"service\\\" and name = \\\"{{redis.server.sentinel_unit}}\\\""
                ),
                "{text}"
            );
        }
        // the built-in roles have every resource the components rely on
        RoleSet::load(None).unwrap();
        // and the same override unchanged loads
        std::fs::write(dir.path().join("redis/role.toml"), builtin).unwrap();
        RoleSet::load(Some(dir.path())).unwrap();
    }
}
