//! Redis' and Sentinel's day-2 operations, typed: their scripts are
//! `day2`'s, for the stack's server (Redis or Valkey), pinned here by exact
//! text (snapshots/*.snap).

use super::day2::{failover_script, reset_script, set_aside_script};
use super::Server;
use crate::components::Day2Op;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisOp {
    /// Sentinel fails `name`'s master over, if `me` (or, when None, this
    /// host) is it; `others` the members it may fail over to. `server`:
    /// Redis or Valkey, whose CLI and files the script uses.
    Failover {
        server: Server,
        /// `[tls]`: the CLI speaks TLS (`Names::cli_call`).
        tls: bool,
        name: String,
        me: Option<String>,
        others: Vec<String>,
    },
    /// Sentinel reset, then wait for the sentinels and replicas expected.
    SentinelReset {
        server: Server,
        tls: bool,
        name: String,
        sentinels: usize,
        replicas: usize,
    },
    /// A leaving host's redis.conf (valkey.conf) and sentinel.conf set aside.
    SetAside { server: Server },
}

impl Day2Op for RedisOp {
    fn script(&self) -> String {
        match self {
            RedisOp::Failover {
                server,
                tls,
                name,
                me,
                others,
            } => failover_script(*server, *tls, name, me.as_deref(), others),
            RedisOp::SentinelReset {
                server,
                tls,
                name,
                sentinels,
                replicas,
            } => reset_script(*server, *tls, name, *sentinels, *replicas),
            RedisOp::SetAside { server } => set_aside_script(*server),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each op for one server, named as its snapshot (`redis_failover`,
    /// `valkey_failover`, ...).
    fn all(server: Server) -> Vec<(String, RedisOp)> {
        let p = match server {
            Server::Redis => "redis",
            Server::Valkey => "valkey",
        };
        let reset = match server {
            Server::Redis => "sentinel_reset".to_string(),
            Server::Valkey => "valkey_sentinel_reset".to_string(),
        };
        vec![
            (
                format!("{p}_failover"),
                RedisOp::Failover {
                    server,
                    tls: false,
                    name: "mymaster".into(),
                    me: Some("198.18.0.11".into()),
                    others: vec!["198.18.0.12".into(), "198.18.0.13".into()],
                },
            ),
            (
                format!("{p}_failover_leaving"),
                RedisOp::Failover {
                    server,
                    tls: false,
                    name: "mymaster".into(),
                    me: None,
                    others: vec!["198.18.0.12".into()],
                },
            ),
            (
                reset,
                RedisOp::SentinelReset {
                    server,
                    tls: false,
                    name: "mymaster".into(),
                    sentinels: 2,
                    replicas: 1,
                },
            ),
            (format!("{p}_set_aside"), RedisOp::SetAside { server }),
        ]
    }

    /// Every script, pinned by exact text.
    #[test]
    fn redis_scripts_exact() {
        for server in Server::ALL {
            for (name, op) in all(server) {
                insta::assert_snapshot!(name, op.script());
            }
        }
        assert_eq!(
            RedisOp::SetAside {
                server: Server::Redis
            }
            .script(),
            "for f in redis sentinel; do if [ -e /etc/redis/$f.conf ]; then mv -f /etc/redis/$f.conf /etc/redis/$f.conf.rampart-left; fi; done"
        );
        assert_eq!(
            RedisOp::SetAside {
                server: Server::Valkey
            }
            .script(),
            "for f in valkey sentinel; do if [ -e /etc/valkey/$f.conf ]; then mv -f /etc/valkey/$f.conf /etc/valkey/$f.conf.rampart-left; fi; done"
        );
    }

    /// Valkey's scripts are Redis' with Valkey's CLI and directory, nothing else.
    #[test]
    fn valkey_scripts_are_redis_with_valkeys_names() {
        for (redis, valkey) in all(Server::Redis).iter().zip(&all(Server::Valkey)) {
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
