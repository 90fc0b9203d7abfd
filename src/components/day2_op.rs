//! The day-2 operations of every component, typed and built in one place.
//! Each becomes the guarded-command op the executor runs (`Op::RunCommand`,
//! so plans, JSON and saved plans hold the same script text as before); its
//! script is built by its component's `day2` module and pinned here by
//! exact text.

use super::{etcd, postgres, qdrant, redis};
use crate::compile::view::EtcdMember;
use crate::plan::Op;

/// What a Patroni member script does on its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatroniAction {
    /// Leave the cluster: switch over first if it leads.
    Leave,
    /// Restart with the settings Patroni reports pending.
    Restart,
}

impl PatroniAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PatroniAction::Leave => "leave",
            PatroniAction::Restart => "restart",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Day2Op {
    /// `etcdctl member add` (once) from a running member's endpoints, then
    /// the member list for its first start.
    EtcdMemberAdd {
        endpoints: Vec<String>,
        me: EtcdMember,
        data_dir: String,
    },
    /// `etcdctl member remove` of the member with this peer URL.
    EtcdMemberRemove {
        remaining: Vec<String>,
        peer: String,
        name: String,
    },
    /// Patroni's member script on `me`, in a cluster of `size` members;
    /// `want` the pending settings (JSON).
    PatroniMember {
        me: String,
        action: PatroniAction,
        want: String,
        size: usize,
    },
    /// Sentinel fails `name`'s master over, if `me` (or, when None, this
    /// host) is it; `others` the members it may fail over to. `server`:
    /// Redis or Valkey, whose CLI and files the script uses.
    RedisFailover {
        server: redis::Server,
        name: String,
        me: Option<String>,
        others: Vec<String>,
    },
    /// Sentinel reset, then wait for the sentinels and replicas expected.
    SentinelReset {
        server: redis::Server,
        name: String,
        sentinels: usize,
        replicas: usize,
    },
    /// A leaving host's redis.conf (valkey.conf) and sentinel.conf set aside.
    RedisSetAside { server: redis::Server },
    /// Qdrant's DELETE /cluster/peer of a peer that holds no shards.
    QdrantPeerRemove { peer_id: u64 },
}

