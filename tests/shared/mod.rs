//! What every test binary needs: whether a process still lives, and a generous wait for a
//! condition. Included by each binary with `#[path = "shared/mod.rs"] mod shared;`.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Generous: the machine is shared; a wait this long only catches hangs.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// `(state, process group)` from `/proc/<pid>/stat`; `None` once the process is gone. The
/// command name is in parentheses and may contain anything, so fields count from the last `)`.
pub fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some((state, group))
}

/// Alive and not a zombie (a zombie has exited and only waits to be reaped).
pub fn pid_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// The process group of a live (or zombie) process.
pub fn pgrp_of(pid: u32) -> Option<u32> {
    proc_stat(pid).map(|(_, group)| group)
}

/// Poll `probe` until it yields a value; panics with `what` after [`WAIT`].
pub async fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_until`] for a thread without a runtime.
pub fn wait_until_blocking<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}
