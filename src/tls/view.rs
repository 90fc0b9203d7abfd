//! Which certificates the stack needs (per host and purpose, with their
//! names), where they go on the hosts, and what the roles' templates see
//! under `tls`.

use crate::compile::SecretValues;
use crate::model::inventory::Inventory;
use crate::model::stack::Stack;
use serde::Serialize;

/// One purpose a host holds a certificate for: the component whose role
/// delivers it, the folder it goes to and the user that reads its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    /// The certificate's name in file names and secret keys.
    pub name: &'static str,
    /// The stack table (and role instance) that delivers it.
    pub component: &'static str,
    pub dir: &'static str,
    /// Owner of the key file (0600).
    pub owner: &'static str,
}

/// etcd's server, peer and local client certificate (rampart's own etcdctl
/// on a member uses it too).
pub const ETCD: Purpose = Purpose {
    name: "etcd",
    component: "etcd",
    dir: "/etc/etcd/tls",
    owner: "etcd",
};

/// Patroni's client certificate to etcd, its REST API's and PostgreSQL's
/// server certificate (its names include HAProxy's and the VIP: clients
/// reach PostgreSQL through them).
pub const PATRONI: Purpose = Purpose {
    name: "patroni",
    component: "postgres",
    dir: "/etc/patroni/tls",
    owner: "postgres",
};

/// PgBouncer's server certificate for its clients.
pub const PGBOUNCER: Purpose = Purpose {
    name: "pgbouncer",
    component: "pgbouncer",
    dir: "/etc/pgbouncer/tls",
    owner: "postgres",
};

/// Redis' (or Valkey's) and its Sentinel's server certificate, also their
/// client certificate to each other (replication, Sentinel to Redis and to
/// the other Sentinels) and rampart's own CLI's on the host. Its names
/// include HAProxy's and the VIP: clients reach the master through them.
/// Valkey's folder and owner are [`VALKEY`]'s.
pub const REDIS: Purpose = Purpose {
    name: "redis",
    component: "redis",
    dir: "/etc/redis/tls",
    owner: "redis",
};

/// [`REDIS`] on a Valkey stack: Debian 13's valkey user and /etc/valkey.
pub const VALKEY: Purpose = Purpose {
    dir: "/etc/valkey/tls",
    owner: "valkey",
    ..REDIS
};

pub const PURPOSES: [Purpose; 4] = [ETCD, PATRONI, PGBOUNCER, REDIS];

/// Every purpose in every folder it can have (Redis' and Valkey's), for a
/// check that sees only the compiled files.
pub const EVERY_FOLDER: [Purpose; 5] = [ETCD, PATRONI, PGBOUNCER, REDIS, VALKEY];

/// Each purpose with the stack's own folders (Valkey's are not Redis').
pub fn purposes(stack: &Stack) -> [Purpose; 4] {
    PURPOSES.map(|p| if p == REDIS { redis_purpose(stack) } else { p })
}

/// The Redis purpose for the stack's server (Redis or Valkey).
pub fn redis_purpose(stack: &Stack) -> Purpose {
    match stack.redis.as_ref().map(|r| r.server()) {
        Some(crate::components::redis::Server::Valkey) => VALKEY,
        _ => REDIS,
    }
}

/// The CA certificate's file name in each purpose's folder.
pub const CA_FILE: &str = "ca.crt";

impl Purpose {
    pub fn ca_file(&self) -> String {
        format!("{}/{CA_FILE}", self.dir)
    }
    pub fn cert_file(&self) -> String {
        format!("{}/{}.crt", self.dir, self.name)
    }
    pub fn key_file(&self) -> String {
        format!("{}/{}.key", self.dir, self.name)
    }
}

/// The secret keys the loader hands the CA and each certificate over under.
pub const CA_KEY: &str = "tls.ca";
pub fn cert_key(host: &str, p: &Purpose) -> String {
    format!("tls.{host}.{}.cert", p.name)
}
pub fn key_key(host: &str, p: &Purpose) -> String {
    format!("tls.{host}.{}.key", p.name)
}

