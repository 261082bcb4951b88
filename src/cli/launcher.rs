//! Started by the npm launcher (`node_modules/.bin/arkor-tui`, a Node process that spawns this
//! binary and passes signals on): end with it.
//!
//! A launcher killed outright (SIGKILL, an OOM kill) passes nothing on, and arkor tui would go
//! on without a parent, its runs with it. On Linux a thread waits on a pidfd of the launcher
//! and, when it exits, sends arkor tui one SIGTERM, which stops the runs at their next
//! checkpoint like any other SIGTERM. (Not PR_SET_PDEATHSIG: it fires once per exiting thread
//! of the parent, and Node has several; a second SIGTERM would force-stop the runs.)

/// The launcher sets it to its own pid.
pub const LAUNCHER_PID_ENV: &str = "ARKOR_TUI_LAUNCHER_PID";

/// When the parent is the launcher named in [`LAUNCHER_PID_ENV`], send this process one
/// SIGTERM when the launcher exits. Call it first thing, before any signal handler exists. A
/// variable inherited by some other descendant (the parent is not that pid) is ignored, and so
/// is a kernel without pidfds (Linux before 5.3): arkor tui then runs as it would on its own.
pub fn follow_launcher() {
    #[cfg(target_os = "linux")]
    {
        let Some(launcher) = std::env::var(LAUNCHER_PID_ENV)
            .ok()
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            return;
        };
        linux::follow(launcher);
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};

    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::{Pid, getppid};

    pub fn follow(launcher: i32) {
        if getppid().as_raw() != launcher {
            return;
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, launcher, 0) };
        let Ok(raw) = i32::try_from(raw) else { return };
        if raw < 0 {
            return;
        }
        // SAFETY: `raw` is a pidfd just opened above and owned by nothing else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
        // The launcher may have died (and its pid been reused) before the pidfd was opened.
        if getppid().as_raw() != launcher {
            let _ = kill(Pid::this(), Signal::SIGTERM);
            return;
        }
        let watcher = std::thread::Builder::new()
            .name("arkor-launcher".into())
            .spawn(move || {
                // The pidfd turns readable once the launcher has exited.
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                loop {
                    match poll(&mut fds, PollTimeout::NONE) {
                        Ok(_) => break,
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(_) => return,
                    }
                }
                let _ = kill(Pid::this(), Signal::SIGTERM);
            });
        // No thread, no watch: arkor tui runs as it would on its own.
        drop(watcher);
    }
}
