//! etcd's day-2 operations, typed: their scripts are `day2`'s, pinned here
//! by exact text (snapshots/*.snap).

use super::day2::{join_script, remove_script};
use crate::compile::view::EtcdMember;
use crate::components::Day2Op;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdOp {
    /// `etcdctl member add` (once) from a running member's endpoints, then
    /// the member list for its first start.
    MemberAdd {
        endpoints: Vec<String>,
        me: EtcdMember,
        data_dir: String,
    },
    /// `etcdctl member remove` of the member with this peer URL.
    MemberRemove {
        remaining: Vec<String>,
        peer: String,
        name: String,
    },
}

impl Day2Op for EtcdOp {
    fn script(&self) -> String {
        match self {
            EtcdOp::MemberAdd {
                endpoints,
                me,
                data_dir,
            } => join_script(endpoints, me, data_dir),
            EtcdOp::MemberRemove {
                remaining,
                peer,
                name,
            } => remove_script(remaining, peer, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> EtcdMember {
        EtcdMember {
            name: "lab3".into(),
            address: "198.18.0.13".into(),
            peer_url: "http://198.18.0.13:2380".into(),
            client_url: "http://198.18.0.13:2379".into(),
        }
    }

    /// Each script, pinned by exact text.
    #[test]
    fn etcd_scripts_exact() {
        let add = EtcdOp::MemberAdd {
            endpoints: vec![
                "http://198.18.0.11:2379".into(),
                "http://198.18.0.12:2379".into(),
            ],
            me: member(),
            data_dir: "/var/lib/etcd".into(),
        };
        insta::assert_snapshot!("etcd_member_add", add.script());
        let remove = EtcdOp::MemberRemove {
            remaining: vec!["http://198.18.0.11:2379".into()],
            peer: "http://198.18.0.12:2380".into(),
            name: "lab2".into(),
        };
        insta::assert_snapshot!("etcd_member_remove", remove.script());
    }
}