/// What rampart's etcdctl on an etcd member is prefixed with when its
/// endpoints are https: the member's CA, certificate and key.
pub fn etcdctl_env() -> String {
    format!(
        "ETCDCTL_CACERT={} ETCDCTL_CERT={} ETCDCTL_KEY={}",
        ETCD.ca_file(),
        ETCD.cert_file(),
        ETCD.key_file()
    )
}

/// The user rampart's own calls to Patroni's unsafe endpoints authenticate
/// as (`restapi.authentication`), with the password the loader generates.
pub const PATRONI_API_USER: &str = "rampart";
/// The secret key of that password.
pub const PATRONI_API_PASSWORD: &str = "tls.patroni_api_password";
/// On each member, the curl netrc file holding it (0600, root), so no
/// command line or plan carries the password.
pub const PATRONI_API_NETRC: &str = "/etc/patroni/tls/api.netrc";

/// How rampart reaches Patroni's REST API on a member: the URL of its
/// loopback and the curl options (the stack's CA under `[tls]`; with `auth`,
/// the netrc file of rampart's user too).
pub fn patroni_local(tls: bool, auth: bool) -> (String, &'static str) {
    if !tls {
        return (String::new(), "http://127.0.0.1:8008");
    }
    let mut flags = format!("--cacert {} ", PATRONI.ca_file());
    if auth {
        flags.push_str(&format!("--netrc-file {PATRONI_API_NETRC} "));
    }
    (flags, "https://127.0.0.1:8008")
}

/// The CA alone, for roles that verify servers without a certificate of
/// their own: (component, path).
pub const CA_ONLY: [(&str, &str); 1] = [("haproxy", "/etc/haproxy/rampart-ca.crt")];

/// Where an app service's host gets the CA (the service and compose roles
/// deliver it, a compose service sees it at the same path; its templates
/// see the path as `tls.ca_file`, the service as `RAMPART_TLS_CA_FILE`).
pub fn service_ca_file(service: &str) -> String {
    format!("/etc/rampart/tls/{service}/{CA_FILE}")
}

/// An app service's client certificate (one per host that runs app
/// services, issued for the host's name and address): Sentinel asks its
/// clients for a certificate of the stack's CA. Each service on the host gets
/// a copy in its own folder ([`service_cert_file`], [`service_key_file`]), so
/// its role restarts it when the certificate is renewed.
pub const APP: Purpose = Purpose {
    name: "app",
    component: "services",
    dir: "/etc/rampart/tls",
    owner: "root",
};

/// Where service `service` finds its host's client certificate and key.
pub fn service_cert_file(service: &str) -> String {
    format!("/etc/rampart/tls/{service}/client.crt")
}
pub fn service_key_file(service: &str) -> String {
    format!("/etc/rampart/tls/{service}/client.key")
}

/// The app services a host runs (names without `services.`, in name order).
pub fn services_on(stack: &Stack, host: &str) -> Vec<String> {
    let mut v: Vec<String> = stack
        .placement
        .iter()
        .filter_map(|(k, hosts)| {
            let name = k.strip_prefix("services.")?;
            hosts.iter().any(|h| h == host).then(|| name.to_string())
        })
        .collect();
    v.sort();
    v
}

/// Whether the stack turns TLS on (`[tls]` present, `enabled` not false).
pub fn on(stack: &Stack) -> bool {
    stack.tls.as_ref().is_some_and(|t| t.on())
}

/// One certificate the stack needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub host: String,
    pub purpose: Purpose,
    /// Host name, address, loopback; for Patroni also the HAProxy hosts'
    /// names and addresses and the VIP (clients reach PostgreSQL through them).
    pub sans: Vec<String>,
}

