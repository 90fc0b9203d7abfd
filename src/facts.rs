//! Facts: what a host has now, read by ONE batched script per host.
//! `script` builds the script from the host's resources; `parse` is a pure
//! function of its output (tested from fixtures, no SSH).

use crate::compile::{Compiled, Desired};
pub use crate::model::release::OsRelease;
use crate::transport::quote::sh;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// rampart's own files on each host.
pub const STATE_DIR: &str = "/var/lib/rampart";
pub const STATE_FILE: &str = "/var/lib/rampart/state.json";
pub const PENDING_DIR: &str = "/var/lib/rampart/pending";
/// Files larger than this are compared by hash only (no diff).
pub const MAX_CONTENT: u64 = 256 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFact {
    pub exists: bool,
    pub is_dir: bool,
    pub sha256: Option<String>,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(skip)]
    pub content: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFact {
    /// `systemctl is-enabled`: enabled, disabled, static, masked, not-found...
    pub enabled: String,
    /// `systemctl is-active`: active, inactive, failed, activating...
    pub active: String,
}

/// What rampart put on a host: written at the end of every apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub version: u32,
    pub stack: String,
    /// Resource id -> what was applied.
    pub resources: BTreeMap<String, ManagedEntry>,
    /// Every host of the stack at that apply: a host later taken out of the
    /// stack is found through the others and cleaned up.
    #[serde(default)]
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedEntry {
    pub kind: String,
    pub name: String,
    /// Content hash of files as last written.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Data directory kept by destroy unless --destroy-data.
    #[serde(default)]
    pub data: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub files: BTreeMap<String, FileFact>,
    /// Package -> installed version (None: not installed).
    pub packages: BTreeMap<String, Option<String>>,
    pub services: BTreeMap<String, ServiceFact>,
    /// Command resource id -> its guard holds (nothing to do).
    pub guards: BTreeMap<String, bool>,
    pub state: Option<HostState>,
    /// Units whose restart an earlier apply owed.
    pub pending: BTreeSet<String>,
    /// Each component's cluster fact (etcd's member list, Patroni's
    /// `/cluster`, Redis' replication role, Qdrant's peer and shards), keyed
    /// by the component's name; absent when it did not answer.
    pub clusters: BTreeMap<String, ClusterFact>,
    /// Its `/etc/os-release` (None when the script did not read it: fixtures);
    /// the plan refuses a host whose release is not the inventory's.
    #[serde(default)]
    pub os: Option<OsRelease>,
}

/// A component's cluster fact, as its facts parser read it
/// (`Component::parse_fact`); the saved plan fingerprints it through
/// `Component::fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterFact {
    /// The etcd member list as this host's running member sees it (our
    /// cluster's data directory only; Debian's throwaway cluster is not read).
    Etcd(Vec<EtcdMemberFact>),
    /// Patroni's `/cluster` as this host's Patroni sees it.
    Patroni(Vec<PatroniMemberFact>),
    /// This host's Redis replication role (`INFO replication`), when it runs.
    Redis(RedisFact),
    /// This host's Qdrant peer and where the shards are, when it answers.
    Qdrant(QdrantFact),
}

impl ClusterFact {
    /// The component whose fact it is (its key in `HostFacts.clusters`).
    pub fn component(&self) -> &'static str {
        match self {
            ClusterFact::Etcd(_) => "etcd",
            ClusterFact::Patroni(_) => "postgres",
            ClusterFact::Redis(_) => "redis",
            ClusterFact::Qdrant(_) => "qdrant",
        }
    }
}

