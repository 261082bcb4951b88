//! The raw output of one run on its way to a reader that may be slow (the `/api/train` body).
//!
//! The supervisor's pipe readers push every chunk into an [`OutputTap`] without ever waiting:
//! a client that reads slowly or not at all must not hold up the run, its log, its events or
//! its signals. Instead the queue holds at most `budget` bytes; when a push would go past it,
//! the oldest queued bytes are dropped (a reader that catches up wants the freshest output),
//! up to the next line start so the stream resumes on a whole line. The reader then gets
//! [`RunOutput::Dropped`] with the count before the bytes that follow the gap, and
//! [`RunOutput::Exited`] always arrives last, whatever was dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::core::events::ExitStatus;

/// Bytes an HTTP run may have queued for its client: a few seconds of a chatty trainer, far
/// more than the Studio keeps on screen (its log pane holds the last 100,000 characters).
pub const HTTP_OUTPUT_BUDGET: usize = 1024 * 1024;

/// What the reader of a run's raw output receives, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutput {
    /// Bytes exactly as the child wrote them (stdout and stderr interleaved as read).
    Data(Bytes),
    /// This many bytes were dropped here because the reader fell behind.
    Dropped(u64),
    /// The run is over; nothing follows.
    Exited(ExitStatus),
}

/// A byte-budgeted queue for one run's output: `(tap, receiver)`.
pub fn channel(budget: usize) -> (OutputTap, OutputReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            chunks: VecDeque::new(),
            queued: 0,
            dropped: 0,
            end: End::Open,
            receiver_gone: false,
            budget: budget.max(1),
        }),
        wake: Notify::new(),
    });
    (
        OutputTap {
            shared: shared.clone(),
            finished: false,
        },
        OutputReceiver { shared },
    )
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
enum End {
    Open,
    /// The exit status, not yet handed to the reader.
    Exited(ExitStatus),
    /// The tap went away without a status, or the status was already handed over.
    Closed,
}

struct Queue {
    chunks: VecDeque<Bytes>,
    /// Sum of `chunks` lengths.
    queued: usize,
    /// Bytes dropped since the reader last heard of a gap.
    dropped: u64,
    end: End,
    receiver_gone: bool,
    budget: usize,
}

impl Queue {
    /// Drop the oldest bytes until the queue fits its budget again; when that cut a line,
    /// drop the rest of it too.
    fn evict_to_budget(&mut self) {
        let mut last_dropped = None;
        while self.queued > self.budget {
            let excess = self.queued - self.budget;
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let gone = if front.len() <= excess {
                std::mem::take(front)
            } else {
                front.split_to(excess)
            };
            if front.is_empty() {
                self.chunks.pop_front();
            }
            last_dropped = gone.last().copied();
            self.forget(gone.len());
        }
        if last_dropped.is_some_and(|b| b != b'\n') {
            self.skip_to_line_start();
        }
    }

    /// Drop the front chunk up to its first line end (a partial line after a gap). A chunk
    /// without one is kept: the line may be longer than the budget.
    fn skip_to_line_start(&mut self) {
        let Some(front) = self.chunks.front_mut() else {
            return;
        };
        let Some(newline) = front.iter().position(|&b| b == b'\n') else {
            return;
        };
        let cut = newline + 1;
        let _ = front.split_to(cut);
        if front.is_empty() {
            self.chunks.pop_front();
        }
        self.forget(cut);
    }

    fn forget(&mut self, len: usize) {
        self.queued -= len;
        self.dropped += len as u64;
    }
}

/// The writing side, held by the run's pipe readers. Pushing never blocks.
pub struct OutputTap {
    shared: Arc<Shared>,
    finished: bool,
}