/// Every certificate the stack needs, in host then purpose order; none
/// with TLS off.
pub fn wanted(inv: &Inventory, stack: &Stack) -> Vec<Want> {
    if !on(stack) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in PURPOSES {
        for h in stack
            .hosts_of(p.component)
            .iter()
            .filter_map(|n| inv.hosts.get(n))
        {
            let mut sans = vec![
                h.name.clone(),
                h.address.clone(),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ];
            if p == PATRONI || p == PGBOUNCER || p == REDIS {
                for e in stack
                    .hosts_of("haproxy")
                    .iter()
                    .filter_map(|n| inv.hosts.get(n))
                {
                    sans.push(e.name.clone());
                    sans.push(e.address.clone());
                }
                if let Some(k) = &stack.keepalived {
                    sans.push(k.vip.get_ref().clone());
                }
            }
            out.push(Want {
                host: h.name.clone(),
                purpose: p,
                sans: once_each(sans),
            });
        }
    }
    // app services' client certificate: one per host that runs any
    for h in inv.hosts.values() {
        if services_on(stack, &h.name).is_empty() {
            continue;
        }
        out.push(Want {
            host: h.name.clone(),
            purpose: APP,
            sans: once_each(vec![
                h.name.clone(),
                h.address.clone(),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ]),
        });
    }
    out.sort_by(|a, b| (&a.host, a.purpose.name).cmp(&(&b.host, b.purpose.name)));
    out
}

/// Names in their first order, each once.
fn once_each(mut names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names.retain(|s| seen.insert(s.clone()));
    names
}

/// What templates see under `tls`: whether TLS is on and, for a role that
/// delivers a certificate on this host, its files and contents (the key a
/// secret: only the role's own context holds it).
#[derive(Debug, Clone, Serialize, Default)]
pub struct TlsView {
    pub enabled: bool,
    /// This role's certificate's purpose (`etcd`, `patroni`, `pgbouncer`;
    /// empty when it holds none here).
    pub name: String,
    /// node_exporter's textfile collector folder, where the expiry of the
    /// certificate is written (`rampart-tls-metrics-NAME`).
    pub metrics_dir: String,
    /// This role's folder and files (empty when it holds no certificate here).
    pub dir: String,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub owner: String,
    /// PEM texts.
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// The `tls` view of instance `instance` on `host`.
pub fn view(stack: &Stack, instance: &str, host: &str, secrets: &SecretValues) -> TlsView {
    if !on(stack) {
        return TlsView::default();
    }
    let Some(p) = purposes(stack)
        .into_iter()
        .find(|p| p.component == instance && stack.hosts_of(instance).iter().any(|h| h == host))
    else {
        let ca_file = CA_ONLY
            .iter()
            .find(|(c, _)| *c == instance)
            .map(|(_, f)| f.to_string())
            .or_else(|| instance.strip_prefix("services.").map(service_ca_file))
            .unwrap_or_default();
        // an app service: its copy of the host's client certificate too
        if let Some(service) = instance
            .strip_prefix("services.")
            .filter(|_| stack.hosts_of(instance).iter().any(|h| h == host))
        {
            return TlsView {
                enabled: true,
                name: APP.name.into(),
                dir: format!("{}/{service}", APP.dir),
                cert_file: service_cert_file(service),
                key_file: service_key_file(service),
                owner: APP.owner.into(),
                ca: secrets.get(CA_KEY).trim_end().to_string(),
                cert: secrets.get(&cert_key(host, &APP)).trim_end().to_string(),
                key: secrets.get(&key_key(host, &APP)).trim_end().to_string(),
                ca_file,
                ..TlsView::default()
            };
        }
        return TlsView {
            enabled: true,
            ca: if ca_file.is_empty() {
                String::new()
            } else {
                secrets.get(CA_KEY).trim_end().to_string()
            },
            ca_file,
            ..TlsView::default()
        };
    };
    TlsView {
        enabled: true,
        name: p.name.into(),
        metrics_dir: crate::components::backup::view::METRICS_DIR.into(),
        dir: p.dir.into(),
        ca_file: p.ca_file(),
        cert_file: p.cert_file(),
        key_file: p.key_file(),
        owner: p.owner.into(),
        ca: secrets.get(CA_KEY).trim_end().to_string(),
        cert: secrets.get(&cert_key(host, &p)).trim_end().to_string(),
        key: secrets.get(&key_key(host, &p)).trim_end().to_string(),
    }
}
