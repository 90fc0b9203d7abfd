//! Saved plans: the plan plus fingerprints of everything it was made from.
//! `apply FILE` refuses it when the inputs or the hosts' facts differ now.
//! No secret value is stored: secrets are compared by a keyed hash.

use super::Plan;
use crate::facts::HostFacts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// 2: the files the plan was made from (`sources`) and the clusters' facts in the digest.
pub const SAVED_FORMAT: u32 = 2;

/// The files a plan was made from, as absolute paths: `apply FILE` loads
/// these unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    pub inventory: PathBuf,
    pub stack: PathBuf,
    /// The `--roles` folder; None: the built-in roles only.
    pub roles: Option<PathBuf>,
}

/// `p` as an absolute path, symlinks resolved when it exists (so two
/// spellings of one file compare equal).
pub fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

impl Sources {
    /// The files to apply a saved plan with: the recorded ones, or the ones
    /// given on the command line when they are the same files. Errors say
    /// which was recorded and which was passed, one line per file.
    pub fn resolve(
        &self,
        inventory: Option<&Path>,
        stack: Option<&Path>,
        roles: Option<&Path>,
    ) -> Result<Sources, Vec<String>> {
        let mut wrong = Vec::new();
        let mut same = |flag: &str, recorded: &Path, given: Option<&Path>| {
            if let Some(g) = given {
                if absolute(g) != absolute(recorded) {
                    wrong.push(format!(
                        "{flag}: the plan was made from {}, you passed {}",
                        recorded.display(),
                        absolute(g).display()
                    ));
                }
            }
        };
        same("-i", &self.inventory, inventory);
        same("-s", &self.stack, stack);
        match (&self.roles, roles) {
            (Some(r), g) => same("--roles", r, g),
            (None, Some(g)) => wrong.push(format!(
                "--roles: the plan was made with the built-in roles only, you passed {}",
                absolute(g).display()
            )),
            (None, None) => {}
        }
        if wrong.is_empty() {
            Ok(self.clone())
        } else {
            Err(wrong)
        }
    }

    /// One line naming the files, for `apply FILE`.
    pub fn describe(&self) -> String {
        let roles = self
            .roles
            .as_ref()
            .map(|r| format!("the roles in {}", r.display()))
            .unwrap_or_else(|| "the built-in roles".into());
        format!(
            "the inventory {}, the stack {} and {roles}",
            self.inventory.display(),
            self.stack.display()
        )
    }
}

/// Reads a saved plan; a plan file of another format is refused by its number
/// (not by whatever field it lacks).
pub fn parse(body: &[u8]) -> Result<SavedPlan, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not a rampart plan file ({e})"))?;
    let Some(format) = v.get("format").and_then(|f| f.as_u64()) else {
        return Err("not a rampart plan file (no `format`)".into());
    };
    if format != u64::from(SAVED_FORMAT) {
        let by = v
            .get("rampart_version")
            .and_then(|x| x.as_str())
            .map(|x| format!(" (made by rampart {x})"))
            .unwrap_or_default();
        return Err(format!(
            "this plan file has format {format}{by}; this rampart ({}) applies format {SAVED_FORMAT} only. Make the plan again: rampart plan --out FILE",
            env!("CARGO_PKG_VERSION")
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| format!("not a rampart plan file of format {SAVED_FORMAT} ({e})"))
}

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
    /// The files it was made from.
    pub sources: Sources,
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
            items.insert(
                format!("file {p}"),
                format!(
                    "{}:{:?}:{:?}:{:?}:{:?}",
                    ff.exists, ff.sha256, ff.mode, ff.owner, ff.group
                ),
            );
        }
        for (p, v) in &f.packages {
            items.insert(format!("package {p}"), format!("{v:?}"));
        }
        for (s, v) in &f.services {
            items.insert(
                format!("service {s}"),
                format!("{}/{}", v.enabled, v.active),
            );
        }
        for (g, v) in &f.guards {
            items.insert(format!("guard {g}"), v.to_string());
        }
        for p in &f.pending {
            items.insert(format!("pending {p}"), "1".into());
        }
        items.insert(
            "state".into(),
            crate::util::sha256_hex(
                serde_json::to_string(&f.state)
                    .unwrap_or_default()
                    .as_bytes(),
            ),
        );
        if let Some(os) = &f.os {
            items.insert("release".into(), os.to_string());
        }
        cluster_items(f, &mut items);
        FactsDigest { items }
    }

    /// What differs from `now`, one line per item.
    pub fn differences(&self, now: &FactsDigest) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.items {
            match now.items.get(k) {
                Some(n) if n == v => {}
                Some(n) => out.push(format!("{k}: was {v}, now {n}")),
                None if is_cluster(k) => out.push(format!("{k}: was {v}, now not answering")),
                None => out.push(format!("{k}: no longer read")),
            }
        }
        for (k, n) in &now.items {
            if !self.items.contains_key(k) {
                if is_cluster(k) {
                    out.push(format!("{k}: was not answering, now {n}"));
                } else {
                    out.push(format!("{k}: new"));
                }
            }
        }
        out
    }
}

