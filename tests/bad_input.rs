//! A catalogue of bad inventories and stacks: each is refused by
//! `rampart validate` (no network) with the file, line and a fix.
// tests may print (progress, timings, what failed); only src/ prints through the printer
#![allow(clippy::print_stdout, clippy::print_stderr)]

use assert_cmd::Command;
use std::path::Path;

const INV: &str = "[defaults]\nuser = \"root\"\n\n[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[hosts.d]\naddress = \"10.0.0.4\"\n\n[groups]\nthree = [\"a\", \"b\", \"c\"]\ntwo = [\"a\", \"b\"]\nfour = [\"a\", \"b\", \"c\", \"d\"]\n";

/// INV with every host on Debian 12, and with host c alone on Debian 12.
const INV12: &str = "[defaults]\nuser = \"root\"\ndebian = 12\n[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\n[groups]\nthree = [\"a\", \"b\", \"c\"]\n";
const INV_MIXED: &str = "[defaults]\nuser = \"root\"\n[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.2\"\n[hosts.c]\naddress = \"10.0.0.3\"\ndebian = 12\n[groups]\nthree = [\"a\", \"b\", \"c\"]\n";

macro_rules! pg {
    ($tail:literal) => {
        concat!("[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n", $tail)
    };
}
const PG_BOUNCER_STACK_HEAD_NL: &str = pg!("[[postgres.databases]]\nname = \"app\"\nowner = \"app\"\npassword = { env = \"C\" }\n[pgbouncer]\nhosts = \"three\"\npool_mode = \"transaction\\nadmin_users = x\"\n");
const PG_BOUNCER_STACK_HEAD_TYPO: &str = pg!("[[postgres.databases]]\nname = \"app\"\nowner = \"app\"\npassword = { env = \"C\" }\n[pgbouncer]\nhosts = \"three\"\npool_mode = \"sesion\"\n");
const PG_PARAM_SPACE: &str = pg!("[postgres.parameters]\n\"work mem\" = \"8MB\"\n");
const PG_PARAM_NL: &str = pg!("[postgres.parameters]\n\"x\\nport: 1\" = 1\n");
const PG_PARAM_OWNED: &str = pg!("[postgres.parameters]\nlisten_addresses = \"*\"\n");
const PG_PARAM_VALUE_NL: &str =
    pg!("[postgres.parameters]\nwork_mem = \"8MB\\\"\\nport: \\\"5433\"\n");
const PG_PARAM_WAL: &str = pg!("[postgres.parameters]\nwal_level = \"minimal\"\n");
const BACKUP_MONDAY_DOM: &str =
    pg!("[backup.postgres]\nschedule = \"0 2 1 * MON\"\nkeep_days = 7\n");
const BACKUP_HOUR: &str = pg!("[backup.postgres]\nschedule = \"0 25 * * *\"\nkeep_days = 7\n");
const BACKUP_DAY_NAME: &str =
    pg!("[backup.postgres]\nschedule = \"0 2 * * MONDAY\"\nkeep_days = 7\n");
const BACKUP_KEEP0: &str = pg!("[backup.postgres]\nschedule = \"0 2 * * *\"\nkeep_days = 0\n");
// issue 17: pgBackRest
const PGBR_METHOD: &str = pg!("[backup.postgres]\nmethod = \"pgbackrst\"\nrepo_host = \"d\"\n");
const PGBR_NO_REPO: &str = pg!("[backup.postgres]\nmethod = \"pgbackrest\"\n");
const PGBR_REPO_UNKNOWN: &str =
    pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"vault\"\n");
const PGBR_REPO_MEMBER: &str =
    pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"a\"\n");
const PGBR_DUMP_KEY: &str =
    pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\nkeep_days = 7\n");
const PGBR_KEEP0: &str =
    pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\nkeep_full = 0\n");
const PGBR_FULL_SCHEDULE: &str = pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\nfull_schedule = \"0 25 * * *\"\n");
const PGBR_ARCHIVE_PARAM: &str = pg!("[postgres.parameters]\narchive_command = \"cp %p /x\"\n[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\n");
const PGBR_ALERT0: &str =
    pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\nalert_hours = 0\n");
