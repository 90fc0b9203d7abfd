//! `rampart restore`'s plan: the steps that take a Patroni cluster back to a
//! backup or a point in time with pgBackRest. Pure: the steps are data (typed
//! scripts, pinned by the tests below), run by the executor like any plan.
//!
//! 1. Patroni stopped on every member (replicas first, the leader last).
//! 2. The cluster taken out of the DCS (`patronictl remove`), so no member
//!    remembers the old leader or timeline.
//! 3. Every member's data directory set aside (`DATA.before-restore-STAMP`),
//!    kept until the operator removes it.
//! 4. One member restored to the target, recovered by PostgreSQL itself up to
//!    it and promoted (a new timeline: the WAL it archives from now on never
//!    overwrites the history it came from), then handed to Patroni, which
//!    takes it over as the leader.
//! 5. The other members restored from the same backup as standbys and started:
//!    they follow the new timeline from the archive and stream from the leader.
//! 6. Once every member streams, a full backup: new replicas (built from the
//!    latest backup) start on the new timeline.

use super::repo::Chosen;
use crate::compile::{Kind, ResourceId};
use crate::plan::op::Op;
use crate::plan::{Action, Step};
use crate::roles::manifest::Check;
use crate::transport::quote::sh;

/// What the restore plan is built from.
#[derive(Debug, Clone)]
pub struct Restore<'a> {
    pub stanza: &'a str,
    /// The members, with the one restored first (the leader now, if any) first.
    pub members: Vec<String>,
    pub repo_host: &'a str,
    pub data_dir: &'a str,
    pub bin_dir: &'a str,
    /// `YYYYMMDDTHHMMSSZ`: names the set-aside data directories.
    pub stamp: &'a str,
    pub chosen: &'a Chosen,
    /// `[tls]`: Patroni's REST API is https (checked with the stack's CA;
    /// the GETs here need no password).
    pub tls: bool,
}

/// Patroni's config, as the postgres role writes it.
const PATRONI_CONFIG: &str = crate::components::postgres::CONFIG.name;

fn step(
    id: String,
    host: &str,
    action: Action,
    reasons: Vec<String>,
    op: Op,
    deps: Vec<String>,
) -> Step {
    Step {
        id,
        host: host.to_string(),
        action,
        reasons,
        diff: None,
        sensitive: false,
        drift: false,
        ops: vec![op],
        deps,
        retires: None,
        always: false,
    }
}

fn run(script: String) -> Op {
    Op::RunCommand {
        run: script,
        unless: None,
        creates: None,
    }
}

/// `HOST/restore/NAME`.
fn id(host: &str, name: &str) -> String {
    ResourceId::new(host, Kind::Restore, name).to_string()
}