impl HostFacts {
    /// Sets (Some) or clears (None) the cluster fact of `component`.
    pub fn set_cluster(&mut self, component: &str, fact: Option<ClusterFact>) {
        match fact {
            Some(f) => {
                self.clusters.insert(component.to_string(), f);
            }
            None => {
                self.clusters.remove(component);
            }
        }
    }
    pub fn etcd_members(&self) -> Option<&Vec<EtcdMemberFact>> {
        match self.clusters.get("etcd") {
            Some(ClusterFact::Etcd(m)) => Some(m),
            _ => None,
        }
    }
    pub fn patroni(&self) -> Option<&Vec<PatroniMemberFact>> {
        match self.clusters.get("postgres") {
            Some(ClusterFact::Patroni(m)) => Some(m),
            _ => None,
        }
    }
    pub fn redis(&self) -> Option<&RedisFact> {
        match self.clusters.get("redis") {
            Some(ClusterFact::Redis(r)) => Some(r),
            _ => None,
        }
    }
    pub fn qdrant(&self) -> Option<&QdrantFact> {
        match self.clusters.get("qdrant") {
            Some(ClusterFact::Qdrant(q)) => Some(q),
            _ => None,
        }
    }
    pub fn set_etcd_members(&mut self, m: Option<Vec<EtcdMemberFact>>) {
        self.set_cluster("etcd", m.map(ClusterFact::Etcd));
    }
    pub fn set_patroni(&mut self, m: Option<Vec<PatroniMemberFact>>) {
        self.set_cluster("postgres", m.map(ClusterFact::Patroni));
    }
    pub fn set_redis(&mut self, r: Option<RedisFact>) {
        self.set_cluster("redis", r.map(ClusterFact::Redis));
    }
    pub fn set_qdrant(&mut self, q: Option<QdrantFact>) {
        self.set_cluster("qdrant", q.map(ClusterFact::Qdrant));
    }
}

pub use crate::components::qdrant::facts::{parse_qdrant, QdrantFact, QDRANT_PY};

pub use crate::components::redis::facts::{parse_redis_info, RedisFact};

pub use crate::components::etcd::facts::{parse_etcd_members, EtcdMemberFact};

pub use crate::components::postgres::facts::{parse_patroni_cluster, PatroniMemberFact};

/// The start of every facts script: the C locale, and the helpers its parts
/// call (`active UNIT`, see `services_probe`; `g ID 0|1`, a guard's answer).
pub fn script_head() -> String {
    String::from(
        "LC_ALL=C; export LC_ALL\n\
         SV_SEEN=; SV_ACTIVE=\n\
         active() { case \" $SV_SEEN \" in *\" $1 \"*) case \" $SV_ACTIVE \" in *\" $1 \"*) return 0 ;; esac; return 1 ;; esac; systemctl is-active -q \"$1\" 2>/dev/null; }\n\
         g() { printf 'G\\t%s\\t%s\\n' \"$1\" \"$2\"; }\n",
    )
}

/// The facts script for one host's resources (and the paths of its managed state).
pub fn script(compiled: &Compiled, host: &str, extra_paths: &[String]) -> String {
    let mut s = script_head();
    // the Debian release it runs (what the templates were made for is checked by the plan)
    s.push_str("printf 'O\\t'; base64 -w0 /etc/os-release 2>/dev/null; echo\n");
    let mut packages = Vec::new();
    let mut paths: BTreeSet<String> = extra_paths.iter().cloned().collect();
    let mut expected: Vec<(String, String)> = Vec::new();
    let mut services = Vec::new();
    for &i in compiled.host_order(host) {
        let r = &compiled.resources[i];
        match &r.desired {
            Desired::Package { name, .. } => packages.push(sh(name)),
            Desired::Directory { path, .. } => {
                paths.insert(path.clone());
            }
            Desired::File { path, sha256, .. } => {
                paths.insert(path.clone());
                expected.push((path.clone(), sha256.clone()));
            }
            Desired::Service { name, .. } => services.push(sh(name)),
            Desired::Command {
                unless, creates, ..
            } => {
                let id = sh(&r.id.to_string());
                let mut conds = Vec::new();
                if let Some(c) = creates {
                    conds.push(format!("[ -e {} ]", sh(c)));
                }
                if let Some(u) = unless {
                    conds.push(format!("( {u} ) >/dev/null 2>&1 </dev/null"));
                }
                if conds.is_empty() {
                    s.push_str(&format!("g {id} 0\n"));
                } else {
                    s.push_str(&format!(
                        "if {}; then g {id} 1; else g {id} 0; fi\n",
                        conds.join(" || ")
                    ));
                }
            }
            Desired::Health { .. } | Desired::Barrier => {}
        }
    }
    s.push_str(&services_probe(&services));
    s.push_str(&files_probe(&paths, &expected));
    // each component's cluster fact (etcd's member list, Patroni's /cluster, ...)
    for c in crate::components::ALL {
        if let Some(p) = c.facts_probe(compiled, host) {
            s.push_str(&p);
        }
    }
    if !packages.is_empty() {
        s.push_str(&format!("dpkg-query -W -f='P\\t${{Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' {} 2>/dev/null\n", packages.join(" ")));
    }
    s.push_str(&format!(
        "if [ -f {STATE_FILE} ]; then printf 'M\\t'; base64 -w0 < {STATE_FILE}; echo; fi\n"
    ));
    s.push_str(&format!("if [ -d {PENDING_DIR} ]; then for p in {PENDING_DIR}/*; do [ -e \"$p\" ] && printf 'R\\t%s\\n' \"${{p##*/}}\"; done; fi\n"));
    s.push_str("echo END\n");
    s
}

