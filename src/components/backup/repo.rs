//! What the pgBackRest repository holds, as `rampart restore` reads it on the
//! repo host (`pgbackrest info --output=json` and the newest archived WAL
//! segment), and the choice of the backup a target restores from, or the
//! reason it cannot be restored. Pure but for the probe's text.

use super::target::{utc_text, Target};
use crate::transport::quote::sh;

#[derive(Debug, Clone, PartialEq)]
pub struct BackupSet {
    pub label: String,
    /// `full`, `diff` or `incr`.
    pub kind: String,
    pub start: i64,
    pub stop: i64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepoState {
    /// Oldest first.
    pub backups: Vec<BackupSet>,
    /// The newest archived WAL segment: its name and when it reached the repository.
    pub newest_wal: Option<(String, f64)>,
}

/// What a restore will do: the backup set it starts from and the pgBackRest
/// options that take it to the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub set: String,
    /// `--type=time --target=... --target-action=promote`, and so on.
    pub options: String,
    /// For the plan: what the restore reaches.
    pub describe: String,
}

const WAL_MARK: &str = "@@rampart-newest-wal";

/// The script run on the repository host (as root; pgBackRest as postgres).
pub fn probe(stanza: &str, newest_wal: &str) -> String {
    format!(
        "cd / && runuser -u postgres -- pgbackrest --stanza={s} --output=json info && echo && echo {WAL_MARK} && ({newest_wal})",
        s = sh(stanza),
    )
}

/// A command, run on the repository host as root, that prints the newest
/// archived WAL segment as `MTIME NAME` (nothing when there is none): from
/// the repository's folder on the repo host's disk (`repo_path` there), or,
/// with S3, from pgBackRest's own listing of the bucket (`repo-ls`).
pub fn newest_wal(stanza: &str, repo_path: &str, s3: bool) -> String {
    if s3 {
        format!(
            "cd / && runuser -u postgres -- pgbackrest --stanza={s} --output=json --recurse repo-ls archive/{s} 2>/dev/null | python3 -c 'import json,sys; f=[(v.get(\"time\",0),k.rsplit(\"/\",1)[-1]) for k,v in json.load(sys.stdin).items() if v.get(\"type\")==\"file\"]; f=[x for x in f if len(x[1])>24 and x[1][24]==\"-\" and all(c in \"0123456789ABCDEF\" for c in x[1][:24])]; f and print(\"%d %s\" % max(f))'",
            s = sh(stanza),
        )
    } else {
        format!(
            "find {a} -type f -printf '%T@ %f\\n' 2>/dev/null | grep -E ' [0-9A-F]{{24}}-' | sort -n | tail -n 1",
            a = sh(&format!("{repo_path}/archive/{stanza}")),
        )
    }
}

/// Parses the probe's output.
pub fn parse(out: &str, stanza: &str) -> Result<RepoState, String> {
    let (json, wal) = out.split_once(WAL_MARK).unwrap_or((out, ""));
    parse_parts(json, wal, stanza)
}

/// `pgbackrest info --output=json`'s text and the newest segment's `MTIME NAME` line.
pub fn parse_parts(json: &str, wal: &str, stanza: &str) -> Result<RepoState, String> {
    let v: serde_json::Value = serde_json::from_str(json.trim())
        .map_err(|e| format!("pgbackrest info did not answer JSON ({e})"))?;
    let st = v
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == stanza))
        .ok_or_else(|| format!("the repository has no stanza `{stanza}`: apply the stack first (it creates the stanza)"))?;
    let mut backups: Vec<BackupSet> = st["backup"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| {
            Some(BackupSet {
                label: b["label"].as_str()?.to_string(),
                kind: b["type"].as_str().unwrap_or("").to_string(),
                start: b["timestamp"]["start"].as_i64()?,
                stop: b["timestamp"]["stop"].as_i64()?,
            })
        })
        .collect();
    backups.sort_by_key(|b| b.stop);
    let newest_wal = wal
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .and_then(|l| {
            let (t, name) = l.split_once(' ')?;
            Some((name.get(..24)?.to_string(), t.parse::<f64>().ok()?))
        });
    Ok(RepoState {
        backups,
        newest_wal,
    })
}

