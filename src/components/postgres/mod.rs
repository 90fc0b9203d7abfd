//! PostgreSQL under Patroni (`[postgres]`, with its `databases`,
//! `parameters` and `client_networks`): everything rampart knows about it
//! outside its role's templates (roles/postgres).
//!
//! - `stack`: the `[postgres]` table, the settings rampart owns and its checks
//! - `view`: what the role's templates see (members, parameters, databases)
//! - `facts`: Patroni's `/cluster` as the facts script reads it
//! - `day2`: rolling restarts, switchovers, members joining and leaving
//! - `status`: `rampart status` for the cluster
//! - `alerts`: its Prometheus alert rules
//! - `zones`: what the loss of one zone does to it
//!
//! Left in shared code: its ports (5432, 8008) in `Validator::check_ports`,
//! its secrets in `Stack::secret_refs`, its saved-plan cluster items in
//! `plan::saved`.

pub mod alerts;
pub mod day2;
pub mod facts;
pub mod stack;
pub mod status;
pub mod view;
pub mod zones;
