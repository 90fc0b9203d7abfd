//! A new user's set-up: on a Debian machine without the lab's tools, `rampart
//! lab up` installs them with apt-get itself, saying so in one line.
//! Run in a private mount namespace where `debootstrap` is hidden and
//! `apt-get` is a stub that records its arguments (its installs fail), so this machine's packages
//! and lab are never touched.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
use std::process::Command;

#[test]
fn lab_up_installs_what_is_missing_with_apt() {
    if !std::path::Path::new("/etc/debian_version").exists() {
        panic!("this test needs a Debian machine (the lab installs its tools with apt-get)");
    }
    let _lab = common::lab_lock(); // (it shares the lab's bridge name, should it get that far)
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let stub = dir.path().join("apt-get");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\n[ \"$1\" = update ] || exit 100\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let script = format!(
        "set -e; mount --make-rprivate /; mount --bind /dev/null \"$(command -v debootstrap || echo /usr/sbin/debootstrap)\"; mount --bind {} \"$(command -v apt-get)\"; exec {} lab up 1",
        stub.display(),
        env!("CARGO_BIN_EXE_rampart")
    );
    // debootstrap must exist to be hidden: a machine without it tests the same path
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("RAMPART_LAB_DIR", dir.path().join("lab"))
        .env("RAMPART_LAB_CACHE", dir.path().join("cache"))
        .output()
        .expect("unshare (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("installing what the lab needs"))
        .collect();
    assert_eq!(said.len(), 1, "one line says what is installed:\n{err}");
    assert!(said[0].contains("missing: debootstrap") && said[0].contains("apt-get install debootstrap systemd-container iproute2 apt-cacher-ng openssh-client util-linux"), "{err}");
    assert!(
        err.contains("apt-get could not install"),
        "a failed install is said plainly:\n{err}"
    );
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "install, then update and install again:\n{calls}"
    );
    assert!(
        lines[0].starts_with("install -y -q --no-install-recommends debootstrap systemd-container"),
        "{calls}"
    );
    assert_eq!(lines[1], "update -q", "{calls}");
    assert!(lines[2].starts_with("install -y"), "{calls}");
    assert!(
        !dir.path().join("lab").exists(),
        "nothing was made before the tools were there"
    );
}
