//! `rampart status` under `[tls]`: each certificate's days left, read on the
//! host it is deployed on (the host's file is the truth, not the copy kept
//! beside the stack). The probe's lines are `tls|PURPOSE|NOT_AFTER|NOW`
//! (unix seconds, the host's clock), or `tls|PURPOSE|missing|` when the file
//! cannot be read. Parsing is pure.

use super::view::{on, purposes, service_cert_file, services_on, APP};
use crate::model::stack::Stack;
use crate::status::{field, lines, Probes};
use serde::Serialize;

/// One certificate as its host holds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertDays {
    pub host: String,
    /// etcd, patroni, pgbouncer, redis, or `app:SERVICE` (an app service's
    /// client certificate).
    pub purpose: String,
    /// The certificate's file on the host.
    pub file: String,
    /// Whole days until it expires (negative: expired); None when unreadable.
    pub days_left: Option<i64>,
    /// Its notAfter, unix seconds.
    pub not_after: Option<i64>,
    /// Within `renew_days`: the next `plan`/`apply` renews it.
    pub renew_due: bool,
    /// Expired, missing or unreadable.
    pub bad: bool,
}

/// The probe lines for `host`: one per certificate it holds.
pub fn probe(stack: &Stack, host: &str) -> String {
    if !on(stack) {
        return String::new();
    }
    let mut s = String::new();
    for (label, f) in held(stack, host) {
        s.push_str(&format!(
            "e=$(openssl x509 -enddate -noout -in {f} 2>/dev/null | cut -d= -f2); e=$([ -n \"$e\" ] && date -d \"$e\" +%s 2>/dev/null); echo \"tls|{label}|${{e:-missing}}|$(date +%s)\"\n"
        ));
    }
    s
}

/// The certificates `host` holds: (label, file). A label is the purpose's
/// name, or `app:SERVICE` for an app service's copy of the host's client
/// certificate.
fn held(stack: &Stack, host: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = purposes(stack)
        .into_iter()
        .filter(|p| stack.hosts_of(p.component).iter().any(|h| h == host))
        .map(|p| (p.name.to_string(), p.cert_file()))
        .collect();
    for svc in services_on(stack, host) {
        v.push((format!("{}:{svc}", APP.name), service_cert_file(&svc)));
    }
    v
}

/// The file a probe line's label names (None: a label this stack has not).
fn file_of(stack: &Stack, label: &str) -> Option<String> {
    if let Some(svc) = label.strip_prefix("app:") {
        return stack
            .placement
            .contains_key(&format!("services.{svc}"))
            .then(|| service_cert_file(svc));
    }
    purposes(stack)
        .into_iter()
        .find(|p| p.name == label)
        .map(|p| p.cert_file())
}

/// Every certificate's days left, from the probes, host then purpose order.
pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<CertDays> {
    let Some(t) = stack.tls.as_ref().filter(|t| t.on()) else {
        return Vec::new();
    };
    let renew = i64::from(t.renew_days());
    let mut out = Vec::new();
    for (host, _) in probes.iter() {
        for l in lines(probes, host, "tls") {
            let label = field(&l, 1);
            let Some(file) = file_of(stack, label) else {
                continue;
            };
            let end = field(&l, 2).parse::<i64>().ok();
            let now = field(&l, 3).parse::<i64>().ok();
            let days = end.zip(now).map(|(e, n)| (e - n).div_euclid(86_400));
            out.push(CertDays {
                host: host.clone(),
                purpose: label.to_string(),
                file,
                days_left: days,
                not_after: end,
                renew_due: days.is_some_and(|d| d < renew),
                bad: days.is_none_or(|d| d < 0),
            });
        }
    }
    out
}