pub fn steps(r: &Restore) -> Vec<Step> {
    let mut out = Vec::new();
    let first = r.members[0].as_str();
    let (curl_tls, api) = crate::tls::view::patroni_local(r.tls, false);
    let data = sh(r.data_dir);
    let aside = sh(&format!("{}.before-restore-{}", r.data_dir, r.stamp));
    let pg = |args: &str| {
        format!(
            "runuser -u postgres -- pgbackrest --stanza={} {args}",
            sh(r.stanza)
        )
    };
    // 1. stop Patroni, replicas first, the leader (restored first) last
    let mut prev: Option<String> = None;
    for h in r
        .members
        .iter()
        .skip(1)
        .chain(std::iter::once(&r.members[0]))
    {
        let sid = id(h, "stop-patroni");
        out.push(step(
            sid.clone(),
            h,
            Action::Run,
            vec!["stop Patroni (and PostgreSQL with it); the members stop one after another, the leader last".into()],
            run(format!(
                "systemctl stop patroni && for i in $(seq 1 120); do [ -e {data}/postmaster.pid ] || exit 0; sleep 1; done; echo 'PostgreSQL still running 120 s after Patroni stopped'; exit 1"
            )),
            prev.iter().cloned().collect(),
        ));
        prev = Some(sid);
    }
    let stopped: Vec<String> = r.members.iter().map(|h| id(h, "stop-patroni")).collect();
    // 2. out of the DCS
    let remove = id(first, "remove-from-dcs");
    out.push(step(
        remove.clone(),
        first,
        Action::Run,
        vec![format!("take the cluster `{}` out of the DCS (patronictl remove): no member remembers the old leader or timeline", r.stanza)],
        run(format!(
            "printf '%s\\n%s\\n' {s} 'Yes I am aware' | patronictl -c {PATRONI_CONFIG} remove {s}",
            s = sh(r.stanza)
        )),
        stopped,
    ));
    // 3. every data directory set aside
    for h in &r.members {
        out.push(step(
            id(h, "set-aside-data"),
            h,
            Action::Run,
            vec![format!("keep the data directory aside as {}.before-restore-{} (remove it once the restore is checked)", r.data_dir, r.stamp)],
            run(format!(
                "if [ -d {data} ]; then mv {data} {aside}; fi && install -d -m 0700 -o postgres -g postgres {data}"
            )),
            vec![remove.clone()],
        ));
    }
    // 4. the first member restored to the target, promoted, handed to Patroni
    let ctl = format!("runuser -u postgres -- {}/pg_ctl -D {data}", sh(r.bin_dir));
    let psql = "runuser -u postgres -- psql -X -tAq";
    let leader = id(first, "restore-leader");
    out.push(step(
        leader.clone(),
        first,
        Action::Run,
        vec![
            format!("restore backup {} and recover to {}", r.chosen.set, r.chosen.describe),
            "promote it (a new timeline), then start Patroni: it becomes the leader".into(),
        ],
        run([
            "set -e; cd /".to_string(),
            pg(&format!("--set={} {} restore", sh(&r.chosen.set), r.chosen.options)),
            format!("{ctl} -l /var/log/postgresql/rampart-restore.log -w -t 3600 start"),
            format!("for i in $(seq 1 3600); do [ \"$({psql} -c 'select pg_is_in_recovery()')\" = f ] && break; sleep 1; done"),
            format!("[ \"$({psql} -c 'select pg_is_in_recovery()')\" = f ] || {{ echo 'recovery did not reach the target within an hour'; tail -n 20 /var/log/postgresql/rampart-restore.log; exit 1; }}"),
            // pgBackRest's recovery settings out of postgresql.auto.conf: a member that later becomes a standby must not stop at the target again
            format!("for p in restore_command recovery_target recovery_target_time recovery_target_name recovery_target_lsn recovery_target_xid recovery_target_action recovery_target_timeline recovery_target_inclusive; do {psql} -c \"ALTER SYSTEM RESET $p\"; done"),
            format!("{ctl} -w -t 600 -m fast stop"),
            "systemctl start patroni".into(),
            format!("for i in $(seq 1 300); do curl -sf {curl_tls}-o /dev/null {api}/primary && exit 0; sleep 1; done; echo 'Patroni did not take the restored member over as leader within 300 s'; exit 1"),
        ]
        .join("\n")),
        r.members.iter().map(|h| id(h, "set-aside-data")).collect(),
    ));
    // 5. the others restored from the same backup as standbys
    let mut replicas = Vec::new();
    for h in r.members.iter().skip(1) {
        let rid = id(h, "rebuild-replica");
        out.push(step(
            rid.clone(),
            h,
            Action::Run,
            vec![format!(
                "restore backup {} as a standby of the new leader (it follows the new timeline)",
                r.chosen.set
            )],
            run([
                "set -e; cd /".to_string(),
                pg(&format!(
                    "--set={} --type=standby restore",
                    sh(&r.chosen.set)
                )),
                "systemctl start patroni".into(),
            ]
            .join("\n")),
            vec![leader.clone()],
        ));
        replicas.push(rid);
    }
    // 6. every member streaming, then a full backup on the new timeline
    let healthy = id(first, "cluster-streaming");
    let size = r.members.len();
    out.push(step(
        healthy.clone(),
        first,
        Action::Wait,
        vec![format!("one leader and {} members streaming", size - 1)],
        Op::Wait {
            check: Check::Command(format!("curl -sf {curl_tls}{api}/cluster | python3 -c 'import json,sys; m=json.load(sys.stdin)[\"members\"]; l=[x for x in m if x[\"role\"] in (\"leader\",\"standby_leader\") and x[\"state\"]==\"running\"]; r=[x for x in m if x[\"role\"] not in (\"leader\",\"standby_leader\") and x[\"state\"]==\"streaming\"]; sys.exit(0 if len(l)==1 and len(m)=={size} and len(r)=={size}-1 else 1)'")),
            timeout: 1800,
            interval: 2,
        },
        replicas,
    ));
    out.push(step(
        id(r.repo_host, "full-backup"),
        r.repo_host,
        Action::Run,
        vec![
            "a full backup of the restored cluster: replicas built later start on its timeline"
                .into(),
        ],
        run(format!("cd / && {}", pg("--type=full backup"))),
        vec![healthy],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen() -> Chosen {
        Chosen {
            set: "20261130-110000F".into(),
            options: "--type=time --target='2026-11-30 11:30:00+00' --target-action=promote".into(),
            describe: "2026-11-30 11:30:00+00".into(),
        }
    }

    fn plan() -> Vec<Step> {
        plan_tls(false)
    }

    fn plan_tls(tls: bool) -> Vec<Step> {
        let c = chosen();
        steps(&Restore {
            tls,
            stanza: "lab",
            members: vec!["lab2".into(), "lab1".into(), "lab3".into()],
            repo_host: "lab4",
            data_dir: "/var/lib/postgresql/17/patroni",
            bin_dir: "/usr/lib/postgresql/17/bin",
            stamp: "20261130T140400Z",
            chosen: &c,
        })
    }

    fn script(s: &Step) -> String {
        match &s.ops[0] {
            Op::RunCommand { run, .. } => run.clone(),
            Op::Wait {
                check: Check::Command(c),
                ..
            } => c.clone(),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn the_steps_run_in_the_order_that_keeps_the_history() {
        let p = plan();
        let ids: Vec<&str> = p.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "lab1/restore/stop-patroni",
                "lab3/restore/stop-patroni",
                "lab2/restore/stop-patroni",
                "lab2/restore/remove-from-dcs",
                "lab2/restore/set-aside-data",
                "lab1/restore/set-aside-data",
                "lab3/restore/set-aside-data",
                "lab2/restore/restore-leader",
                "lab1/restore/rebuild-replica",
                "lab3/restore/rebuild-replica",
                "lab2/restore/cluster-streaming",
                "lab4/restore/full-backup",
            ]
        );
        // the leader stops last; the DCS is cleared only once every member is stopped
        assert_eq!(p[2].deps, ["lab3/restore/stop-patroni"]);
        assert_eq!(
            p[3].deps,
            [
                "lab2/restore/stop-patroni",
                "lab1/restore/stop-patroni",
                "lab3/restore/stop-patroni"
            ]
        );
        assert_eq!(p[8].deps, ["lab2/restore/restore-leader"]);
        assert_eq!(p[11].deps, ["lab2/restore/cluster-streaming"]);
    }

    /// Under `[tls]`, Patroni's REST API is asked over https with the CA.
    #[test]
    fn under_tls_patroni_is_asked_over_https_with_the_ca() {
        let p = plan_tls(true);
        for s in [&p[7], &p[10]] {
            let t = script(s);
            assert!(
                t.contains("curl -sf --cacert /etc/patroni/tls/ca.crt ")
                    && t.contains("https://127.0.0.1:8008/")
                    && !t.contains("http://"),
                "{t}"
            );
        }
        assert!(script(&plan()[10]).contains("curl -sf http://127.0.0.1:8008/cluster"));
    }

    #[test]
    fn the_scripts_are_pinned() {
        let p = plan();
        assert_eq!(
            script(&p[3]),
            "printf '%s\\n%s\\n' lab 'Yes I am aware' | patronictl -c /etc/patroni/config.yml remove lab"
        );
        assert_eq!(
            script(&p[4]),
            "if [ -d /var/lib/postgresql/17/patroni ]; then mv /var/lib/postgresql/17/patroni /var/lib/postgresql/17/patroni.before-restore-20261130T140400Z; fi && install -d -m 0700 -o postgres -g postgres /var/lib/postgresql/17/patroni"
        );
        let leader = script(&p[7]);
        assert!(leader.starts_with("set -e; cd /\nrunuser -u postgres -- pgbackrest --stanza=lab --set=20261130-110000F --type=time --target='2026-11-30 11:30:00+00' --target-action=promote restore\nrunuser -u postgres -- /usr/lib/postgresql/17/bin/pg_ctl -D /var/lib/postgresql/17/patroni -l /var/log/postgresql/rampart-restore.log -w -t 3600 start\n"), "{leader}");
        assert!(leader.contains("ALTER SYSTEM RESET $p"), "{leader}");
        assert!(leader.contains("pg_ctl -D /var/lib/postgresql/17/patroni -w -t 600 -m fast stop\nsystemctl start patroni\n"), "{leader}");
        assert_eq!(
            script(&p[8]),
            "set -e; cd /\nrunuser -u postgres -- pgbackrest --stanza=lab --set=20261130-110000F --type=standby restore\nsystemctl start patroni"
        );
        assert_eq!(
            script(&p[11]),
            "cd / && runuser -u postgres -- pgbackrest --stanza=lab --type=full backup"
        );
        for s in &p {
            let out = std::process::Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(script(s))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                s.id,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
