//! How secrets reach rendering.

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
