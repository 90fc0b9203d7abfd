//! Unified diffs of file contents for plan output.

/// A unified diff from `old` to `new`, headed with the path.
pub fn unified(path: &str, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    if old.is_empty() {
        return added(path, &new);
    }
    let d = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let a = if old.is_empty() {
        "/dev/null".to_string()
    } else {
        format!("{path} (on host)")
    };
    let b = format!("{path} (planned)");
    let text = d
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string();
    // sized once: plans keep one diff per changed file
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The diff of a new file (every line added), written directly: what
/// `similar` writes for it (a test compares them), without its line-by-line diff.
fn added(path: &str, new: &str) -> String {
    if new.is_empty() {
        return String::new();
    }
    let lines = new.lines().count();
    let no_newline = !new.ends_with('\n');
    let head = format!(
        "--- /dev/null\n+++ {path} (planned)\n@@ -0,0 +1{} @@\n",
        if lines == 1 {
            String::new()
        } else {
            format!(",{lines}")
        }
    );
    let mut out =
        String::with_capacity(head.len() + new.len() + lines + 2 + if no_newline { 30 } else { 0 });
    out.push_str(&head);
    for line in new.lines() {
        out.push('+');
        out.push_str(line);
        out.push('\n');
    }
    if no_newline {
        out.push_str("\\ No newline at end of file\n");
    }
    out
}

/// `unified` for each `(key, path, old, new)`, in order, split over the
/// machine's cores when there are many.
pub fn many(jobs: &[(usize, &str, &[u8], &[u8])]) -> Vec<(usize, String)> {
    let one = |&(k, path, old, new): &(usize, &str, &[u8], &[u8])| (k, unified(path, old, new));
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    if threads < 2 || jobs.len() < 256 {
        return jobs.iter().map(one).collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a diff thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    /// What `unified` wrote for a new file before it had `added`: `similar`'s diff from nothing.
    fn by_similar(path: &str, new: &str) -> String {
        let text = similar::TextDiff::from_lines("", new)
            .unified_diff()
            .context_radius(3)
            .header("/dev/null", &format!("{path} (planned)"))
            .to_string();
        text.lines().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn a_new_file_diff_is_the_one_similar_writes() {
        for new in [
            "",
            "a",
            "a\n",
            "a\nb",
            "a\nb\n",
            "\n",
            "\n\n",
            "x\r\ny\r\n",
            "one line with spaces  \n",
            &"# conf line\n".repeat(40),
            "a\n\nb\n\n",
        ] {
            assert_eq!(
                super::unified("/etc/x", b"", new.as_bytes()),
                by_similar("/etc/x", new),
                "{new:?}"
            );
        }
    }

    #[test]
    fn shows_changed_lines() {
        let d = super::unified("/etc/x", b"a\nb\nc\n", b"a\nB\nc\n");
        assert!(d.contains("--- /etc/x (on host)"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
    }
}