/// A cluster item (a component's `fingerprint_keys`): one gone is "not answering".
fn is_cluster(k: &str) -> bool {
    crate::components::ALL
        .iter()
        .any(|c| c.fingerprint_keys().contains(&k))
}

/// The clusters' roles and membership as this host sees them, in words (a
/// difference reads "PostgreSQL leader: was lab1, now lab2"), each through
/// its component's `fingerprint`. Not what moves on its own (replication
/// lag, link state, Patroni's member state).
fn cluster_items(f: &HostFacts, items: &mut BTreeMap<String, String>) {
    for c in crate::components::ALL {
        if let Some(fact) = f.clusters.get(c.name()) {
            items.extend(c.fingerprint(fact));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{ClusterFact, EtcdMemberFact, PatroniMemberFact, QdrantFact, RedisFact};

    fn etcd(id: &str, name: &str, ip: &str) -> EtcdMemberFact {
        EtcdMemberFact {
            id: id.into(),
            status: if name.is_empty() {
                "unstarted"
            } else {
                "started"
            }
            .into(),
            name: name.into(),
            peer_url: format!("http://{ip}:2380"),
        }
    }

    fn pg(name: &str, role: &str, state: &str) -> PatroniMemberFact {
        PatroniMemberFact {
            name: name.into(),
            role: role.into(),
            state: state.into(),
            pending_restart: false,
            timeline: Some("2".into()),
            lag: None,
        }
    }

    /// A host of a running stack: etcd, Patroni, Redis and Qdrant answering.
    fn clustered() -> HostFacts {
        let mut f = HostFacts::default();
        f.set_etcd_members(Some(vec![
            etcd("a1", "lab1", "198.18.0.11"),
            etcd("b2", "lab2", "198.18.0.12"),
            etcd("c3", "lab3", "198.18.0.13"),
        ]));
        f.set_patroni(Some(vec![
            pg("lab1", "leader", "running"),
            pg("lab2", "sync_standby", "streaming"),
            pg("lab3", "replica", "streaming"),
        ]));
        f.set_redis(Some(RedisFact {
            role: "slave".into(),
            master_host: "198.18.0.11".into(),
            link_up: true,
        }));
        f.set_qdrant(Some(QdrantFact {
            peer_id: 11,
            shards: [(11, 2), (22, 1)].into_iter().collect(),
        }));
        f
    }

    fn patroni(f: &mut HostFacts) -> &mut Vec<PatroniMemberFact> {
        match f.clusters.get_mut("postgres") {
            Some(ClusterFact::Patroni(m)) => m,
            _ => panic!("no Patroni fact"),
        }
    }
    fn redis(f: &mut HostFacts) -> &mut RedisFact {
        match f.clusters.get_mut("redis") {
            Some(ClusterFact::Redis(r)) => r,
            _ => panic!("no Redis fact"),
        }
    }
    fn etcd_members(f: &mut HostFacts) -> &mut Vec<EtcdMemberFact> {
        match f.clusters.get_mut("etcd") {
            Some(ClusterFact::Etcd(m)) => m,
            _ => panic!("no etcd fact"),
        }
    }
    fn qdrant(f: &mut HostFacts) -> &mut QdrantFact {
        match f.clusters.get_mut("qdrant") {
            Some(ClusterFact::Qdrant(q)) => q,
            _ => panic!("no Qdrant fact"),
        }
    }

    fn diff(was: &HostFacts, now: &HostFacts) -> Vec<String> {
        FactsDigest::of(was).differences(&FactsDigest::of(now))
    }

    #[test]
    fn a_patroni_failover_is_named_by_its_leader() {
        let was = clustered();
        let mut now = clustered();
        now.set_patroni(Some(vec![
            pg("lab1", "replica", "streaming"),
            pg("lab2", "leader", "running"),
            pg("lab3", "sync_standby", "streaming"),
        ]));
        let d = diff(&was, &now);
        assert!(
            d.contains(&"PostgreSQL leader: was lab1, now lab2".to_string()),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.starts_with("PostgreSQL members: was lab1 leader, lab2 sync_standby, lab3 replica, now lab1 replica, lab2 leader")), "{d:?}");
        assert_eq!(d.len(), 2, "{d:?}");
    }

    #[test]
    fn volatile_cluster_facts_do_not_make_a_plan_stale() {
        let was = clustered();
        let mut now = clustered();
        // a replica's state and its Redis link come and go on their own
        patroni(&mut now)[2].state = "running".into();
        patroni(&mut now)[2].lag = Some("1024".into());
        patroni(&mut now)[1].timeline = Some("3".into());
        redis(&mut now).link_up = false;
        assert_eq!(diff(&was, &now), Vec::<String>::new());
        assert_eq!(diff(&was, &was), Vec::<String>::new());
    }

    #[test]
    fn a_pending_restart_counts() {
        let was = clustered();
        let mut now = clustered();
        patroni(&mut now)[1].pending_restart = true;
        assert_eq!(
            diff(&was, &now),
            vec!["PostgreSQL pending restart: was none, now lab2".to_string()]
        );
    }

    #[test]
    fn a_redis_failover_is_named_by_the_master() {
        let was = clustered();
        let mut now = clustered();
        now.set_redis(Some(RedisFact {
            role: "master".into(),
            master_host: String::new(),
            link_up: true,
        }));
        assert_eq!(
            diff(&was, &now),
            vec!["Redis role: was replica of 198.18.0.11, now master".to_string()]
        );
        let mut moved = clustered();
        redis(&mut moved).master_host = "198.18.0.12".into();
        assert_eq!(
            diff(&was, &moved),
            vec!["Redis role: was replica of 198.18.0.11, now replica of 198.18.0.12".to_string()]
        );
    }

    #[test]
    fn etcd_membership_changes_count() {
        let was = clustered();
        let mut added = clustered();
        etcd_members(&mut added).push(etcd("d4", "", "198.18.0.14"));
        let d = diff(&was, &added);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("etcd members: was lab1 a1 http://198.18.0.11:2380 (started), ")
                && d[0].ends_with("(unnamed) d4 http://198.18.0.14:2380 (unstarted)"),
            "{d:?}"
        );
        // a member replaced under the same name has another id
        let mut replaced = clustered();
        etcd_members(&mut replaced)[2].id = "e5".into();
        assert!(
            diff(&was, &replaced)[0].contains("lab3 e5"),
            "{:?}",
            diff(&was, &replaced)
        );
        // the order etcd lists them in is not a change
        let mut reordered = clustered();
        etcd_members(&mut reordered).reverse();
        assert!(diff(&was, &reordered).is_empty());
        // a member that stopped answering is named as such
        let mut gone = clustered();
        gone.set_etcd_members(None);
        assert!(
            diff(&was, &gone)[0].ends_with("now not answering"),
            "{:?}",
            diff(&was, &gone)
        );
        assert!(
            diff(&gone, &was)[0].starts_with("etcd members: was not answering, now lab1"),
            "{:?}",
            diff(&gone, &was)
        );
    }

    #[test]
    fn qdrant_peer_and_shards_count() {
        let was = clustered();
        let mut now = clustered();
        qdrant(&mut now).shards.insert(33, 1);
        assert_eq!(
            diff(&was, &now),
            vec![
                "Qdrant shards: was peer 11: 2, peer 22: 1, now peer 11: 2, peer 22: 1, peer 33: 1"
                    .to_string()
            ]
        );
        qdrant(&mut now).peer_id = 12;
        assert!(diff(&was, &now).contains(&"Qdrant peer: was 11, now 12".to_string()));
    }

    #[test]
    fn older_formats_are_refused_by_number() {
        let old = br#"{"format": 1, "rampart_version": "0.1.0", "salt": "x", "inputs": {}, "facts": {}, "plan": {}}"#;
        let e = parse(old).unwrap_err();
        assert!(
            e.contains("format 1 (made by rampart 0.1.0)")
                && e.contains(&format!("format {SAVED_FORMAT} only"))
                && e.contains("rampart plan --out"),
            "{e}"
        );
        assert!(parse(b"{}").unwrap_err().contains("no `format`"));
        assert!(parse(b"not json")
            .unwrap_err()
            .contains("not a rampart plan file"));
        let saved = SavedPlan {
            format: SAVED_FORMAT,
            rampart_version: "x".into(),
            salt: "s".into(),
            sources: Sources {
                inventory: "/i.toml".into(),
                stack: "/s.toml".into(),
                roles: None,
            },
            inputs: Inputs {
                inventory_sha256: "a".into(),
                stack_sha256: "b".into(),
                roles_sha256: "c".into(),
                secrets_keyed_sha256: "d".into(),
            },
            facts: [("lab1".to_string(), FactsDigest::of(&clustered()))]
                .into_iter()
                .collect(),
            plan: Plan::default(),
        };
        assert_eq!(parse(&serde_json::to_vec(&saved).unwrap()).unwrap(), saved);
    }

    #[test]
    fn sources_are_the_recorded_files_unless_others_are_passed() {
        let dir = tempfile::tempdir().unwrap();
        let (inv, stack, other) = (
            dir.path().join("inv.toml"),
            dir.path().join("stack.toml"),
            dir.path().join("other.toml"),
        );
        for p in [&inv, &stack, &other] {
            std::fs::write(p, "").unwrap();
        }
        let rec = Sources {
            inventory: absolute(&inv),
            stack: absolute(&stack),
            roles: None,
        };
        assert!(rec.inventory.is_absolute());
        // nothing passed: the recorded files
        assert_eq!(rec.resolve(None, None, None), Ok(rec.clone()));
        // the same file, spelled another way
        let dotted = dir.path().join(".").join("stack.toml");
        assert_eq!(
            rec.resolve(Some(&inv), Some(&dotted), None),
            Ok(rec.clone())
        );
        // another file: both named
        let e = rec.resolve(None, Some(&other), None).unwrap_err();
        assert_eq!(
            e,
            vec![format!(
                "-s: the plan was made from {}, you passed {}",
                absolute(&stack).display(),
                absolute(&other).display()
            )]
        );
        let e = rec
            .resolve(Some(&other), None, Some(dir.path()))
            .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("-i: the plan was made from ")
                && e[1].starts_with(
                    "--roles: the plan was made with the built-in roles only, you passed "
                ),
            "{e:?}"
        );
        assert!(
            rec.describe()
                .contains(&format!("the stack {}", absolute(&stack).display()))
                && rec.describe().ends_with("the built-in roles")
        );
    }
}
