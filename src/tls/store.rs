//! A loader: the stack's CA and its certificates, kept beside the stack in
//! `.rampart/STACK/tls/` (folder 0700, keys 0600; the CA key never leaves
//! this machine). A certificate is issued once and kept; it is issued again
//! only when its names change, its CA changes, or it expires within
//! `renew_days`, so a second plan is empty. They reach rendering as secret
//! values (`tls::view`).

use super::issue::{self, Ca, Pair};
use super::stack::{CA_DAYS, LEAF_DAYS};
use super::view::{cert_key, key_key, wanted, CA_KEY};
use crate::model::inventory::Inventory;
use crate::model::secret::Secret;
use crate::model::stack::Stack;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The stack key of the operator's CA key (`[tls] ca_key`).
pub const OPERATOR_CA_KEY: &str = "tls.ca_key";

/// Where the certificates of a stack live: `DIR_OF_STACK/.rampart/STACK/tls/`.
pub fn dir(stack_path: &Path, stack: &str) -> PathBuf {
    crate::model::backup_keys::key_dir(stack_path, stack).join("tls")
}

/// Adds the CA certificate and every certificate and key the stack needs to
/// `m` when TLS is on; creates the CA (unless the stack names one) and issues
/// what is missing, renamed, or due.
pub fn load(
    inv: &Inventory,
    stack: &Stack,
    stack_path: &Path,
    m: &mut BTreeMap<String, Secret>,
) -> Result<(), String> {
    load_at(inv, stack, stack_path, m, OffsetDateTime::now_utc())
}

pub(crate) fn load_at(
    inv: &Inventory,
    stack: &Stack,
    stack_path: &Path,
    m: &mut BTreeMap<String, Secret>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let Some(t) = stack.tls.as_ref().filter(|t| t.on()) else {
        return Ok(());
    };
    let d = dir(stack_path, &stack.name);
    for folder in [d.parent().unwrap_or(&d), d.as_path()] {
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", folder.display()))?;
    }
    let ca = match (m.get(CA_KEY), m.get(OPERATOR_CA_KEY)) {
        (Some(c), Some(k)) => {
            issue::load_ca(c.expose(), k.expose()).map_err(|e| format!("[tls] ca / ca_key: {e}"))?
        }
        _ => own_ca(&d, &stack.name, now)?,
    };
    for w in wanted(inv, stack) {
        let base = d.join(format!("{}-{}", w.host, w.purpose.name));
        let (crt, key) = (base.with_extension("crt"), base.with_extension("key"));
        let stored = read_pair(&crt, &key);
        let pair = match stored {
            Some(p) if issue::still_good(&p, &ca, &w.sans, now, t.renew_days()).is_ok() => p,
            _ => {
                let p = issue::issue(&ca, &w.host, &w.sans, now, LEAF_DAYS)?;
                write(&key, &p.key, 0o600)?;
                write(&crt, &p.cert, 0o644)?;
                p
            }
        };
        m.insert(cert_key(&w.host, &w.purpose), Secret::new(pair.cert));
        m.insert(key_key(&w.host, &w.purpose), Secret::new(pair.key));
    }
    m.insert(CA_KEY.into(), Secret::new(bundle(&ca, t, m)?));
    if !stack.hosts_of("postgres").is_empty() {
        m.insert(
            super::view::PATRONI_API_PASSWORD.into(),
            Secret::new(password(&d.join("patroni-api.password"))?),
        );
    }
    Ok(())
}

/// What every host trusts: the CA, and the `trust` certificates with it
/// (sorted, so moving a certificate between `ca` and `trust` keeps the
/// bundle the same).
fn bundle(ca: &Ca, t: &super::stack::Tls, m: &BTreeMap<String, Secret>) -> Result<String, String> {
    if t.trust.is_empty() {
        return Ok(ca.cert.clone());
    }
    let mut all = vec![ca.cert.trim_end().to_string()];
    for n in 0..t.trust.len() {
        let k = super::stack::Tls::trust_key(n);
        let pem = m
            .get(&k)
            .map(|s| s.expose().trim_end().to_string())
            .unwrap_or_default();
        issue::check_ca_cert(&pem).map_err(|e| {
            format!("[tls] trust[{n}]: {e}; give the PEM certificate of a CA (the new CA before a change, the old one after it)")
        })?;
        all.push(pem);
    }
    all.sort();
    all.dedup();
    Ok(all.join("\n") + "\n")
}

