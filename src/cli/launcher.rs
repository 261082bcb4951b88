//! Started by the npm launcher (`node_modules/.bin/arkor-tui`, a Node process that spawns this
//! binary and passes signals on): end with it.
//!
//! A launcher killed outright (SIGKILL, an OOM kill) passes nothing on, and arkor tui would go
//! on without a parent, its runs with it. On Linux the kernel's parent-death signal turns the
//! launcher's death into a SIGTERM here, which stops the runs at their next checkpoint like any
//! other SIGTERM.

/// The launcher sets it to its own pid.
pub const LAUNCHER_PID_ENV: &str = "ARKOR_TUI_LAUNCHER_PID";

/// When the parent is the launcher named in [`LAUNCHER_PID_ENV`], ask for a SIGTERM when it
/// dies. Call it first thing, before any signal handler exists. A variable inherited by some
/// other descendant (the parent is not that pid) is ignored.
pub fn follow_launcher() {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::signal::Signal;
        use nix::unistd::getppid;

        let Some(launcher) = std::env::var(LAUNCHER_PID_ENV)
            .ok()
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            return;
        };
        if getppid().as_raw() != launcher {
            return;
        }
        // No logging exists yet; without the signal arkor tui runs as it would on its own.
        if nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).is_err() {
            return;
        }
        // The launcher died between the two checks: the signal asked for will never come.
        if getppid().as_raw() != launcher {
            let _ = nix::sys::signal::raise(Signal::SIGTERM);
        }
    }
}
