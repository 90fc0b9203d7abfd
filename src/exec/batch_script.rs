//! A batch's script (its ops in subshells, runs of file writes as write
//! groups, contents framed on stdin) and the markers it prints, read back
//! into what it did.

use super::state::state_script;
use super::step::failure_message;
use super::write_group::{write_group, GroupFile};
use crate::plan::Op;

/// A marker no op prints: a fresh random-looking token per batch.
pub(super) fn nonce() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "@rampart-{}",
        &crate::util::sha256_hex(format!("{t}.{}.{n}", std::process::id()).as_bytes())[..16]
    )
}

/// The script and stdin of a batch. Contents are concatenated on stdin (moved
/// to fd 3; the ops themselves get /dev/null) and each write reads exactly its
/// own length with `head -c N <&3` (GNU head reads no further than N from a
/// pipe); a misframed content would fail the write's own hash check, never
/// land. Each op runs in a subshell, so its `set -e`, `exit`, traps and
/// variables are its own, exactly as in its own exec; the first op to fail
/// ends the batch with its status. On stderr, `<nonce> B k j` precedes op j
/// of step k and `<nonce> E k` follows step k; `S` stands for the state
/// manifest, written last when `state` is given.
pub(super) fn batch_script(
    nonce: &str,
    batch: &[Vec<(Op, &[u8])>],
    state: Option<&[u8]>,
) -> (String, Vec<u8>) {
    let mut s = String::from("exec 3<&0 </dev/null\ntrap 'exit 129' HUP INT TERM PIPE\n");
    let mut stdin = Vec::new();
    // not `( ... ) || exit`: a subshell tested by || would run with set -e off
    let part = |s: &mut String, begin: String, body: String, end: Option<String>| {
        s.push_str(&format!("printf '\\n%s\\n' '{nonce} {begin}' >&2\n(\n{body})\nr=$?; [ \"$r\" -eq 0 ] || exit \"$r\"\n"));
        if let Some(e) = end {
            s.push_str(&format!("printf '\\n%s\\n' '{nonce} {e}' >&2\n"));
        }
    };
    // a run of steps that each write one file is one write group (see write_group.rs)
    let single_write =
        |ops: &Vec<(Op, &[u8])>| matches!(ops.as_slice(), [(Op::WriteFile { .. }, _)]);
    let tag = &nonce[nonce.len().saturating_sub(2)..];
    let mut grouped = 0;
    let mut k = 0;
    while k < batch.len() {
        let end = (k..batch.len())
            .find(|&m| !single_write(&batch[m]))
            .unwrap_or(batch.len());
        let files: Vec<GroupFile<'_>> = (k..end)
            .map(|m| GroupFile {
                k: m,
                j: 0,
                op: &batch[m][0].0,
                len: batch[m][0].1.len(),
            })
            .collect();
        if let Some(g) = (end > k)
            .then(|| write_group(nonce, &files, tag, grouped))
            .flatten()
        {
            s.push_str(&g);
            for ops in &batch[k..end] {
                stdin.extend_from_slice(ops[0].1);
            }
            grouped += end - k;
            k = end;
            continue;
        }
        for (j, (op, data)) in batch[k].iter().enumerate() {
            let input = format!("head -c {} <&3", data.len());
            part(
                &mut s,
                format!("B {k} {j}"),
                op.script_with_input(&input),
                (j + 1 == batch[k].len()).then(|| format!("E {k}")),
            );
            stdin.extend_from_slice(data);
        }
        k += 1;
    }
    if let Some(body) = state {
        part(
            &mut s,
            "B S".into(),
            state_script(&format!("head -c {} <&3", body.len())),
            Some("E S".into()),
        );
        stdin.extend_from_slice(body);
    }
    (s, stdin)
}

/// What a batch did: `done` steps succeeded, in order; `failed` is the error
/// of the step after them, when one failed.
#[derive(Debug, PartialEq)]
pub(super) struct BatchOutcome {
    pub(super) done: usize,
    pub(super) failed: Option<String>,
    pub(super) state_written: bool,
}