const PGBR_S3_ENDPOINT: &str = pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\n[backup.postgres.s3]\nendpoint = \"https://s3.example.com\"\nbucket = \"shop-pg\"\nregion = \"us-east-1\"\nkey = { env = \"K\" }\nsecret = { env = \"S\" }\n");
const PGBR_S3_BUCKET: &str = pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\n[backup.postgres.s3]\nendpoint = \"s3.example.com\"\nbucket = \"Shop_PG\"\nregion = \"us-east-1\"\nkey = { env = \"K\" }\nsecret = { env = \"S\" }\n");
const PGBR_S3_LITERAL: &str = pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\n[backup.postgres.s3]\nendpoint = \"s3.example.com\"\nbucket = \"shop-pg\"\nregion = \"us-east-1\"\nkey = { env = \"K\" }\nsecret = \"wJalrXUtnFEMI\"\n");
const PGBR_S3_URI: &str = pg!("[backup.postgres]\nmethod = \"pgbackrest\"\nrepo_host = \"d\"\n[backup.postgres.s3]\nendpoint = \"minio:9000\"\nbucket = \"shop-pg\"\nregion = \"us-east-1\"\nkey = { env = \"K\" }\nsecret = { env = \"S\" }\nuri_style = \"virtual\"\n");
const DUMP_S3: &str = pg!("[backup.postgres]\nschedule = \"0 2 * * *\"\nkeep_days = 7\n[backup.postgres.s3]\nendpoint = \"s3.example.com\"\nbucket = \"shop-pg\"\nregion = \"us-east-1\"\nkey = { env = \"K\" }\nsecret = { env = \"S\" }\n");
const DUMP_NO_SCHEDULE: &str = pg!("[backup.postgres]\nkeep_days = 7\n");

struct Case {
    name: &'static str,
    inv: &'static str,
    stack: &'static str,
    /// Substrings the error output must hold (file:line:col or the fix).
    expect: &'static [&'static str],
}

