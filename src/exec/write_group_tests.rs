//! Write groups run locally against temp dirs: what they start (a shim per
//! program on PATH), what they leave in place after a failure, and how a
//! failure is reported.

use super::super::batch_script::{batch_script, nonce, parse_batch, BatchOutcome};
use super::*;
use crate::exec::test_util::{run, write};
use std::path::{Path, PathBuf};

/// Runs `batch` locally with the pending directory moved under `root`
/// and every program it starts logged (a shim per program on PATH;
/// `systemctl` only logged, never run). Returns what it did and the
/// programs, in order.
fn run_logged(
    root: &Path,
    batch: &[Vec<(Op, &[u8])>],
) -> (BatchOutcome, crate::transport::ExecOutput, Vec<String>) {
    let shims = root.join("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let log = root.join("programs.log");
    let path = std::env::var("PATH").unwrap_or_default();
    for p in [
        "perl",
        "sha256sum",
        "mkdir",
        "rm",
        "mv",
        "chown",
        "chmod",
        "head",
        "cut",
        "dirname",
        "mktemp",
        "sync",
        "cat",
        "stat",
        "touch",
        "env",
        "systemctl",
    ] {
        // the real program, by its full path: the shims stay on PATH for what it starts
        let real = std::env::split_paths(&path)
            .map(|d| d.join(p))
            .find(|f| f.is_file());
        let body = match real {
            Some(real) if p != "systemctl" => format!(
                "#!/bin/sh\necho {p} >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
            _ => format!("#!/bin/sh\necho \"{p} $*\" >> '{}'\n", log.display()),
        };
        let f = shims.join(p);
        std::fs::write(&f, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let n = nonce();
    let (script, stdin) = batch_script(&n, batch, None);
    let script = format!(
        "PATH='{}':\"$PATH\"; export PATH\n{}",
        shims.display(),
        script.replace(PENDING_DIR, &root.join("pending").display().to_string())
    );
    let out = run(&script, &stdin);
    let programs = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    (parse_batch(&n, batch, &out), out, programs)
}

fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".rampart."))
        .collect()
}

fn files(dir: &Path, n: usize) -> Vec<(PathBuf, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                dir.join(format!("conf.d/{i:02}.cfg")),
                format!("# file {i}\n{}", "x = 1\n".repeat(300)).into_bytes(),
            )
        })
        .collect()
}

/// 10 files or 50 (and one with a validate command): the same programs
/// run, a handful of them; per file nothing is started.
#[test]
fn a_group_starts_the_same_few_programs_for_10_files_or_50() {
    let mut seen = Vec::new();
    for n in [10, 50] {
        let root = tempfile::tempdir().unwrap();
        let fs = files(root.path(), n);
        let ops: Vec<Op> = fs
            .iter()
            .enumerate()
            .map(|(i, (p, c))| {
                let v = (i == n / 2).then_some("test -s \"$RAMPART_FILE\"");
                let mut w = write(p, c, None, v);
                if let Op::WriteFile { notify, mode, .. } = &mut w {
                    *notify = vec!["demo".into()];
                    *mode = 0o600;
                }
                w
            })
            .collect();
        let batch: Vec<Vec<(Op, &[u8])>> = ops
            .iter()
            .zip(&fs)
            .map(|(o, (_, c))| vec![(o.clone(), c.as_slice())])
            .collect();
        let (res, out, programs) = run_logged(root.path(), &batch);
        assert_eq!(
            res,
            BatchOutcome {
                done: n,
                failed: None,
                state_written: false
            },
            "{}",
            out.stderr_str()
        );
        for (p, c) in &fs {
            assert_eq!(&std::fs::read(p).unwrap(), c);
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
            assert_eq!(m, 0o600, "{}", p.display());
        }
        assert!(root.path().join("pending/demo").exists());
        assert!(temps(&root.path().join("conf.d")).is_empty());
        seen.push(programs);
    }
    assert_eq!(
        seen[0], seen[1],
        "the programs do not grow with the file count"
    );
    // the directory, one writer, one sha256sum, and a rename run on each side of the validated file
    assert_eq!(
        seen[0],
        ["mkdir", "perl", "sha256sum", "perl", "perl"],
        "{:?}",
        seen[0]
    );
}

