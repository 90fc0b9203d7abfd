//! The files probe against real files on this machine (GNU coreutils, as on
//! Debian hosts): what it reports equals what the one-file-at-a-time probe
//! it replaced reported, except that a file whose hash is the expected one
//! sends no content.

use super::*;
use std::collections::BTreeSet;

/// The probe this replaced: five or six processes per file.
const PER_FILE: &str = "f() { if [ -d \"$1\" ]; then printf 'D\\t%s\\t%s\\n' \"$1\" \"$(stat -c '%a %U %G' \"$1\")\"; \
elif [ -e \"$1\" ]; then printf 'F\\t%s\\t%s %s\\n' \"$1\" \"$(stat -c '%a %U %G %s' \"$1\")\" \"$(sha256sum < \"$1\" | cut -d' ' -f1)\"; \
if [ \"$(stat -c %s \"$1\")\" -le MAXC ]; then printf 'C\\t%s\\t' \"$1\"; base64 -w0 < \"$1\"; echo; fi; \
else printf 'N\\t%s\\n' \"$1\"; fi; }\n";

fn run(script: &str) -> HostFacts {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("LC_ALL=C; export LC_ALL\n{script}echo END\n"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8(out.stdout).unwrap(), &[]).unwrap()
}

fn old(paths: &BTreeSet<String>) -> HostFacts {
    let mut s = PER_FILE.replace("MAXC", &MAX_CONTENT.to_string());
    for p in paths {
        s.push_str(&format!("f {}\n", sh(p)));
    }
    run(&s)
}

#[test]
fn the_files_probe_reports_what_the_per_file_probe_did_and_skips_known_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let at = |n: &str| d.join(n).display().to_string();
    std::fs::write(at("plain.conf"), "a = 1\n").unwrap();
    std::fs::write(at("empty"), "").unwrap();
    std::fs::write(at("with space's.conf"), "quoted\n").unwrap();
    std::fs::write(at("known.conf"), "known\n").unwrap();
    std::fs::write(at("big"), vec![b'x'; MAX_CONTENT as usize + 1]).unwrap();
    // every byte value, and lengths around base64's padding and the 45-byte lines of `pack "u"`
    let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    std::fs::write(at("binary"), &bytes).unwrap();
    for n in [1, 2, 45, 46, 47] {
        std::fs::write(at(&format!("len{n}")), &bytes[..n]).unwrap();
    }
    std::fs::create_dir(at("sub")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(at("plain.conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let paths: BTreeSet<String> = [
        "plain.conf",
        "empty",
        "with space's.conf",
        "known.conf",
        "big",
        "binary",
        "len1",
        "len2",
        "len45",
        "len46",
        "len47",
        "sub",
        "missing",
        "sub/missing-too",
    ]
    .iter()
    .map(|n| at(n))
    .collect();
    let known = crate::util::sha256_hex(b"known\n");
    let expected = vec![
        (at("known.conf"), known.clone()),
        (at("plain.conf"), "0".repeat(64)), // expected something else: content is sent
    ];
    let before = old(&paths);
    let after = run(&files_probe(&paths, &expected));
    assert_eq!(before.files.len(), paths.len());
    for p in &paths {
        let (b, a) = (&before.files[p], &after.files[p]);
        assert_eq!(
            (b.exists, b.is_dir, &b.sha256, b.mode, &b.owner, &b.group),
            (a.exists, a.is_dir, &a.sha256, a.mode, &a.owner, &a.group),
            "{p}"
        );
        if *p == at("known.conf") {
            assert_eq!(a.sha256.as_deref(), Some(known.as_str()));
            assert!(
                b.content.is_some() && a.content.is_none(),
                "known content is not sent"
            );
        } else {
            assert_eq!(b.content, a.content, "{p}");
        }
    }
    assert_eq!(after.files[&at("plain.conf")].mode, Some(0o640));
    assert_eq!(
        after.files[&at("binary")].content.as_deref(),
        Some(&bytes[..])
    );
    assert_eq!(after.files[&at("empty")].content.as_deref(), Some(&b""[..]));
    assert!(after.files[&at("sub")].is_dir && !after.files[&at("missing")].exists);
    assert!(
        after.files[&at("big")].content.is_none(),
        "over MAX_CONTENT: no content"
    );
}

#[test]
fn the_files_probe_runs_a_constant_number_of_programs() {
    let paths: BTreeSet<String> = (0..50)
        .map(|i| format!("/etc/rampart-test-{i}.conf"))
        .collect();
    let s = files_probe(&paths, &[]);
    assert_eq!(s.matches("stat ").count(), 1, "{s}");
    assert_eq!(s.matches("sha256sum").count(), 1, "{s}");
    // contents of all files whose hash was not expected: one perl, no base64 per file
    assert_eq!(s.matches("perl ").count(), 1, "{s}");
    assert_eq!(s.matches("base64").count(), 0, "{s}");
    assert!(files_probe(&BTreeSet::new(), &[]).is_empty());
}

/// A `systemctl` stand-in on PATH: `show` prints what the real one prints
/// for `etcd` (enabled, running), `patroni` (disabled, failed) and anything
/// else (not there), in the order asked and with blank lines between units;
/// `is-active` of `redis-server` succeeds. Each call is logged.
fn fake_systemctl(dir: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("systemctl");
    std::fs::write(
        &bin,
        format!(
            r#"#!/bin/sh
echo "$*" >> {log}
if [ "$1" = show ]; then
  shift 2; [ "$1" = -- ] && shift
  first=1
  for u; do
    [ $first = 1 ] || echo; first=0
    case $u in
      etcd) printf 'ActiveState=active\nUnitFileState=enabled\n' ;;
      patroni) printf 'UnitFileState=disabled\nActiveState=failed\n' ;;
      *) printf 'ActiveState=inactive\nUnitFileState=\n' ;;
    esac
  done
  exit 0
fi
[ "$1 $2 $3" = "is-active -q redis-server" ]
"#,
            log = dir.join("calls").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("PATH={}:$PATH; export PATH\n", dir.display())
}