fn run(dir: &Path, inv: &str, stack: &str) -> (i32, String) {
    std::fs::write(dir.join("inv.toml"), inv).unwrap();
    std::fs::write(dir.join("stack.toml"), stack).unwrap();
    let out = Command::cargo_bin("rampart")
        .unwrap()
        .current_dir(dir)
        .args(["-i", "inv.toml", "-s", "stack.toml", "validate"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The diagnostics of an output, each from its `error:`/`warning:` line to the next.
fn diagnostics(out: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in out.lines() {
        if line.starts_with("error: ") || line.starts_with("warning: ") {
            blocks.push(String::new());
        } else if line.ends_with("nothing was contacted.") {
            continue;
        }
        if let Some(b) = blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks
}

#[test]
fn every_bad_input_is_refused_with_position_and_fix() {
    let cases = [
        Case { name: "toml syntax", inv: INV, stack: "[stack\nname = \"x\"\n", expect: &["stack.toml:1:", "error"] },
        Case { name: "unknown top-level key", inv: INV, stack: "[stack]\nname = \"x\"\n[etdc]\nhosts = \"three\"\n", expect: &["stack.toml:3:", "did you mean `etcd`"] },
        Case { name: "unknown key in etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhost = \"three\"\n", expect: &["stack.toml:4:1", "did you mean `hosts`"] },
        Case { name: "unknown inventory key", inv: "[hosts.a]\nadress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:1", "did you mean `address`"] },
        Case { name: "wrong type", inv: INV, stack: "[stack]\nname = 5\n", expect: &["stack.toml:2:8", "string"] },
        Case { name: "unknown group", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"thre\"\n", expect: &["stack.toml:4:9", "did you mean `three`"] },
        Case { name: "unknown host in list", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = [\"a\", \"zz\", \"c\"]\n", expect: &["stack.toml:4:", "`zz` is neither a group nor a host"] },
        Case { name: "group names unknown host", inv: "[hosts.a]\naddress = \"10.0.0.1\"\n[groups]\ng = [\"a\", \"q\"]\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:4:11", "not in [hosts]"] },
        Case { name: "even etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"two\"\n", expect: &["stack.toml:4:9", "odd number", "use 1 or 3 hosts"] },
        Case { name: "four etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"four\"\n", expect: &["odd number", "use 3 or 5 hosts"] },
        Case { name: "postgres without etcd", inv: INV, stack: "[stack]\nname = \"x\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\n", expect: &["stack.toml:4:", "needs an etcd cluster", "add an [etcd] table"] },
        Case { name: "literal secret", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[redis]\nhosts = \"three\"\npassword = \"hunter2\"\n", expect: &["stack.toml:7:12", "[redis] password: secrets are never written literally", "7 | password = ****\n  |            ^^^^\n", "write `password = { env = \"NAME\" }`", "or `password = { file = \"path\" }`"] },
        Case { name: "sentinel quorum too high", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 4\n", expect: &["stack.toml:7:10", "quorum 4 is impossible with 3 Sentinels", "a majority (2)"] },
        Case { name: "redis setting owned by rampart", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n[redis.settings]\nreplicaof = \"10.9.9.9 6379\"\n", expect: &["stack.toml:10:1", "[redis.settings] replicaof: `replicaof` is set by rampart", "10 | replicaof = \"10.9.9.9 6379\"\n   | ^^^^^^^^^\n", "remove it from [redis.settings]"] },
        Case { name: "redis setting injecting a line", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\nmaster_name = \"m\"\n[redis.settings]\nmaxmemory = \"1mb\\nslaveof 10.9.9.9 6379\"\n", expect: &["stack.toml:10:13", "[redis.settings] maxmemory: the value must be a one-line string", "   |             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n", "write it as Redis would read it"] },
        Case { name: "redis server misspelled", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\nserver = \"valkee\"\n[redis.sentinel]\nquorum = 2\n", expect: &["stack.toml:6:10", "[redis] server: server `valkee` is not a server rampart deploys", "6 | server = \"valkee\"\n  |          ^^^^^^^^\n", "did you mean `valkey`? write server = \"redis\" (the default) or server = \"valkey\" (Valkey 8, Debian 13)"] },
        Case { name: "redis server unknown", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\nserver = \"keydb\"\n[redis.sentinel]\nquorum = 2\n", expect: &["stack.toml:6:10", "[redis] server: server `keydb` is not a server rampart deploys", "write server = \"redis\" (the default) or server = \"valkey\""] },
        Case { name: "valkey setting owned by rampart", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\nserver = \"valkey\"\n[redis.sentinel]\nquorum = 2\n[redis.settings]\nprimaryauth = \"x\"\n", expect: &["stack.toml:10:1", "[redis.settings] primaryauth: `primaryauth` is set by rampart", "remove it from [redis.settings]"] },
        Case { name: "qdrant rf too high", inv: INV, stack: "[stack]\nname = \"x\"\n[qdrant]\nhosts = \"two\"\nimage = \"q\"\nreplication_factor = 3\nshard_number = 3\n", expect: &["stack.toml:6:22", "replication_factor 3 is impossible with 2 peers"] },
        Case { name: "port clash", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"three\"\ncommand = \"x\"\nport = 9000\n[services.b]\nhosts = [\"c\"]\ncommand = \"y\"\nport = 9000\n", expect: &["stack.toml:10:8", "both want port 9000 on host c"] },
        Case { name: "service port on etcd port", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[services.a]\nhosts = \"a\"\ncommand = \"x\"\nport = 2379\n", expect: &["stack.toml:8:8", "port 2379 on host a"] },
        Case { name: "shell injection in address", inv: "[hosts.a]\naddress = \"$(reboot)\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:11", "not an IP address or DNS name"] },
        Case { name: "newline in host name", inv: "[hosts.\"a\\nb\"]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:1:", "host name `a\\nb` is not allowed"] },
        Case { name: "quote in stack name", inv: INV, stack: "[stack]\nname = \"x\\\"; rm -rf /\"\n", expect: &["stack name", "not allowed"] },
        Case { name: "injection in service env", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\ncommand = \"x\"\nport = 9000\nenv = { \"A;B\" = \"1\" }\n", expect: &["env name `A;B` is not allowed"] },
        Case { name: "unknown role", inv: INV, stack: "[stack]\nname = \"x\"\n[roles.web]\nrole = \"etdc\"\nhosts = \"a\"\n", expect: &["stack.toml:4:8", "there is no role `etdc`", "did you mean `etcd`"] },
        Case { name: "after cycle", inv: INV, stack: "[stack]\nname = \"x\"\n[roles.p]\nrole = \"etcd\"\nhosts = \"a\"\nafter = [\"roles.q\"]\n[roles.q]\nrole = \"etcd\"\nhosts = \"b\"\nafter = [\"roles.p\"]\n", expect: &["cycle", "roles.p -> roles.q -> roles.p"] },
        Case { name: "after unknown", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nafter = [\"postgress\"]\n", expect: &["stack.toml:5:10", "not in this stack"] },
        Case { name: "bad vip", inv: INV, stack: "[stack]\nname = \"x\"\n[keepalived]\nhosts = \"two\"\nvip = \"10.0.0.300\"\ninterface = \"eth0\"\n", expect: &["stack.toml:5:7", "not an IPv4 address"] },
        Case { name: "haproxy routes to nothing", inv: INV, stack: "[stack]\nname = \"x\"\n[haproxy]\nhosts = \"two\"\n[haproxy.listen]\npostgres_primary = 5000\n", expect: &["stack.toml:6:1", "routes to nothing"] },
        Case { name: "duplicate address", inv: "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.b]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:4:11", "same address"] },
        Case { name: "service with image and command", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\nimage = \"i\"\ncommand = \"c\"\nport = 1\n", expect: &["stack.toml:3:", "exactly one of image"] },
        Case { name: "bad health path", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\ncommand = \"c\"\nport = 1\nhealth = \"health; reboot\"\n", expect: &["is not an HTTP path"] },
        Case { name: "etcd election timeout too short", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nheartbeat_interval = 300\n", expect: &["stack.toml:5:22", "below 5 x heartbeat_interval", "at least 1500"] },
        Case { name: "unknown jump host", inv: "[hosts.a]\naddress = \"10.0.0.1\"\nproxy_jump = \"bastoin\"\n[hosts.bastion]\naddress = \"10.0.0.9\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:3:14", "proxy_jump `bastoin` is not a host", "did you mean `bastion`"] },
        Case { name: "client network prefix too long", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\nclient_networks = [\"10.20.0.0/16\", \"10.20.0.0/33\"]\n", expect: &["stack.toml:9:36", "[postgres] client_networks: `10.20.0.0/33`", "from 0 to 32", "e.g. client_networks = [\"10.20.0.0/16\""] },
        Case { name: "client network that is a name", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\nclient_networks = [\"bastion\"]\n", expect: &["stack.toml:9:20", "`bastion` is not an IPv4 or IPv6 network", "write networks in CIDR form"] },
        Case { name: "client network with host bits", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\nsuperuser_password = { env = \"A\" }\nreplication_password = { env = \"B\" }\nclient_networks = [\"10.20.0.5/16\"]\n", expect: &["stack.toml:9:20", "the network is 10.20.0.0/16"] },
        // issue 13, item 7: values that used to get through or be mis-reported
        Case { name: "pool_mode injecting a line", inv: INV, stack: PG_BOUNCER_STACK_HEAD_NL, expect: &["stack.toml:15:13", "[pgbouncer] pool_mode: pool_mode `transaction\\nadmin_users = x` is not a PgBouncer pool mode", "15 | pool_mode = \"transaction\\nadmin_users = x\"\n   |             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n", "write pool_mode = \"session\", \"transaction\" (the default) or \"statement\""] },
        Case { name: "pool_mode typo", inv: INV, stack: PG_BOUNCER_STACK_HEAD_TYPO, expect: &["stack.toml:15:13", "[pgbouncer] pool_mode: pool_mode `sesion` is not a PgBouncer pool mode", "did you mean `session`?"] },
        Case { name: "postgres parameter name with a space", inv: INV, stack: PG_PARAM_SPACE, expect: &["stack.toml:10:1", "[postgres.parameters] \"work mem\": `work mem` is not a PostgreSQL setting name", "10 | \"work mem\" = \"8MB\"\n   | ^^^^^^^^^^\n", "letters, digits and _, with a `.` for an extension's settings"] },
        Case { name: "postgres parameter name injecting YAML", inv: INV, stack: PG_PARAM_NL, expect: &["stack.toml:10:1", "`x\\nport: 1` is not a PostgreSQL setting name"] },
        Case { name: "postgres parameter owned by Patroni", inv: INV, stack: PG_PARAM_OWNED, expect: &["stack.toml:10:1", "[postgres.parameters] listen_addresses: `listen_addresses` is set by rampart: Patroni sets it", "remove it from [postgres.parameters]"] },
        Case { name: "postgres parameter value with a newline", inv: INV, stack: PG_PARAM_VALUE_NL, expect: &["stack.toml:10:12", "[postgres.parameters] work_mem: the value must be a one-line string, a number or a boolean", "10 | work_mem = \"8MB\\\"\\nport: \\\"5433\"\n   |            ^^^^^^^^^^^^^^^^^^^^^\n", "write it as postgresql.conf would read it"] },
        Case { name: "wal_level below replica", inv: INV, stack: PG_PARAM_WAL, expect: &["stack.toml:10:13", "[postgres.parameters] wal_level: replication needs wal_level replica or logical", "write wal_level = \"replica\""] },
        Case { name: "backup schedule with a day name", inv: INV, stack: BACKUP_MONDAY_DOM, expect: &["stack.toml:10:12", "[backup.postgres] schedule: `0 2 1 * MON` is not a schedule systemd can run exactly: it restricts both the day of month (`1`) and the day of week (`MON`)", "10 | schedule = \"0 2 1 * MON\"\n   |            ^^^^^^^^^^^^^\n", "restrict the day of month or the day of week, not both"] },
        Case { name: "backup schedule hour out of range", inv: INV, stack: BACKUP_HOUR, expect: &["stack.toml:10:12", "[backup.postgres] schedule: `0 25 * * *` is not a schedule systemd can run exactly: hour 25 is out of range 0-23", "e.g. schedule = \"0 2 * * *\""] },
        Case { name: "backup schedule unknown day name", inv: INV, stack: BACKUP_DAY_NAME, expect: &["stack.toml:10:12", "day of week `MONDAY` is not a number from 0 to 7 or a name (SUN-SAT)"] },
        Case { name: "backup keep_days 0", inv: INV, stack: BACKUP_KEEP0, expect: &["stack.toml:11:13", "[backup.postgres] keep_days: keep_days 0 is out of range", "write keep_days from 1 to 3650"] },
        Case { name: "backup method typo", inv: INV, stack: PGBR_METHOD, expect: &["stack.toml:10:10", "[backup.postgres] method: method `pgbackrst` is not a backup method", "did you mean `pgbackrest`?", "write method = \"pg_dump\" (a nightly dump, the default) or \"pgbackrest\""] },
        Case { name: "pgbackrest without a repo host", inv: INV, stack: PGBR_NO_REPO, expect: &["stack.toml:10:1", "method = \"pgbackrest\" needs a repo_host", "write repo_host = \"NAME\": an inventory host that is not a PostgreSQL member"] },
        Case { name: "pgbackrest repo host not in the inventory", inv: INV, stack: PGBR_REPO_UNKNOWN, expect: &["stack.toml:11:13", "[backup.postgres] repo_host: repo_host `vault` is not a host of the inventory", "name one host of inv.toml (not a group): a, b, c, d"] },
        Case { name: "pgbackrest repo host that is a member", inv: INV, stack: PGBR_REPO_MEMBER, expect: &["stack.toml:11:13", "repo_host `a` is a PostgreSQL member: losing that host would lose the backups with the database", "name a host of the inventory that is not in [postgres] hosts"] },
        Case { name: "pg_dump key under pgbackrest", inv: INV, stack: PGBR_DUMP_KEY, expect: &["stack.toml:12:1", "[backup.postgres] keep_days: `keep_days` is not a key of method = \"pgbackrest\"", "the keys of method = \"pgbackrest\" are repo_host, full_schedule, diff_schedule, keep_full"] },
        Case { name: "pgbackrest keep_full 0", inv: INV, stack: PGBR_KEEP0, expect: &["stack.toml:12:13", "[backup.postgres] keep_full: keep_full 0 is out of range", "write keep_full from 1 to 100"] },
        Case { name: "pgbackrest full schedule hour 25", inv: INV, stack: PGBR_FULL_SCHEDULE, expect: &["stack.toml:12:17", "[backup.postgres] full_schedule: `0 25 * * *` is not a schedule systemd can run exactly: hour 25 is out of range 0-23", "e.g. full_schedule = \"0 2 * * *\""] },
        Case { name: "archive_command of its own under pgbackrest", inv: INV, stack: PGBR_ARCHIVE_PARAM, expect: &["stack.toml:10:1", "[postgres.parameters] archive_command: `archive_command` is set by rampart", "remove it from [postgres.parameters]"] },
        Case { name: "pgbackrest s3 endpoint with a scheme", inv: INV, stack: PGBR_S3_ENDPOINT, expect: &["stack.toml:13:12", "[backup.postgres.s3] endpoint: endpoint `https://s3.example.com` is not a host[:port]", "write the host name alone, without the scheme (pgBackRest speaks HTTPS)"] },
        Case { name: "pgbackrest s3 bucket name", inv: INV, stack: PGBR_S3_BUCKET, expect: &["stack.toml:14:10", "[backup.postgres.s3] bucket: bucket `Shop_PG` is not an S3 bucket name", "write 3 to 63 lowercase letters, digits"] },
        Case { name: "pgbackrest s3 literal secret", inv: INV, stack: PGBR_S3_LITERAL, expect: &["stack.toml:17:10", "[backup.postgres.s3] secret: secrets are never written literally", "17 | secret = ****\n"] },
        Case { name: "pgbackrest s3 uri style", inv: INV, stack: PGBR_S3_URI, expect: &["stack.toml:18:13", "[backup.postgres.s3] uri_style: uri_style `virtual` is not one pgBackRest knows", "write uri_style = \"host\""] },
        Case { name: "s3 under pg_dump", inv: INV, stack: DUMP_S3, expect: &["stack.toml:12:", "[backup.postgres.s3]: `s3` is not a key of method = \"pg_dump\"", "the keys of method = \"pg_dump\" are schedule, keep_days; remove `s3`"] },
        Case { name: "pgbackrest alert_hours 0", inv: INV, stack: PGBR_ALERT0, expect: &["stack.toml:12:15", "[backup.postgres] alert_hours: alert_hours 0 is out of range", "write alert_hours from 1 to 8760"] },
        Case { name: "pg_dump without a schedule", inv: INV, stack: DUMP_NO_SCHEDULE, expect: &["stack.toml:9:9", "[backup.postgres] needs a schedule", "write schedule = \"0 2 * * *\""] },
        Case { name: "heartbeat that overflowed 5 x", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nheartbeat_interval = 4000000000\n", expect: &["stack.toml:5:22", "[etcd] heartbeat_interval: etcd heartbeat_interval 4000000000 ms is out of range", "5 | heartbeat_interval = 4000000000\n  |                      ^^^^^^^^^^\n", "write a heartbeat_interval from 10 to 10000 ms"] },
        Case { name: "heartbeat 0", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nheartbeat_interval = 0\n", expect: &["stack.toml:5:22", "heartbeat_interval 0 ms is out of range"] },
        Case { name: "election timeout too long", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\nelection_timeout = 4294967295\n", expect: &["stack.toml:5:20", "[etcd] election_timeout: etcd election_timeout 4294967295 ms is out of range", "from 50 to 50000 ms"] },
        Case { name: "sentinel down_after 0", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\ndown_after_milliseconds = 0\n", expect: &["stack.toml:8:27", "[redis.sentinel] down_after_milliseconds: down_after_milliseconds 0 is out of range", "write a value from 100 to 600000 ms"] },
        Case { name: "type error names table and key", inv: INV, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = \"two\"\n", expect: &["stack.toml:7:10", "[redis.sentinel] quorum: expected a whole number from 0 to 4294967295, found string \"two\"", "7 | quorum = \"two\"\n  |          ^^^^^\n", "write a number without quotes, e.g. `quorum = 3`"] },
        Case { name: "port out of range", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\ncommand = \"c\"\nport = 70000\n", expect: &["stack.toml:6:8", "[services.a] port: integer `70000` is out of range: expected a whole number from 0 to 65535", "write a number without quotes"] },
        Case { name: "hosts of the wrong type", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nhosts = 5\n", expect: &["stack.toml:4:9", "[etcd] hosts: hosts must name a group or host", "write `hosts = \"GROUP\"` or `hosts = [\"host1\", \"host2\"]`"] },
        Case { name: "boolean as a string in the inventory", inv: "[defaults]\nsudo = \"yes\"\n[hosts.a]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:8", "[defaults] sudo: expected true or false, found string \"yes\"", "2 | sudo = \"yes\"\n  |        ^^^^^\n", "write `sudo = true` or `sudo = false`, without quotes"] },
        Case { name: "connect_timeout 0", inv: "[defaults]\nconnect_timeout = 0\n[hosts.a]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:19", "[defaults] connect_timeout: connect_timeout 0 is out of range", "write connect_timeout from 1 to 600"] },
        Case { name: "missing key", inv: INV, stack: "[stack]\nname = \"x\"\n[etcd]\nafter = []\n", expect: &["stack.toml:3:1", "[etcd]: missing field `hosts`", "3 | [etcd]\n  | ^^^^^^\n", "add `hosts = ...` to this table"] },
        Case { name: "service port 0", inv: INV, stack: "[stack]\nname = \"x\"\n[services.a]\nhosts = \"a\"\ncommand = \"c\"\nport = 0\n", expect: &["stack.toml:6:8", "[services.a] port: port 0 is not a port", "write a port from 1 to 65535"] },
        Case { name: "virtual_router_id 0", inv: INV, stack: "[stack]\nname = \"x\"\n[keepalived]\nhosts = \"two\"\nvip = \"10.0.0.100\"\ninterface = \"eth0\"\nvirtual_router_id = 0\n", expect: &["stack.toml:7:21", "[keepalived] virtual_router_id: virtual_router_id 0 is out of range", "from 1 to 255"] },
        Case { name: "synchronous_node_count 0", inv: INV, stack: pg!("synchronous_node_count = 0\n"), expect: &["stack.toml:9:26", "[postgres] synchronous_node_count: synchronous_node_count 0 is out of range", "write synchronous_node_count = 1 or more"] },
        // the Debian release: the inventory's `debian`, and what the stack asks of it
        Case { name: "debian release not supported", inv: "[defaults]\ndebian = 11\n[hosts.a]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:10", "[defaults] debian: debian 11 is not a release rampart supports", "2 | debian = 11\n  |          ^^\n", "write debian = 13 (trixie) or debian = 12 (bookworm)"] },
        Case { name: "debian as a codename", inv: "[hosts.a]\naddress = \"10.0.0.1\"\ndebian = \"trixie\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:3:10", "[hosts.a] debian: host a: debian must be a release number, found string \"trixie\"", "write debian = 13 (a number, without quotes)"] },
        Case { name: "postgres version the release does not ship", inv: INV12, stack: pg!("version = 17\n"), expect: &["stack.toml:9:11", "[postgres] version: postgres version 17 is not available on a, b and c: Debian 12 (bookworm) ships PostgreSQL 15", "9 | version = 17\n  |           ^^\n", "write version = 15, or debian = 13 for these hosts"] },
        Case { name: "postgres 15 on the default release", inv: INV, stack: pg!("version = 15\n"), expect: &["stack.toml:9:11", "postgres version 15 is not available on a, b and c: Debian 13 (trixie) ships PostgreSQL 17", "write version = 17, or debian = 12 for these hosts"] },
        Case { name: "postgres version no release ships", inv: INV, stack: pg!("version = 16\n"), expect: &["stack.toml:9:11", "postgres version 16 is not available on a, b and c: Debian 13 (trixie) ships PostgreSQL 17", "write version = 17, or leave version out (it follows the hosts' Debian release)"] },
        Case { name: "postgres hosts on two releases", inv: INV_MIXED, stack: pg!(""), expect: &["stack.toml:6:9", "[postgres] hosts: postgres hosts run different Debian releases (a and b run Debian 13 (trixie); c runs Debian 12 (bookworm)): a cluster's members must run one PostgreSQL major version", "give every postgres host the same debian = N in inv.toml"] },
        Case { name: "redis hosts on two releases", inv: INV_MIXED, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\n", expect: &["stack.toml:4:9", "[redis] hosts: redis hosts run different Debian releases (a and b run Debian 13 (trixie); c runs Debian 12 (bookworm)): Redis 8 (Debian 13) writes RDB files that Redis 7.0 (Debian 12) cannot read", "give every redis host the same debian = N in inv.toml"] },
        Case { name: "valkey on Debian 12", inv: INV12, stack: "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\nserver = \"valkey\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\n", expect: &["stack.toml:5:10", "[redis] server: server `valkey`: Valkey is not packaged on Debian 12 (bookworm), which a, b and c run", "write server = \"redis\", or run these hosts on Debian 13 (debian = 13 in"] },
        Case { name: "quorum commit on Debian 12", inv: INV12, stack: pg!("synchronous_mode = \"quorum\"\n"), expect: &["stack.toml:9:20", "[postgres] synchronous_mode: synchronous_mode \"quorum\" needs Patroni 4 (Debian 13), but a, b and c run Debian 12 (bookworm) with Patroni 3, which has no quorum commit", "write synchronous_mode = true (named synchronous standbys), or debian = 13 for these hosts"] },
        Case { name: "synchronous_mode typo", inv: INV, stack: pg!("synchronous_mode = \"quroum\"\n"), expect: &["stack.toml:9:20", "[postgres] synchronous_mode: expected true, false or \"quorum\", found string \"quroum\"", "write true, false or \"quorum\" for `synchronous_mode`"] },
        Case { name: "bad host key policy", inv: "[defaults]\nhost_key_policy = \"trust\"\n[hosts.a]\naddress = \"10.0.0.1\"\n", stack: "[stack]\nname = \"x\"\n", expect: &["inv.toml:2:", "accept-new"] },
    ];
    assert!(cases.len() >= 25);
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for c in &cases {
        let (code, err) = run(dir.path(), c.inv, c.stack);
        if code != 1 {
            failures.push(format!("{}: exit {code}, want 1\n{err}", c.name));
            continue;
        }
        for e in c.expect {
            if !err.contains(e) {
                failures.push(format!("{}: output lacks `{e}`:\n{err}", c.name));
            }
        }
        if err.contains("panicked") {
            failures.push(format!("{}: panicked:\n{err}", c.name));
        }
        // every diagnostic with a position names its table and key, quotes
        // its line with a caret, and says what to write
        for block in diagnostics(&err) {
            let head = block.lines().next().unwrap_or_default();
            let rest = head.split_once(": ").map(|(_, r)| r).unwrap_or_default();
            let parts: Vec<&str> = rest.splitn(4, ':').collect();
            let positioned = parts.len() == 4
                && parts[1].parse::<usize>().is_ok()
                && parts[2].parse::<usize>().is_ok();
            if positioned && !(block.contains("\n   |") || block.contains("\n  |"))
                || positioned && !block.contains('^')
            {
                failures.push(format!("{}: no quoted line with a caret:\n{block}", c.name));
            }
            if positioned && !parts[3].trim_start().starts_with('[') && c.name != "toml syntax" {
                failures.push(format!("{}: names no [table] key:\n{block}", c.name));
            }
            if !block.contains(" = help: ") {
                failures.push(format!("{}: no help line:\n{block}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A literal secret names its key and how to reference it, wherever it is,
/// and its value never appears in the output (nor in the quoted line).
#[test]
fn literal_secrets_name_their_key_and_are_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let pg = "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[postgres]\nhosts = \"three\"\n";
    for (stack, key, line) in [
        (format!("{pg}superuser_password = \"hunter2\"\nreplication_password = {{ env = \"B\" }}\n"), "[postgres] superuser_password", "7 | superuser_password = ****\n"),
        (format!("{pg}superuser_password = {{ env = \"A\" }}\nreplication_password = 'hunter2'\n"), "[postgres] replication_password", "8 | replication_password = ****\n"),
        (format!("{pg}superuser_password = {{ env = \"A\" }}\nreplication_password = {{ env = \"B\" }}\n[[postgres.databases]]\nname = \"app\"\nowner = \"app\"\npassword = \"hunter2\" # app\n"), "[postgres.databases] password (entry 1)", "12 | password = **** # app\n"),
        ("[stack]\nname = \"x\"\n[haproxy]\nhosts = \"three\"\ntls = { cert = \"hunter2\", key = { env = \"K\" }, listens = [\"a\"] }\n".to_string(), "[haproxy.tls] cert", "5 | tls = { cert = ****, key = { env = \"K\" }, listens = [\"a\"] }\n"),
        ("[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = 12345678\n".to_string(), "[redis] password", "5 | password = ****\n"),
    ] {
        let (code, err) = run(dir.path(), INV, &stack);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(&format!("{key}: secrets are never written literally")), "{err}");
        assert!(err.contains(line), "{err}");
        assert!(err.contains("{ env = \"NAME\" }") && err.contains("{ file = \"path\" }"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("12345678"), "the secret was echoed:\n{err}");
    }
    // a syntax error on a secret's line quotes the line with the value masked
    let (code, err) = run(
        dir.path(),
        INV,
        "[stack]\nname = \"x\"\n[redis]\nhosts = \"three\"\npassword = \"hunter2\n",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("stack.toml:5:") && err.contains("5 | password = ****"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the secret was echoed:\n{err}");
}

#[test]
fn all_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(dir.path(), INV, "[stack]\nname = \"x\"\n[etcd]\nhosts = \"two\"\n[redis]\nhosts = \"nope\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 2\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("odd number") && err.contains("`nope`"),
        "{err}"
    );
    assert!(
        err.contains("2 errors found; nothing was contacted."),
        "{err}"
    );
}

/// Problems come in the stack file's table order (`components::TABLE_ORDER`):
/// PgBouncer's checks before Redis', and a port clash is blamed on the table
/// that claims the port after another.
#[test]
fn problems_follow_the_tables_order() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(dir.path(), INV, "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n[redis]\nhosts = \"three\"\npassword = { env = \"P\" }\n[redis.sentinel]\nquorum = 4\n[pgbouncer]\nhosts = \"three\"\npool_mode = \"sesion\"\nport = 2379\n[services.a]\nhosts = \"a\"\ncommand = \"x\"\nport = 6379\n");
    assert_eq!(code, 1, "{err}");
    let d = diagnostics(&err);
    let at = |s: &str| {
        d.iter()
            .position(|b| b.contains(s))
            .unwrap_or_else(|| panic!("no `{s}` in:\n{err}"))
    };
    assert!(
        at("not a PgBouncer pool mode") < at("quorum 4 is impossible"),
        "{err}"
    );
    assert!(
        at("pgbouncer and etcd both want port 2379")
            < at("services.a and redis both want port 6379"),
        "{err}"
    );
}

/// etcd may run on two releases at once (3.4 to 3.5 is a supported rolling
/// upgrade), and a stack without PostgreSQL or Redis is not held to one.
#[test]
fn etcd_on_two_releases_validates() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(
        dir.path(),
        INV_MIXED,
        "[stack]\nname = \"x\"\n[etcd]\nhosts = \"three\"\n",
    );
    assert_eq!(code, 0, "{err}");
    // and PostgreSQL follows the release: 15 on Debian 12 without a version
    let (code, err) = run(dir.path(), INV12, pg!(""));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn examples_validate() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (i, s) in [
        ("inventory/default.toml", "plans/default.toml"),
        ("inventory/example.toml", "plans/example.toml"),
    ] {
        let out = Command::cargo_bin("rampart")
            .unwrap()
            .current_dir(root)
            .args(["-i", i, "-s", s, "validate"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{s}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `apply FILE` with a bad saved plan: refused with the file and the fix,
/// before any host is contacted.
#[test]
fn bad_saved_plans_are_refused_naming_the_file_and_the_fix() {
    use rampart::plan::saved::{absolute, FactsDigest, Inputs, SavedPlan, Sources, SAVED_FORMAT};
    let dir = tempfile::tempdir().unwrap();
    let apply = |args: &[&str]| {
        let out = Command::cargo_bin("rampart")
            .unwrap()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    std::fs::write(dir.path().join("old.json"), r#"{"format": 1, "rampart_version": "0.0.9", "salt": "s", "inputs": {}, "facts": {}, "plan": {}}"#).unwrap();
    let (code, err) = apply(&["apply", "old.json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("old.json: this plan file has format 1 (made by rampart 0.0.9)")
            && err.contains("Make the plan again: rampart plan --out FILE"),
        "{err}"
    );
    std::fs::write(dir.path().join("junk.json"), "plan: yes").unwrap();
    let (code, err) = apply(&["apply", "junk.json"]);
    assert!(
        code == 1 && err.contains("junk.json: not a rampart plan file"),
        "{err}"
    );

    // a plan recording its files: other ones passed are refused, naming both
    for f in ["inv.toml", "stack.toml", "other.toml"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let sources = Sources {
        inventory: absolute(&dir.path().join("inv.toml")),
        stack: absolute(&dir.path().join("stack.toml")),
        roles: None,
    };
    let saved = SavedPlan {
        format: SAVED_FORMAT,
        rampart_version: "test".into(),
        salt: "s".into(),
        sources: sources.clone(),
        inputs: Inputs {
            inventory_sha256: String::new(),
            stack_sha256: String::new(),
            roles_sha256: String::new(),
            secrets_keyed_sha256: String::new(),
        },
        facts: [("a".to_string(), FactsDigest::default())]
            .into_iter()
            .collect(),
        plan: Default::default(),
    };
    std::fs::write(
        dir.path().join("p.json"),
        serde_json::to_vec(&saved).unwrap(),
    )
    .unwrap();
    let (code, err) = apply(&["-s", "other.toml", "apply", "p.json"]);
    assert_eq!(code, 1);
    let other = absolute(&dir.path().join("other.toml"));
    assert!(
        err.contains(&format!(
            "-s: the plan was made from {}, you passed {}",
            sources.stack.display(),
            other.display()
        )),
        "{err}"
    );
    assert!(!err.contains("stale"), "{err}");
    // the recorded files are the ones loaded: a recorded file that is gone is named
    std::fs::remove_file(dir.path().join("stack.toml")).unwrap();
    let (code, err) = apply(&["apply", "p.json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&sources.stack.display().to_string())
            && err.contains("p.json was made from these files: put them back, or make a new plan."),
        "{err}"
    );
}