/// A password rampart generates once and keeps (0600): 32 hex digits from
/// the system's random source.
fn password(path: &Path) -> Result<String, String> {
    if let Ok(p) = std::fs::read_to_string(path) {
        let p = p.trim().to_string();
        if p.len() >= 16 && p.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(p);
        }
    }
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom for a password: {e}"))?;
    let p = hex::encode(bytes);
    write(path, &format!("{p}\n"), 0o600)?;
    Ok(p)
}

/// The CA rampart keeps for the stack: `ca.crt` and `ca.key`, created when
/// neither exists.
fn own_ca(d: &Path, stack: &str, now: OffsetDateTime) -> Result<Ca, String> {
    let (crt, key) = (d.join("ca.crt"), d.join("ca.key"));
    let pair = match (crt.exists(), key.exists()) {
        (false, false) => {
            let p = issue::new_ca(stack, now, CA_DAYS)?;
            write(&key, &p.key, 0o600)?;
            write(&crt, &p.cert, 0o644)?;
            p
        }
        (true, true) => read_pair(&crt, &key)
            .ok_or_else(|| format!("cannot read {} or {}", crt.display(), key.display()))?,
        (true, false) | (false, true) => {
            let (have, missing) = if crt.exists() {
                (&crt, &key)
            } else {
                (&key, &crt)
            };
            return Err(format!(
                "{} is there but {} is missing; put it back, or move both away to have a new CA made (every certificate is then issued again)",
                have.display(),
                missing.display()
            ));
        }
    };
    issue::load_ca(&pair.cert, &pair.key).map_err(|e| format!("{}: {e}", crt.display()))
}

fn read_pair(crt: &Path, key: &Path) -> Option<Pair> {
    Some(Pair {
        cert: std::fs::read_to_string(crt).ok()?,
        key: std::fs::read_to_string(key).ok()?,
    })
}

