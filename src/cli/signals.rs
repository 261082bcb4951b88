//! The process's shutdown signals (SIGINT, SIGTERM, SIGHUP), owned in one place.
//!
//! [`ShutdownSignals::install`] runs before anything that needs cleaning up exists: from then
//! on a signal is queued instead of ending arkor by its default action, even while the
//! engine is still starting. [`ShutdownSignals::forward_to`] then hands each one to the
//! engine: the first asks for a graceful shutdown (runs early-stop at their next
//! checkpoint), every later one forces it. Runs live in their own process groups, so a
//! terminal's Ctrl-C or hang-up reaches only arkor, which stops them deliberately. The first
//! signal's number is the exit code's (128 + n).
//!
//! A front end gets a [`SignalFeed`]: every signal (so a dashboard can leave), and a way to
//! report a terminal that hung up without a SIGHUP reaching arkor.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::engine::{Command, EngineHandle};
use crate::tui::SignalFeed;

enum Received {
    /// An OS signal, by number.
    Signal(i32),
    /// A front end saw its terminal hang up.
    HangUp,
}

/// Installed handlers whose signals wait in a queue until [`ShutdownSignals::forward_to`].
pub struct ShutdownSignals {
    queue: mpsc::UnboundedReceiver<Received>,
    hang_ups: mpsc::UnboundedSender<()>,
    hang_up_rx: mpsc::UnboundedReceiver<()>,
    listeners: Vec<JoinHandle<()>>,
}

impl ShutdownSignals {
    /// Install the handlers (they stay installed for the life of the process). A handler
    /// that cannot be installed is logged and that signal keeps its default action.
    pub fn install() -> ShutdownSignals {
        let (tx, queue) = mpsc::unbounded_channel();
        let mut listeners = Vec::new();
        for (kind, number) in [
            (SignalKind::interrupt(), libc::SIGINT),
            (SignalKind::terminate(), libc::SIGTERM),
            (SignalKind::hangup(), libc::SIGHUP),
        ] {
            let mut stream = match signal(kind) {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!("could not install the handler of signal {number}: {e}");
                    continue;
                }
            };
            let tx = tx.clone();
            listeners.push(tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if tx.send(Received::Signal(number)).is_err() {
                        break;
                    }
                }
            }));
        }
        let (hang_ups, hang_up_rx) = mpsc::unbounded_channel();
        ShutdownSignals {
            queue,
            hang_ups,
            hang_up_rx,
            listeners,
        }
    }

    /// Start handing the signals (queued ones first) to the engine. Returns the forwarding
    /// and the front end's feed.
    pub fn forward_to(self, engine: EngineHandle) -> (Forwarding, SignalFeed) {
        let ShutdownSignals {
            mut queue,
            hang_ups,
            mut hang_up_rx,
            listeners,
        } = self;
        let (feed_tx, feed_rx) = mpsc::unbounded_channel();
        let first = Arc::new(AtomicI32::new(0));
        let recorded = first.clone();
        let task = tokio::spawn(async move {
            let mut signals = 0;
            let mut hang_ups_open = true;
            loop {
                let received = tokio::select! {
                    received = queue.recv() => match received {
                        Some(received) => received,
                        None => break,
                    },
                    hang_up = hang_up_rx.recv(), if hang_ups_open => match hang_up {
                        Some(()) => Received::HangUp,
                        None => {
                            hang_ups_open = false;
                            continue;
                        }
                    },
                };
                let (number, force) = match received {
                    Received::Signal(number) => {
                        signals += 1;
                        (number, signals > 1)
                    }
                    // The SIGHUP that usually follows a hang-up must not force the stop.
                    Received::HangUp => (libc::SIGHUP, false),
                };
                let _ = recorded.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
                engine.send(Command::Shutdown { force });
                let _ = feed_tx.send(number);
            }
        });
        let feed = SignalFeed {
            received: feed_rx,
            hang_up: hang_ups,
        };
        (
            Forwarding {
                first,
                task,
                listeners,
            },
            feed,
        )
    }
}

/// Signals being handed to the engine.
pub struct Forwarding {
    first: Arc<AtomicI32>,
    task: JoinHandle<()>,
    listeners: Vec<JoinHandle<()>>,
}

impl Forwarding {
    /// The first signal received (or reported), if any.
    pub fn first_signal(&self) -> Option<i32> {
        Some(self.first.load(Ordering::SeqCst)).filter(|&n| n > 0)
    }

    /// Stop forwarding (the engine has ended). The handlers stay installed, so a late signal
    /// no longer ends arkor by its default action while it cleans up.
    pub fn stop(self) -> Option<i32> {
        self.task.abort();
        for listener in &self.listeners {
            listener.abort();
        }
        self.first_signal()
    }
}
