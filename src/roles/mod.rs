//! Roles are data: `roles/NAME/role.toml` (a manifest of resources) and
//! `roles/NAME/templates/*.hbs`. The built-in roles are embedded in the
//! binary; `--roles DIR` adds roles or overrides a built-in's files.
//!
//! What several roles put on their hosts alike lives once, in `roles/_shared/`
//! (not a role): `_shared/NAME.toml` holds `[[resources]]` that a role's
//! `include = ["NAME"]` appends after its own, and `_shared/templates/` is
//! where a template a role names is looked up when the role's own
//! `templates/` has no file of that name. `--roles DIR/_shared/` overrides
//! these files by name too.

pub mod manifest;

use crate::compile::Kind;
use crate::diag::{from_toml, Diagnostic, Diagnostics, Source};
use include_dir::{include_dir, Dir};
pub use manifest::{Check, HealthScope, RoleManifest, RoleResource};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/roles");

/// The folder under `roles/` of what roles share; not a role.
pub const SHARED: &str = "_shared";

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// Where the manifest came from, for messages.
    pub origin: String,
    pub manifest: RoleManifest,
    /// Template file name -> text: the role's own, and the shared ones its
    /// resources name that it has no file for.
    pub templates: BTreeMap<String, String>,
    /// The names in `templates` that came from `roles/_shared/templates/`.
    pub shared: BTreeSet<String>,
}

impl Role {
    /// Where template `t` came from (`roles/NAME/templates/t` or
    /// `roles/_shared/templates/t`), for messages and the renderer.
    pub fn template_path(&self, t: &str) -> String {
        let folder = if self.shared.contains(t) {
            SHARED
        } else {
            &self.name
        };
        format!("roles/{folder}/templates/{t}")
    }
}

#[derive(Debug, Clone, Default)]
pub struct RoleSet {
    pub roles: BTreeMap<String, Role>,
}

/// Raw files of one role before parsing: manifest source and templates.
/// For `roles/_shared/`, `manifest` is unused and `parts` holds its `NAME.toml`.
#[derive(Default)]
struct RawRole {
    manifest: Option<Source>,
    templates: BTreeMap<String, String>,
    parts: BTreeMap<String, Source>,
}

