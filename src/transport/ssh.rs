//! TEMPORARY stub until the SSH helper lands its module.
use super::*;
#[derive(Default)]
pub struct SshConnector;
impl Connector for SshConnector {
    fn connect<'a>(&'a self, spec: &'a HostSpec) -> BoxFuture<'a, Result<Arc<dyn Session>, TransportError>> {
        Box::pin(async move { Err(TransportError::Connect { host: spec.name.clone(), addr: spec.address.clone(), reason: "stub".into() }) })
    }
}
