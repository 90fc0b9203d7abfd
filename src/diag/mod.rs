//! Diagnostics: problems in the user's files, each with file:line:col and a fix.
//! Validation collects all of them before it stops (Terraform's tfdiags).

mod diagnostic;
mod keypath;
mod mask;
mod source;
mod toml_error;

pub use diagnostic::{Diagnostic, Diagnostics, Snippet};
pub use keypath::{describe_path, Seg};
pub use source::Source;
pub use toml_error::from_toml;

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(
    bad: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(bad, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("hots", ["hosts", "groups"]), Some("hosts"));
        assert_eq!(did_you_mean("zzzzzz", ["hosts", "groups"]), None);
    }
}
