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
    pub fn push(&mut self, at: SystemTime, kind: TimelineKind, text: impl Into<String>) {
        if self.entries.len() == TIMELINE_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(TimelineEntry {
            at,
            kind,
            text: text.into(),
        });
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
