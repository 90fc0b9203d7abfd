//! One folder per component: its stack table and checks, its views, its facts, its day-2 steps, its status.
pub mod backup;
pub mod haproxy;
pub mod keepalived;
pub mod pgbouncer;
pub mod postgres;
pub mod redis;
pub mod services;