/// The backup set a target restores from, or why it cannot be restored.
pub fn choose(state: &RepoState, target: &Target, now: f64) -> Result<Chosen, String> {
    let Some(newest) = state.backups.last() else {
        return Err("the repository holds no backup yet: take one first (systemctl start rampart-pgbackrest-full.service on the repo host)".into());
    };
    match target {
        Target::Latest => Ok(Chosen {
            set: newest.label.clone(),
            options: "--type=default".into(),
            describe: format!(
                "the end of the archive (from backup {}, then every archived WAL segment)",
                newest.label
            ),
        }),
        Target::Backup(label) => {
            let b = state
                .backups
                .iter()
                .find(|b| &b.label == label)
                .ok_or_else(|| {
                    format!(
                        "there is no backup `{}` in the repository; it holds: {}",
                        label.escape_debug(),
                        state
                            .backups
                            .iter()
                            .map(|b| format!(
                                "{} ({}, finished {} UTC)",
                                b.label,
                                b.kind,
                                utc_text(b.stop)
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            Ok(Chosen {
                set: b.label.clone(),
                options: "--type=immediate --target-action=promote".into(),
                describe: format!(
                    "the end of backup {} ({}, finished {} UTC)",
                    b.label,
                    b.kind,
                    utc_text(b.stop)
                ),
            })
        }
        Target::Time { epoch, text } => {
            if *epoch > now {
                return Err(format!(
                    "{text} is in the future (it is now {} UTC): nothing has been written at that time yet",
                    utc_text(now as i64)
                ));
            }
            let oldest = &state.backups[0];
            if *epoch < oldest.stop as f64 {
                return Err(format!(
                    "{text} is before the oldest backup the repository holds ({}, finished {} UTC): a point in time can be restored only after the end of a backup",
                    oldest.label,
                    utc_text(oldest.stop)
                ));
            }
            match &state.newest_wal {
                Some((_, at)) if *epoch <= *at => {}
                Some((name, at)) => {
                    return Err(format!(
                        "{text} is after the last archived WAL (segment {name}, archived {} UTC): what was written after that is not in the repository (yet); wait for archiving to catch up or choose an earlier time",
                        utc_text(*at as i64)
                    ))
                }
                None => return Err("the repository holds no archived WAL: a point in time cannot be reached".into()),
            }
            let b = state
                .backups
                .iter()
                .rev()
                .find(|b| (b.stop as f64) <= *epoch)
                .unwrap_or(oldest);
            Ok(Chosen {
                set: b.label.clone(),
                options: format!("--type=time --target={} --target-action=promote", sh(text)),
                describe: format!(
                    "{text} (from backup {}, then the archived WAL up to that time)",
                    b.label
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = r#"[{"archive":[{"id":"17-1","max":"000000010000000000000009","min":"000000010000000000000002"}],"backup":[{"label":"20261130-110000F","type":"full","timestamp":{"start":1796036400,"stop":1796036460}},{"label":"20261130-120000F_20261130-130000D","type":"diff","timestamp":{"start":1796043600,"stop":1796043630}}],"name":"lab","status":{"code":0,"message":"ok"}}]
@@rampart-newest-wal
1796043900.123 000000010000000000000009-2f1c2b64d0a8d0bf0c4ad2c2a1fd2b3b1c2f3a4b.zst
"#;

    fn t(s: &str) -> Target {
        super::super::target::parse_time(s).unwrap()
    }

    #[test]
    fn the_probe_output_is_read() {
        let st = parse(OUT, "lab").unwrap();
        assert_eq!(st.backups.len(), 2);
        assert_eq!(st.backups[0].label, "20261130-110000F");
        assert_eq!(st.backups[1].kind, "diff");
        assert_eq!(
            st.newest_wal,
            Some(("000000010000000000000009".into(), 1796043900.123))
        );
        assert!(parse(OUT, "other")
            .unwrap_err()
            .contains("no stanza `other`"));
        assert!(probe("lab", &newest_wal("lab", "/var/lib/pgbackrest", false))
            .ends_with("&& (find /var/lib/pgbackrest/archive/lab -type f -printf '%T@ %f\\n' 2>/dev/null | grep -E ' [0-9A-F]{24}-' | sort -n | tail -n 1)"));
    }

    #[test]
    fn a_time_restores_from_the_newest_backup_before_it() {
        let st = parse(OUT, "lab").unwrap();
        let now = 1796046300.0;
        // between the two backups: the full one
        let c = choose(&st, &t("2026-11-30 11:30:00+00"), now).unwrap();
        assert_eq!(c.set, "20261130-110000F");
        assert_eq!(
            c.options,
            "--type=time --target='2026-11-30 11:30:00+00' --target-action=promote"
        );
        // after the diff (13:00:30), before the last WAL (13:05:00)
        let c = choose(&st, &t("2026-11-30 13:04:00+00"), now).unwrap();
        assert_eq!(c.set, "20261130-120000F_20261130-130000D");
    }

    #[test]
    fn targets_outside_the_repository_are_refused_with_the_reason() {
        let st = parse(OUT, "lab").unwrap();
        let now = 1796046300.0;
        let e = choose(&st, &t("2026-11-30 10:00:00+00"), now).unwrap_err();
        assert!(e.contains("before the oldest backup the repository holds (20261130-110000F, finished 2026-11-30 11:01:00 UTC)"), "{e}");
        let e = choose(&st, &t("2026-11-30 13:10:00+00"), now).unwrap_err();
        assert!(e.contains("after the last archived WAL (segment 000000010000000000000009, archived 2026-11-30 13:05:00 UTC)"), "{e}");
        let e = choose(&st, &t("2027-01-01 00:00:00+00"), now).unwrap_err();
        assert!(e.contains("is in the future"), "{e}");
        let e = choose(&st, &Target::Backup("20261130-999999F".into()), now).unwrap_err();
        assert!(e.contains("there is no backup `20261130-999999F` in the repository; it holds: 20261130-110000F (full, finished 2026-11-30 11:01:00 UTC)"), "{e}");
        let empty = RepoState::default();
        assert!(choose(&empty, &Target::Latest, now)
            .unwrap_err()
            .contains("no backup yet"));
    }

    #[test]
    fn a_label_and_latest_choose_their_sets() {
        let st = parse(OUT, "lab").unwrap();
        let c = choose(&st, &Target::Backup("20261130-110000F".into()), 0.0).unwrap();
        assert_eq!(
            (c.set.as_str(), c.options.as_str()),
            (
                "20261130-110000F",
                "--type=immediate --target-action=promote"
            )
        );
        let c = choose(&st, &Target::Latest, 0.0).unwrap();
        assert_eq!(
            (c.set.as_str(), c.options.as_str()),
            ("20261130-120000F_20261130-130000D", "--type=default")
        );
    }

    /// The S3 listing's parser, run for real on what `pgbackrest repo-ls
    /// --output=json --recurse` prints: the newest segment (not the history
    /// or backup files), as `MTIME NAME`, which `parse_parts` reads.
    #[test]
    fn the_newest_segment_in_a_bucket_is_read_from_pgbackrests_listing() {
        let cmd = newest_wal("lab", "/pgbackrest", true);
        assert!(
            cmd.starts_with("cd / && runuser -u postgres -- pgbackrest --stanza=lab --output=json --recurse repo-ls archive/lab 2>/dev/null | python3 -c '"),
            "{cmd}"
        );
        let python = &cmd[cmd.find("python3").unwrap()..];
        let listing = r#"{".":{"type":"path"},"17-1":{"type":"path"},"17-1/archive.info":{"type":"file","size":3,"time":1796047000},"17-1/00000002.history":{"type":"file","size":3,"time":1796046999},"17-1/0000000100000000":{"type":"path"},"17-1/0000000100000000/000000010000000000000008-aa.zst":{"type":"file","size":9,"time":1796046000},"17-1/0000000100000000/000000010000000000000009-bb.zst":{"type":"file","size":9,"time":1796046300}}"#;
        let run = |input: &str| {
            let mut c = std::process::Command::new("sh")
                .arg("-c")
                .arg(python)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success());
            String::from_utf8(o.stdout).unwrap()
        };
        let line = run(listing);
        assert_eq!(line, "1796046300 000000010000000000000009-bb.zst\n");
        let st = parse_parts(r#"[{"name":"lab","backup":[]}]"#, &line, "lab").unwrap();
        assert_eq!(
            st.newest_wal,
            Some(("000000010000000000000009".into(), 1796046300.0))
        );
        // an empty bucket: nothing
        assert_eq!(run(r#"{".":{"type":"path"}}"#), "");
        // on disk, the repository's folder as before
        assert_eq!(
            newest_wal("lab", "/var/lib/pgbackrest", false),
            "find /var/lib/pgbackrest/archive/lab -type f -printf '%T@ %f\\n' 2>/dev/null | grep -E ' [0-9A-F]{24}-' | sort -n | tail -n 1"
        );
    }
}