/// The probe of a host's services, in one `systemctl` whatever their count
/// (`is-enabled` and `is-active` for each cost four processes): `show`
/// prints one block of `Key=value` lines per unit, in the order asked,
/// blank lines between them. Prints `S`, name, unit file state (what
/// `is-enabled` says: enabled, static, masked...; empty for a unit that is
/// not there) and active state (what `is-active` says). A `systemctl` that
/// stops part way (or is missing) leaves the rest without a line: unknown,
/// as a unit that is not installed. The script's `active UNIT` (for the
/// components' cluster probes) answers from these states, and asks
/// `systemctl is-active` only for a unit not probed here.
pub fn services_probe(quoted: &[String]) -> String {
    if quoted.is_empty() {
        return String::new();
    }
    format!(
        "set -- {}\n\
         sv=$(systemctl show --property=UnitFileState,ActiveState -- \"$@\" 2>/dev/null)\n\
         e=; a=\n\
         while IFS= read -r l; do case $l in\n\
         UnitFileState=*) e=${{l#*=}} ;;\n\
         ActiveState=*) a=${{l#*=}} ;;\n\
         '') if [ $# -gt 0 ]; then printf 'S\\t%s\\t%s\\t%s\\n' \"$1\" \"$e\" \"$a\"; SV_SEEN=\"$SV_SEEN $1\"; [ \"$a\" != active ] || SV_ACTIVE=\"$SV_ACTIVE $1\"; shift; fi; e=; a= ;;\n\
         esac; done <<EOF_SV\n$sv\n\nEOF_SV\n",
        quoted.join(" ")
    )
}

/// Prints `C`, path and base64 content for each path given, in one process
/// for all of them (perl-base is Essential on Debian; its core has no
/// MIME::Base64, so base64 is made from `pack "u"`, as MIME::Base64::Perl
/// does). A file that cannot be read gets an empty content, as the
/// `base64 < file` per file gave it.
const CONTENT_PL: &str = r#"for my $p (@ARGV) { open(my $f, "<", $p) or do { print "C\t$p\t\n"; next }; binmode $f; local $/; my $d = <$f> // ""; close $f; my $r = join "", map { (pack("u", $_) =~ /^.(\S*)/)[0] } ($d =~ /(.{1,45})/gs); $r =~ tr|` -_|AA-Za-z0-9+/|; my $n = (3 - length($d) % 3) % 3; $r =~ s/.{$n}$/"=" x $n/e if $n; print "C\t$p\t$r\n" }"#;

