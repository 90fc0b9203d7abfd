//! Test helpers shared by the executor's tests.

use crate::plan::Op;
use std::path::Path;
use std::process::Command;

fn me() -> (String, String) {
    let id = |a: &str| {
        String::from_utf8(Command::new("id").arg(a).output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    (id("-un"), id("-gn"))
}

pub(super) fn write(
    path: &Path,
    content: &[u8],
    expect: Option<&str>,
    validate: Option<&str>,
) -> Op {
    let (o, g) = me();
    Op::WriteFile {
        path: path.display().to_string(),
        sha256: crate::util::sha256_hex(content),
        mode: 0o640,
        owner: o,
        group: g,
        expect: expect.map(String::from),
        validate: validate.map(String::from),
        daemon_reload: false,
        notify: vec![],
    }
}

/// Runs `script` with the local sh, stdin through a pipe (as sshd gives it).
pub(super) fn run(script: &str, stdin: &[u8]) -> crate::transport::ExecOutput {
    crate::transport::fake::run_local_sh(script, stdin)
}
