//! Which server `[redis]` runs: Redis (the default) or Valkey 8, Debian 13's
//! BSD-licensed fork (`server = "valkey"`). Every name that differs between
//! the two (packages, units, CLI, paths, user) is here and nowhere else: the
//! role's templates and role.toml see them as `redis.server.*`, and the
//! day-2 scripts, facts and status probes take them from [`Names`].
//!
//! The two speak the same protocol and commands (`INFO replication`'s
//! `role:master`/`role:slave`, `SENTINEL FAILOVER`, `SENTINEL RESET`, ...;
//! `valkey-cli` reads `REDISCLI_AUTH`), so nothing else differs. Valkey 8
//! cannot load RDB files written by Redis 7.4+/8: a running cluster is never
//! switched in place (see `day2::refuse_a_switch_of_server`).

use serde::Serialize;

/// The `[redis] server` key.
pub const KEY: &str = "server";

/// The server `[redis]` runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    #[default]
    Redis,
    Valkey,
}

/// What a server is called on a Debian host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Names {
    /// `redis` or `valkey`: the value of `[redis] server`, the base name of
    /// its config file (`NAME.conf`) and the seed script's argument.
    pub name: &'static str,
    /// For people: `Redis`, `Valkey`.
    pub title: &'static str,
    pub package: &'static str,
    pub sentinel_package: &'static str,
    /// The systemd units (as Debian's packages ship them).
    pub unit: &'static str,
    pub sentinel_unit: &'static str,
    pub cli: &'static str,
    /// Where both config files and rampart's own files live.
    pub conf_dir: &'static str,
    /// The server's config file (`conf_dir`/`name`.conf); Sentinel's is `conf_dir`/sentinel.conf.
    pub conf: &'static str,
    /// The user and group the packages create and run both services as.
    pub user: &'static str,
    pub data_dir: &'static str,
    pub log_dir: &'static str,
    /// As the packages' units declare them (`PIDFile=`).
    pub pidfile: &'static str,
    pub sentinel_pidfile: &'static str,
}

const REDIS: Names = Names {
    name: "redis",
    title: "Redis",
    package: "redis-server",
    sentinel_package: "redis-sentinel",
    unit: "redis-server",
    sentinel_unit: "redis-sentinel",
    cli: "redis-cli",
    conf_dir: "/etc/redis",
    conf: "/etc/redis/redis.conf",
    user: "redis",
    data_dir: "/var/lib/redis",
    log_dir: "/var/log/redis",
    pidfile: "/run/redis/redis-server.pid",
    sentinel_pidfile: "/run/sentinel/redis-sentinel.pid",
};

/// Debian 13's valkey-server and valkey-sentinel 8.1 (their units, their
/// postinst's user and directories, their default configs' paths).
const VALKEY: Names = Names {
    name: "valkey",
    title: "Valkey",
    package: "valkey-server",
    sentinel_package: "valkey-sentinel",
    unit: "valkey-server",
    sentinel_unit: "valkey-sentinel",
    cli: "valkey-cli",
    conf_dir: "/etc/valkey",
    conf: "/etc/valkey/valkey.conf",
    user: "valkey",
    data_dir: "/var/lib/valkey",
    log_dir: "/var/log/valkey",
    pidfile: "/run/valkey/valkey-server.pid",
    sentinel_pidfile: "/run/sentinel/valkey-sentinel.pid",
};

impl Server {
    pub const ALL: [Server; 2] = [Server::Redis, Server::Valkey];

    /// The server a `[redis] server` value names.
    pub fn parse(s: &str) -> Option<Server> {
        Server::ALL.into_iter().find(|v| v.names().name == s)
    }

    pub fn names(self) -> &'static Names {
        match self {
            Server::Redis => &REDIS,
            Server::Valkey => &VALKEY,
        }
    }

    /// Whether Debian `release` (12, 13, ...) packages this server: Valkey
    /// arrived in Debian 13 (trixie).
    ///
    /// Not called yet: the per-host Debian release (inventory `debian = 12|13`)
    /// is being added elsewhere; the check that a Valkey stack's hosts all run
    /// Debian 13 goes in `stack::validate`, through this function.
    pub fn available_on(self, release: u32) -> bool {
        match self {
            Server::Redis => true,
            Server::Valkey => release >= 13,
        }
    }
}

impl Names {
    /// How rampart calls the CLI on a member: its name alone, or under
    /// `[tls]` with TLS, the stack's CA and the member's certificate
    /// (Sentinel asks its clients for one; Redis takes the password).
    pub fn cli_call(&self, tls: bool) -> String {
        if !tls {
            return self.cli.to_string();
        }
        let d = format!("{}/tls", self.conf_dir);
        format!(
            "{} --tls --cacert {d}/{} --cert {d}/redis.crt --key {d}/redis.key",
            self.cli,
            crate::tls::view::CA_FILE
        )
    }

    /// `text` with every `{{redis.server.FIELD}}` replaced by this server's
    /// name: how a role resource name written with them (a `RoleRef`, see
    /// `super::id`) becomes the id the compiler renders.
    pub fn fill(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(self) {
            for (k, v) in m {
                if let serde_json::Value::String(v) = v {
                    out = out.replace(&format!("{{{{redis.server.{k}}}}}"), &v);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_names_its_server_and_fill_replaces_the_names() {
        assert_eq!(Server::parse("redis"), Some(Server::Redis));
        assert_eq!(Server::parse("valkey"), Some(Server::Valkey));
        assert_eq!(Server::parse("Valkey"), None);
        assert_eq!(Server::default(), Server::Redis);
        assert_eq!(
            Server::Valkey
                .names()
                .fill("h/service/{{redis.server.sentinel_unit}} {{redis.server.conf_dir}}"),
            "h/service/valkey-sentinel /etc/valkey"
        );
        assert_eq!(
            Server::Redis
                .names()
                .fill("h/service/{{redis.server.unit}}"),
            "h/service/redis-server"
        );
        assert!(Server::Redis.available_on(12) && Server::Redis.available_on(13));
        // the CLI's TLS files are where the role delivers them (tls::view)
        for (server, p) in [
            (Server::Redis, crate::tls::view::REDIS),
            (Server::Valkey, crate::tls::view::VALKEY),
        ] {
            let n = server.names();
            assert_eq!(n.cli_call(false), n.cli);
            assert_eq!(
                n.cli_call(true),
                format!(
                    "{} --tls --cacert {} --cert {} --key {}",
                    n.cli,
                    p.ca_file(),
                    p.cert_file(),
                    p.key_file()
                )
            );
            assert_eq!(p.owner, n.user);
        }
        assert!(!Server::Valkey.available_on(12) && Server::Valkey.available_on(13));
    }
}