/// A `roles/_shared/NAME.toml`: resources that roles include.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    #[serde(default)]
    resources: Vec<RoleResource>,
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
            if name == SHARED {
                for f in d.files() {
                    if let (Some(part), Some(text)) = (
                        f.path().file_stem().and_then(|n| n.to_str()),
                        f.contents_utf8(),
                    ) {
                        if f.path().extension().is_some_and(|e| e == "toml") {
                            r.parts.insert(
                                part.to_string(),
                                Source::new(
                                    format!("(built-in) roles/{}", f.path().display()),
                                    text,
                                ),
                            );
                        }
                    }
                }
            }
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
        let shared = raw.remove(SHARED).unwrap_or_default();
        let parts = parse_parts(&shared.parts, &mut diags);
        let mut set = RoleSet::default();
        for (name, mut r) in raw {
            let Some(src) = r.manifest else {
                diags.push(Diagnostic::plain(
                    format!("roles/{name}"),
                    "role has templates but no role.toml",
                    Some("add role.toml listing its resources".into()),
                ));
                continue;
            };
            match toml::from_str::<RoleManifest>(&src.text) {
                Ok(mut m) => {
                    for inc in &m.include {
                        match parts.get(inc) {
                            Some(Some(res)) => m.resources.extend(res.iter().cloned()),
                            Some(None) => {} // its own error is already reported
                            None => diags.push(src.diag(
                                None,
                                format!("role {name}: include `{inc}` is not in roles/{SHARED}/"),
                                Some(format!(
                                    "include one of: {} (or add roles/{SHARED}/{inc}.toml)",
                                    parts.keys().cloned().collect::<Vec<_>>().join(", ")
                                )),
                            )),
                        }
                    }
                    let mut from_shared = BTreeSet::new();
                    for res in &m.resources {
                        if let Some(t) = res.template() {
                            if r.templates.contains_key(t) {
                                continue;
                            }
                            if let Some(text) = shared.templates.get(t) {
                                r.templates.insert(t.to_string(), text.clone());
                                from_shared.insert(t.to_string());
                            } else {
                                diags.push(src.diag(
                                    None,
                                    format!("role {name}: template `{t}` is not in templates/ nor in roles/{SHARED}/templates/"),
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
                            shared: from_shared,
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

/// Each `roles/_shared/NAME.toml`'s resources; None where it does not parse
/// (its error is pushed once, not for each role that includes it).
fn parse_parts(
    parts: &BTreeMap<String, Source>,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Option<Vec<RoleResource>>> {
    parts
        .iter()
        .map(|(name, src)| {
            let res = match toml::from_str::<Part>(&src.text) {
                Ok(p) => Some(p.resources),
                Err(e) => {
                    diags.push(from_toml(src, &e));
                    None
                }
            };
            (name.clone(), res)
        })
        .collect()
}

fn read_user_dir(dir: &Path, raw: &mut BTreeMap<String, RawRole>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        let r = raw.entry(name.clone()).or_default();
        if name == SHARED {
            for f in std::fs::read_dir(entry.path())? {
                let path = f?.path();
                if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
                    if let Some(part) = path.file_stem().and_then(|n| n.to_str()) {
                        r.parts.insert(
                            part.to_string(),
                            Source::new(
                                path.display().to_string(),
                                std::fs::read_to_string(&path)?,
                            ),
                        );
                    }
                }
            }
        }
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

    /// The TLS expiry metric lives once, in `roles/_shared/`: each role that
    /// includes it gets its resources after its own and its templates from
    /// there; a role's own template of the same name wins, and an operator's
    /// `_shared/` overrides the built-in one for every role.
    #[test]
    fn shared_parts_and_templates_reach_the_roles_that_include_them() {
        let set = RoleSet::load(None).unwrap();
        for name in ["etcd", "postgres", "pgbouncer", "redis"] {
            let role = set.get(name).unwrap();
            assert_eq!(role.manifest.include, ["tls_metrics"]);
            let last = role.manifest.resources.last().unwrap();
            assert_eq!(
                last.kind_name(),
                (Kind::Command, "tls-metrics-{{tls.name}}")
            );
            assert_eq!(
                role.template_path("tls_metrics.hbs"),
                "roles/_shared/templates/tls_metrics.hbs"
            );
            assert!(role.templates["tls_metrics.timer.hbs"].contains("OnUnitActiveSec=15min"));
        }
        // only what a role names: haproxy has its own CA template and no metric
        let haproxy = set.get("haproxy").unwrap();
        assert!(haproxy.shared.is_empty(), "{:?}", haproxy.shared);
        assert!(!set.roles.contains_key(SHARED));

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("_shared/templates")).unwrap();
        std::fs::create_dir_all(dir.path().join("etcd/templates")).unwrap();
        std::fs::write(
            dir.path().join("_shared/templates/tls_metrics.hbs"),
            "shared\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etcd/templates/tls_metrics.hbs"), "own\n").unwrap();
        let set = RoleSet::load(Some(dir.path())).unwrap();
        let etcd = set.get("etcd").unwrap();
        assert_eq!(etcd.templates["tls_metrics.hbs"], "own\n");
        assert_eq!(
            etcd.template_path("tls_metrics.hbs"),
            "roles/etcd/templates/tls_metrics.hbs"
        );
        assert_eq!(
            set.get("redis").unwrap().templates["tls_metrics.hbs"],
            "shared\n"
        );
    }

    /// An include that names no shared part, and a shared part that does not
    /// parse, are errors naming the role or the file and the fix.
    #[test]
    fn an_unknown_include_or_a_bad_shared_part_is_an_error_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let error_with = |file: &str, text: &str| {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
            format!("{:?}", RoleSet::load(Some(dir.path())).unwrap_err())
        };
        let text = error_with("motd/role.toml", "include = [\"tls_metric\"]\n");
        assert!(
            text.contains("role motd: include `tls_metric` is not in roles/_shared/")
                && text.contains("include one of: tls_metrics"),
            "{text}"
        );
        let text = error_with(
            "_shared/tls_metric.toml",
            "[[resources]]\nkind = \"fiel\"\npath = \"/x\"\n",
        );
        assert!(
            text.contains("_shared/tls_metric.toml") && text.contains("unknown variant `fiel`"),
            "{text}"
        );
        assert!(!text.contains("is not in roles/_shared/"), "{text}");
    }
}
