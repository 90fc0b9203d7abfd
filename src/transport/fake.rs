//! A recording fake transport for unit-testing the executor (never a
//! substitute for the end-to-end tests on lab hosts).

use super::{BoxFuture, Connector, ExecOutput, HostSpec, Session, TransportError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Answers: the first rule whose needle occurs in the script decides the reply.
#[derive(Default)]
pub struct FakeHost {
    pub name: String,
    pub rules: Mutex<Vec<(String, ExecOutput)>>,
    /// Every (script, stdin) run, in order.
    pub log: Mutex<Vec<(String, Vec<u8>)>>,
}

impl FakeHost {
    pub fn new(name: &str) -> Arc<FakeHost> {
        Arc::new(FakeHost { name: name.into(), ..Default::default() })
    }
    pub fn on(&self, needle: &str, status: i32, stdout: &str) {
        self.rules.lock().unwrap().push((needle.into(), ExecOutput { status, stdout: stdout.as_bytes().to_vec(), stderr: if status == 0 { vec![] } else { b"fake failure".to_vec() } }));
    }
    pub fn scripts(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().map(|(s, _)| s.clone()).collect()
    }
}

impl Session for FakeHost {
    fn exec<'a>(&'a self, script: &'a str, stdin: &'a [u8]) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            self.log.lock().unwrap().push((script.to_string(), stdin.to_vec()));
            let rules = self.rules.lock().unwrap();
            Ok(rules.iter().find(|(n, _)| script.contains(n.as_str())).map(|(_, o)| o.clone()).unwrap_or_default())
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
    fn connect<'a>(&'a self, spec: &'a HostSpec) -> BoxFuture<'a, Result<Arc<dyn Session>, TransportError>> {
        Box::pin(async move {
            match self.hosts.get(&spec.name) {
                Some(h) => Ok(h.clone() as Arc<dyn Session>),
                None => Err(TransportError::Connect { host: spec.name.clone(), addr: spec.address.clone(), reason: "unreachable (fake)".into() }),
            }
        })
    }
}
