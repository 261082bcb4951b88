//! The dashboard: screens (insta snapshots on ratatui's TestBackend with a fixed clock), key
//! handling (key → Action → engine Command), the event loop against a detached engine
//! (quit sequence, notifications, frame batching, key latency under a log flood) and the
//! cost of a frame with a big log.

#[path = "shared/mod.rs"]
mod shared;

#[path = "tui/support.rs"]
mod support;

#[path = "tui/screens.rs"]
mod screens;

#[path = "tui/jobs.rs"]
mod jobs;

#[path = "tui/endpoints.rs"]
mod endpoints;

#[path = "tui/training.rs"]
mod training;

#[path = "tui/keys.rs"]
mod keys;

#[path = "tui/event_loop.rs"]
mod event_loop;

#[path = "tui/perf.rs"]
mod perf;

#[path = "tui/pty.rs"]
mod pty;

#[path = "tui/e2e.rs"]
mod e2e;
