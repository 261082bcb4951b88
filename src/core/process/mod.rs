//! Everything arkor does to OS processes beyond `std::process`: isolating a child, signalling
//! and killing its process group, and telling whether a group still has a live member.
//!
//! Both the run supervisor and the Node inspector start their children through
//! [`spawn_isolated`], so every child arkor starts
//! - leads its own process group: a terminal's Ctrl-C reaches only arkor, which then stops
//!   its children deliberately, and a signal to the group also reaches what the child
//!   started itself;
//! - dies with arkor, even when arkor is SIGKILLed and cannot clean up.
//!
//! # Platforms
//!
//! The OS-specific half lives in one file per platform behind `cfg(target_os)`; this file is
//! portable (POSIX signals and process groups). Linux (`linux.rs`) sets the parent-death
//! signal (`PR_SET_PDEATHSIG`) between fork and exec, forks from one thread that lives as
//! long as the process (the signal fires when the forking *thread* exits), and reads
//! `/proc` to tell a live group member from a zombie.
//!
//! A macOS port is one more file, `macos.rs`, with the same three functions:
//! - `spawn_isolated`: `setpgid(0, 0)` in `pre_exec` (macOS has no parent-death signal),
//!   spawn from any thread, then start a watchdog for the child: a tiny forked helper that
//!   registers a kqueue `EVFILT_PROC` / `NOTE_EXIT` filter on arkor's pid and SIGKILLs the
//!   child's group when it fires. A helper process, not a thread, because it must outlive
//!   arkor's own SIGKILL the way the kernel's parent-death signal does.
//! - `group_has_live_member`: `proc_listpids(PROC_PGRP_ONLY, pgid)` and, per pid,
//!   `proc_pidinfo(PROC_PIDTBSDINFO)` to skip zombies (`pbi_status == SZOMB`).
//! - `grow_pipe`: nothing (macOS pipes grow on their own up to 64 KiB).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "arkor tui runs on Linux only for now; a port adds one file next to src/core/process/linux.rs (see the docs of src/core/process/mod.rs)"
);

use std::io;
use std::os::fd::AsRawFd;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Poll interval while waiting for a group to disappear.
const GROUP_POLL: Duration = Duration::from_millis(5);

/// Why an isolated child could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnFailure {
    #[error("the process spawner thread is unavailable")]
    SpawnerUnavailable,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Start `command` as an isolated child: it leads its own process group and is SIGKILLed
/// when arkor dies. Failures of the isolation steps fail the spawn (a child that would
/// outlive arkor is never started).
pub fn spawn_isolated(command: Command) -> Result<Child, SpawnFailure> {
    os::spawn_isolated(command)
}

/// Send `signal` to the process group led by `pid`; a child that left its group (`setsid`)
/// is still reached directly.
pub fn signal_group(pid: u32, signal: Signal) -> Result<(), Errno> {
    let target = as_pid(pid);
    match killpg(target, signal) {
        Err(Errno::ESRCH) => kill(target, signal),
        other => other,
    }
}

/// Send `signal` to the process only (not its group).
pub fn signal_process(pid: u32, signal: Signal) -> Result<(), Errno> {
    kill(as_pid(pid), signal)
}

/// SIGKILL the group of a child this process owns, then reap the child. For a child nobody
/// else waits for (a failed start, the inspector's helper).
pub fn kill_group_and_reap(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = signal_group(child.id(), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// True while the group has a member that is not a zombie. `killpg(pgid, 0)` succeeds while
/// any member exists, zombies included, and an orphaned grandchild re-parented to an init
/// that does not reap (common in containers) stays a zombie forever; so ask the OS which
/// members still live.
pub fn group_alive(pgid: u32) -> bool {
    match killpg(as_pid(pgid), None) {
        Err(Errno::ESRCH) => false,
        // Members exist (or we may not signal them: EPERM); is any of them live?
        _ => os::group_has_live_member(pgid).unwrap_or(true),
    }
}

/// Make sure no live process is left in the group of a child that already exited: SIGTERM
/// the leftovers, then SIGKILL after `term_grace`, then wait up to `kill_wait`. Returns
/// true when the group is gone.
pub fn ensure_group_gone(pgid: u32, term_grace: Duration, kill_wait: Duration) -> bool {
    if !group_alive(pgid) {
        return true;
    }
    let _ = killpg(as_pid(pgid), Signal::SIGTERM);
    if wait_group_gone(pgid, term_grace) {
        return true;
    }
    let _ = killpg(as_pid(pgid), Signal::SIGKILL);
    wait_group_gone(pgid, kill_wait)
}

/// Wait (polling) until the group has no live member, at most `timeout`.
pub fn wait_group_gone(pgid: u32, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if !group_alive(pgid) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(GROUP_POLL);
    }
}

/// Ask for a larger pipe buffer, so a burst of output fits without the child waiting for
/// its reader to be scheduled. Best effort: where the OS refuses (or cannot), the default
/// stays.
pub fn grow_pipe(pipe: &impl AsRawFd) {
    os::grow_pipe(pipe.as_raw_fd());
}

fn as_pid(pid: u32) -> Pid {
    Pid::from_raw(pid as libc::pid_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_is_alive_and_an_unused_one_is_not() {
        let own = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_alive(own));
        // pid_max is at most 2^22 on Linux, so this group cannot exist.
        assert!(!group_alive((i32::MAX - 7) as u32));
    }

    #[test]
    fn an_isolated_child_leads_its_own_group_and_is_killed_with_it() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child = spawn_isolated(command).expect("sleep starts");
        let pid = child.id();
        let group = nix::unistd::getpgid(Some(as_pid(pid))).expect("getpgid");
        assert_eq!(group.as_raw(), pid as i32);
        assert_ne!(nix::unistd::getpgrp(), group);
        assert!(group_alive(pid));
        kill_group_and_reap(&mut child);
        assert!(wait_group_gone(pid, Duration::from_secs(10)));
    }
}