/// A validated file is checked with the files before it in place (it
/// may name them); when it fails, those stay, it and the files after it
/// are not written, no temp file is left, and the failure is reported on
/// it with the message a lone write gives.
#[test]
fn a_failed_validation_keeps_the_files_before_it_and_no_others() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc");
    let (cert, conf, after) = (d.join("cert.pem"), d.join("app.conf"), d.join("z.conf"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(&conf, b"old\n").unwrap();
    let old = crate::util::sha256_hex(b"old\n");
    let check = format!("test -s {}", sh(&cert.display().to_string()));
    let good = write(&conf, b"new\n", Some(&old), Some(&check));
    let bad = write(
        &conf,
        b"new\n",
        Some(&old),
        Some("echo 'line 3: bad' >&2; false"),
    );
    for (v, ok) in [(&good, true), (&bad, false)] {
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&after);
        std::fs::write(&conf, b"old\n").unwrap();
        let batch: Vec<Vec<(Op, &[u8])>> = vec![
            vec![(write(&cert, b"PEM\n", None, None), b"PEM\n")],
            vec![(v.clone(), b"new\n")],
            vec![(write(&after, b"z\n", None, None), b"z\n")],
        ];
        let (res, out, _) = run_logged(root.path(), &batch);
        assert_eq!(std::fs::read(&cert).unwrap(), b"PEM\n");
        assert!(temps(&d).is_empty(), "{:?}", temps(&d));
        if ok {
            assert_eq!(res.done, 3, "{}", out.stderr_str());
            assert_eq!(std::fs::read(&conf).unwrap(), b"new\n");
            assert_eq!(std::fs::read(&after).unwrap(), b"z\n");
            continue;
        }
        let alone = run(&v.script(), b"new\n");
        assert_eq!(
            res,
            BatchOutcome {
                done: 1,
                failed: Some(crate::exec::step::failure_message(
                    v,
                    alone.status,
                    &alone.stderr_str()
                )),
                state_written: false
            }
        );
        assert!(res.failed.unwrap().contains("line 3: bad"));
        assert_eq!(std::fs::read(&conf).unwrap(), b"old\n");
        assert!(!after.exists());
    }
}

/// The group re-checks each target against the plan: a file changed by
/// hand since is a stale plan (exit 97, as alone) and the files before
/// it are in place; `*` (after packages) skips the check.
#[test]
fn a_stale_target_stops_the_group_at_it() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("etc");
    std::fs::create_dir_all(&d).unwrap();
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    std::fs::write(&b, b"by hand\n").unwrap();
    std::fs::write(&c, b"shipped by a package\n").unwrap();
    let stale = write(&b, b"b\n", Some(&"1".repeat(64)), None);
    let batch: Vec<Vec<(Op, &[u8])>> = vec![
        vec![(write(&a, b"a\n", None, None), b"a\n")],
        vec![(write(&c, b"c\n", Some("*"), None), b"c\n")],
        vec![(stale.clone(), b"b\n")],
    ];
    let (res, _, _) = run_logged(root.path(), &batch);
    let alone = run(&stale.script(), b"b\n");
    assert_eq!(alone.status, crate::plan::op::STALE);
    assert_eq!(
        res,
        BatchOutcome {
            done: 2,
            failed: Some(crate::exec::step::failure_message(
                &stale,
                alone.status,
                &alone.stderr_str()
            )),
            state_written: false
        }
    );
    assert_eq!(std::fs::read(&a).unwrap(), b"a\n");
    assert_eq!(std::fs::read(&c).unwrap(), b"c\n");
    assert_eq!(std::fs::read(&b).unwrap(), b"by hand\n");
    assert!(temps(&d).is_empty());
}

/// Unit files: one daemon-reload after a run of them, before their
/// steps end; an unknown owner fails its file (nothing of it in place).
#[test]
fn units_reload_once_and_an_unknown_owner_fails_its_file() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("system");
    let units: Vec<(PathBuf, Vec<u8>)> = (0..3)
        .map(|i| (d.join(format!("u{i}.service")), b"[Unit]\n".to_vec()))
        .collect();
    let ops: Vec<Op> = units
        .iter()
        .map(|(p, c)| {
            let mut w = write(p, c, None, None);
            if let Op::WriteFile { daemon_reload, .. } = &mut w {
                *daemon_reload = true;
            }
            w
        })
        .collect();
    let batch: Vec<Vec<(Op, &[u8])>> = ops
        .iter()
        .zip(&units)
        .map(|(o, (_, c))| vec![(o.clone(), c.as_slice())])
        .collect();
    let (res, out, programs) = run_logged(root.path(), &batch);
    assert_eq!(res.done, 3, "{}", out.stderr_str());
    assert_eq!(
        programs
            .iter()
            .filter(|p| p.starts_with("systemctl"))
            .collect::<Vec<_>>(),
        ["systemctl daemon-reload"]
    );
    let mut nobody = write(&d.join("x.conf"), b"x", None, None);
    if let Op::WriteFile { owner, .. } = &mut nobody {
        *owner = "no-such-user-rampart".into();
    }
    let batch: Vec<Vec<(Op, &[u8])>> = vec![
        vec![(write(&d.join("w.conf"), b"w", None, None), b"w")],
        vec![(nobody, b"x")],
    ];
    let (res, _, _) = run_logged(root.path(), &batch);
    assert_eq!(res.done, 1);
    let e = res.failed.unwrap();
    assert!(
        e.starts_with(&format!(
            "write {} failed (exit 1): ",
            d.join("x.conf").display()
        )) && e.contains("invalid user"),
        "{e}"
    );
    assert!(d.join("w.conf").exists() && !d.join("x.conf").exists());
    assert!(temps(&d).is_empty());
}

#[test]
fn dir_of_is_dirname() {
    assert_eq!(dir_of("/etc/x.conf"), "/etc");
    assert_eq!(dir_of("/x"), "/");
    assert_eq!(dir_of("/etc//a b/x"), "/etc//a b");
    assert_eq!(dir_of("x"), ".");
}
