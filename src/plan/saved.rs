//! Saved plans: the plan plus fingerprints of everything it was made from.
//! `apply FILE` refuses it when the inputs or the hosts' facts differ now.
//! No secret value is stored: secrets are compared by a keyed hash.

use super::Plan;
use crate::facts::HostFacts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SAVED_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub inventory_sha256: String,
    pub stack_sha256: String,
    pub roles_sha256: String,
    /// sha256(salt || each secret value), salt random per saved plan.
    pub secrets_keyed_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: u32,
    pub rampart_version: String,
    pub salt: String,
    pub inputs: Inputs,
    /// Host -> what it looked like when planned.
    pub facts: BTreeMap<String, FactsDigest>,
    pub plan: Plan,
}

/// The facts a plan relied on, by item, as hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactsDigest {
    pub items: BTreeMap<String, String>,
}

impl FactsDigest {
    pub fn of(f: &HostFacts) -> FactsDigest {
        let mut items = BTreeMap::new();
        for (p, ff) in &f.files {
            items.insert(format!("file {p}"), format!("{}:{:?}:{:?}:{:?}:{:?}", ff.exists, ff.sha256, ff.mode, ff.owner, ff.group));
        }
        for (p, v) in &f.packages {
            items.insert(format!("package {p}"), format!("{v:?}"));
        }
        for (s, v) in &f.services {
            items.insert(format!("service {s}"), format!("{}/{}", v.enabled, v.active));
        }
        for (g, v) in &f.guards {
            items.insert(format!("guard {g}"), v.to_string());
        }
        for p in &f.pending {
            items.insert(format!("pending {p}"), "1".into());
        }
        items.insert("state".into(), crate::util::sha256_hex(serde_json::to_string(&f.state).unwrap_or_default().as_bytes()));
        FactsDigest { items }
    }

    /// What differs from `now`, one line per item.
    pub fn differences(&self, now: &FactsDigest) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.items {
            match now.items.get(k) {
                Some(n) if n == v => {}
                Some(n) => out.push(format!("{k}: was {v}, now {n}")),
                None => out.push(format!("{k}: no longer read")),
            }
        }
        for k in now.items.keys() {
            if !self.items.contains_key(k) {
                out.push(format!("{k}: new"));
            }
        }
        out
    }
}

pub fn keyed(salt: &str, secrets: &[crate::model::secret::Secret]) -> String {
    let mut buf = Vec::new();
    for s in secrets {
        buf.extend_from_slice(salt.as_bytes());
        buf.extend_from_slice(s.expose().as_bytes());
        buf.push(0);
    }
    crate::util::sha256_hex(&buf)
}

pub fn new_salt() -> String {
    let mut seed = Vec::new();
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    seed.extend_from_slice(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let mut b = [0u8; 32];
        if f.read_exact(&mut b).is_ok() {
            seed.extend_from_slice(&b);
        }
    }
    crate::util::sha256_hex(&seed)
}
