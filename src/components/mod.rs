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

pub use component::{Component, RoleRef, RollHints};
pub use day2_op::{Day2Op, PatroniAction};

/// Every component, in the order facts, status and day-2 steps visit them.
pub static ALL: &[&dyn Component] = &[
    &etcd::Etcd,
    &postgres::Postgres,
    &redis::Redis,
    &qdrant::Qdrant,
    &haproxy::Haproxy,
    &services::Services,
    &keepalived::Keepalived,
    &pgbouncer::Pgbouncer,
    &backup::Backup,
];

#[cfg(test)]
mod tests {
    use super::ALL;

    /// `plan::plan` adds day-2 steps in `ALL`'s order: etcd's membership
    /// first, then Patroni's, Redis' failovers, Qdrant's peer removals.
    #[test]
    fn day2_order_is_etcd_postgres_redis_qdrant() {
        let names: Vec<&str> = ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names[..4], ["etcd", "postgres", "redis", "qdrant"]);
    }
}
