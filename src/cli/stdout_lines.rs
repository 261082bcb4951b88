//! Lines for stdout, written by a thread of their own, so that a stdout nobody reads (a
//! paused pager, Ctrl-S in the terminal, a pipe whose reader stopped) never holds up arkor:
//! callers only queue a line, and shutdown waits for the queue a bounded time.
//!
//! The queue holds at most [`QUEUE_BUDGET`] bytes of text. Past that the oldest lines are
//! dropped (a reader that resumes wants what is happening now) and, once stdout takes lines
//! again, one note in their place says how many were not shown.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Bytes of text queued at most while stdout is not being read.
pub const QUEUE_BUDGET: usize = 1024 * 1024;
/// Bytes handed to one `write` at most (the lines of one batch).
const BATCH_BYTES: usize = 64 * 1024;
/// How often [`StdoutLines::flush`] looks whether the queue has drained.
const FLUSH_POLL: Duration = Duration::from_millis(5);

/// The text that replaces `n` dropped lines.
pub type SkipNote = Box<dyn Fn(u64) -> String + Send + Sync>;

/// A handle to the stdout writer. Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct StdoutLines {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a line is queued.
    queued: Condvar,
    skip_note: SkipNote,
}

#[derive(Default)]
struct State {
    lines: VecDeque<String>,
    /// Bytes of text in `lines`.
    bytes: usize,
    /// Lines dropped since the last note.
    skipped: u64,
    /// The writer thread holds a batch it has not finished writing.
    writing: bool,
    /// Stdout is closed (EPIPE) or the writer could not start: lines are discarded.
    gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StdoutLines {
    /// Start the writer thread for the process's stdout.
    pub fn start(skip_note: SkipNote) -> StdoutLines {
        StdoutLines::start_with(std::io::stdout(), skip_note)
    }

    /// Start a writer thread for `out` (tests use a pipe).
    pub fn start_with(out: impl Write + Send + 'static, skip_note: SkipNote) -> StdoutLines {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            queued: Condvar::new(),
            skip_note,
        });
        let writer = shared.clone();
        let started = std::thread::Builder::new()
            .name("arkor-stdout".into())
            .spawn(move || write_lines(&writer, out));
        if let Err(err) = started {
            tracing::warn!(%err, "could not start the stdout writer; nothing will be printed");
            shared.lock().gone = true;
        }
        StdoutLines { shared }
    }

    /// Queue one line (without its newline). Never waits for stdout.
    pub fn line(&self, line: impl Into<String>) {
        let line = line.into();
        {
            let mut state = self.shared.lock();
            if state.gone {
                return;
            }
            state.bytes += line.len();
            state.lines.push_back(line);
            // The newest line always stays, even when it alone is over the budget.
            while state.bytes > QUEUE_BUDGET && state.lines.len() > 1 {
                if let Some(old) = state.lines.pop_front() {
                    state.bytes -= old.len();
                    state.skipped += 1;
                }
            }
        }
        self.shared.queued.notify_one();
    }

    /// Wait until everything queued so far is written, at most `within`. Returns whether it
    /// was (false: stdout is not being read, and what is left stays unwritten).
    pub async fn flush(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            {
                let state = self.shared.lock();
                if state.gone || (state.lines.is_empty() && state.skipped == 0 && !state.writing) {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(FLUSH_POLL).await;
        }
    }

    /// Lines dropped and not yet reported (for tests).
    pub fn pending_skipped(&self) -> u64 {
        self.shared.lock().skipped
    }
}

/// The writer thread: take a batch, write it (possibly blocking for ever), repeat.
fn write_lines(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    loop {
        {
            let mut state = shared.lock();
            state.writing = false;
            while state.lines.is_empty() && state.skipped == 0 {
                state = shared.queued.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            batch.clear();
            if state.skipped > 0 {
                batch.extend_from_slice(
                    (shared.skip_note)(std::mem::take(&mut state.skipped)).as_bytes(),
                );
                batch.push(b'\n');
            }
            while batch.len() < BATCH_BYTES {
                let Some(line) = state.lines.pop_front() else {
                    break;
                };
                state.bytes -= line.len();
                batch.extend_from_slice(line.as_bytes());
                batch.push(b'\n');
            }
            state.writing = true;
        }
        if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
            // A closed stdout (e.g. `| head`) must not stop the dev loop: discard from now on.
            let mut state = shared.lock();
            state.gone = true;
            state.writing = false;
            state.lines.clear();
            state.bytes = 0;
            state.skipped = 0;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::OwnedFd;

    fn note() -> SkipNote {
        Box::new(|n| format!("[{n} skipped]"))
    }

    fn pipe() -> (std::fs::File, std::fs::File) {
        let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
        (read.into(), write.into())
    }

    #[tokio::test]
    async fn lines_arrive_in_order_and_flush_waits_for_them() {
        let (mut read, write) = pipe();
        let out = StdoutLines::start_with(write, note());
        out.line("one");
        out.line(String::from("two"));
        assert!(out.flush(Duration::from_secs(30)).await);
        drop(out);
        let mut buf = [0u8; 64];
        let n = read.read(&mut buf).expect("read");
        assert_eq!(&buf[..n], b"one\ntwo\n");
    }

    #[tokio::test]
    async fn a_stdout_nobody_reads_never_blocks_the_caller_and_memory_stays_bounded() {
        let (mut read, write) = pipe();
        let out = StdoutLines::start_with(write, note());
        // Far more than the pipe (64 KiB) and the queue (1 MiB) hold.
        let line = "x".repeat(999);
        for _ in 0..20_000 {
            out.line(line.clone());
        }
        {
            let state = out.shared.lock();
            assert!(state.bytes <= QUEUE_BUDGET, "{}", state.bytes);
        }
        assert!(out.pending_skipped() > 0);
        assert!(!out.flush(Duration::from_millis(50)).await, "nobody reads");

        // The reader comes back: the newest lines arrive after one note.
        out.line("last");
        let mut text = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while !text.ends_with(b"last\n") {
            let n = read.read(&mut buf).expect("read");
            assert!(n > 0);
            text.extend_from_slice(&buf[..n]);
        }
        assert!(out.flush(Duration::from_secs(30)).await);
        let text = String::from_utf8(text).expect("utf-8");
        // One note per gap (the writer may have started after the first drops, making two).
        let skipped: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix('[')?.strip_suffix(" skipped]"))
            .map(|n| n.parse::<u64>().expect("a count"))
            .sum();
        assert!(skipped > 0);
        let shown = text.lines().filter(|l| *l == line).count() as u64;
        assert_eq!(shown + skipped, 20_000, "every line written or counted");
    }

    #[tokio::test]
    async fn a_closed_stdout_discards_lines() {
        let (read, write) = pipe();
        drop(read);
        let out = StdoutLines::start_with(write, note());
        out.line("into the void");
        assert!(out.flush(Duration::from_secs(30)).await);
        out.line("ignored");
        assert!(out.shared.lock().lines.is_empty());
    }
}
