//! Operations: typed commands, and the shell scripts they become. The
//! builders are pure and tested by exact string; data (file contents) goes
//! on stdin, never on the command line.

use super::SystemctlVerb;
use crate::facts::PENDING_DIR;
use crate::roles::Check;
use crate::transport::quote::sh;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    AptInstall {
        packages: Vec<String>,
        no_start: bool,
    },
    AptRemove {
        packages: Vec<String>,
    },
    /// Content comes from the compiled resource and must hash to `sha256`.
    WriteFile {
        path: String,
        sha256: String,
        mode: u32,
        owner: String,
        group: String,
        /// The file's hash when planned (None: absent); re-checked before the
        /// write. `*` skips the check (a package this apply installed may have
        /// shipped the file since).
        expect: Option<String>,
        validate: Option<String>,
        daemon_reload: bool,
        notify: Vec<String>,
    },
    SetAttrs {
        path: String,
        mode: u32,
        owner: String,
        group: String,
    },
    MakeDir {
        path: String,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
    },
    Systemctl {
        verb: SystemctlVerb,
        unit: String,
        no_block: bool,
    },
    ClearPending {
        unit: String,
    },
    RunCommand {
        run: String,
        unless: Option<String>,
        creates: Option<String>,
    },
    Wait {
        check: Check,
        timeout: u64,
        interval: u64,
    },
    RemoveFile {
        path: String,
        daemon_reload: bool,
    },
    RemoveDir {
        path: String,
        recursive: bool,
    },
}

/// A script killed by a signal (its SSH connection gone: SIGHUP, or SIGPIPE
/// on its next write) still runs its EXIT trap, so no temp file or
/// policy-rc.d is left behind.
const SIGNALS: &str = "trap 'exit 129' HUP INT TERM PIPE\n";

/// Exit status a script uses when the host changed since the plan.
pub const STALE: i32 = 97;

impl Op {
    /// The script for this op. Every value is quoted by `quote::sh`.
    /// A file's content is read from stdin with `cat`.
    pub fn script(&self) -> String {
        self.script_with_input("cat")
    }