impl OutputTap {
    /// Queue a copy of `bytes`, dropping the oldest queued bytes past the budget. A no-op
    /// once the reader is gone (nothing is copied) or the run has finished.
    pub fn push(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        {
            let mut queue = self.shared.lock();
            if queue.receiver_gone || !matches!(queue.end, End::Open) {
                return;
            }
            // What would be dropped at once is never copied.
            let skip = bytes.len().saturating_sub(queue.budget);
            if skip > 0 {
                queue.dropped += (skip + queue.queued) as u64;
                queue.chunks.clear();
                queue.queued = 0;
            }
            let kept = &bytes[skip..];
            queue.chunks.push_back(Bytes::copy_from_slice(kept));
            queue.queued += kept.len();
            if skip > 0 && bytes[skip - 1] != b'\n' {
                queue.skip_to_line_start();
            }
            queue.evict_to_budget();
        }
        self.shared.wake.notify_one();
    }

    /// The run is over: `status` follows whatever is still queued.
    pub fn finish(mut self, status: ExitStatus) {
        self.finished = true;
        self.shared.lock().end = End::Exited(status);
        self.shared.wake.notify_one();
    }
}

impl Drop for OutputTap {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock().end = End::Closed;
            self.shared.wake.notify_one();
        }
    }
}

impl std::fmt::Debug for OutputTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputTap").finish_non_exhaustive()
    }
}

/// The reading side (the `/api/train` body). Dropping it tells the tap to stop copying.
pub struct OutputReceiver {
    shared: Arc<Shared>,
}

impl OutputReceiver {
    /// The next item: a gap notice first when bytes were dropped, then data, then the exit
    /// status. `None` after the status, or when the tap went away without one.
    pub async fn recv(&mut self) -> Option<RunOutput> {
        loop {
            if let Some(next) = self.try_recv() {
                return next;
            }
            // A push between `try_recv` and here leaves a permit, so this cannot miss it.
            self.shared.wake.notified().await;
        }
    }

    /// `Some(item)` when one is ready (`Some(None)`: the stream has ended), `None` when the
    /// reader must wait.
    fn try_recv(&mut self) -> Option<Option<RunOutput>> {
        let mut queue = self.shared.lock();
        if queue.dropped > 0 {
            return Some(Some(RunOutput::Dropped(std::mem::take(&mut queue.dropped))));
        }
        if let Some(chunk) = queue.chunks.pop_front() {
            queue.queued -= chunk.len();
            return Some(Some(RunOutput::Data(chunk)));
        }
        match std::mem::replace(&mut queue.end, End::Closed) {
            End::Exited(status) => Some(Some(RunOutput::Exited(status))),
            End::Closed => Some(None),
            End::Open => {
                queue.end = End::Open;
                None
            }
        }
    }

    /// Bytes currently queued (for tests and diagnostics).
    pub fn queued_bytes(&self) -> usize {
        self.shared.lock().queued
    }
}

impl Drop for OutputReceiver {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.receiver_gone = true;
        queue.chunks.clear();
        queue.queued = 0;
    }
}