/// The probe of every managed path on a host, in a constant number of
/// processes whatever their count: one `stat` over all paths, one
/// `sha256sum` over the regular files, and a file's content (for the plan's
/// diff) only when its hash is not the one the plan expects (`expected`:
/// path and sha256 of each desired file). Prints the lines `parse` reads:
/// `N` (missing), `D` (directory: mode owner group), `F` (file: mode owner
/// group size sha256) and `C` (base64 content, up to MAX_CONTENT bytes).
pub fn files_probe(paths: &BTreeSet<String>, expected: &[(String, String)]) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let args: Vec<String> = paths.iter().map(|p| sh(p)).collect();
    let args = args.join(" ");
    // `path:sha256` of each desired file: its content is not sent when it matches
    let same = if expected.is_empty() {
        "''".to_string()
    } else {
        expected
            .iter()
            .map(|(p, h)| sh(&format!("{p}\t{h}")))
            .collect::<Vec<_>>()
            .join("|")
    };
    format!(
        "T=$(printf '\\t')\n\
         set -- {args}\n\
         for p; do [ -e \"$p\" ] || printf 'N\\t%s\\n' \"$p\"; done\n\
         st=$(stat -L --printf '%F\\t%a %U %G %s\\t%n\\n' -- \"$@\" 2>/dev/null)\n\
         set --\n\
         while IFS=\"$T\" read -r t m p; do case $t in\n\
         directory) printf 'D\\t%s\\t%s\\n' \"$p\" \"${{m% *}}\" ;;\n\
         regular*) set -- \"$@\" \"$p\" ;;\n\
         ?*) printf 'F\\t%s\\t%s -\\n' \"$p\" \"$m\" ;;\n\
         esac; done <<EOF_STAT\n$st\nEOF_STAT\n\
         if [ $# -gt 0 ]; then\n\
         sums=$(sha256sum -- \"$@\")\n\
         set --\n\
         while IFS=\"$T\" read -r t m p; do case $t in regular*)\n\
         IFS=' ' read -r h rest <&3; h=${{h#\\\\}}; [ \"$rest\" = \"$p\" ] || h=-\n\
         printf 'F\\t%s\\t%s %s\\n' \"$p\" \"$m\" \"$h\"\n\
         case \"$p$T$h\" in {same}) ;; *) [ \"${{m##* }}\" -le {max} ] && set -- \"$@\" \"$p\" ;; esac ;;\n\
         esac; done <<EOF_STAT 3<<EOF_SUMS\n$st\nEOF_STAT\n$sums\nEOF_SUMS\n\
         [ $# -eq 0 ] || perl -e {content} -- \"$@\"\n\
         fi\n",
        max = MAX_CONTENT,
        content = sh(CONTENT_PL)
    )
}

