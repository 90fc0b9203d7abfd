//! etcd under the loss of one zone: a quorum of the members must survive.

use crate::model::stack::Stack;
use crate::model::zones::Quorum;

/// etcd's quorum check, through zones.rs's `quorum(what, key, span, need)`.
pub(crate) fn check(stack: &Stack, quorum: &mut Quorum<'_>) {
    if let Some(e) = &stack.etcd {
        let n = stack.hosts_of("etcd").len();
        quorum("etcd members", "etcd", Some(e.hosts.span()), n / 2 + 1);
    }
}
