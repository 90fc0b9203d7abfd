//! One source file the user gave us: byte offsets as line:col, a
//! diagnostic at a span, and the quoted line with its caret.

use super::mask::{mask, secret_regions};
use super::{Diagnostic, Snippet};
use std::ops::Range;

/// One source file the user gave us, kept to turn byte offsets into line:col,
/// the key path at an offset (`[redis.sentinel] quorum`) and the quoted line.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor(offset);
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    fn floor(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    pub fn diag(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, col) = span
            .clone()
            .map(|s| self.position(s.start))
            .unwrap_or((0, 0));
        let key = span.as_ref().and_then(|s| self.key_at(s.start));
        let snippet = span.map(|s| self.snippet(s, false));
        Diagnostic {
            file: self.path.clone(),
            line,
            col,
            key,
            message: message.into(),
            snippet,
            help,
            warning: false,
        }
    }

    /// The line holding `span.start`, with carets under the span (up to the
    /// line's end). Secret values on the line are shown as `****`; with
    /// `mask_span`, so is the span itself.
    pub fn snippet(&self, span: Range<usize>, mask_span: bool) -> Snippet {
        let start = self.floor(span.start);
        let end = self.floor(span.end.max(span.start));
        let line_start = self.text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = self.text[start..]
            .find('\n')
            .map(|i| start + i)
            .unwrap_or(self.text.len());
        let raw = self.text[line_start..line_end].trim_end_matches('\r');
        let chars: Vec<char> = raw.chars().collect();
        let c0 = self.text[line_start..start]
            .chars()
            .count()
            .min(chars.len());
        let c1 = self.text[line_start..end.min(line_end).max(start)]
            .chars()
            .count()
            .min(chars.len())
            .max(c0);
        let mut regions = secret_regions(&chars);
        if mask_span && c1 > c0 {
            regions.push((c0, c1));
        }
        let (text, map) = mask(&chars, regions);
        let (s, e) = (map(c0, false), map(c1, true));
        let (line, _) = self.position(start);
        Snippet {
            line,
            text,
            start: s,
            len: e.saturating_sub(s).max(1),
        }
    }
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
}
