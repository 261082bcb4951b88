//! Process-group liveness and cleanup after a child exited.
//!
//! `killpg(pgid, 0)` succeeds while any member exists, zombies included; an orphaned
//! grandchild is re-parented to init, and an init that does not reap (common in
//! containers) leaves it a zombie forever. So "alive" means a member that is not a zombie,
//! read from `/proc`.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Poll interval while waiting for a group to disappear.
const POLL: Duration = Duration::from_millis(5);

/// True while the group has a member that is not a zombie.
pub fn is_alive(pgid: Pid) -> bool {
    match killpg(pgid, None) {
        Err(Errno::ESRCH) => false,
        // Members exist (or we may not signal them: EPERM); ask /proc whether any is live.
        _ => has_live_member(pgid).unwrap_or(true),
    }
}

/// Make sure no live process is left in the group of a child that already exited:
/// SIGTERM the leftovers, then SIGKILL after `term_grace`, then wait up to `kill_wait`.
/// Returns true when the group is gone.
pub fn ensure_gone(pgid: Pid, term_grace: Duration, kill_wait: Duration) -> bool {
    if !is_alive(pgid) {
        return true;
    }
    let _ = killpg(pgid, Signal::SIGTERM);
    if wait_gone(pgid, term_grace) {
        return true;
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    wait_gone(pgid, kill_wait)
}

/// Wait (polling) until the group has no live member, at most `timeout`.
pub fn wait_gone(pgid: Pid, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if !is_alive(pgid) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Scans `/proc/<pid>/stat` for a non-zombie process in group `pgid`. `None` when `/proc`
/// cannot be read.
fn has_live_member(pgid: Pid) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Processes vanish while we scan; a missing file just means "not a member".
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
            continue;
        };
        if let Some((state, group)) = parse_stat(&stat)
            && group == pgid.as_raw()
            && state != 'Z'
            && state != 'X'
        {
            return Some(true);
        }
    }
    Some(false)
}

/// `(state, pgrp)` from a `/proc/<pid>/stat` line. The command name is in parentheses
/// and may itself contain spaces and parentheses, so parse from the last `)`.
pub fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_tricky_command_names() {
        assert_eq!(parse_stat("123 (node) S 1 123 123 0 -1"), Some(('S', 123)));
        assert_eq!(parse_stat("9 (a) b (c)) Z 1 77 77 0"), Some(('Z', 77)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_group_is_alive_and_an_unused_one_is_not() {
        let own = nix::unistd::getpgrp();
        assert!(is_alive(own));
        // pid_max is at most 2^22 on Linux, so this group cannot exist.
        assert!(!is_alive(Pid::from_raw(i32::MAX - 7)));
    }
}
