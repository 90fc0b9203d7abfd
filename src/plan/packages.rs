//! One package transaction per host: every missing package of a host is
//! installed by one step, early, instead of one `apt-get` per package.
//!
//! Each package keeps its own step (the plan shows what is installed, and
//! other steps keep waiting for the package they need), but only the host's
//! first package step runs `apt-get`: one `apt-get install` of every package
//! kept down (`no_start`, under a policy-rc.d that keeps every service of the
//! transaction from starting, as today), then one of the others. The other
//! package steps run nothing and wait for it, so they fail with it.
//!
//! The order constraints roles have today hold:
//! - a role's packages join the transaction up to its first resource that
//!   is neither a package, a file nor a directory (a command or a service
//!   may need a package before it, and a package after it may need it):
//!   those later packages keep their own `apt-get`, as before;
//! - a file or directory listed before a joining package of its role is put
//!   before the transaction (it waits for what the transaction waits for):
//!   postgres' `createcluster.conf` is in place before `postgresql-NN` is
//!   installed (dpkg keeps the file: `--force-confold`);
//! - packages that start a throwaway service on install (etcd-server) are
//!   `no_start`, so installing them earlier (before the components of lower
//!   levels are healthy) starts nothing; the others start only what their
//!   package starts today, and the role's services are started (or
//!   restarted on a config change) by their own steps, as before.

use super::{Op, Step};
use crate::compile::{Compiled, Desired};
use std::collections::BTreeMap;

/// Rewrites `out` (with `source`, each step's resource) so that each host's
/// missing packages are installed by one step (see above), then orders the
/// steps again: each host's moved steps where its transaction was, each
/// after what it waits for. Leaves the plan as it was if they cannot be
/// ordered (never expected: a moved step waits only for what its
/// transaction waited for, or for a step moved before it).
pub(super) fn one_transaction_per_host(
    compiled: &Compiled,
    out: &mut Vec<Step>,
    source: &mut Vec<usize>,
) {
    let mut hosts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, s) in out.iter().enumerate() {
        hosts.entry(s.host.as_str()).or_default().push(k);
    }
    let groups: Vec<(Vec<usize>, Vec<usize>)> = hosts
        .values()
        .map(|mine| joining(compiled, out, source, mine))
        .filter(|(_, pkgs)| pkgs.len() >= 2)
        .collect();
    if groups.is_empty() {
        return;
    }
    let before = out.clone();
    let mut key: Vec<(usize, usize)> = (0..out.len()).map(|k| (k, 0)).collect();
    for (pre, pkgs) in &groups {
        regroup(out, pre, pkgs);
        for (m, &k) in pre.iter().chain(pkgs).enumerate() {
            key[k] = (pkgs[0], m + 1);
        }
    }
    let Some(order) = ordered(out, &key) else {
        *out = before;
        return;
    };
    let mut slots: Vec<Option<Step>> = std::mem::take(out).into_iter().map(Some).collect();
    *out = order.iter().filter_map(|&k| slots[k].take()).collect();
    *source = order.iter().map(|&k| source[k]).collect();
}

/// A step that installs one package and does nothing else.
fn is_install(s: &Step) -> bool {
    matches!(s.ops.as_slice(), [Op::AptInstall { packages, .. }] if packages.len() == 1)
}