/// Writes `text` with `mode` from the start (a key is never readable by
/// others, even for a moment), through a temporary file and a rename.
fn write(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use time::Duration;

    const INV: &str = "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[groups]\nd = [\"a\", \"b\", \"c\"]\n";

    fn parsed(extra: &str) -> (Inventory, Stack) {
        let inv = Inventory::parse(Source::new("i.toml", INV)).unwrap();
        let text = format!("[stack]\nname = \"s\"\n[etcd]\nhosts = \"d\"\n[postgres]\nhosts = \"d\"\nsuperuser_password = {{ env = \"X\" }}\nreplication_password = {{ env = \"Y\" }}\n[tls]\n{extra}");
        let stack = Stack::parse(Source::new("s.toml", text), &inv).unwrap();
        (inv, stack)
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    fn load(extra: &str, stack_path: &Path, at: OffsetDateTime) -> BTreeMap<String, String> {
        let (inv, stack) = parsed(extra);
        let mut m = BTreeMap::new();
        load_at(&inv, &stack, stack_path, &mut m, at).unwrap();
        m.into_iter()
            .map(|(k, v)| (k, v.expose().to_string()))
            .collect()
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn certificates_are_made_once_kept_and_issued_again_only_when_due() {
        let tmp = tempfile::tempdir().unwrap();
        let stack_path = tmp.path().join("s.toml");
        let first = load("", &stack_path, now());
        let d = tmp.path().join(".rampart/s/tls");
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&tmp.path().join(".rampart/s")), 0o700);
        assert_eq!(mode(&d.join("ca.key")), 0o600);
        assert_eq!(mode(&d.join("a-etcd.key")), 0o600);
        assert_eq!(mode(&d.join("a-etcd.crt")), 0o644);
        // the CA and one certificate and key per host and purpose; never the CA key
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 14, "{keys:?}");
        assert!(first["tls.patroni_api_password"].len() == 32);
        assert!(keys.contains(&"tls.ca") && keys.contains(&"tls.c.patroni.key"));
        assert!(!first
            .values()
            .any(|v| v == &std::fs::read_to_string(d.join("ca.key")).unwrap()));
        // a second load (a second plan) gives the same texts
        assert_eq!(load("", &stack_path, now()), first);
        // within renew_days of the end: every certificate again, from the same CA
        let late = now() + Duration::days(i64::from(LEAF_DAYS) - 10);
        let renewed = load("", &stack_path, late);
        assert_eq!(renewed["tls.ca"], first["tls.ca"]);
        assert_ne!(renewed["tls.a.etcd.cert"], first["tls.a.etcd.cert"]);
        assert_ne!(renewed["tls.a.etcd.key"], first["tls.a.etcd.key"]);
        // a threshold of 5 days would have kept them
        let tmp2 = tempfile::tempdir().unwrap();
        let p2 = tmp2.path().join("s.toml");
        let kept = load("renew_days = 5\n", &p2, now());
        assert_eq!(load("renew_days = 5\n", &p2, late), kept);
        // `enabled = false`: nothing is made
        let tmp3 = tempfile::tempdir().unwrap();
        let off = load("enabled = false\n", &tmp3.path().join("s.toml"), now());
        assert!(off.is_empty());
        assert!(!tmp3.path().join(".rampart").exists());
    }

    #[test]
    fn the_operators_own_ca_signs_and_a_wrong_key_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = issue::new_ca("ops", now(), 100).unwrap();
        let other = issue::new_ca("ops", now(), 100).unwrap();
        std::fs::write(tmp.path().join("ca.crt"), &ca.cert).unwrap();
        std::fs::write(tmp.path().join("ca.key"), &ca.key).unwrap();
        std::fs::write(tmp.path().join("other.key"), &other.key).unwrap();
        let stack_path = tmp.path().join("s.toml");
        let (inv, stack) = parsed("ca = { file = \"ca.crt\" }\nca_key = { file = \"ca.key\" }\n");
        let mut m = BTreeMap::new();
        for (k, r) in stack.secret_refs() {
            if k.starts_with("tls.") {
                m.insert(k, r.read(tmp.path()).unwrap());
            }
        }
        load_at(&inv, &stack, &stack_path, &mut m, now()).unwrap();
        assert_eq!(m["tls.ca"].expose(), ca.cert.trim_end());
        assert!(
            !tmp.path().join(".rampart/s/tls/ca.crt").exists(),
            "no CA of rampart's own"
        );
        // the key of another CA: refused, naming the keys
        m.insert(OPERATOR_CA_KEY.into(), Secret::new(other.key));
        let e = load_at(&inv, &stack, &stack_path, &mut m, now()).unwrap_err();
        assert_eq!(
            e,
            "[tls] ca / ca_key: the CA key does not belong to the CA certificate"
        );
    }

    /// What rampart issues verifies with openssl against the CA, for servers
    /// and clients, with the host's names and addresses.
    #[test]
    fn openssl_verifies_the_certificates_against_the_ca() {
        assert!(
            std::process::Command::new("openssl")
                .arg("version")
                .output()
                .is_ok(),
            "this test needs openssl: apt-get install openssl (.ci/run installs it)"
        );
        let tmp = tempfile::tempdir().unwrap();
        load("", &tmp.path().join("s.toml"), OffsetDateTime::now_utc());
        let d = tmp.path().join(".rampart/s/tls");
        for purpose in ["sslserver", "sslclient"] {
            let out = std::process::Command::new("openssl")
                .args([
                    "verify",
                    "-purpose",
                    purpose,
                    "-verify_ip",
                    "10.0.0.2",
                    "-CAfile",
                ])
                .arg(d.join("ca.crt"))
                .arg(d.join("b-etcd.crt"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = std::process::Command::new("openssl")
            .args(["verify", "-verify_hostname", "b", "-CAfile"])
            .arg(d.join("ca.crt"))
            .arg(d.join("a-etcd.crt"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "a's certificate is not b's");
    }
}
