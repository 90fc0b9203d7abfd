//! One folder per component: its stack table, views, facts, day-2 steps, status and alerts.
pub mod etcd;
pub mod qdrant;