    /// The script for this op, where `input` is the command that prints the
    /// content of a file to write (`cat` for the whole of stdin; the executor's
    /// batches use `head -c N <&3`, see `exec::batch_script`). Other ops ignore it.
    pub fn script_with_input(&self, input: &str) -> String {
        match self {
            Op::AptInstall { packages, no_start } => {
                let pk = packages.iter().map(|p| sh(p)).collect::<Vec<_>>().join(" ");
                // a config file rampart wrote before the package is kept, whether
                // dpkg (--force-confold) or ucf (createcluster.conf) manages it
                let mut s = String::from(
                    "set -e\nexport DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1\n",
                );
                if *no_start {
                    // keep the package's postinst from starting its service; only ours is removed
                    s.push_str("if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; trap 'exit 129' HUP INT TERM PIPE; fi\n");
                }
                // the package lists are read first when the host has none (a fresh
                // image: the install could only fail), else only when the install
                // fails (they are stale); another apt's lock is waited for
                s.push_str(&format!(
                    "i() {{ apt-get install -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef {pk}; }}\n\
                     set -- /var/lib/apt/lists/*_Packages*\n\
                     if [ ! -e \"$1\" ]; then apt-get update -q -o DPkg::Lock::Timeout=300 && i; else i || {{ apt-get update -q -o DPkg::Lock::Timeout=300 && i; }}; fi\n"
                ));
                s
            }
            Op::AptRemove { packages } => {
                let pk = packages.iter().map(|p| sh(p)).collect::<Vec<_>>().join(" ");
                format!(
                    "set -e\nexport DEBIAN_FRONTEND=noninteractive\napt-get remove -y -q {pk}\n"
                )
            }
            Op::WriteFile {
                path,
                sha256,
                mode,
                owner,
                group,
                expect,
                validate,
                daemon_reload,
                notify,
            } => {
                let p = sh(path);
                let expect = expect.as_deref().unwrap_or("absent");
                let recheck = if expect == "*" {
                    String::new()
                } else {
                    format!("if [ \"$cur\" != {exp} ] && [ \"$cur\" != {sha} ]; then echo \"$p changed on the host since it was planned (planned against {exp}, found $cur); plan again\" >&2; exit {STALE}; fi\n", exp = sh(expect), sha = sh(sha256))
                };
                let mut s = format!(
                    "set -e\np={p}\nd=$(dirname \"$p\")\n[ -d \"$d\" ] || mkdir -p \"$d\"\n\
                     if [ -e \"$p\" ]; then cur=$(sha256sum < \"$p\" | cut -d' ' -f1); else cur=absent; fi\n\
                     {recheck}\
                     tmp=\ntrap 'rm -f \"$tmp\"' EXIT\n{SIGNALS}\
                     rm -f \"$d\"/.rampart.??????\ntmp=$(mktemp \"$d/.rampart.XXXXXX\")\n{input} > \"$tmp\"\n\
                     if [ \"$(sha256sum < \"$tmp\" | cut -d' ' -f1)\" != {sha} ]; then echo \"upload of $p arrived incomplete\" >&2; exit 1; fi\n\
                     chown {o}:{g} \"$tmp\"\nchmod {mode:04o} \"$tmp\"\n",
                    sha = sh(sha256),
                    o = sh(owner),
                    g = sh(group),
                );
                if let Some(v) = validate {
                    s.push_str(&format!("RAMPART_FILE=\"$tmp\"; export RAMPART_FILE\nif ! ( {v} ) >&2; then printf 'the new %s failed validation (%s); the old file is untouched\\n' \"$p\" {} >&2; exit 1; fi\n", sh(v)));
                }
                if !notify.is_empty() {
                    s.push_str(&format!("mkdir -p {PENDING_DIR}\n"));
                    for u in notify {
                        s.push_str(&format!(": > {}\n", sh(&format!("{PENDING_DIR}/{u}"))));
                    }
                }
                s.push_str(
                    "sync \"$tmp\" 2>/dev/null || true\nmv -f \"$tmp\" \"$p\"\ntrap - EXIT\n",
                );
                if *daemon_reload {
                    s.push_str("systemctl daemon-reload\n");
                }
                s
            }
            Op::SetAttrs {
                path,
                mode,
                owner,
                group,
            } => format!(
                "set -e\nchown {}:{} {p}\nchmod {mode:04o} {p}\n",
                sh(owner),
                sh(group),
                p = sh(path)
            ),
            Op::MakeDir {
                path,
                mode,
                owner,
                group,
            } => {
                let mut s = format!("set -e\nmkdir -p {}\n", sh(path));
                if owner.is_some() || group.is_some() {
                    s.push_str(&format!(
                        "chown {}:{} {}\n",
                        sh(owner.as_deref().unwrap_or("root")),
                        sh(group.as_deref().unwrap_or("root")),
                        sh(path)
                    ));
                }
                if let Some(m) = mode {
                    s.push_str(&format!("chmod {m:04o} {}\n", sh(path)));
                }
                s
            }
            Op::Systemctl {
                verb,
                unit,
                no_block,
            } => {
                // the verb's words are shell-safe as they are (`disable --now` is two)
                format!(
                    "systemctl {}{verb} {}\n",
                    if *no_block { "--no-block " } else { "" },
                    sh(unit)
                )
            }
            Op::ClearPending { unit } => {
                format!("rm -f {}\n", sh(&format!("{PENDING_DIR}/{unit}")))
            }
            Op::RunCommand {
                run,
                unless,
                creates,
            } => {
                let mut s = String::new();
                if let Some(c) = creates {
                    s.push_str(&format!("if [ -e {} ]; then exit 0; fi\n", sh(c)));
                }
                if let Some(u) = unless {
                    s.push_str(&format!(
                        "if ( {u} ) >/dev/null 2>&1 </dev/null; then exit 0; fi\n"
                    ));
                }
                s.push_str(&format!("set -e\n{run}\n"));
                s
            }
            Op::Wait {
                check,
                timeout,
                interval,
            } => {
                let probe = match check {
                    Check::Command(c) => format!("( {c} )"),
                    Check::Http(u) => format!("( if command -v curl >/dev/null; then curl -fsS -o /dev/null --max-time 5 {u}; else python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' {u}; fi )", u = sh(u)),
                    Check::Tcp(t) => {
                        let (h, p) = t.rsplit_once(':').unwrap_or((t.as_str(), "0"));
                        format!("python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()' {} {}", sh(h.trim_matches(['[', ']'])), sh(p))
                    }
                };
                format!(
                    "end=$(( $(date +%s) + {timeout} ))\nout=\ntrap 'rm -f \"$out\"' EXIT\n{SIGNALS}out=$(mktemp)\n\
                     while :; do\n  if {probe} >\"$out\" 2>&1 </dev/null; then exit 0; fi\n\
                     \x20 if [ \"$(date +%s)\" -ge \"$end\" ]; then echo 'not healthy after {timeout}s; last output:' >&2; tail -n 20 \"$out\" >&2; exit 1; fi\n\
                     \x20 sleep {interval}\ndone\n"
                )
            }
            Op::RemoveFile {
                path,
                daemon_reload,
            } => {
                let mut s = format!("rm -f {}\n", sh(path));
                if *daemon_reload {
                    s.push_str("systemctl daemon-reload\n");
                }
                s
            }
            Op::RemoveDir { path, recursive } => {
                if *recursive {
                    format!("rm -rf --one-file-system {}\n", sh(path))
                } else {
                    format!(
                        "rmdir --ignore-fail-on-non-empty {} 2>/dev/null || true\n",
                        sh(path)
                    )
                }
            }
        }
    }

