//! A diagnostic and a list of them, rendered as the user reads them:
//! `error: file:line:col: [table] key: message`, the quoted line with a
//! caret, and the help.

use std::fmt;

/// The quoted source line of a diagnostic, with the caret range (0-based chars).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snippet {
    pub line: usize,
    pub text: String,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem has no single position.
    pub line: usize,
    pub col: usize,
    /// The table and key it is about, as written: `[redis.sentinel] quorum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub message: String,
    /// The offending line, secrets masked, with a caret under the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<Snippet>,
    /// What to write instead.
    pub help: Option<String>,
    pub warning: bool,
}

impl Diagnostic {
    pub fn plain(
        file: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line: 0,
            col: 0,
            key: None,
            message: message.into(),
            snippet: None,
            help,
            warning: false,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        let key = self
            .key
            .as_ref()
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        if self.line > 0 {
            write!(
                f,
                "{level}: {}:{}:{}: {key}{}",
                self.file, self.line, self.col, self.message
            )?;
        } else {
            write!(f, "{level}: {}: {key}{}", self.file, self.message)?;
        }
        let width = self
            .snippet
            .as_ref()
            .map(|s| s.line.to_string().len())
            .unwrap_or(1);
        if let Some(s) = &self.snippet {
            let pad = " ".repeat(width);
            let lead: String = s
                .text
                .chars()
                .take(s.start)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{pad} |\n{} | {}\n{pad} | {lead}{}",
                s.line,
                s.text,
                "^".repeat(s.len)
            )?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n{} = help: {h}", " ".repeat(width))?;
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
            write!(
                f,
                "{n} error{} found; nothing was contacted.",
                if n == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use crate::diag::Source;

    #[test]
    fn rendering_quotes_the_line_with_a_caret_under_the_value() {
        let s = Source::new("stack.toml", "[redis.sentinel]\nquorum = 4\n");
        let d = s.diag(
            s.find(&["redis", "sentinel", "quorum"]),
            "sentinel quorum 4 is impossible with 3 Sentinels",
            Some("use a quorum from 1 to 3".into()),
        );
        assert_eq!(
            d.to_string(),
            "error: stack.toml:2:10: [redis.sentinel] quorum: sentinel quorum 4 is impossible with 3 Sentinels\n  |\n2 | quorum = 4\n  |          ^\n  = help: use a quorum from 1 to 3"
        );
    }
}
