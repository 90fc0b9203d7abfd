//! A recording fake transport for unit-testing the executor (never a
//! substitute for the end-to-end tests on lab hosts).

use super::{BoxFuture, Connector, ExecOutput, HostSpec, Session, TransportError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs a script in place of the rules (e.g. with a local `sh`).
pub type Handler = Box<dyn Fn(&str, &[u8]) -> ExecOutput + Send + Sync>;

/// Answers: the first rule whose needle occurs in the script decides the reply.
/// A batch of ops in one exec (see `exec::batch_script`) is answered op by op:
/// the ops run in order until one whose rule fails, with the markers the real
/// script prints, so a rule means the same whether its op is batched or not
/// (a write group's file is answered by the text of its own check, which
/// holds `p=PATH`).
#[derive(Default)]
pub struct FakeHost {
    pub name: String,
    pub rules: Mutex<Vec<(String, ExecOutput)>>,
    /// Scripts containing the needle take this long to answer.
    pub delays: Mutex<Vec<(String, Duration)>>,
    /// When set, answers every exec instead of the rules.
    pub handler: Mutex<Option<Handler>>,
    /// Every (script, stdin) run, in order (one entry per exec).
    pub log: Mutex<Vec<(String, Vec<u8>)>>,
    /// When each exec of `log` started and ended.
    pub times: Mutex<Vec<(Instant, Instant)>>,
}

impl FakeHost {
    pub fn new(name: &str) -> Arc<FakeHost> {
        Arc::new(FakeHost {
            name: name.into(),
            ..Default::default()
        })
    }
    pub fn on(&self, needle: &str, status: i32, stdout: &str) {
        self.rules.lock().unwrap().push((
            needle.into(),
            ExecOutput {
                status,
                stdout: stdout.as_bytes().to_vec(),
                stderr: if status == 0 {
                    vec![]
                } else {
                    b"fake failure".to_vec()
                },
            },
        ));
    }
    pub fn slow(&self, needle: &str, d: Duration) {
        self.delays.lock().unwrap().push((needle.into(), d));
    }
    pub fn scripts(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| s.clone())
            .collect()
    }
    /// How many execs (SSH round trips) were run.
    pub fn execs(&self) -> usize {
        self.log.lock().unwrap().len()
    }
    fn rule(&self, script: &str) -> ExecOutput {
        let rules = self.rules.lock().unwrap();
        rules
            .iter()
            .find(|(n, _)| script.contains(n.as_str()))
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    }
    fn reply(&self, script: &str, stdin: &[u8]) -> ExecOutput {
        if let Some(h) = self.handler.lock().unwrap().as_ref() {
            return h(script, stdin);
        }
        if !script.starts_with("exec 3<&0 </dev/null\n") {
            return self.rule(script);
        }
        // a batch: `printf '\n%s\n' '<marker>' >&2` before each op, and after each step
        let mut err = Vec::new();
        for part in script.split("printf '\\n%s\\n' '").skip(1) {
            let (marker, body) = part.split_once("' >&2\n").unwrap_or((part, ""));
            let nonce = marker.split(' ').next().unwrap_or("");
            let file = format!("\n# {nonce} file ");
            if body.contains(&file) {
                // a write group: its files answered one by one, each by the text
                // of its own check (see `exec::write_group`)
                let files = body.split(&file).skip(1);
                for chunk in files {
                    let (kj, text) = chunk.split_once('\n').unwrap_or((chunk, ""));
                    let text = text.split(&format!("\n# {nonce} files end")).next();
                    err.extend_from_slice(format!("\n{nonce} B {kj}\n").as_bytes());
                    let o = self.rule(text.unwrap_or(""));
                    if !o.ok() {
                        err.extend_from_slice(&o.stderr);
                        return ExecOutput {
                            status: o.status,
                            stdout: o.stdout,
                            stderr: err,
                        };
                    }
                    let k = kj.split(' ').next().unwrap_or("");
                    err.extend_from_slice(format!("\n{nonce} E {k}\n").as_bytes());
                }
                continue;
            }
            err.extend_from_slice(format!("\n{marker}\n").as_bytes());
            let o = self.rule(body);
            if !o.ok() {
                err.extend_from_slice(&o.stderr);
                return ExecOutput {
                    status: o.status,
                    stdout: o.stdout,
                    stderr: err,
                };
            }
        }
        ExecOutput {
            status: 0,
            stdout: vec![],
            stderr: err,
        }
    }
}

impl Session for FakeHost {
    fn exec<'a>(
        &'a self,
        script: &'a str,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let start = Instant::now();
            let i = {
                let mut log = self.log.lock().unwrap();
                log.push((script.to_string(), stdin.to_vec()));
                log.len() - 1
            };
            let delay = self
                .delays
                .lock()
                .unwrap()
                .iter()
                .find(|(n, _)| script.contains(n.as_str()))
                .map(|(_, d)| *d);
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            let out = self.reply(script, stdin);
            let mut times = self.times.lock().unwrap();
            times.resize(i + 1, (start, start));
            times[i] = (start, Instant::now());
            Ok(out)
        })
    }
    fn host(&self) -> &str {
        &self.name
    }
}

/// Hands out the fake hosts by inventory name; others are unreachable.
#[derive(Default)]
pub struct FakeConnector {
    pub hosts: BTreeMap<String, Arc<FakeHost>>,
}

impl Connector for FakeConnector {
    fn connect<'a>(
        &'a self,
        spec: &'a HostSpec,
    ) -> BoxFuture<'a, Result<Arc<dyn Session>, TransportError>> {
        Box::pin(async move {
            match self.hosts.get(&spec.name) {
                Some(h) => Ok(h.clone() as Arc<dyn Session>),
                None => Err(TransportError::Connect {
                    host: spec.name.clone(),
                    addr: spec.address.clone(),
                    reason: "unreachable (fake)".into(),
                }),
            }
        })
    }
}

/// Runs `script` with the local `sh`, `stdin` through a pipe as sshd gives
/// it: for tests that check a script's real behaviour on this machine.
pub fn run_local_sh(script: &str, stdin: &[u8]) -> ExecOutput {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sh");
    let mut w = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let t = std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for sh");
    let _ = t.join();
    ExecOutput {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}
