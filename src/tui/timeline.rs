//! A short history of what happened (builds, swaps, restarts with their reasons, exits,
//! notices), so a user who looked away can tell.

use std::collections::VecDeque;
use std::time::SystemTime;

/// Entries kept; the panel shows the newest that fit.
pub const TIMELINE_CAPACITY: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimelineKind {
    Build,
    BuildError,
    HotSwap,
    EarlyStop,
    Restart,
    RunStarted,
    RunExited,
    RunCompleted,
    RunFailed,
    Info,
    Warn,
}

impl TimelineKind {
    pub fn symbol(self) -> &'static str {
        match self {
            TimelineKind::Build => "✓",
            TimelineKind::BuildError => "✗",
            TimelineKind::HotSwap => "↻",
            TimelineKind::EarlyStop => "◐",
            TimelineKind::Restart => "⟳",
            TimelineKind::RunStarted => "▶",
            TimelineKind::RunExited => "■",
            TimelineKind::RunCompleted => "✓",
            TimelineKind::RunFailed => "✗",
            TimelineKind::Info => "·",
            TimelineKind::Warn => "!",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    pub at: SystemTime,
    pub kind: TimelineKind,
    pub text: String,
}

#[derive(Clone, Debug, Default)]
pub struct Timeline {
    entries: VecDeque<TimelineEntry>,
}

impl Timeline {
    /// Add an entry. Text is reduced to one printable line (a notice may span several
    /// lines or carry escapes; an entry is one row).
    pub fn push(&mut self, at: SystemTime, kind: TimelineKind, text: impl AsRef<str>) {
        if self.entries.len() == TIMELINE_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(TimelineEntry {
            at,
            kind,
            text: one_line(text.as_ref()),
        });
    }

    /// Rewrite the newest entry when its text is `was` (a run's exit line that its outcome,
    /// arriving a moment later, says better); otherwise add a new entry.
    pub fn amend_newest(&mut self, was: &str, at: SystemTime, kind: TimelineKind, text: &str) {
        match self.entries.back_mut() {
            Some(entry) if entry.text == was => {
                entry.kind = kind;
                entry.text = one_line(text);
            }
            _ => self.push(at, kind, text),
        }
    }

    /// Oldest first.
    pub fn entries(&self) -> &VecDeque<TimelineEntry> {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The first non-blank line of `text` without escapes or control characters, with `…`
/// when more lines followed.
pub fn one_line(text: &str) -> String {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    let mut out = crate::tui::ansi::parse(first, false).text;
    if lines.next().is_some() {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_one_printable_line() {
        assert_eq!(
            one_line("\n  \n\u{1b}[31mfirst\u{1b}[0m\nsecond"),
            "first …"
        );
        assert_eq!(one_line("plain"), "plain");
        let mut timeline = Timeline::default();
        for i in 0..(TIMELINE_CAPACITY + 5) {
            timeline.push(SystemTime::UNIX_EPOCH, TimelineKind::Info, format!("{i}"));
        }
        assert_eq!(timeline.len(), TIMELINE_CAPACITY);
        assert_eq!(
            timeline.entries().front().map(|e| e.text.as_str()),
            Some("5")
        );
    }
}