impl std::fmt::Debug for OutputReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut OutputReceiver) -> Vec<RunOutput> {
        let mut out = Vec::new();
        while let Some(Some(item)) = rx.try_recv() {
            out.push(item);
        }
        out
    }

    fn data(s: &str) -> RunOutput {
        RunOutput::Data(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn everything_arrives_in_order_within_the_budget() {
        let (tap, mut rx) = channel(1024);
        tap.push(b"one\n");
        tap.push(b"");
        tap.push(b"two\n");
        tap.finish(ExitStatus::Code(0));
        assert_eq!(
            drain(&mut rx),
            vec![
                data("one\n"),
                data("two\n"),
                RunOutput::Exited(ExitStatus::Code(0))
            ]
        );
        assert_eq!(rx.try_recv(), Some(None), "nothing after the exit status");
    }

    #[test]
    fn a_reader_that_falls_behind_gets_the_newest_bytes_after_a_counted_gap() {
        let (tap, mut rx) = channel(10);
        tap.push(b"aaaa\n");
        tap.push(b"bbbb\n");
        // 15 bytes for a 10-byte budget: the 5 oldest go, and the stream resumes at "bbbb".
        tap.push(b"cccc\n");
        assert_eq!(rx.queued_bytes(), 10);
        tap.finish(ExitStatus::Code(3));
        assert_eq!(
            drain(&mut rx),
            vec![
                RunOutput::Dropped(5),
                data("bbbb\n"),
                data("cccc\n"),
                RunOutput::Exited(ExitStatus::Code(3)),
            ]
        );
    }

    #[test]
    fn a_gap_inside_a_line_resumes_at_the_next_line() {
        let (tap, mut rx) = channel(8);
        tap.push(b"0123456789\nab");
        // Over by 5: "01234" must go, then the rest of that line ("56789\n").
        let items = drain(&mut rx);
        assert_eq!(items, vec![RunOutput::Dropped(11), data("ab")]);
        // Delivered bytes and the gap account for every byte pushed.
        tap.push(b"cd\n");
        assert_eq!(drain(&mut rx), vec![data("cd\n")]);
    }

    #[test]
    fn a_chunk_larger_than_the_budget_keeps_its_tail() {
        let (tap, mut rx) = channel(4);
        tap.push(b"old\n");
        tap.push(b"xxxxxxxxxx\nyz");
        let items = drain(&mut rx);
        // Only the budget's worth of the new chunk is copied ("x\nyz"), then the cut line
        // goes too: every byte pushed is either delivered or counted.
        let mut dropped = 0;
        let mut kept = Vec::new();
        for item in items {
            match item {
                RunOutput::Dropped(n) => dropped += n,
                RunOutput::Data(b) => kept.extend_from_slice(&b),
                RunOutput::Exited(_) => unreachable!(),
            }
        }
        assert_eq!(kept, b"yz");
        assert_eq!(dropped as usize + kept.len(), 4 + 13);
    }

    #[test]
    fn the_gap_is_reported_where_it_happened() {
        let (tap, mut rx) = channel(6);
        tap.push(b"aa\n");
        assert_eq!(drain(&mut rx), vec![data("aa\n")]);
        tap.push(b"bb\n");
        tap.push(b"cc\n");
        tap.push(b"dd\n");
        assert_eq!(
            drain(&mut rx),
            vec![RunOutput::Dropped(3), data("cc\n"), data("dd\n")]
        );
    }

    #[test]
    fn the_exit_status_is_never_dropped() {
        let (tap, mut rx) = channel(4);
        for _ in 0..1000 {
            tap.push(b"line\n");
        }
        tap.finish(ExitStatus::Signal(9));
        let items = drain(&mut rx);
        assert_eq!(
            items.last(),
            Some(&RunOutput::Exited(ExitStatus::Signal(9)))
        );
        assert!(matches!(items[0], RunOutput::Dropped(n) if n >= 4995));
    }

    #[test]
    fn a_tap_gone_without_a_status_ends_the_stream() {
        let (tap, mut rx) = channel(64);
        tap.push(b"x");
        drop(tap);
        assert_eq!(drain(&mut rx), vec![data("x")]);
        assert_eq!(rx.try_recv(), Some(None));
    }

    #[test]
    fn once_the_reader_is_gone_nothing_is_kept() {
        let (tap, rx) = channel(64);
        tap.push(b"before\n");
        drop(rx);
        assert!(tap.shared.lock().receiver_gone);
        tap.push(b"after\n");
        assert_eq!(tap.shared.lock().queued, 0);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_each_push_and_the_end() {
        let (tap, mut rx) = channel(64);
        let reader = tokio::spawn(async move {
            let mut items = Vec::new();
            while let Some(item) = rx.recv().await {
                items.push(item);
            }
            items
        });
        tokio::task::yield_now().await;
        tap.push(b"a");
        tokio::task::yield_now().await;
        tap.push(b"b");
        tap.finish(ExitStatus::Code(0));
        let items = reader.await.expect("reader");
        let bytes: Vec<u8> = items
            .iter()
            .filter_map(|i| match i {
                RunOutput::Data(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(bytes, b"ab");
        assert_eq!(items.last(), Some(&RunOutput::Exited(ExitStatus::Code(0))));
    }
}
