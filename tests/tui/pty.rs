//! `tui::run` in a real terminal: this test binary re-runs itself inside tmux (its own tmux
//! server socket) as the dashboard, playing the engine through a detached handle, and the
//! test drives it with keys and signals and reads the screen and tmux's view of the terminal
//! modes (alternate screen, mouse capture) and `stty` after it ends.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arkor_tui::cli::signals::ShutdownSignals;
use arkor_tui::core::engine::{BuildStatus, Command, EngineHandle};
use arkor_tui::core::events::{EngineEvent, ExitStatus, RunInfo, RunState};
use arkor_tui::core::logs::LogStream;
use arkor_tui::core::project::Project;
use arkor_tui::tui::{AppOptions, run as run_tui};

use crate::support::{run, snapshot};

const CHILD_ENV: &str = "ARKOR_TUI_PTY_CHILD";
const DIR_ENV: &str = "ARKOR_TUI_PTY_DIR";
const TIMEOUT: Duration = Duration::from_secs(20);

/// The dashboard side, run by the tests below inside tmux (ignored in a normal run).
#[test]
#[ignore = "entry point of the pty tests; runs only inside their tmux session"]
fn pty_child_entry() {
    let (Ok(mode), Ok(dir)) = (std::env::var(CHILD_ENV), std::env::var(DIR_ENV)) else {
        // `cargo test -- --ignored` lands here outside tmux: nothing to do.
        eprintln!("pty_child_entry only runs inside the pty tests' tmux session");
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::write(dir.join("pid"), std::process::id().to_string()).expect("pid file");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let reason = runtime.block_on(async move {
        let project = Project::at(&dir).expect("project");
        let (handle, mut engine) = EngineHandle::detached(project);
        let mut live = RunInfo {
            started_at: SystemTime::now(),
            state_since: SystemTime::now(),
            ..run(700, RunState::Running)
        };
        engine.set_snapshot(snapshot(BuildStatus::Ok, vec![live.clone()]));
        handle.logs().push(
            700,
            LogStream::Stdout,
            "\u{1b}[32mstep 1\u{1b}[0m loss=2.0".into(),
        );
        if mode == "panic" {
            // A panic anywhere in the process must give the terminal back.
            let marker = dir.join("panic-now");
            std::thread::spawn(move || {
                let deadline = Instant::now() + TIMEOUT;
                while !marker.exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                panic!("deliberate panic to test the terminal restore hook");
            });
        }
        let events = engine.shared.events.clone();
        let exit_marker = dir.join("exit-now");
        tokio::spawn(async move {
            if mode == "notify" {
                // The run ends on its own once the test asks for it.
                let deadline = Instant::now() + TIMEOUT;
                while !exit_marker.exists() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                live = RunInfo {
                    state: RunState::Exited {
                        status: ExitStatus::Code(0),
                    },
                    ..live.clone()
                };
                engine.set_snapshot(snapshot(BuildStatus::Ok, vec![live.clone()]));
                let _ = events.send(EngineEvent::Run(Arc::new(live.clone())));
            }
            while let Some(command) = engine.commands.recv().await {
                let Command::Shutdown { force } = command else {
                    continue;
                };
                let _ = events.send(EngineEvent::ShuttingDown);
                if !matches!(live.state, RunState::Exited { .. }) {
                    live = if force {
                        RunInfo {
                            state: RunState::Exited {
                                status: ExitStatus::Signal(9),
                            },
                            ..live.clone()
                        }
                    } else {
                        RunInfo {
                            state: RunState::EarlyStopping,
                            state_since: SystemTime::now(),
                            kill_deadline: Some(SystemTime::now() + Duration::from_secs(300)),
                            ..live.clone()
                        }
                    };
                    engine.set_snapshot(snapshot(BuildStatus::Ok, vec![live.clone()]));
                    let _ = events.send(EngineEvent::Run(Arc::new(live.clone())));
                }
                if force || matches!(live.state, RunState::Exited { .. }) {
                    let _ = events.send(EngineEvent::Stopped);
                }
            }
        });
        // As `arkor tui` wires it: the process's signal owner feeds the dashboard.
        let (_forwarding, signals) = ShutdownSignals::install().forward_to(handle.clone());
        let exit = run_tui(
            handle,
            AppOptions {
                notifications: true,
                ..Default::default()
            },
            signals,
        )
        .await
        .expect("tui run");
        format!("{:?}", exit.reason)
    });
    std::fs::write(
        PathBuf::from(std::env::var(DIR_ENV).unwrap_or_default()).join("result"),
        reason,
    )
    .expect("result file");
}

/// A tmux server of our own (socket inside our temp dir), killed on drop.
struct Tmux {
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(mode: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("tmux.sock");
        let exe = std::env::current_exe().expect("test binary path");
        let shell = format!(
            "env {CHILD_ENV}={mode} {DIR_ENV}={dir} {exe} --exact pty::pty_child_entry --ignored --nocapture --test-threads=1 2> {dir}/child.out; stty -a > {dir}/stty; sleep 60",
            dir = dir.path().display(),
            exe = exe.display(),
        );
        let tmux = Self { socket, dir };
        let status = tmux
            .cmd()
            .args(["new-session", "-d", "-x", "100", "-y", "30", &shell])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (needed by the pty tests)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self) -> Process {
        let mut cmd = Process::new("tmux");
        cmd.arg("-S").arg(&self.socket).args(["-f", "/dev/null"]);
        cmd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `#{alternate_on}` / `#{mouse_any_flag}`: the terminal modes the app has set.
    fn flag(&self, name: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", &format!("#{{{name}}}")])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn keys(&self, keys: &str) {
        let status = self
            .cmd()
            .args(["send-keys", keys])
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    fn wait_for(&self, what: &str, mut ok: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !ok(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nscreen:\n{}\nchild output:\n{}",
                self.screen(),
                read(&self.path("child.out"))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for_dashboard(&self) {
        self.wait_for("the first frame", |t| t.screen().contains("runs · 1 live"));
        assert_eq!(self.flag("alternate_on"), "1", "alternate screen in use");
        assert_eq!(self.flag("mouse_any_flag"), "1", "mouse capture on");
    }

    /// `q` (graceful, the banner shows), then `q` again (forced): the dashboard returns.
    fn quit_twice(&self) {
        self.keys("q");
        self.wait_for("the quit banner", |t| {
            t.screen().contains("quitting: 1 run early-stopping")
        });
        self.keys("q");
        self.wait_for("the result", |t| read(&t.path("result")) == "ForceQuit");
    }

    fn assert_terminal_restored(&self) {
        self.wait_for("the terminal modes to be restored", |t| {
            t.flag("alternate_on") == "0" && t.flag("mouse_any_flag") == "0"
        });
    }

    fn assert_cooked_mode(&self) {
        self.wait_for("stty output", |t| {
            t.path("stty").exists() && !read(&t.path("stty")).is_empty()
        });
        let stty = read(&self.path("stty"));
        let flags: Vec<&str> = stty.split_whitespace().collect();
        for flag in ["icanon", "echo", "isig"] {
            assert!(flags.contains(&flag), "{flag} restored; stty: {stty}");
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if let Ok(pid) = read(&self.path("pid")).trim().parse::<i32>() {
            // The child may still be alive after a failed assertion or the panic case.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn quit_twice_in_a_real_terminal_restores_it() {
    let tmux = Tmux::start("quit");
    tmux.wait_for_dashboard();
    tmux.quit_twice();
    tmux.assert_terminal_restored();
    tmux.assert_cooked_mode();
}

#[test]
fn sigterm_restores_the_terminal() {
    let tmux = Tmux::start("sigterm");
    tmux.wait_for_dashboard();
    let pid: i32 = read(&tmux.path("pid")).trim().parse().expect("child pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal the dashboard");
    tmux.wait_for("the result", |t| {
        read(&t.path("result")) == format!("Signal({})", libc::SIGTERM)
    });
    tmux.assert_terminal_restored();
    tmux.assert_cooked_mode();
}

#[test]
fn a_panic_restores_the_terminal() {
    let tmux = Tmux::start("panic");
    tmux.wait_for_dashboard();
    std::fs::write(tmux.path("panic-now"), "").expect("panic marker");
    tmux.wait_for("the panic message", |t| {
        read(&t.path("child.out")).contains("deliberate panic")
    });
    tmux.assert_terminal_restored();
}

#[test]
fn a_run_ending_on_its_own_rings_the_bell_without_garbage_on_screen() {
    let tmux = Tmux::start("notify");
    tmux.wait_for_dashboard();
    assert_eq!(tmux.flag("window_bell_flag"), "0");
    std::fs::write(tmux.path("exit-now"), "").expect("exit marker");
    tmux.wait_for("the bell", |t| t.flag("window_bell_flag") == "1");
    tmux.wait_for("the exit on screen", |t| t.screen().contains("✓ exited"));
    let screen = tmux.screen();
    assert!(
        !screen.contains("]9;") && !screen.contains("777;") && !screen.contains("tmux;"),
        "notification escapes leaked onto the screen:\n{screen}"
    );
    tmux.keys("q");
    tmux.wait_for("the result", |t| read(&t.path("result")) == "Quit");
    tmux.assert_terminal_restored();
}

#[test]
fn a_resize_while_running_still_restores_the_terminal() {
    let tmux = Tmux::start("quit");
    tmux.wait_for_dashboard();
    for (x, y) in [("60", "18"), ("120", "40"), ("80", "24")] {
        let status = tmux
            .cmd()
            .args(["resize-window", "-x", x, "-y", y])
            .status()
            .expect("resize-window");
        assert!(status.success(), "resize to {x}x{y}");
        let width: usize = x.parse().expect("width");
        tmux.wait_for("a frame at the new size", |t| {
            let screen = t.screen();
            let header = screen.lines().next().unwrap_or_default();
            header.contains("arkor") && header.chars().count() <= width
        });
    }
    assert_eq!(tmux.flag("alternate_on"), "1", "still the dashboard");
    tmux.quit_twice();
    tmux.assert_terminal_restored();
    assert_eq!(tmux.flag("cursor_flag"), "1", "the cursor is shown again");
    tmux.assert_cooked_mode();
}
