//! `[backup.postgres.s3]`: pgBackRest's repository in S3-compatible storage.
//! The repo host still runs the backups and relays the members' WAL (they
//! reach it over SSH as before), but keeps the repository in a bucket instead
//! of its own disk; the access key and secret are secrets (`{ env }` or
//! `{ file }`), rendered into the repo host's pgbackrest.conf only, never
//! shown. The table's fields, their checks and what the templates see.

use crate::model::secret::SecretRef;
use crate::model::stack::Validator;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The stack keys the two secrets are read under.
pub const KEY: &str = "backup.postgres.s3.key";
pub const SECRET: &str = "backup.postgres.s3.secret";
/// The repository's path in the bucket, unless `path` says otherwise.
pub const DEFAULT_PATH: &str = "/pgbackrest";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    /// `host` or `host:port`, no scheme (pgBackRest speaks HTTPS).
    pub endpoint: Spanned<String>,
    pub bucket: Spanned<String>,
    pub region: Spanned<String>,
    /// The access key id and the secret access key.
    pub key: SecretRef,
    pub secret: SecretRef,
    /// The repository's path in the bucket (default `/pgbackrest`).
    pub path: Option<Spanned<String>>,
    /// `host` (virtual-hosted, AWS's default) or `path` (most S3-compatible servers).
    pub uri_style: Option<Spanned<String>>,
    /// Check the endpoint's TLS certificate (default true; false only for a lab).
    pub verify_tls: Option<bool>,
}

/// What pgbackrest.conf on the repo host holds of it (the secrets are the
/// backup view's `s3_key` and `s3_secret`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct S3View {
    pub endpoint: String,
    /// The endpoint's port when it names one (`repo1-storage-port`).
    pub port: Option<u16>,
    pub bucket: String,
    pub region: String,
    pub uri_style: String,
    pub verify_tls: bool,
}

/// `host[:port]` split, if the endpoint is one.
fn split_endpoint(e: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match e.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok().filter(|p| *p > 0)?)),
        None => (e, None),
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-']);
    ok.then_some((host, port))
}

impl S3 {
    pub fn path(&self) -> &str {
        self.path
            .as_ref()
            .map(|p| p.get_ref().as_str())
            .unwrap_or(DEFAULT_PATH)
    }
    pub fn view(&self) -> S3View {
        let (endpoint, port) = split_endpoint(self.endpoint.get_ref())
            .map(|(h, p)| (h.to_string(), p))
            .unwrap_or_default();
        S3View {
            endpoint,
            port,
            bucket: self.bucket.get_ref().clone(),
            region: self.region.get_ref().clone(),
            uri_style: self
                .uri_style
                .as_ref()
                .map(|u| u.get_ref().clone())
                .unwrap_or_else(|| "host".into()),
            verify_tls: self.verify_tls.unwrap_or(true),
        }
    }
}

/// The checks of `[backup.postgres.s3]`: each value one pgBackRest reads as meant.
pub(crate) fn validate(v: &mut Validator, s: &S3) {
    let e = s.endpoint.get_ref();
    if split_endpoint(e).is_none() {
        let help = if e.contains("://") {
            "write the host name alone, without the scheme (pgBackRest speaks HTTPS): e.g. endpoint = \"s3.eu-west-1.amazonaws.com\" or \"minio.internal:9000\"".to_string()
        } else {
            "write a host name or address, with an optional port: e.g. endpoint = \"s3.eu-west-1.amazonaws.com\" or \"minio.internal:9000\"".to_string()
        };
        v.err(
            Some(s.endpoint.span()),
            format!("endpoint `{}` is not a host[:port]", e.escape_debug()),
            help,
        );
    }
    let b = s.bucket.get_ref();
    let bucket_ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        v.err(
            Some(s.bucket.span()),
            format!("bucket `{}` is not an S3 bucket name", b.escape_debug()),
            "write 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, e.g. bucket = \"acme-pg-backups\"",
        );
    }
    let r = s.region.get_ref();
    if r.is_empty()
        || !r
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        v.err(
            Some(s.region.span()),
            format!("region `{}` is not a region name", r.escape_debug()),
            "write the bucket's region in lowercase letters, digits and `-`, e.g. region = \"eu-west-1\" (S3-compatible servers usually accept \"us-east-1\")",
        );
    }
    if let Some(p) = &s.path {
        let t = p.get_ref();
        let ok = t.starts_with('/')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
            && !t.split('/').any(|seg| seg == "..");
        if !ok {
            v.err(
                Some(p.span()),
                format!("path `{}` is not a path in the bucket", t.escape_debug()),
                "write an absolute path of letters, digits, `/`, `_`, `.` and `-`, e.g. path = \"/pgbackrest\"",
            );
        }
    }
    if let Some(u) = &s.uri_style {
        if !matches!(u.get_ref().as_str(), "host" | "path") {
            v.err(
                Some(u.span()),
                format!("uri_style `{}` is not one pgBackRest knows", u.get_ref().escape_debug()),
                "write uri_style = \"host\" (bucket.endpoint, AWS's default) or \"path\" (endpoint/bucket, for most S3-compatible servers)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_a_host_and_an_optional_port() {
        assert_eq!(
            split_endpoint("s3.eu-west-1.amazonaws.com"),
            Some(("s3.eu-west-1.amazonaws.com", None))
        );
        assert_eq!(
            split_endpoint("198.18.0.1:9000"),
            Some(("198.18.0.1", Some(9000)))
        );
        for bad in [
            "https://s3.amazonaws.com",
            "host:0",
            "host:99999",
            "",
            "-x",
            "a b",
            "host/path",
        ] {
            assert_eq!(split_endpoint(bad), None, "{bad}");
        }
    }
}
