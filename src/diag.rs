//! Diagnostics: problems in the user's files, each with file:line:col and a fix.
//! Validation collects all of them before it stops (Terraform's tfdiags).

use std::fmt;
use std::ops::Range;

/// One source file the user gave us, kept to turn byte offsets into line:col.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Source { path: path.into(), text: text.into() }
    }

    /// 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        (line, col)
    }

    pub fn diag(&self, span: Option<Range<usize>>, message: impl Into<String>, help: Option<String>) -> Diagnostic {
        let (line, col) = span.map(|s| self.position(s.start)).unwrap_or((0, 0));
        Diagnostic { file: self.path.clone(), line, col, message: message.into(), help, warning: false }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem has no single position.
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// What to write instead.
    pub help: Option<String>,
    pub warning: bool,
}

impl Diagnostic {
    pub fn plain(file: impl Into<String>, message: impl Into<String>, help: Option<String>) -> Self {
        Diagnostic { file: file.into(), line: 0, col: 0, message: message.into(), help, warning: false }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        if self.line > 0 {
            write!(f, "{level}: {}:{}:{}: {}", self.file, self.line, self.col, self.message)?;
        } else {
            write!(f, "{level}: {}: {}", self.file, self.message)?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// Everything wrong with the inputs, in the order found.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| !d.warning)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.iter().filter(|d| !d.warning).count();
        if n > 0 {
            write!(f, "{n} error{} found; nothing was contacted.", if n == 1 { "" } else { "s" })?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Turns a toml deserialization error into a diagnostic, adding
/// "did you mean" for unknown keys.
pub fn from_toml(src: &Source, err: &toml::de::Error) -> Diagnostic {
    let msg = err.message().trim().to_string();
    let mut help = None;
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((bad, tail)) = rest.split_once('`') {
            let expected: Vec<String> = tail.split('`').skip(1).step_by(2).map(str::to_string).collect();
            help = Some(match did_you_mean(bad, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`? known keys here: {}", expected.join(", ")),
                None => format!("remove `{bad}`; known keys here: {}", expected.join(", ")),
            });
        }
    } else if let Some(rest) = msg.strip_prefix("unknown variant `") {
        if let Some((bad, tail)) = rest.split_once('`') {
            let expected: Vec<String> = tail.split('`').skip(1).step_by(2).map(str::to_string).collect();
            help = Some(match did_you_mean(bad, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`? allowed: {}", expected.join(", ")),
                None => format!("allowed: {}", expected.join(", ")),
            });
        }
    } else if msg.starts_with("missing field") {
        help = Some("add the key; the README lists every key of each table".to_string());
    }
    src.diag(err.span(), msg, help)
}

/// The closest candidate within a small edit distance.
pub fn did_you_mean<'a>(bad: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
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
    fn positions_are_one_based() {
        let s = Source::new("f.toml", "a = 1\nbb = 2\n");
        assert_eq!(s.position(0), (1, 1));
        assert_eq!(s.position(6), (2, 1));
        assert_eq!(s.position(9), (2, 4));
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("hots", ["hosts", "groups"]), Some("hosts"));
        assert_eq!(did_you_mean("zzzzzz", ["hosts", "groups"]), None);
    }
}