/// Reads the markers of a finished batch (see `batch_script`).
pub(super) fn parse_batch(
    nonce: &str,
    batch: &[Vec<(Op, &[u8])>],
    out: &crate::transport::ExecOutput,
) -> BatchOutcome {
    let err = out.stderr_str();
    let tag = format!("\n{nonce} ");
    let mut done = 0;
    let mut state_written = false;
    // the op running (step, op) and where its own stderr starts
    let mut current: Option<(usize, usize)> = None;
    let mut from = 0;
    while let Some(at) = err[from..].find(&tag).map(|a| a + from) {
        let line = err[at + tag.len()..].split('\n').next().unwrap_or("");
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["B", "S"] => current = None,
            ["E", "S"] => state_written = true,
            ["B", k, j] => current = k.parse().ok().zip(j.parse().ok()),
            ["E", k] if k.parse() == Ok(done) => done += 1,
            _ => {}
        }
        from = (at + tag.len() + line.len() + 1).min(err.len());
    }
    // what the failing op printed: everything after the last marker
    let own = &err[from..];
    if done >= batch.len() {
        return BatchOutcome {
            done: batch.len(),
            failed: None,
            state_written: state_written && out.ok(),
        };
    }
    // the first step without its end marker failed, at the last op begun in it
    let j = match current {
        Some((k, j)) if k == done && j < batch[done].len() => j,
        _ => 0,
    };
    let op = &batch[done][j].0;
    let failed = if out.ok() {
        format!(
            "{} did not report back (the batch ended early); plan again",
            op.describe()
        )
    } else {
        failure_message(op, out.status, own)
    };
    BatchOutcome {
        done,
        failed: Some(failed),
        state_written: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::test_util::{run, write};
    use crate::facts::STATE_DIR;
    use std::io::Write;
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn run_batch_locally(
        batch: &[Vec<(Op, &[u8])>],
        state: Option<&[u8]>,
        state_dir: Option<&Path>,
    ) -> (BatchOutcome, crate::transport::ExecOutput) {
        let n = nonce();
        let (mut script, stdin) = batch_script(&n, batch, state);
        if let Some(d) = state_dir {
            script = script.replace(STATE_DIR, &d.display().to_string());
        }
        let out = run(&script, &stdin);
        (parse_batch(&n, batch, &out), out)
    }

    fn temps(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".rampart."))
            .collect()
    }

    /// Binary content (every byte value, NULs, newlines, no final newline),
    /// an empty file and text, one after the other on one stdin pipe: each
    /// write reads exactly its own bytes.
    #[test]
    fn a_batch_frames_binary_and_empty_contents_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let binary: Vec<u8> = (0..3)
            .flat_map(|_| 0u8..=255)
            .chain([0, b'\n', 0])
            .collect();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files: Vec<(std::path::PathBuf, Vec<u8>)> = vec![
            (dir.path().join("bin"), binary),
            (dir.path().join("empty"), vec![]),
            (
                dir.path().join("sub/dir/text.conf"),
                b"a = 1\nb = 'two'\n".to_vec(),
            ),
            (dir.path().join("empty2"), vec![]),
            (dir.path().join("big"), big),
            (dir.path().join("last"), b"no newline".to_vec()),
        ];
        let batch: Vec<Vec<(Op, &[u8])>> = files
            .iter()
            .map(|(p, c)| vec![(write(p, c, None, None), c.as_slice())])
            .collect();
        let (res, out) = run_batch_locally(&batch, None, None);
        assert_eq!(
            res,
            BatchOutcome {
                done: files.len(),
                failed: None,
                state_written: false
            },
            "{}",
            out.stderr_str()
        );
        for (p, c) in &files {
            assert_eq!(&std::fs::read(p).unwrap(), c, "{}", p.display());
        }
        assert!(temps(dir.path()).is_empty());
        // the content is on stdin only, never in the script
        let (script, _) = batch_script("n", &batch, None);
        assert!(
            !script.contains("a = 1") && script.contains(" 200000 "),
            "{script}"
        );
    }

    /// A step in the middle fails: the ones before it are done, it is reported
    /// exactly as on its own (stderr tail and status, stale plan included),
    /// and nothing after it ran.
    #[test]
    fn a_failure_in_a_batch_stops_it_and_is_reported_as_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&b, b"changed by hand\n").unwrap();
        let stale = write(&b, b"new b\n", Some(&"1".repeat(64)), None);
        // an earlier op's stderr is not part of the failure's tail
        let noisy = write(&a, b"a\n", None, Some("echo noise-from-a >&2"));
        let batch: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(noisy, b"a\n")],
            vec![(stale.clone(), b"new b\n")],
            vec![(write(&c, b"c\n", None, None), b"c\n")],
        ];
        let (res, _) = run_batch_locally(&batch, None, None);
        let alone = run(&stale.script(), b"new b\n");
        assert_eq!(alone.status, crate::plan::op::STALE);
        let want = failure_message(&stale, alone.status, &alone.stderr_str());
        assert!(
            want.starts_with("stale plan: ")
                && want.contains("changed on the host since it was planned"),
            "{want}"
        );
        assert_eq!(
            res,
            BatchOutcome {
                done: 1,
                failed: Some(want),
                state_written: false
            }
        );
        assert_eq!(std::fs::read(&a).unwrap(), b"a\n");
        assert_eq!(std::fs::read(&b).unwrap(), b"changed by hand\n");
        assert!(!c.exists(), "the step after the failure did not run");

        // a failing op that is not a step's first: its own describe, status and stderr
        let v = write(&c, b"c\n", None, Some("echo bad config >&2; exit 3"));
        let batch: Vec<Vec<(Op, &[u8])>> = vec![vec![
            (
                Op::MakeDir {
                    path: dir.path().join("d").display().to_string(),
                    mode: Some(0o750),
                    owner: None,
                    group: None,
                },
                b"",
            ),
            (v.clone(), b"c\n"),
        ]];
        let two = vec![
            batch[0].clone(),
            vec![(write(&a, b"a2\n", None, None), b"a2\n")],
        ];
        let (res, _) = run_batch_locally(&two, None, None);
        let alone = run(&v.script(), b"c\n");
        assert_eq!(
            res,
            BatchOutcome {
                done: 0,
                failed: Some(failure_message(&v, alone.status, &alone.stderr_str())),
                state_written: false
            }
        );
        assert!(res
            .failed
            .unwrap()
            .starts_with(&format!("write {} failed (exit 1): ", c.display())));
        assert_eq!(std::fs::read(&a).unwrap(), b"a\n");
    }

    /// `set -e` inside each op still holds (a subshell tested by `||` would
    /// silently drop it): a failed chown fails its step.
    #[test]
    fn each_op_keeps_set_e() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        let mk = Op::MakeDir {
            path: d.display().to_string(),
            mode: Some(0o700),
            owner: Some("no-such-user-rampart".into()),
            group: None,
        };
        let f = dir.path().join("f");
        let batch: Vec<Vec<(Op, &[u8])>> =
            vec![vec![(mk, b"")], vec![(write(&f, b"x", None, None), b"x")]];
        let (res, out) = run_batch_locally(&batch, None, None);
        assert_eq!(res.done, 0, "{}", out.stderr_str());
        assert!(
            res.failed
                .as_deref()
                .unwrap_or("")
                .starts_with(&format!("mkdir {} failed (exit 1)", d.display())),
            "{res:?}"
        );
        assert!(!f.exists());
    }

    #[test]
    fn the_state_manifest_is_written_last_and_only_if_all_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let f = dir.path().join("f");
        let ok: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&f, b"1", None, None), b"1")],
            vec![(Op::ClearPending { unit: "x".into() }, b"")],
        ];
        let (res, out) = run_batch_locally(&ok, Some(b"{\"state\": 1}\n"), Some(&state));
        assert_eq!(
            res,
            BatchOutcome {
                done: 2,
                failed: None,
                state_written: true
            },
            "{}",
            out.stderr_str()
        );
        assert_eq!(
            std::fs::read(state.join("state.json")).unwrap(),
            b"{\"state\": 1}\n"
        );
        let bad: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&dir.path().join("g"), b"2", None, None), b"2")],
            vec![(write(&f, b"3", Some(&"0".repeat(64)), None), b"3")],
        ];
        let (res, _) = run_batch_locally(&bad, Some(b"{\"state\": 2}\n"), Some(&state));
        assert_eq!((res.done, res.state_written), (1, false));
        assert_eq!(
            std::fs::read(state.join("state.json")).unwrap(),
            b"{\"state\": 1}\n",
            "a failed batch leaves the manifest to the executor"
        );
    }

    /// rampart killed mid-batch (sshd hangs up on the script's process group)
    /// while a write group uploads its second file: no file is half-written
    /// (the group puts files in place only once all are uploaded and checked,
    /// so `a` still holds its old content) and no temp file is left.
    #[test]
    fn a_batch_cut_off_by_a_hangup_leaves_whole_files_and_no_temp_file() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&a, b"old a\n").unwrap();
        let bc = vec![b'b'; 4096];
        let batch: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&a, b"whole\n", None, None), b"whole\n")],
            vec![(write(&b, &bc, None, None), &bc)],
            vec![(write(&c, b"c", None, None), b"c")],
        ];
        let (script, stdin) = batch_script(&nonce(), &batch, None);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut w = child.stdin.take().unwrap();
        w.write_all(&stdin[..6 + 1000]).unwrap();
        let t = std::time::Instant::now();
        // two temp files exist: a's is whole, b's upload is under way
        let under_way = || temps(dir.path()).len() == 2;
        while !under_way() && t.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(under_way(), "b's upload is under way");
        unsafe { libc::kill(-(child.id() as i32), libc::SIGHUP) };
        let _ = child.wait();
        drop(w);
        assert_eq!(std::fs::read(&a).unwrap(), b"old a\n");
        assert!(!b.exists() && !c.exists());
        assert!(temps(dir.path()).is_empty(), "{:?}", temps(dir.path()));
    }

    #[test]
    fn markers_are_parsed_whatever_the_ops_print() {
        let w = write(Path::new("/x"), b"", None, None);
        let batch: Vec<Vec<(Op, &[u8])>> = vec![vec![(w.clone(), b"")], vec![(w.clone(), b"")]];
        let out = |status: i32, err: &str| crate::transport::ExecOutput {
            status,
            stdout: vec![],
            stderr: err.as_bytes().to_vec(),
        };
        // an op's output without a final newline, and a fake marker with another nonce
        let r = parse_batch(
            "N",
            &batch,
            &out(2, "\nN B 0 0\npartial\nN E 0\n\nN B 1 0\n\nM E 1\nboom"),
        );
        assert_eq!(
            r,
            BatchOutcome {
                done: 1,
                failed: Some(failure_message(&w, 2, "\nM E 1\nboom")),
                state_written: false
            }
        );
        // nothing ran (sudo refused): the first step failed
        let r = parse_batch("N", &batch, &out(1, "sudo: a password is required\n"));
        assert_eq!(r.done, 0);
        assert!(r.failed.unwrap().ends_with("sudo: a password is required"));
        // success without markers is not taken for success
        assert_eq!(parse_batch("N", &batch, &out(0, "")).done, 0);
    }
}