impl Day2Op {
    /// The shell script run on the step's host.
    pub fn script(&self) -> String {
        match self {
            Day2Op::EtcdMemberAdd {
                endpoints,
                me,
                data_dir,
            } => etcd::day2::join_script(endpoints, me, data_dir),
            Day2Op::EtcdMemberRemove {
                remaining,
                peer,
                name,
            } => etcd::day2::remove_script(remaining, peer, name),
            Day2Op::PatroniMember {
                me,
                action,
                want,
                size,
            } => postgres::day2::member_script(me, action.as_str(), want, *size),
            Day2Op::RedisFailover {
                server,
                name,
                me,
                others,
            } => redis::day2::failover_script(*server, name, me.as_deref(), others),
            Day2Op::SentinelReset {
                server,
                name,
                sentinels,
                replicas,
            } => redis::day2::reset_script(*server, name, *sentinels, *replicas),
            Day2Op::RedisSetAside { server } => redis::day2::set_aside_script(*server),
            Day2Op::QdrantPeerRemove { peer_id } => qdrant::day2::remove_peer_script(*peer_id),
        }
    }
    /// The op the executor runs: the script, unguarded.
    pub fn op(&self) -> Op {
        Op::RunCommand {
            run: self.script(),
            unless: None,
            creates: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::redis::Server;

    fn member() -> EtcdMember {
        EtcdMember {
            name: "lab3".into(),
            address: "198.18.0.13".into(),
            peer_url: "http://198.18.0.13:2380".into(),
            client_url: "http://198.18.0.13:2379".into(),
        }
    }

    fn all() -> Vec<(&'static str, Day2Op)> {
        vec![
            (
                "etcd_member_add",
                Day2Op::EtcdMemberAdd {
                    endpoints: vec![
                        "http://198.18.0.11:2379".into(),
                        "http://198.18.0.12:2379".into(),
                    ],
                    me: member(),
                    data_dir: "/var/lib/etcd".into(),
                },
            ),
            (
                "etcd_member_remove",
                Day2Op::EtcdMemberRemove {
                    remaining: vec!["http://198.18.0.11:2379".into()],
                    peer: "http://198.18.0.12:2380".into(),
                    name: "lab2".into(),
                },
            ),
            (
                "patroni_leave",
                Day2Op::PatroniMember {
                    me: "lab2".into(),
                    action: PatroniAction::Leave,
                    want: "{}".into(),
                    size: 3,
                },
            ),
            (
                "patroni_restart",
                Day2Op::PatroniMember {
                    me: "lab1".into(),
                    action: PatroniAction::Restart,
                    want: r#"{"max_connections": "200"}"#.into(),
                    size: 3,
                },
            ),
            (
                "redis_failover",
                Day2Op::RedisFailover {
                    server: Server::Redis,
                    name: "mymaster".into(),
                    me: Some("198.18.0.11".into()),
                    others: vec!["198.18.0.12".into(), "198.18.0.13".into()],
                },
            ),
            (
                "redis_failover_leaving",
                Day2Op::RedisFailover {
                    server: Server::Redis,
                    name: "mymaster".into(),
                    me: None,
                    others: vec!["198.18.0.12".into()],
                },
            ),
            (
                "sentinel_reset",
                Day2Op::SentinelReset {
                    server: Server::Redis,
                    name: "mymaster".into(),
                    sentinels: 2,
                    replicas: 1,
                },
            ),
            (
                "redis_set_aside",
                Day2Op::RedisSetAside {
                    server: Server::Redis,
                },
            ),
            (
                "valkey_failover",
                Day2Op::RedisFailover {
                    server: Server::Valkey,
                    name: "mymaster".into(),
                    me: Some("198.18.0.11".into()),
                    others: vec!["198.18.0.12".into(), "198.18.0.13".into()],
                },
            ),
            (
                "valkey_failover_leaving",
                Day2Op::RedisFailover {
                    server: Server::Valkey,
                    name: "mymaster".into(),
                    me: None,
                    others: vec!["198.18.0.12".into()],
                },
            ),
            (
                "valkey_sentinel_reset",
                Day2Op::SentinelReset {
                    server: Server::Valkey,
                    name: "mymaster".into(),
                    sentinels: 2,
                    replicas: 1,
                },
            ),
            (
                "valkey_set_aside",
                Day2Op::RedisSetAside {
                    server: Server::Valkey,
                },
            ),
            (
                "qdrant_peer_remove",
                Day2Op::QdrantPeerRemove {
                    peer_id: 8_217_345_021,
                },
            ),
        ]
    }

    /// Every day-2 script, pinned by exact text (snapshots/day2_op__*.snap).
    #[test]
    fn day2_scripts_exact() {
        for (name, op) in all() {
            insta::assert_snapshot!(name, op.script());
        }
    }

    /// The op is the script, unguarded, as the day-2 steps always ran it.
    #[test]
    fn a_day2_op_runs_its_script_unguarded() {
        for (name, op) in all() {
            assert_eq!(
                op.op(),
                Op::RunCommand {
                    run: op.script(),
                    unless: None,
                    creates: None
                },
                "{name}"
            );
        }
        assert_eq!(
            Day2Op::QdrantPeerRemove { peer_id: 7 }.script(),
            "set -e\ncode=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE 'http://127.0.0.1:6333/cluster/peer/7?force=false')\ncase \"$code\" in 200|404) ;; *) echo \"Qdrant refused to remove peer 7 (HTTP $code)\" >&2; exit 1 ;; esac\n"
        );
        assert_eq!(
            Day2Op::RedisSetAside {
                server: Server::Redis
            }
            .script(),
            "for f in redis sentinel; do if [ -e /etc/redis/$f.conf ]; then mv -f /etc/redis/$f.conf /etc/redis/$f.conf.rampart-left; fi; done"
        );
        assert_eq!(
            Day2Op::RedisSetAside {
                server: Server::Valkey
            }
            .script(),
            "for f in valkey sentinel; do if [ -e /etc/valkey/$f.conf ]; then mv -f /etc/valkey/$f.conf /etc/valkey/$f.conf.rampart-left; fi; done"
        );
        // Valkey's scripts are Redis' with Valkey's CLI and directory, nothing else
        for (redis, valkey) in all()[4..8].iter().zip(&all()[8..12]) {
            assert_eq!(
                redis
                    .1
                    .script()
                    .replace("redis-cli", "valkey-cli")
                    .replace("/etc/redis", "/etc/valkey")
                    .replace(" redis sentinel;", " valkey sentinel;"),
                valkey.1.script(),
                "{} and {}",
                redis.0,
                valkey.0
            );
        }
    }
}
