//! `rampart status` for pgBackRest: on the repository host the last full and
//! differential backups and the newest archived WAL segment; on the leader
//! PostgreSQL's archiver (segments waiting, the last archived, failures).

use super::repo::parse_parts;
use super::target::utc_text;
use crate::model::stack::Stack;
use crate::status::{lines, unreachable, ComponentHealth, MemberHealth, Probes};
use crate::transport::quote::sh;

/// The probe lines: `pgbackrest|INFO_JSON|NEWEST_WAL|NOW` on the repo host,
/// `archiver|IN_RECOVERY LAST_WAL LAST_AT FAILED_AT READY NOW` on a member.
pub fn probe(stack: &Stack, host: &str) -> String {
    let Some(b) = super::stack::pgbackrest(stack.backup.as_ref()) else {
        return String::new();
    };
    let s = sh(&stack.name);
    if b.repo_host() == Some(host) {
        return format!(
            "echo \"pgbackrest|$(cd / && runuser -u postgres -- pgbackrest --stanza={s} --output=json info 2>/dev/null | tr -d '\\n')|$({w})|$(date +%s)\"\n",
            w = super::view::newest_wal_of(b, &stack.name),
        );
    }
    if stack.hosts_of("postgres").iter().any(|h| h == host) {
        return "echo \"archiver|$(cd / && runuser -u postgres -- psql -X -tA -F' ' -c \"select pg_is_in_recovery(), coalesce(last_archived_wal, '-'), coalesce(extract(epoch from last_archived_time)::bigint, 0), coalesce(extract(epoch from last_failed_time)::bigint, 0), (select count(*) from pg_ls_archive_statusdir() where name like '%.ready'), extract(epoch from now())::bigint from pg_stat_archiver\" 2>/dev/null)\"\n".into();
    }
    String::new()
}

fn ago(now: i64, at: i64) -> String {
    let s = (now - at).max(0);
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{:.1} h ago", s as f64 / 3600.0),
    }
}

fn repo_member(stack: &Stack, host: &str, probes: &Probes) -> MemberHealth {
    if let Some(u) = unreachable(probes, host) {
        return u;
    }
    let line = lines(probes, host, "pgbackrest")
        .into_iter()
        .next()
        .unwrap_or_default();
    // the JSON comes first: the last two fields are split off from the right
    let mut parts = line.split_once('|').map_or("", |x| x.1).rsplitn(3, '|');
    let now: i64 = parts
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let wal = parts.next().unwrap_or("");
    let json = parts.next().unwrap_or("");
    let bad = |detail: String| MemberHealth {
        host: host.to_string(),
        healthy: false,
        role: "repository".into(),
        detail,
    };
    let st = match parse_parts(json, wal, &stack.name) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let last = |kind: &str| {
        st.backups
            .iter()
            .rev()
            .find(|b| b.kind == kind)
            .map(|b| {
                format!(
                    "last {} {} ({} UTC, {})",
                    kind,
                    b.label,
                    utc_text(b.stop),
                    ago(now, b.stop)
                )
            })
            .unwrap_or_else(|| format!("no {kind} backup yet"))
    };
    let wal = st
        .newest_wal
        .as_ref()
        .map(|(n, at)| format!("newest archived WAL {n} ({})", ago(now, *at as i64)))
        .unwrap_or_else(|| "no archived WAL".into());
    MemberHealth {
        host: host.to_string(),
        healthy: !st.backups.is_empty() && st.newest_wal.is_some(),
        role: "repository".into(),
        detail: format!("{}, {}; {wal}", last("full"), last("diff")),
    }
}

/// The leader's archiver, when a member answers as the leader.
fn archiver(stack: &Stack, probes: &Probes) -> Option<MemberHealth> {
    stack.hosts_of("postgres").iter().find_map(|h| {
        let line = lines(probes, h, "archiver").into_iter().next()?;
        let f: Vec<&str> = line.split_once('|')?.1.split_whitespace().collect();
        if f.len() != 6 || f[0] != "f" {
            return None; // a replica, or PostgreSQL not answering
        }
        let num = |i: usize| f[i].parse::<i64>().unwrap_or(0);
        let (last_at, failed_at, ready, now) = (num(2), num(3), num(4), num(5));
        let failing = failed_at > last_at;
        Some(MemberHealth {
            host: h.clone(),
            healthy: !failing,
            role: "archiving".into(),
            detail: format!(
                "archive lag {ready} segment{} waiting; last archived {} ({}){}",
                if ready == 1 { "" } else { "s" },
                f[1],
                if last_at == 0 {
                    "never".into()
                } else {
                    ago(now, last_at)
                },
                if failing {
                    format!("; FAILING since {}", ago(now, failed_at))
                } else {
                    String::new()
                }
            ),
        })
    })
}

