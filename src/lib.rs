//! rampart: Terraform's plan/apply contract for the inside of your machines.
//!
//! Layers (each testable without SSH):
//! - `model`: the user's files (inventory, stack, secrets), parsed and checked
//! - `roles`: roles as data (manifests + templates), built-in and user's
//! - `compile`: resources in a DAG, configs rendered (`render`)
//! - `facts`: what a host has, from one batched script
//! - `plan`: the plan as data (steps, ops, saved plans)
//! - `exec`: applies a plan over `transport` sessions (the only network code, with `gather`)
//! - `printer`: the only place that prints
//! - `lab`: local test hosts

pub mod alerts;
pub mod cli;
pub mod compile;
pub mod components;
pub mod diag;
pub mod exec;
pub mod facts;
pub mod gather;
pub mod lab;
pub mod lock;
pub mod model;
pub mod plan;
pub mod printer;
pub mod render;
pub mod roles;
pub mod status;
pub mod tls;
pub mod transport;
pub mod util;