    /// One line for progress output.
    pub fn describe(&self) -> String {
        match self {
            Op::AptInstall { packages, .. } => format!("apt-get install {}", packages.join(" ")),
            Op::AptRemove { packages } => format!("apt-get remove {}", packages.join(" ")),
            Op::WriteFile { path, .. } => format!("write {path}"),
            Op::SetAttrs { path, .. } => format!("chmod/chown {path}"),
            Op::MakeDir { path, .. } => format!("mkdir {path}"),
            Op::Systemctl { verb, unit, .. } => format!("systemctl {verb} {unit}"),
            Op::ClearPending { unit } => format!("clear pending restart of {unit}"),
            Op::RunCommand { .. } => "run command".into(),
            Op::Wait { check, .. } => format!("wait for {}", super::check_text(check)),
            Op::RemoveFile { path, .. } => format!("remove {path}"),
            Op::RemoveDir { path, .. } => format!("remove directory {path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_script_exact() {
        assert_eq!(
            Op::Systemctl {
                verb: SystemctlVerb::Start,
                unit: "etcd".into(),
                no_block: true
            }
            .script(),
            "systemctl --no-block start etcd\n"
        );
        assert_eq!(
            Op::Systemctl {
                verb: SystemctlVerb::Restart,
                unit: "a b".into(),
                no_block: false
            }
            .script(),
            "systemctl restart 'a b'\n"
        );
        assert_eq!(
            Op::Systemctl {
                verb: SystemctlVerb::DisableNow,
                unit: "redis-server".into(),
                no_block: false
            }
            .script(),
            "systemctl disable --now redis-server\n"
        );
        assert_eq!(
            Op::Systemctl {
                verb: SystemctlVerb::ReloadOrRestart,
                unit: "patroni".into(),
                no_block: true
            }
            .script(),
            "systemctl --no-block reload-or-restart patroni\n"
        );
    }

    #[test]
    fn a_write_cut_off_by_a_hangup_leaves_no_temp_file() {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.conf");
        let op = Op::WriteFile {
            path: path.display().to_string(),
            sha256: "0".repeat(64),
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            expect: None,
            validate: None,
            daemon_reload: false,
            notify: vec![],
        };
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(op.script())
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"half of the upload").unwrap();
        let temp = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with(".rampart."))
        };
        let t = std::time::Instant::now();
        while !temp() && t.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(temp(), "the upload is under way in a temp file");
        // the SSH session goes away: sshd hangs up on the script's process group
        // and the channel's stdin closes with it (holding stdin open here could
        // leave a `cat` forked just after the signal waiting forever, and the
        // shell with it: a hang seen under load)
        unsafe { libc::kill(-(child.id() as i32), libc::SIGHUP) };
        drop(stdin);
        let _ = child.wait();
        assert!(!temp(), "the temp file is removed by the EXIT trap");
        assert!(!path.exists());
    }

    /// A validate command with quotes and `$(...)` (like Patroni's) runs once
    /// and is quoted verbatim in the failure message, never re-run by it.
    #[test]
    fn a_failed_validation_names_the_command_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.conf");
        let body = b"new\n";
        let v = "x=$(echo 'didn''t'); echo ran >> \"$RAMPART_FILE.count\"; test \"$x\" = nope";
        let op = Op::WriteFile {
            path: path.display().to_string(),
            sha256: crate::util::sha256_hex(body),
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            expect: None,
            validate: Some(v.into()),
            daemon_reload: false,
            notify: vec![],
        };
        let me = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let script = op.script().replace(
            "chown root:root",
            &format!("chown {}", String::from_utf8_lossy(&me.stdout).trim()),
        );
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "failed validation ({v}); the old file is untouched"
            )),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn write_file_rechecks_and_renames() {
        let s = Op::WriteFile {
            path: "/etc/x y".into(),
            sha256: "abc".into(),
            mode: 0o600,
            owner: "root".into(),
            group: "root".into(),
            expect: None,
            validate: None,
            daemon_reload: false,
            notify: vec!["etcd".into()],
        }
        .script();
        assert!(s.contains("p='/etc/x y'"), "{s}");
        assert!(s.contains("[ \"$cur\" != absent ]"), "{s}");
        assert!(s.contains("exit 97"), "{s}");
        assert!(s.contains("chmod 0600 \"$tmp\""), "{s}");
        assert!(
            s.contains("\ncat > \"$tmp\"\n"),
            "a lone write reads all of stdin: {s}"
        );
        let pending = s.find(": > /var/lib/rampart/pending/etcd").unwrap();
        let rename = s.find("mv -f \"$tmp\" \"$p\"").unwrap();
        assert!(
            pending < rename,
            "the restart is owed before the file changes"
        );
    }

    #[test]
    fn apt_install_keeps_services_down_only_when_asked() {
        let s = Op::AptInstall {
            packages: vec!["etcd-server".into()],
            no_start: true,
        }
        .script();
        assert!(s.contains("exit 101"));
        assert!(s.contains("apt-get install -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef etcd-server"));
        assert!(!Op::AptInstall {
            packages: vec!["x".into()],
            no_start: false
        }
        .script()
        .contains("policy-rc.d"));
    }

    /// `apt-get update` runs only when something is missing (this op) and
    /// the lists are absent (before the install) or stale (the install
    /// failed: once, then the install again). Run against a stand-in apt-get.
    #[test]
    fn apt_install_reads_the_lists_only_when_needed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let lists = dir.path().join("lists");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&lists).unwrap();
        let log = dir.path().join("log");
        // fails an install while FAIL exists (a stale list: 404)
        std::fs::write(
            bin.join("apt-get"),
            format!(
                "#!/bin/sh\necho \"$1\" >> '{l}'\nif [ \"$1\" = install ] && [ -e '{f}' ]; then rm '{f}'; exit 100; fi\n",
                l = log.display(),
                f = dir.path().join("FAIL").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(bin.join("apt-get"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let script = Op::AptInstall {
            packages: vec!["haproxy".into(), "redis-server".into()],
            no_start: false,
        }
        .script()
        .replace("/var/lib/apt/lists", &lists.display().to_string());
        let run = || {
            let _ = std::fs::remove_file(&log);
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("PATH='{}':\"$PATH\"\n{script}", bin.display()))
                .output()
                .unwrap();
            let calls = std::fs::read_to_string(&log).unwrap_or_default();
            (out.status.success(), calls)
        };
        assert_eq!(run(), (true, "update\ninstall\n".into()), "no lists yet");
        std::fs::write(
            lists.join("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
            "",
        )
        .unwrap();
        assert_eq!(run(), (true, "install\n".into()), "lists present");
        std::fs::write(dir.path().join("FAIL"), "").unwrap();
        assert_eq!(
            run(),
            (true, "install\nupdate\ninstall\n".into()),
            "stale lists: read once, then installed"
        );
    }

    /// The scripts are valid POSIX sh (parsed, not run).
    #[test]
    fn scripts_parse_with_sh_n() {
        let ops = vec![
            Op::AptInstall {
                packages: vec!["a".into()],
                no_start: true,
            },
            Op::WriteFile {
                path: "/etc/x".into(),
                sha256: "abc".into(),
                mode: 0o644,
                owner: "root".into(),
                group: "root".into(),
                expect: Some("def".into()),
                validate: Some("test -s \"$RAMPART_FILE\"".into()),
                daemon_reload: true,
                notify: vec!["x".into()],
            },
            Op::RunCommand {
                run: "echo hi".into(),
                unless: Some("false".into()),
                creates: Some("/x".into()),
            },
            Op::Wait {
                check: Check::Http("http://127.0.0.1:8008/health".into()),
                timeout: 5,
                interval: 1,
            },
            Op::Wait {
                check: Check::Tcp("127.0.0.1:22".into()),
                timeout: 5,
                interval: 1,
            },
            Op::RemoveDir {
                path: "/x".into(),
                recursive: false,
            },
        ];
        for op in ops {
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(op.script())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}\n{}",
                op.script(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
