//! How secrets reach rendering, and which templates see them: each view's
//! secret-bearing fields are withheld from every component that does not
//! need them, so a role's template that names one fails in strict mode.

use crate::model::secret::Secret;
use std::collections::BTreeMap;

/// How secrets are supplied to rendering.
#[derive(Debug, Clone)]
pub enum SecretValues {
    /// `validate`: no secret is read; a placeholder is rendered.
    Placeholder,
    /// Read values, by the stack key that uses them.
    Values(BTreeMap<String, Secret>),
}

impl SecretValues {
    /// The value for a stack key, or a placeholder when validating.
    pub fn get(&self, key: &str) -> String {
        match self {
            SecretValues::Placeholder => "(sensitive)".to_string(),
            SecretValues::Values(m) => m
                .get(key)
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
        }
    }
}

/// The views that carry secrets, with their secret fields (`a[].b`: field
/// `b` of every entry of list `a`): each component's `secret_fields`, in
/// `components::ALL`'s order.
pub fn secret_views() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    crate::components::ALL
        .iter()
        .map(|c| (c.name(), c.secret_fields()))
        .filter(|(_, fields)| !fields.is_empty())
}

/// The secret-bearing views a component's templates see: a built-in
/// component its own view's (the postgres role the PostgreSQL passwords,
/// haproxy its TLS PEM and the Redis password it checks with, ...); a
/// `[roles.NAME]` only those it names in `secrets`; others none.
pub(super) fn seen_by(component: &str, named: &[String]) -> Vec<String> {
    if component.starts_with("roles.") {
        return named.to_vec();
    }
    secret_views()
        .filter(|(view, _)| *view == component)
        .map(|(view, _)| view.to_string())
        .collect()
}

/// The help for a template error: when it names a secret field its role
/// does not see, how a role gets to see it; else the usual fix.
pub(super) fn template_help(error: &str) -> String {
    for (view, fields) in secret_views() {
        for field in fields {
            let named = match field.rsplit_once("[].") {
                // inside `{{#each}}` the error names the entry's field alone
                Some((_, last)) => error.contains(&format!("\"{last}\"")),
                None => error.contains(&format!("\"{view}.{field}\"")),
            };
            if named {
                return format!("`{view}.{}` is a secret, seen only by the templates that need it: give a [roles.NAME] the {view} view's secrets with `secrets = [\"{view}\"]`", field.replace("[]", ""));
            }
        }
    }
    "fix the template or give the value it needs".into()
}

/// Removes from a template context the secret fields of every view not in `seen`.
pub(super) fn withhold(context: &mut serde_json::Value, seen: &[String]) {
    for (view, fields) in secret_views() {
        if seen.iter().any(|s| s == view) {
            continue;
        }
        let Some(v) = context.get_mut(view) else {
            continue;
        };
        for field in fields {
            remove(v, field);
        }
    }
}

/// Removes one field (`a[].b`: `b` in every entry of list `a`) from an object.
fn remove(v: &mut serde_json::Value, field: &str) {
    match field.split_once("[].") {
        Some((list, rest)) => {
            let entries = v.get_mut(list).and_then(|l| l.as_array_mut());
            for entry in entries.into_iter().flatten() {
                remove(entry, rest);
            }
        }
        None => {
            if let Some(o) = v.as_object_mut() {
                o.remove(field);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fields_are_removed_from_views_not_seen() {
        let mut ctx = serde_json::json!({
            "postgres": {"scope": "s", "superuser_password": "x", "replication_password": "y",
                "databases": [{"name": "a", "password_sql": "'z'"}]},
            "haproxy": {"stats_port": 7000, "tls_pem": "pem", "redis_auth": "r"},
            "redis": {"size": 3, "password": "p", "password_conf": "\"p\""},
        });
        withhold(&mut ctx, &["haproxy".to_string()]);
        assert_eq!(
            ctx,
            serde_json::json!({
                "postgres": {"scope": "s", "databases": [{"name": "a"}]},
                "haproxy": {"stats_port": 7000, "tls_pem": "pem", "redis_auth": "r"},
                "redis": {"size": 3},
            })
        );
    }

    #[test]
    fn a_template_error_naming_a_withheld_secret_says_how_to_see_it() {
        let e = r#"line 1: Failed to access variable in strict mode Some("postgres.superuser_password")"#;
        assert!(template_help(e).contains("`secrets = [\"postgres\"]`"));
        let e = r#"Failed to access variable in strict mode Some("password_sql")"#;
        assert!(template_help(e).contains("`postgres.databases.password_sql` is a secret"));
        let e = r#"Failed to access variable in strict mode Some("postgres.scoop")"#;
        assert_eq!(
            template_help(e),
            "fix the template or give the value it needs"
        );
    }

    #[test]
    fn built_in_components_see_their_own_secrets_and_user_roles_what_they_name() {
        assert_eq!(seen_by("postgres", &[]), ["postgres"]);
        assert_eq!(seen_by("haproxy", &[]), ["haproxy"]);
        assert!(seen_by("etcd", &[]).is_empty());
        assert!(seen_by("services.web", &[]).is_empty());
        assert_eq!(seen_by("backup", &[]), ["backup"]);
        assert!(seen_by("roles.app", &[]).is_empty());
        assert_eq!(seen_by("roles.app", &["redis".to_string()]), ["redis"]);
    }
}
