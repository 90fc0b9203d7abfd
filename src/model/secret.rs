//! Secrets: referenced, never literal; masked from the moment they are read.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::Path;

/// Where a secret comes from: `{ env = "NAME" }` or `{ file = "path" }`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SecretRef {
    Env(String),
    File(String),
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            env: Option<String>,
            file: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Table(Table),
            Literal(toml::Value),
        }
        match Raw::deserialize(d)? {
            Raw::Table(Table { env: Some(e), file: None }) => {
                if e.is_empty() || !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(serde::de::Error::custom(format!(
                        "`{e}` is not an environment variable name; use letters, digits and _"
                    )));
                }
                Ok(SecretRef::Env(e))
            }
            Raw::Table(Table { env: None, file: Some(f) }) => Ok(SecretRef::File(f)),
            Raw::Table(_) => Err(serde::de::Error::custom(
                "a secret is either { env = \"NAME\" } or { file = \"path\" }, exactly one of them",
            )),
            Raw::Literal(v) if v.is_table() => Err(serde::de::Error::custom(
                "a secret is either { env = \"NAME\" } or { file = \"path\" }, with no other key",
            )),
            Raw::Literal(_) => Err(serde::de::Error::custom(
                "secrets are never written literally: use { env = \"NAME\" } or { file = \"path\" }",
            )),
        }
    }
}

impl SecretRef {
    /// Reads the value. `base` resolves relative file paths (the stack file's folder).
    pub fn read(&self, base: &Path) -> Result<Secret, String> {
        match self {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                Ok(_) => Err(format!(
                    "environment variable {name} is empty; export it with the secret's value"
                )),
                Err(_) => Err(format!(
                    "environment variable {name} is not set; export it with the secret's value"
                )),
            },
            SecretRef::File(p) => {
                let path = crate::model::expand_path(p, base);
                match std::fs::read_to_string(&path) {
                    Ok(v) => {
                        let v = v.trim_end_matches(['\n', '\r']).to_string();
                        if v.is_empty() {
                            Err(format!("secret file {} is empty", path.display()))
                        } else {
                            Ok(Secret(v))
                        }
                    }
                    Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
                }
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(n) => format!("env {n}"),
            SecretRef::File(p) => format!("file {p}"),
        }
    }
}

/// A secret value. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(v: impl Into<String>) -> Self {
        Secret(v.into())
    }
    /// The value itself, for rendering into a file sent over stdin. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct T {
        s: SecretRef,
    }

    #[test]
    fn literal_secret_is_refused() {
        let e = toml::from_str::<T>("s = \"hunter2\"").unwrap_err();
        assert!(e.message().contains("never written literally"), "{e}");
    }

    #[test]
    fn env_and_file_forms() {
        assert_eq!(
            toml::from_str::<T>("s = { env = \"A_B\" }").unwrap().s,
            SecretRef::Env("A_B".into())
        );
        assert_eq!(
            toml::from_str::<T>("s = { file = \"x\" }").unwrap().s,
            SecretRef::File("x".into())
        );
        assert!(toml::from_str::<T>("s = { env = \"A\", file = \"x\" }").is_err());
        assert!(toml::from_str::<T>("s = { env = \"$(id)\" }").is_err());
    }

    #[test]
    fn secret_never_formats() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "(sensitive) (sensitive)");
    }
}
