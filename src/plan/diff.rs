//! Unified diffs of file contents for plan output.

/// A unified diff from `old` to `new`, headed with the path.
pub fn unified(path: &str, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let d = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let a = if old.is_empty() { "/dev/null".to_string() } else { format!("{path} (on host)") };
    let b = format!("{path} (planned)");
    let text = d.unified_diff().context_radius(3).header(&a, &b).to_string();
    // sized once: plans keep one diff per changed file
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shows_changed_lines() {
        let d = super::unified("/etc/x", b"a\nb\nc\n", b"a\nB\nc\n");
        assert!(d.contains("--- /etc/x (on host)"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
    }
}