/// The host's steps that go before its transaction (files and directories
/// listed before a joining package of their role) and its joining package
/// steps, each in plan order.
fn joining(
    compiled: &Compiled,
    out: &[Step],
    source: &[usize],
    mine: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    // each component's steps on this host, in order, up to its first step that is
    // not a package, a file or a directory
    let mut prefix: BTreeMap<&str, (Vec<usize>, bool)> = BTreeMap::new();
    for &k in mine {
        let s = &out[k];
        let r = &compiled.resources[source[k]];
        let (steps, closed) = prefix.entry(r.component.as_str()).or_default();
        if *closed {
            continue;
        }
        let file_or_dir = matches!(r.desired, Desired::File { .. } | Desired::Directory { .. })
            && !s.ops.is_empty()
            && s.ops.iter().all(|o| {
                matches!(
                    o,
                    Op::WriteFile { .. } | Op::MakeDir { .. } | Op::SetAttrs { .. }
                )
            });
        if is_install(s) || file_or_dir {
            steps.push(k);
        } else {
            *closed = true;
        }
    }
    let (mut pre, mut pkgs) = (Vec::new(), Vec::new());
    for (steps, _) in prefix.values() {
        let Some(last) = steps.iter().rposition(|&k| is_install(&out[k])) else {
            continue;
        };
        for &k in &steps[..=last] {
            if is_install(&out[k]) {
                pkgs.push(k);
            } else {
                pre.push(k);
            }
        }
    }
    pre.sort_unstable();
    pkgs.sort_unstable();
    (pre, pkgs)
}

/// Rewrites one host's steps: `pre` keeps its waits among `pre` and takes
/// the transaction's; the first package step (the transaction) runs every
/// `apt-get`, after all of `pre`; the other package steps run nothing and
/// wait for it.
fn regroup(out: &mut [Step], pre: &[usize], pkgs: &[usize]) {
    let tx = pkgs[0];
    let tx_id = out[tx].id.clone();
    let waits = out[tx].deps.clone();
    let pre_ids: Vec<String> = pre.iter().map(|&k| out[k].id.clone()).collect();
    // the transaction: packages kept down first, then the others
    let (mut down, mut up) = (Vec::new(), Vec::new());
    for &k in pkgs {
        if let [Op::AptInstall { packages, no_start }] = out[k].ops.as_slice() {
            if *no_start {
                down.extend(packages.iter().cloned());
            } else {
                up.extend(packages.iter().cloned());
            }
        }
    }
    let all: Vec<String> = down.iter().chain(&up).cloned().collect();
    let mut ops = Vec::new();
    if !down.is_empty() {
        ops.push(Op::AptInstall {
            packages: down,
            no_start: true,
        });
    }
    if !up.is_empty() {
        ops.push(Op::AptInstall {
            packages: up,
            no_start: false,
        });
    }
    for &k in pre {
        let mut d = waits.clone();
        d.extend(out[k].deps.iter().filter(|x| pre_ids.contains(x)).cloned());
        out[k].deps = d;
    }
    let s = &mut out[tx];
    s.ops = ops;
    s.deps = waits;
    s.deps.extend(pre_ids.iter().cloned());
    s.reasons.push(format!(
        "one apt-get install for the host: {}",
        all.join(" ")
    ));
    for &k in &pkgs[1..] {
        let s = &mut out[k];
        s.ops = vec![];
        s.deps = vec![tx_id.clone()];
        s.reasons.push(format!("installed by {tx_id}"));
    }
}

