//! One folder per component: everything rampart knows about it, from its stack table to its status.
pub mod redis;