/// The text section: a line per certificate, `RENEW` under renew_days.
pub fn text(certs: &[CertDays], stack: &Stack) -> String {
    if certs.is_empty() {
        return String::new();
    }
    let renew = stack.tls.as_ref().map_or(0, |t| t.renew_days());
    let mut s = format!("certificates (renew_days = {renew})\n");
    for c in certs {
        let (mark, what) = match c.days_left {
            None => ("BAD", "missing or unreadable".to_string()),
            Some(d) if d < 0 => ("BAD", format!("expired {} days ago", -d)),
            Some(d) if c.renew_due => (
                "RENEW",
                format!("{d} days left: within renew_days, `rampart apply` renews it"),
            ),
            Some(d) => ("ok", format!("{d} days left")),
        };
        s.push_str(&format!(
            "  {:<10} {:<5} {:<11} {what}\n",
            c.host, mark, c.purpose
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::model::inventory::Inventory;

    const INV: &str = "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[groups]\nd = [\"a\", \"b\", \"c\"]\n";

    fn stack(tls: &str) -> Stack {
        let inv = Inventory::parse(Source::new("i.toml", INV)).unwrap();
        let text = format!("[stack]\nname = \"s\"\n[etcd]\nhosts = \"d\"\n[postgres]\nhosts = \"d\"\nsuperuser_password = {{ env = \"X\" }}\nreplication_password = {{ env = \"Y\" }}\n{tls}");
        Stack::parse(Source::new("s.toml", text), &inv).unwrap()
    }

    /// Valkey's certificate is read where Valkey's role puts it, and its
    /// line reports that file; Redis' stays in /etc/redis.
    #[test]
    fn a_valkey_stack_reads_its_certificate_from_etc_valkey() {
        let redis = |server: &str| {
            stack(&format!(
                "[redis]\nhosts = \"d\"\nserver = \"{server}\"\npassword = {{ env = \"R\" }}\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n[tls]\n"
            ))
        };
        let (valkey, plain) = (redis("valkey"), redis("redis"));
        let p = probe(&valkey, "a");
        assert!(p.contains("-in /etc/valkey/tls/redis.crt"), "{p}");
        assert!(!p.contains("/etc/redis/tls"), "{p}");
        assert!(probe(&plain, "a").contains("-in /etc/redis/tls/redis.crt"));
        let now = 1_790_000_000i64;
        let mut probes = Probes::new();
        probes.insert(
            "a".into(),
            Ok(format!("tls|redis|{}|{now}\nEND\n", now + 100 * 86_400)),
        );
        let certs = evaluate(&valkey, &probes);
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].file, "/etc/valkey/tls/redis.crt");
        assert_eq!(certs[0].days_left, Some(100));
    }

    #[test]
    fn days_left_come_from_the_hosts_probe_with_a_mark_under_renew_days() {
        let s = stack("[tls]\nrenew_days = 30\n");
        let p = probe(&s, "a");
        assert!(
            p.contains("openssl x509 -enddate -noout -in /etc/etcd/tls/etcd.crt"),
            "{p}"
        );
        assert!(p.contains("/etc/patroni/tls/patroni.crt"), "{p}");
        assert!(!p.contains("pgbouncer"), "a holds no PgBouncer certificate");
        let now = 1_790_000_000i64;
        let mut probes = Probes::new();
        probes.insert(
            "a".into(),
            Ok(format!(
                "etcd|x\ntls|etcd|{}|{now}\ntls|patroni|{}|{now}\nEND\n",
                now + 200 * 86_400 + 5,
                now + 12 * 86_400 + 5
            )),
        );
        probes.insert(
            "b".into(),
            Ok(format!(
                "tls|etcd|missing|{now}\ntls|patroni|{}|{now}\n",
                now - 86_400
            )),
        );
        let c = evaluate(&s, &probes);
        let got: Vec<(&str, &str, Option<i64>, bool, bool)> = c
            .iter()
            .map(|c| {
                (
                    c.host.as_str(),
                    c.purpose.as_str(),
                    c.days_left,
                    c.renew_due,
                    c.bad,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "etcd", Some(200), false, false),
                ("a", "patroni", Some(12), true, false),
                ("b", "etcd", None, false, true),
                ("b", "patroni", Some(-1), true, true),
            ]
        );
        let t = text(&c, &s);
        assert!(t.contains("certificates (renew_days = 30)"), "{t}");
        assert!(t.contains("ok    etcd        200 days left"), "{t}");
        assert!(t.contains("RENEW patroni     12 days left"), "{t}");
        assert!(t.contains("BAD   etcd        missing"), "{t}");
        assert!(t.contains("expired 1 days ago"), "{t}");
        // without [tls]: no probe, nothing shown
        let plain = stack("");
        assert_eq!(probe(&plain, "a"), "");
        assert!(evaluate(&plain, &probes).is_empty());
    }
}
