//! TLS for the stack's links, from a CA of the stack's own (`[tls]`).
//!
//! - `roll`: a CA change rolls only while every host trusts both CAs;
//! - `stack`: the `[tls]` table, its defaults and checks;
//! - `alerts`: the certificate expiry alert rules;
//! - `issue`: X.509 with rcgen, pure: the CA, certificates per host and
//!   purpose, whether a stored one is still good;
//! - `store`: the loader keeping the CA and certificates in
//!   `.rampart/STACK/tls/` beside the stack (a side effect, like
//!   `model::backup_keys`);
//! - `status`: each certificate's days left, read on its host;
//! - `view`: which certificates the stack needs, where they go on the hosts,
//!   and the `tls` view of the roles' templates.
pub mod alerts;
pub mod issue;
pub mod roll;
pub mod stack;
pub mod status;
pub mod store;
pub mod view;
