//! Bounded per-run log storage. The supervisor appends; front ends read.
//!
//! Each run keeps at most `MAX_LINES_PER_RUN` lines and `MAX_BYTES_PER_RUN` bytes (oldest
//! dropped first), so a child printing a million lines never grows memory without bound.
//! Lines are stored raw (ANSI escapes kept) with `\r` progress updates already collapsed
//! to what a terminal would show.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::core::run_files::RunFile;

pub const MAX_LINES_PER_RUN: usize = 30_000;
pub const MAX_BYTES_PER_RUN: usize = 6 * 1024 * 1024;
/// Runs whose logs are kept after they exited (oldest dropped first).
pub const MAX_EXITED_RUNS_KEPT: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines written by arkor itself (spawned, signalled, exited, …).
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Monotonic per run, starting at 0; survives eviction so readers can resume.
    pub seq: u64,
    pub stream: LogStream,
    pub text: String,
    /// When arkor read it.
    pub at: SystemTime,
}

#[derive(Debug, Default)]
pub struct RunLog {
    lines: VecDeque<LogLine>,
    bytes: usize,
    next_seq: u64,
    /// Lines evicted so far (for "N earlier lines dropped" hints).
    pub dropped: u64,
    /// Lines removed by a clear (`c`), as opposed to evicted for space.
    pub cleared: u64,
    /// The run's log file: every line is also written there, whatever is evicted or cleared.
    file: Option<RunFile>,
}

impl RunLog {
    pub fn push(&mut self, stream: LogStream, text: String) {
        self.push_at(stream, text, SystemTime::now());
    }

    /// [`RunLog::push`] with the time the line was read (one clock read per batch of lines
    /// that arrived together).
    pub fn push_at(&mut self, stream: LogStream, text: String, at: SystemTime) {
        if let Some(file) = self.file.as_mut() {
            file.write_line(at, stream, &text);
        }
        self.bytes += text.len();
        self.lines.push_back(LogLine {
            seq: self.next_seq,
            stream,
            text,
            at,
        });
        self.next_seq += 1;
        while self.lines.len() > MAX_LINES_PER_RUN
            || (self.bytes > MAX_BYTES_PER_RUN && self.lines.len() > 1)
        {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.text.len();
                self.dropped += 1;
            }
        }
    }

    pub fn lines(&self) -> &VecDeque<LogLine> {
        &self.lines
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sequence number the next pushed line will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn flush_file(&mut self) {
        if let Some(file) = self.file.as_mut() {
            file.flush();
        }
    }

    pub fn clear(&mut self) {
        self.dropped += self.lines.len() as u64;
        self.cleared += self.lines.len() as u64;
        self.lines.clear();
        self.bytes = 0;
    }
}

/// Shared, cheaply clonable store of every run's log.
#[derive(Clone, Debug, Default)]
pub struct LogStore {
    inner: Arc<Mutex<HashMap<u32, RunLog>>>,
}

impl LogStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, RunLog>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, pid: u32, stream: LogStream, text: String) {
        let mut map = self.lock();
        let log = map.entry(pid).or_default();
        log.push(stream, text);
        log.flush_file();
    }

    /// Also write `pid`'s lines to `file`, starting with the ones stored already.
    pub fn attach_file(&self, pid: u32, mut file: RunFile) {
        let mut map = self.lock();
        let log = map.entry(pid).or_default();
        for line in &log.lines {
            file.write_line(line.at, line.stream, &line.text);
        }
        file.flush();
        log.file = Some(file);
    }

    /// Append many lines under one lock (the ingest hot path).
    pub fn push_many(&self, pid: u32, lines: impl IntoIterator<Item = (LogStream, String)>) {
        let at = SystemTime::now();
        let mut map = self.lock();
        let log = map.entry(pid).or_default();
        for (stream, text) in lines {
            log.push_at(stream, text, at);
        }
        log.flush_file();
    }

    /// Read one run's log under the lock. Keep `f` short: the ingest path waits for it.
    pub fn with<R>(&self, pid: u32, f: impl FnOnce(Option<&RunLog>) -> R) -> R {
        let map = self.lock();
        f(map.get(&pid))
    }

    pub fn clear(&self, pid: u32) {
        if let Some(log) = self.lock().get_mut(&pid) {
            log.clear();
        }
    }

    /// Forget a run's log entirely (after it left the kept-exited window).
    pub fn remove(&self, pid: u32) {
        self.lock().remove(&pid);
    }

    pub fn total_bytes(&self) -> usize {
        self.lock().values().map(RunLog::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_past_line_cap() {
        let mut log = RunLog::default();
        for i in 0..(MAX_LINES_PER_RUN + 10) {
            log.push(LogStream::Stdout, format!("line {i}"));
        }
        assert_eq!(log.len(), MAX_LINES_PER_RUN);
        assert_eq!(log.dropped, 10);
        assert_eq!(log.lines().front().map(|l| l.seq), Some(10));
    }

    #[test]
    fn evicts_oldest_past_byte_cap_but_keeps_the_newest_line() {
        let mut log = RunLog::default();
        let big = "x".repeat(MAX_BYTES_PER_RUN / 2 + 1);
        log.push(LogStream::Stdout, big.clone());
        log.push(LogStream::Stdout, big.clone());
        assert_eq!(log.len(), 1);
        log.push(LogStream::Stdout, "x".repeat(MAX_BYTES_PER_RUN * 2));
        assert_eq!(log.len(), 1, "a single oversized line is kept");
    }
}
