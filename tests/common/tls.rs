//! `[tls]` on lab hosts: every TCP listener but the plaintext-on-purpose
//! ones completes an `openssl s_client` handshake verified by the stack's CA
//! (issue 16; README, "TLS"). Shared by e2e_stack (the lab stack) and
//! e2e_seeds (the seeds' stacks).

use super::{ssh, ssh_ok};

/// PostgreSQL's protocol asks for TLS first (`-starttls postgres`):
/// PostgreSQL, PgBouncer and HAProxy's passthrough of them.
pub const PG_PORTS: [u16; 4] = [5432, 6432, 5000, 5001];

/// Plaintext on purpose in every stack (README, "TLS"): sshd and HAProxy's
/// stats page (7000, `stats_port`'s default).
pub const ALWAYS_PLAIN: [u16; 2] = [22, 7000];

/// The certificate `openssl s_client` shows (etcd and Sentinel ask for one
/// of the stack's CA) and the CA it verifies the server with: files a host
/// of the stack holds.
pub struct ClientCert {
    pub ca: &'static str,
    pub cert: &'static str,
    pub key: &'static str,
}

/// A Redis host's certificate.
pub const REDIS_CERT: ClientCert = ClientCert {
    ca: "/etc/redis/tls/ca.crt",
    cert: "/etc/redis/tls/redis.crt",
    key: "/etc/redis/tls/redis.key",
};

/// An etcd member's certificate.
pub const ETCD_CERT: ClientCert = ClientCert {
    ca: "/etc/etcd/tls/ca.crt",
    cert: "/etc/etcd/tls/etcd.crt",
    key: "/etc/etcd/tls/etcd.key",
};

/// What a stack (its TOML text) serves in plaintext on purpose, besides
/// `ALWAYS_PLAIN`: each app service's own port and HAProxy's listener of
/// each app service (HTTP, or TLS with the operator's `[haproxy.tls]`
/// certificate rather than the stack's CA), and `stats_port` when set.
pub fn plain_ports(stack: &str) -> Vec<u16> {
    let t: toml::Table = toml::from_str(stack).expect("the stack is TOML");
    let mut ports = ALWAYS_PLAIN.to_vec();
    let port = |v: &toml::Value| v.as_integer().map(|p| p as u16);
    let services = t.get("services").and_then(|s| s.as_table());
    for s in services.into_iter().flat_map(|s| s.values()) {
        ports.extend(s.get("port").and_then(port));
    }
    if let Some(h) = t.get("haproxy").and_then(|h| h.as_table()) {
        ports.extend(h.get("stats_port").and_then(port));
        for (name, p) in h
            .get("listen")
            .and_then(|l| l.as_table())
            .into_iter()
            .flatten()
        {
            if services.is_some_and(|s| s.contains_key(name)) {
                ports.extend(port(p));
            }
        }
    }
    ports
}

/// Every TCP listener on `hosts` (`ss -tlnp`) but `plain` completes an
/// `openssl s_client` handshake verified by the stack's CA, for the address
/// it listens on (a wildcard: the host's address); `HOST ADDRESS:PORT` of
/// each. One SSH call per host lists the listeners and one runs every
/// handshake. Docker's containerd, on the hosts of a compose service,
/// listens on a loopback port of its own (its CRI streaming server): not
/// the stack's, left out.
pub fn tls_listeners(hosts: &[&str], plain: &[u16], client: &ClientCert) -> Vec<String> {
    let mut seen = Vec::new();
    for h in hosts {
        let addr = format!("198.18.0.{}", 10 + h[3..].parse::<u32>().unwrap());
        let mut script = String::new();
        let mut probes = Vec::new();
        for l in ssh_ok(h, "ss -Htlnp").lines() {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (local, process) = (cols[3], cols.get(5).copied().unwrap_or(""));
            let (ip, port) = local.rsplit_once(':').unwrap();
            let port: u16 = port.parse().unwrap();
            if plain.contains(&port) {
                continue;
            }
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if ip.starts_with("127.") && process.contains("\"containerd\"") {
                eprintln!("{h}: {local} left out (containerd's own, not the stack's)");
                continue;
            }
            let ip = match ip {
                "0.0.0.0" | "*" | "::" => addr.as_str(),
                x => x,
            };
            let connect = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            if probes.iter().any(|(c, _, _)| *c == connect) {
                continue; // the same port on 0.0.0.0 and [::]
            }
            let starttls = if PG_PORTS.contains(&port) {
                "-starttls postgres "
            } else {
                ""
            };
            let n = probes.len();
            script.push_str(&format!(
                "echo '== {n}'; timeout 10 openssl s_client -connect {connect} {starttls}-verify_return_error -verify_ip {ip} -CAfile {} -cert {} -key {} </dev/null 2>&1; echo \"== rc $?\"\n",
                client.ca, client.cert, client.key
            ));
            probes.push((connect, local.to_string(), process.to_string()));
        }
        if probes.is_empty() {
            continue;
        }
        let out = ssh(h, &script).stdout;
        for (n, (connect, local, process)) in probes.iter().enumerate() {
            let start = format!("== {n}\n");
            let part = out
                .split_once(&start)
                .map(|(_, rest)| rest.split("\n== rc ").collect::<Vec<_>>())
                .unwrap_or_default();
            let (text, rc) = (
                part.first().copied().unwrap_or(""),
                part.get(1).and_then(|r| r.lines().next()).unwrap_or("none"),
            );
            assert!(
                rc == "0" && text.contains("Verify return code: 0 (ok)"),
                "{h}: {process} on {local} is not TLS verified by the stack's CA (exit {rc}):\n{text}"
            );
            seen.push(format!("{h} {connect}"));
        }
    }
    seen
}
