//! The one place that prints. Formatting functions are pure (tested);
//! `out`/`err` write.

use crate::diag::Diagnostics;
use crate::exec::{Event, Outcome, Report};
use crate::plan::{Action, Plan};
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn detect() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
    pub fn plain() -> Style {
        Style { color: false }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

#[allow(clippy::print_stdout)]
pub fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

#[allow(clippy::print_stderr)]
pub fn err(s: &str) {
    let mut o = std::io::stderr().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

pub fn diagnostics(d: &Diagnostics) -> String {
    format!("{d}\n")
}

/// The plan as people read it.
pub fn plan_text(plan: &Plan, style: Style) -> String {
    let mut s = String::new();
    if !plan.has_changes() {
        s.push_str("No changes. The hosts match the stack.\n");
        return s;
    }
    s.push_str("rampart will perform these actions:\n\n");
    for step in &plan.steps {
        let code = match step.action {
            Action::Create => "32",
            Action::Update | Action::Restart | Action::Run => "33",
            Action::Delete => "31",
            Action::Wait => "2",
        };
        let drift = if step.drift { " (drift)" } else { "" };
        s.push_str(&format!(
            "  {} {}{}\n",
            style.paint(code, step.action.glyph()),
            step.id,
            style.paint("31", drift)
        ));
        for r in &step.reasons {
            s.push_str(&format!("      {r}\n"));
        }
        if step.sensitive && matches!(step.action, Action::Create | Action::Update) {
            s.push_str("      (sensitive: content not shown)\n");
        }
        if let Some(d) = &step.diff {
            for line in d.lines() {
                let painted = if line.starts_with('+') && !line.starts_with("+++") {
                    style.paint("32", line)
                } else if line.starts_with('-') && !line.starts_with("---") {
                    style.paint("31", line)
                } else {
                    line.to_string()
                };
                s.push_str(&format!("        {painted}\n"));
            }
        }
    }
    let c = plan.counts();
    s.push_str(&format!(
        "\nPlan: {} to add, {} to change, {} to destroy.\n",
        c.add, c.change, c.destroy
    ));
    s
}

/// One progress line per event (plain mode: good in logs and pipes).
pub fn event_line(e: &Event) -> Option<String> {
    match e {
        Event::Started {
            host,
            id,
            n,
            total,
            what,
        } => Some(format!("{host} [{n}/{total}] {id}: {what}...\n")),
        Event::Finished {
            host,
            id,
            n,
            total,
            outcome,
            seconds,
        } => Some(match outcome {
            Outcome::Ok => format!("{host} [{n}/{total}] {id}: done ({seconds:.1}s)\n"),
            Outcome::Failed(m) => format!(
                "{host} [{n}/{total}] {id}: FAILED: {}\n",
                m.replace('\n', "\n    ")
            ),
            Outcome::Skipped(m) => format!("{host} [{n}/{total}] {id}: {m}\n"),
        }),
    }
}

pub fn summary(report: &Report, style: Style) -> String {
    let mut s = String::from("\nApply summary:\n");
    for (host, r) in &report.hosts {
        let state = if r.failed.is_empty() && r.skipped == 0 {
            style.paint("32", "ok")
        } else {
            style.paint("31", "FAILED")
        };
        s.push_str(&format!(
            "  {host}: {state}, {} done, {} failed, {} skipped, {:.1}s\n",
            r.done,
            r.failed.len(),
            r.skipped,
            r.seconds
        ));
        for (id, e) in &r.failed {
            s.push_str(&format!("    {id}: {}\n", e.replace('\n', "\n      ")));
        }
    }
    let total: usize = report.hosts.values().map(|h| h.done).sum();
    if report.ok() {
        s.push_str(&format!("Apply complete: {total} steps done.\n"));
    } else {
        s.push_str("Apply failed: fix the causes above and run apply again (it picks up where this one stopped).\n");
    }
    s
}

/// Live progress on a terminal: one line per host with its current step and
/// done/total; failures are printed above the bars as they happen.
pub struct LiveProgress {
    multi: indicatif::MultiProgress,
    bars: std::collections::BTreeMap<String, indicatif::ProgressBar>,
}

impl LiveProgress {
    pub fn new(hosts: &[(String, usize)]) -> LiveProgress {
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{pos}/{len}] {elapsed:>4} {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        let mut bars = std::collections::BTreeMap::new();
        for (h, n) in hosts {
            let b = multi.add(indicatif::ProgressBar::new(*n as u64));
            b.set_style(style.clone());
            b.set_prefix(h.clone());
            b.set_message("waiting");
            bars.insert(h.clone(), b);
        }
        LiveProgress { multi, bars }
    }

    pub fn event(&mut self, e: &Event) {
        match e {
            Event::Started { host, id, what, .. } => {
                if let Some(b) = self.bars.get(host) {
                    b.set_message(format!("{id}: {what}"));
                }
            }
            Event::Finished { host, outcome, .. } => {
                if let Some(b) = self.bars.get(host) {
                    b.inc(1);
                    if !matches!(outcome, Outcome::Ok) {
                        if let Some(line) = event_line(e) {
                            let _ = self.multi.println(line.trim_end());
                        }
                    }
                    if b.position() >= b.length().unwrap_or(0) {
                        b.set_message("done");
                    }
                }
            }
        }
    }

    pub fn finish(self) {
        for b in self.bars.values() {
            b.finish();
        }
    }
}