/// Parses the facts script's output. Errors name the line that is wrong.
pub fn parse(out: &str, wanted_packages: &[String]) -> Result<HostFacts, String> {
    let mut f = HostFacts::default();
    for p in wanted_packages {
        f.packages.insert(p.clone(), None);
    }
    let mut ended = false;
    for (n, line) in out.lines().enumerate() {
        let mut parts = line.split('\t');
        let tag = parts.next().unwrap_or("");
        let bad = || {
            format!(
                "facts line {}: cannot read `{}`",
                n + 1,
                line.chars().take(120).collect::<String>()
            )
        };
        match tag {
            "F" | "D" => {
                let path = parts.next().ok_or_else(bad)?.to_string();
                let rest: Vec<&str> = parts.next().ok_or_else(bad)?.split(' ').collect();
                if rest.len() < 3 {
                    return Err(bad());
                }
                let e = f.files.entry(path).or_default();
                e.exists = true;
                e.is_dir = tag == "D";
                e.mode = Some(u32::from_str_radix(rest[0], 8).map_err(|_| bad())?);
                e.owner = Some(rest[1].to_string());
                e.group = Some(rest[2].to_string());
                if tag == "F" {
                    e.sha256 = Some(rest.get(4).ok_or_else(bad)?.to_string());
                }
            }
            "C" => {
                let path = parts.next().ok_or_else(bad)?.to_string();
                let b64 = parts.next().unwrap_or("");
                let bytes = crate::util::b64_decode(b64).ok_or_else(bad)?;
                f.files.entry(path).or_default().content = Some(bytes);
            }
            "N" => {
                let path = parts.next().ok_or_else(bad)?.to_string();
                f.files.insert(path, FileFact::default());
            }
            "S" => {
                let name = parts.next().ok_or_else(bad)?.to_string();
                let enabled = parts.next().unwrap_or("").to_string();
                let active = parts.next().unwrap_or("").to_string();
                f.services.insert(name, ServiceFact { enabled, active });
            }
            "G" => {
                let id = parts.next().ok_or_else(bad)?.to_string();
                f.guards.insert(id, parts.next() == Some("1"));
            }
            "P" => {
                let name = parts.next().ok_or_else(bad)?.to_string();
                let status = parts.next().unwrap_or("");
                let version = parts.next().unwrap_or("");
                let installed = status.starts_with("ii") || status.starts_with("hi");
                f.packages.insert(
                    name,
                    if installed {
                        Some(version.to_string())
                    } else {
                        None
                    },
                );
            }
            "M" => {
                let bytes = crate::util::b64_decode(parts.next().unwrap_or("")).ok_or_else(bad)?;
                let st: HostState = serde_json::from_slice(&bytes).map_err(|e| {
                    format!(
                        "{STATE_FILE} on the host is damaged ({e}); move it away and plan again"
                    )
                })?;
                f.state = Some(st);
            }
            "R" => {
                f.pending.insert(parts.next().ok_or_else(bad)?.to_string());
            }
            "O" => {
                let bytes = crate::util::b64_decode(parts.next().unwrap_or("")).ok_or_else(bad)?;
                f.os = Some(OsRelease::parse(&String::from_utf8_lossy(&bytes)));
            }
            "END" => ended = true,
            "" => {}
            // a component's cluster fact, by its tag
            _ => {
                let c = crate::components::ALL
                    .iter()
                    .find(|c| c.fact_tag() == Some(tag))
                    .ok_or_else(bad)?;
                let fact = c
                    .parse_fact(parts.next().unwrap_or(""))
                    .map_err(|_| bad())?;
                f.set_cluster(c.name(), fact);
            }
        }
    }
    if !ended {
        return Err("the facts script ended early (no END line)".into());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_fixture() {
        let out = "D\t/etc\t755 root root\n\
                   F\t/etc/default/etcd\t644 root root 12 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n\
                   C\t/etc/default/etcd\taGVsbG8gd29ybGQK\n\
                   N\t/etc/missing\n\
                   S\tetcd\tenabled\tactive\n\
                   G\tn1/command/init\t1\n\
                   P\tetcd-server\tii \t3.4.23-4+b6\n\
                   P\tetcd-client\tun \t\n\
                   R\tetcd\n\
                   END\n";
        let f = parse(
            out,
            &["etcd-server".into(), "etcd-client".into(), "curl".into()],
        )
        .unwrap();
        let e = &f.files["/etc/default/etcd"];
        assert!(e.exists && !e.is_dir);
        assert_eq!(e.mode, Some(0o644));
        assert_eq!(e.content.as_deref(), Some(&b"hello world\n"[..]));
        assert!(!f.files["/etc/missing"].exists);
        assert!(f.files["/etc"].is_dir);
        assert_eq!(f.services["etcd"].active, "active");
        assert!(f.guards["n1/command/init"]);
        assert_eq!(f.packages["etcd-server"].as_deref(), Some("3.4.23-4+b6"));
        assert_eq!(f.packages["etcd-client"], None);
        assert_eq!(f.packages["curl"], None);
        assert!(f.pending.contains("etcd"));
        // no O line: the release was not read (old fixtures), never guessed
        assert_eq!(f.os, None);
    }

    #[test]
    fn reads_the_release_from_os_release() {
        let os = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        let out = format!("O\t{}\nEND\n", crate::util::b64_encode(os.as_bytes()));
        let f = parse(&out, &[]).unwrap();
        let o = f.os.unwrap();
        assert_eq!(o.release(), Some(crate::model::release::Release::Bookworm));
        assert_eq!(
            (o.version_id.as_str(), o.codename.as_str()),
            ("12", "bookworm")
        );
        // no /etc/os-release: an empty line, read as no release
        let f = parse("O\t\nEND\n", &[]).unwrap();
        assert_eq!(f.os.unwrap().release(), None);
        assert!(parse("O\t%%%\nEND\n", &[]).unwrap_err().contains("line 1"));
    }

    #[test]
    fn parses_cluster_membership() {
        let list = "8e9e05c52164694d, started, lab1, http://198.18.0.11:2380, http://198.18.0.11:2379, false\n\
                    91bc3c398fb3c146, unstarted, , http://198.18.0.14:2380, , false\n";
        let out = format!("E\t{}\nT\t{}\nEND\n", crate::util::b64_encode(list.as_bytes()), crate::util::b64_encode(br#"{"members":[{"name":"lab1","role":"leader","state":"running","pending_restart":true},{"name":"lab2","role":"replica","state":"streaming"}]}"#));
        let f = parse(&out, &[]).unwrap();
        let m = f.etcd_members().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            (
                m[0].name.as_str(),
                m[0].status.as_str(),
                m[0].peer_url.as_str()
            ),
            ("lab1", "started", "http://198.18.0.11:2380")
        );
        assert_eq!(
            (
                m[1].name.as_str(),
                m[1].status.as_str(),
                m[1].peer_url.as_str()
            ),
            ("", "unstarted", "http://198.18.0.14:2380")
        );
        let p = f.patroni().unwrap();
        assert!(p[0].pending_restart && p[0].role == "leader");
        assert!(!p[1].pending_restart && p[1].state == "streaming");
        // an empty answer (etcd not answering) is no member list
        assert!(parse("E\t\nEND\n", &[]).unwrap().etcd_members().is_none());
    }

    #[test]
    fn cluster_facts_are_read_through_their_component() {
        let out = format!(
            "E\t{}\nT\t{}\nX\trole:master \nQ\t{{\"peer_id\": 11, \"shards\": {{\"11\": 1}}}}\nEND\n",
            crate::util::b64_encode(b"a1, started, lab1, http://198.18.0.11:2380, http://198.18.0.11:2379, false\n"),
            crate::util::b64_encode(br#"{"members":[{"name":"lab1","role":"leader","state":"running"}]}"#)
        );
        let f = parse(&out, &[]).unwrap();
        // one map, keyed by component name
        assert_eq!(
            f.clusters.keys().map(String::as_str).collect::<Vec<_>>(),
            ["etcd", "postgres", "qdrant", "redis"]
        );
        for (k, fact) in &f.clusters {
            assert_eq!(fact.component(), k);
        }
        // each component fingerprints its fact with the keys it declares
        for c in crate::components::ALL {
            if let Some(fact) = f.clusters.get(c.name()) {
                let items = c.fingerprint(fact);
                assert!(!items.is_empty(), "{}", c.name());
                for (k, _) in items {
                    assert!(c.fingerprint_keys().contains(&k.as_str()), "{k}");
                }
            }
        }
        // a damaged cluster line is an error naming the line
        assert!(parse("S\tetcd\t\t\nE\t%%%\nEND\n", &[])
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn fact_tags_are_distinct_from_each_other_and_the_scripts_own() {
        let mut tags = vec!["F", "D", "C", "N", "S", "G", "P", "M", "R", "O", "END", ""];
        for c in crate::components::ALL {
            if let Some(t) = c.fact_tag() {
                assert!(!tags.contains(&t), "{}: tag {t} is taken", c.name());
                tags.push(t);
            }
        }
        assert_eq!(
            tags.len(),
            16,
            "etcd, postgres, redis and qdrant each have a tag"
        );
    }

    #[test]
    fn truncated_output_is_an_error() {
        assert!(parse("S\tetcd\tenabled\tactive\n", &[])
            .unwrap_err()
            .contains("ended early"));
        assert!(parse("Z\twhat\nEND\n", &[]).unwrap_err().contains("line 1"));
    }
}

#[cfg(test)]
#[path = "facts_probe_tests.rs"]
mod probe_tests;
