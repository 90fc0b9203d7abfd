//! One folder per component: its stack table and checks, its views, its
//! facts, its day-2 steps, its status, its alert rules and zone checks (see
//! ARCHITECTURE.md). The rest of rampart reaches them through `ALL`.

pub mod backup;
mod component;
pub mod day2_op;
pub mod etcd;
pub mod haproxy;
pub mod keepalived;
pub mod pgbouncer;
pub mod postgres;
pub mod qdrant;
pub mod redis;
pub mod services;

pub(crate) use component::{claim_ports, keyed_view, AlertRule};
pub use component::{Component, Placement, RoleRef, RollHints, Topology, View, ViewCx};

/// What a component's folder names in its `impl Component`, in one import.
pub(crate) mod prelude {
    pub(crate) use super::{
        claim_ports, keyed_view, AlertRule, Component, Placement, RoleRef, RollHints, Topology,
        View, ViewCx,
    };
    pub(crate) use crate::compile::{Compiled, Kind};
    pub(crate) use crate::facts::{ClusterFact, HostFacts};
    pub(crate) use crate::model::inventory::Inventory;
    pub(crate) use crate::model::secret::SecretRef;
    pub(crate) use crate::model::stack::{Claim, RawStack, Stack, Validator};
    pub(crate) use crate::model::zones::{Quorum, Warn};
    pub(crate) use crate::plan::Plan;
    pub(crate) use crate::status::{ComponentHealth, Probes};
    pub(crate) use std::collections::BTreeMap;
    pub(crate) use std::sync::Arc;
}
pub use day2_op::Day2Op;

/// Every component, in the order facts, status and day-2 steps visit them,
/// and the order of the views with secrets (`[roles.NAME] secrets`' help
/// lists them so: postgres, redis, pgbouncer, haproxy, backup).
pub static ALL: &[&dyn Component] = &[
    &etcd::Etcd,
    &postgres::Postgres,
    &redis::Redis,
    &qdrant::Qdrant,
    &pgbouncer::Pgbouncer,
    &haproxy::Haproxy,
    &services::Services,
    &keepalived::Keepalived,
    &backup::Backup,
];

/// Every component, in the order of the stack's checks (`validate`,
/// `ports`), zone warnings and alert rules: the order of their tables in a
/// stack file. Diagnostics, the port a clash is blamed on, and the alerts
/// text follow it. The same components as `ALL`.
pub static TABLE_ORDER: &[&dyn Component] = &[
    &etcd::Etcd,
    &postgres::Postgres,
    &pgbouncer::Pgbouncer,
    &redis::Redis,
    &qdrant::Qdrant,
    &services::Services,
    &haproxy::Haproxy,
    &keepalived::Keepalived,
    &backup::Backup,
];

#[cfg(test)]
mod tests {
    use super::{ALL, TABLE_ORDER};

    /// A component registered in one list and not the other would be
    /// skipped by half of rampart.
    #[test]
    fn table_order_holds_every_component_once() {
        let mut all: Vec<&str> = ALL.iter().map(|c| c.name()).collect();
        let mut table: Vec<&str> = TABLE_ORDER.iter().map(|c| c.name()).collect();
        all.sort();
        table.sort();
        assert_eq!(all, table);
        table.dedup();
        assert_eq!(table.len(), TABLE_ORDER.len());
    }

    /// The stack's checks, zone warnings and alert rules come in this order.
    #[test]
    fn table_order_is_the_stack_files() {
        let names: Vec<&str> = TABLE_ORDER.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "etcd",
                "postgres",
                "pgbouncer",
                "redis",
                "qdrant",
                "services",
                "haproxy",
                "keepalived",
                "backup"
            ]
        );
    }

    /// `plan::plan` adds day-2 steps in `ALL`'s order: etcd's membership
    /// first, then Patroni's, Redis' failovers, Qdrant's peer removals.
    #[test]
    fn day2_order_is_etcd_postgres_redis_qdrant() {
        let names: Vec<&str> = ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names[..4], ["etcd", "postgres", "redis", "qdrant"]);
    }

    /// Deploy levels (DESIGN.md) and the clusters whose restarts roll.
    #[test]
    fn levels_and_rolling_clusters() {
        use crate::model::stack::level;
        assert_eq!(level("etcd"), Some(0));
        for c in ["postgres", "redis", "qdrant"] {
            assert_eq!(level(c), Some(1), "{c}");
        }
        for c in ["services.api", "backup"] {
            assert_eq!(level(c), Some(2), "{c}");
        }
        for c in ["haproxy", "pgbouncer", "keepalived"] {
            assert_eq!(level(c), Some(3), "{c}");
        }
        assert_eq!(level("roles.x"), None);
        let rolling: Vec<&str> = ALL
            .iter()
            .filter(|c| c.rolling())
            .map(|c| c.name())
            .collect();
        assert_eq!(rolling, ["etcd", "postgres", "redis"]);
    }

    /// The views with secrets, in the order a `[roles.NAME] secrets` error lists them.
    #[test]
    fn secret_views_are_postgres_redis_pgbouncer_haproxy_backup() {
        let views: Vec<&str> = crate::compile::secret_views().map(|(v, _)| v).collect();
        assert_eq!(
            views,
            ["postgres", "redis", "pgbouncer", "haproxy", "backup"]
        );
    }
}