/// The steps in an order where each comes after what it waits for, the
/// smallest `key` first among those ready; None on a cycle.
fn ordered(steps: &[Step], key: &[(usize, usize)]) -> Option<Vec<usize>> {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, HashMap};
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(k, s)| (s.id.as_str(), k))
        .collect();
    let mut waiting = vec![0usize; steps.len()];
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (k, s) in steps.iter().enumerate() {
        let mut ds: Vec<usize> = s
            .deps
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect();
        ds.sort_unstable();
        ds.dedup();
        waiting[k] = ds.len();
        for d in ds {
            next[d].push(k);
        }
    }
    let mut ready: BinaryHeap<Reverse<((usize, usize), usize)>> = (0..steps.len())
        .filter(|&k| waiting[k] == 0)
        .map(|k| Reverse((key[k], k)))
        .collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(Reverse((_, k))) = ready.pop() {
        order.push(k);
        for &j in &next[k] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(Reverse((key[j], j)));
            }
        }
    }
    (order.len() == steps.len()).then_some(order)
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Compiled, Desired, SecretValues};
    use crate::diag::Source;
    use crate::facts::HostFacts;
    use crate::model::inventory::Inventory;
    use crate::model::stack::Stack;
    use crate::plan::{plan, Op, Plan};
    use crate::roles::RoleSet;
    use std::collections::{BTreeMap, BTreeSet};

    /// The example stack (etcd, Patroni, PgBouncer, Redis, HAProxy, ... on
    /// the same hosts), on Debian 13.
    fn example() -> Compiled {
        let inv = Inventory::parse(Source::new(
            "inventory/example.toml",
            include_str!("../../inventory/example.toml"),
        ))
        .unwrap();
        let stack = Stack::parse(
            Source::new(
                "plans/example.toml",
                include_str!("../../plans/example.toml"),
            ),
            &inv,
        )
        .unwrap();
        compile(
            &inv,
            &stack,
            &RoleSet::load(None).unwrap(),
            &SecretValues::Placeholder,
        )
        .unwrap()
    }

    fn bare(c: &Compiled) -> BTreeMap<String, HostFacts> {
        c.hosts
            .iter()
            .map(|h| (h.clone(), HostFacts::default()))
            .collect()
    }

    /// Every step comes after the steps it waits for (a host walks its
    /// steps in order: a wait on a later step of its own would never end).
    fn waits_come_first(p: &Plan) {
        let pos: BTreeMap<&str, usize> = p
            .steps
            .iter()
            .enumerate()
            .map(|(k, s)| (s.id.as_str(), k))
            .collect();
        for (k, s) in p.steps.iter().enumerate() {
            for d in &s.deps {
                if let Some(&j) = pos.get(d.as_str()) {
                    assert!(j < k, "{} waits for {d}, which comes after it", s.id);
                }
            }
        }
    }

    #[test]
    fn a_bare_host_installs_every_package_in_one_step() {
        let c = example();
        let p = plan(&c, &bare(&c));
        waits_come_first(&p);
        for h in &c.hosts {
            // what the host needs: (name, no_start)
            let want: BTreeSet<(String, bool)> = c
                .resources
                .iter()
                .filter(|r| &r.id.host == h)
                .filter_map(|r| match &r.desired {
                    Desired::Package { name, no_start } => Some((name.clone(), *no_start)),
                    _ => None,
                })
                .collect();
            assert!(want.len() > 5, "{h}: {want:?}");
            let mine: Vec<_> = p.steps.iter().filter(|s| &s.host == h).collect();
            let installs: Vec<_> = mine
                .iter()
                .filter(|s| s.ops.iter().any(|o| matches!(o, Op::AptInstall { .. })))
                .collect();
            assert_eq!(
                installs.len(),
                1,
                "{h}: one step runs apt-get: {:?}",
                installs.iter().map(|s| (&s.id, &s.ops)).collect::<Vec<_>>()
            );
            let tx = installs[0];
            let mut got = BTreeSet::new();
            for o in &tx.ops {
                let Op::AptInstall { packages, no_start } = o else {
                    panic!("{h}: the transaction runs only apt-get: {o:?}");
                };
                got.extend(packages.iter().map(|p| (p.clone(), *no_start)));
            }
            assert_eq!(
                got, want,
                "{h}: every package, each kept down as its role says"
            );
            assert!(tx.ops.len() <= 2);
            assert!(
                matches!(&tx.ops[0], Op::AptInstall { no_start: true, .. }),
                "what is kept down goes first (its dependencies are kept down with it)"
            );
            // each package keeps its step (the plan shows it), waiting for the transaction
            for (name, _) in &want {
                let id = format!("{h}/package/{name}");
                let s = mine.iter().find(|s| s.id == id).unwrap();
                if s.id != tx.id {
                    assert!(s.ops.is_empty() && s.deps == vec![tx.id.clone()], "{s:?}");
                    assert!(s.reasons.iter().any(|r| r.contains(&tx.id)));
                }
            }
            assert!(tx
                .reasons
                .iter()
                .any(|r| r.starts_with("one apt-get install for the host: ")
                    && r.contains("postgresql-17")));
            // Debian's main cluster is switched off before postgresql-17 is installed
            let cc = format!("{h}/file/etc/postgresql-common/createcluster.conf");
            let at = |id: &str| p.steps.iter().position(|s| s.id == id).unwrap();
            assert!(at(&cc) < at(&tx.id) && tx.deps.contains(&cc));
            assert!(
                at(&tx.id) < at(&format!("{h}/service/etcd")),
                "packages come before the first service"
            );
        }
    }

    /// One package missing: its own step, as before; nothing moves.
    #[test]
    fn a_lone_missing_package_keeps_its_step() {
        let c = example();
        let mut facts = bare(&c);
        for r in &c.resources {
            if let Desired::Package { name, .. } = &r.desired {
                if name != "curl" {
                    facts
                        .get_mut(&r.id.host)
                        .unwrap()
                        .packages
                        .insert(name.clone(), Some("1".into()));
                }
            }
        }
        let p = plan(&c, &facts);
        waits_come_first(&p);
        let h = &c.hosts[0];
        let s = p
            .steps
            .iter()
            .find(|s| s.id == format!("{h}/package/curl"))
            .unwrap();
        assert_eq!(
            s.ops,
            vec![Op::AptInstall {
                packages: vec!["curl".into()],
                no_start: false
            }]
        );
        assert_eq!(s.reasons, vec!["not installed".to_string()]);
    }

    /// A user role: a file listed between two packages goes before the
    /// transaction; a package listed after a command keeps its own
    /// `apt-get`, after that command, as before.
    #[test]
    fn a_package_after_a_command_keeps_its_own_step() {
        let dir = tempfile::tempdir().unwrap();
        let role = dir.path().join("demo");
        std::fs::create_dir_all(&role).unwrap();
        std::fs::write(
            role.join("role.toml"),
            "[[resources]]\nkind = \"package\"\nname = \"a\"\n\
             [[resources]]\nkind = \"file\"\npath = \"/etc/demo/pre.conf\"\ncontent = \"x\"\n\
             [[resources]]\nkind = \"package\"\nname = \"b\"\nno_start = true\n\
             [[resources]]\nkind = \"command\"\nname = \"c\"\nrun = \"true\"\nunless = \"false\"\n\
             [[resources]]\nkind = \"package\"\nname = \"d\"\n",
        )
        .unwrap();
        let inv = Inventory::parse(Source::new(
            "inv.toml",
            "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"10.0.0.1\"\n",
        ))
        .unwrap();
        let stack = Stack::parse(
            Source::new(
                "stack.toml",
                "[stack]\nname = \"t\"\n[roles.demo]\nhosts = [\"h1\"]\n",
            ),
            &inv,
        )
        .unwrap();
        let c = compile(
            &inv,
            &stack,
            &RoleSet::load(Some(dir.path())).unwrap(),
            &SecretValues::Placeholder,
        )
        .unwrap();
        let p = plan(&c, &bare(&c));
        waits_come_first(&p);
        let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "h1/file/etc/demo/pre.conf",
                "h1/package/a",
                "h1/package/b",
                "h1/command/c",
                "h1/package/d"
            ]
        );
        let apt = |packages: &[&str], no_start: bool| Op::AptInstall {
            packages: packages.iter().map(|p| p.to_string()).collect(),
            no_start,
        };
        assert_eq!(p.steps[1].ops, vec![apt(&["b"], true), apt(&["a"], false)]);
        assert!(p.steps[1]
            .deps
            .contains(&"h1/file/etc/demo/pre.conf".to_string()));
        assert!(p.steps[2].ops.is_empty());
        assert_eq!(p.steps[4].ops, vec![apt(&["d"], false)]);
        assert!(p.steps[4].deps.contains(&"h1/command/c".to_string()));
    }
}
