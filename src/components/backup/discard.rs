//! `rampart restore --discard-old`: the data directories a restore kept aside
//! (`DATA.before-restore-STAMP`, see `restore`) removed once the operator
//! has checked the restored cluster, never before. Pure: the probe's text,
//! its parser (only names of exactly that form are ever removed, never the
//! live data directory) and the plan's steps, one per member that keeps any.

use crate::compile::{Kind, ResourceId};
use crate::plan::op::Op;
use crate::plan::{Action, Step};
use crate::transport::quote::sh;

/// One set-aside data directory on a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub path: String,
    /// Its size in bytes (`du -sb`), for the plan.
    pub bytes: u64,
}

const MARK: &str = "kept-aside";

/// The script run on a member: `kept-aside BYTES PATH` for each directory
/// named `DATA.before-restore-*`.
pub fn probe(data_dir: &str) -> String {
    format!(
        "for d in {}.before-restore-*; do [ -d \"$d\" ] && echo \"{MARK} $(du -sb \"$d\" | cut -f1) $d\"; done; true",
        sh(data_dir)
    )
}

/// `STAMP` of a name `DATA.before-restore-STAMP`, if it is one a restore
/// writes: `YYYYMMDDTHHMMSSZ`.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// The set-aside directories in the probe's output (anything else ignored).
pub fn parse(out: &str, data_dir: &str) -> Vec<Kept> {
    let prefix = format!("{data_dir}.before-restore-");
    let mut kept: Vec<Kept> = out
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ' ');
            if f.next()? != MARK {
                return None;
            }
            let bytes = f.next()?.parse().ok()?;
            let path = f.next()?.trim_end();
            is_stamp(path.strip_prefix(&prefix)?).then(|| Kept {
                path: path.to_string(),
                bytes,
            })
        })
        .collect();
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    kept
}

fn size(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= 1024.0 * MB {
        format!("{:.1} GiB", b / (1024.0 * MB))
    } else {
        format!("{:.1} MiB", b / MB)
    }
}

/// One step per member that keeps a directory aside: `HOST/restore/discard-old`,
/// which names each directory (and its size) and removes exactly those.
pub fn steps(kept: &[(String, Vec<Kept>)]) -> Vec<Step> {
    kept.iter()
        .filter(|(_, k)| !k.is_empty())
        .map(|(host, k)| Step {
            id: ResourceId::new(host, Kind::Restore, "discard-old").to_string(),
            host: host.clone(),
            action: Action::Delete,
            reasons: k
                .iter()
                .map(|d| {
                    format!(
                        "remove {} ({}): the data directory a restore kept aside",
                        d.path,
                        size(d.bytes)
                    )
                })
                .collect(),
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![Op::RunCommand {
                run: format!(
                    "rm -rf --one-file-system -- {}",
                    k.iter().map(|d| sh(&d.path)).collect::<Vec<_>>().join(" ")
                ),
                unless: None,
                creates: None,
            }],
            deps: Vec::new(),
            retires: None,
            always: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = "/var/lib/postgresql/17/patroni";

    #[test]
    fn only_directories_a_restore_named_are_kept_aside() {
        let out = "kept-aside 52428800 /var/lib/postgresql/17/patroni.before-restore-20261130T140400Z\n\
                   kept-aside 1024 /var/lib/postgresql/17/patroni.before-restore-20261129T010203Z\n\
                   kept-aside 1 /var/lib/postgresql/17/patroni\n\
                   kept-aside 1 /var/lib/postgresql/17/patroni.before-restore-*\n\
                   kept-aside 1 /var/lib/postgresql/17/patroni.before-restore-20261130T140400Z/../..\n\
                   kept-aside 1 /var/lib/postgresql/15/patroni.before-restore-20261130T140400Z\n\
                   kept-aside x /var/lib/postgresql/17/patroni.before-restore-20261130T140401Z\n\
                   noise\n";
        assert_eq!(
            parse(out, DATA),
            vec![
                Kept {
                    path: format!("{DATA}.before-restore-20261129T010203Z"),
                    bytes: 1024
                },
                Kept {
                    path: format!("{DATA}.before-restore-20261130T140400Z"),
                    bytes: 52428800
                },
            ]
        );
        assert_eq!(parse("", DATA), vec![]);
    }

    #[test]
    fn the_probe_lists_only_directories() {
        assert_eq!(
            probe(DATA),
            "for d in /var/lib/postgresql/17/patroni.before-restore-*; do [ -d \"$d\" ] && echo \"kept-aside $(du -sb \"$d\" | cut -f1) $d\"; done; true"
        );
        // run for real: a glob that matches nothing lists nothing, and exits 0
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("patroni").display().to_string();
        let run = |script: &str| {
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            assert!(o.status.success());
            String::from_utf8(o.stdout).unwrap()
        };
        assert_eq!(parse(&run(&probe(&data)), &data), vec![]);
        std::fs::create_dir_all(format!("{data}.before-restore-20261130T140400Z/base")).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let kept = parse(&run(&probe(&data)), &data);
        assert_eq!(kept.len(), 1, "{kept:?}");
        // the step removes it, and leaves the live data directory
        let s = steps(&[("db1".into(), kept)]);
        let Op::RunCommand { run: script, .. } = &s[0].ops[0] else {
            panic!()
        };
        run(script);
        assert!(std::path::Path::new(&data).is_dir());
        assert!(parse(&run(&probe(&data)), &data).is_empty());
    }

    #[test]
    fn the_plan_names_what_it_removes() {
        let k = |stamp: &str, bytes| Kept {
            path: format!("{DATA}.before-restore-{stamp}"),
            bytes,
        };
        let s = steps(&[
            (
                "lab1".into(),
                vec![k("20261129T010203Z", 1024), k("20261130T140400Z", 52428800)],
            ),
            ("lab2".into(), vec![]),
            ("lab3".into(), vec![k("20261130T140400Z", 3 << 30)]),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].id, "lab1/restore/discard-old");
        assert_eq!(s[0].action, Action::Delete);
        assert_eq!(
            s[0].reasons,
            [
                "remove /var/lib/postgresql/17/patroni.before-restore-20261129T010203Z (0.0 MiB): the data directory a restore kept aside",
                "remove /var/lib/postgresql/17/patroni.before-restore-20261130T140400Z (50.0 MiB): the data directory a restore kept aside",
            ]
        );
        assert_eq!(
            s[0].ops,
            [Op::RunCommand {
                run: "rm -rf --one-file-system -- /var/lib/postgresql/17/patroni.before-restore-20261129T010203Z /var/lib/postgresql/17/patroni.before-restore-20261130T140400Z".into(),
                unless: None,
                creates: None
            }]
        );
        assert_eq!(s[1].id, "lab3/restore/discard-old");
        assert!(s[1].reasons[0].contains("(3.0 GiB)"), "{:?}", s[1].reasons);
    }
}