#[test]
fn the_services_probe_asks_one_systemctl_for_every_unit_and_keeps_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_systemctl(dir.path());
    let units: Vec<String> = ["etcd", "patroni", "haproxy"]
        .iter()
        .map(|u| sh(u))
        .collect();
    let f = run(&format!("{path}{}", services_probe(&units)));
    let s = |u: &str| {
        (
            f.services[u].enabled.as_str(),
            f.services[u].active.as_str(),
        )
    };
    assert_eq!(s("etcd"), ("enabled", "active"));
    assert_eq!(s("patroni"), ("disabled", "failed"));
    assert_eq!(
        s("haproxy"),
        ("", "inactive"),
        "not installed: no unit file state"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(calls.lines().count(), 1, "{calls}");
    assert!(services_probe(&[]).is_empty());
}

#[test]
fn the_active_helper_answers_from_the_probe_and_asks_systemctl_only_for_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = fake_systemctl(dir.path());
    // the helpers as the facts script defines them
    let head = crate::facts::script_head();
    let probe = services_probe(&[sh("etcd"), sh("patroni")]);
    let asks = "for u in etcd patroni redis-server valkey-server; do if active $u; then printf 'G\\t%s\\t1\\n' $u; else printf 'G\\t%s\\t0\\n' $u; fi; done\n";
    let f = run(&format!("{path}{head}{probe}{asks}"));
    let g = |u: &str| f.guards[u];
    assert!(g("etcd"), "active in the probe");
    assert!(!g("patroni"), "failed in the probe");
    assert!(g("redis-server"), "not probed: systemctl is-active says so");
    assert!(!g("valkey-server"));
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one show, then is-active for the two units not probed: {calls}"
    );
    assert!(lines[0].starts_with("show "));
}

#[test]
fn a_systemctl_that_fails_leaves_the_services_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("systemctl");
    std::fs::write(
        &bin,
        "#!/bin/sh\necho 'System has not been booted with systemd' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("PATH={}:$PATH; export PATH\n", dir.path().display());
    let f = run(&format!(
        "{path}{}",
        services_probe(&[sh("etcd"), sh("patroni")])
    ));
    for u in ["etcd", "patroni"] {
        let v = f.services.get(u).cloned().unwrap_or_default();
        assert_eq!(
            (v.enabled.as_str(), v.active.as_str()),
            ("", ""),
            "{u}: {v:?}"
        );
    }
}