pub fn evaluate(stack: &Stack, probes: &Probes) -> Vec<ComponentHealth> {
    let Some(b) = super::stack::pgbackrest(stack.backup.as_ref()) else {
        return Vec::new();
    };
    let Some(repo) = b.repo_host() else {
        return Vec::new();
    };
    let mut members = vec![repo_member(stack, repo, probes)];
    let arch = archiver(stack, probes);
    let note = arch
        .is_none()
        .then(|| "no leader answered about its archiver".to_string());
    members.extend(arch);
    vec![ComponentHealth {
        component: "backup".into(),
        healthy: members.iter().all(|m| m.healthy) && note.is_none(),
        members,
        note,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::model::inventory::Inventory;

    fn stack() -> Stack {
        let inv = Inventory::parse(Source::new("i.toml", "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[hosts.r]\naddress = \"10.0.0.9\"\n[groups]\nd = [\"a\", \"b\", \"c\"]\n")).unwrap();
        Stack::parse(Source::new("s.toml", "[stack]\nname = \"lab\"\n[etcd]\nhosts = \"d\"\n[postgres]\nhosts = \"d\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"r\"\n"), &inv).unwrap()
    }

    const INFO: &str = r#"[{"backup":[{"label":"20261130-110000F","type":"full","timestamp":{"start":1796036400,"stop":1796036460}},{"label":"20261130-110000F_20261130-130000D","type":"diff","timestamp":{"start":1796043600,"stop":1796043630}}],"name":"lab","status":{"code":0,"message":"ok"}}]"#;

    #[test]
    fn the_last_backups_the_newest_wal_and_the_leaders_archiver_are_shown() {
        let s = stack();
        assert!(probe(&s, "r").starts_with("echo \"pgbackrest|"));
        assert!(probe(&s, "a").starts_with("echo \"archiver|"));
        let mut p = Probes::new();
        p.insert(
            "r".into(),
            Ok(format!(
                "pgbackrest|{INFO}|1796043900.5 000000010000000000000009-abc.zst|1796043912\nEND\n"
            )),
        );
        p.insert(
            "a".into(),
            Ok("archiver|t - 0 0 0 1796043912\nEND\n".into()),
        );
        p.insert(
            "b".into(),
            Ok("archiver|f 000000010000000000000009 1796043900 0 2 1796043912\nEND\n".into()),
        );
        let c = &evaluate(&s, &p)[0];
        assert!(c.healthy, "{c:?}");
        assert_eq!(c.members[0].detail, "last full 20261130-110000F (2026-11-30 11:01:00 UTC, 2.1 h ago), last diff 20261130-110000F_20261130-130000D (2026-11-30 13:00:30 UTC, 4 min ago); newest archived WAL 000000010000000000000009 (12 s ago)");
        assert_eq!(
            (c.members[1].host.as_str(), c.members[1].role.as_str()),
            ("b", "archiving")
        );
        assert_eq!(
            c.members[1].detail,
            "archive lag 2 segments waiting; last archived 000000010000000000000009 (12 s ago)"
        );
        // archiving failing on the leader: unhealthy, said so
        p.insert(
            "b".into(),
            Ok(
                "archiver|f 000000010000000000000009 1796043000 1796043900 9 1796043912\nEND\n"
                    .into(),
            ),
        );
        let c = &evaluate(&s, &p)[0];
        assert!(!c.healthy);
        assert!(
            c.members[1].detail.ends_with("; FAILING since 12 s ago"),
            "{}",
            c.members[1].detail
        );
        // no backup yet
        p.insert(
            "r".into(),
            Ok("pgbackrest|[{\"backup\":[],\"name\":\"lab\"}]||1796043912\nEND\n".into()),
        );
        let c = &evaluate(&s, &p)[0];
        assert!(!c.healthy);
        assert_eq!(
            c.members[0].detail,
            "no full backup yet, no diff backup yet; no archived WAL"
        );
    }
}
