//! Harness: a real engine (`core::engine::start`) on a temp copy of the demo project with the
//! simulated SDK installed, plus helpers that wait for conditions with generous timeouts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arkor_tui::core::engine::{self, Command, EngineConfig, EngineHandle};
use arkor_tui::core::events::{DevEvent, EngineEvent, ExitStatus, RunInfo, RunState};
use arkor_tui::core::project::{self, Project};
pub use arkor_tui::core::registry::ConfigChangePolicy;
use tokio::sync::broadcast;

pub use crate::shared::{WAIT, pid_alive, wait_until};

pub const CALLBACKS: &str = "src/arkor/callbacks.ts";
pub const TRAINER: &str = "src/arkor/trainer.ts";

/// The runner's own reaction lines (assets/sdk/README.md).
pub const HOT_RELOADED: &str = "Callbacks hot-reloaded; training run continues.";
pub const RECEIVED_SIGTERM: &str = "Received SIGTERM";
pub const RELOAD_PREFIX: &str = "Callback reload";

/// Simulated-cloud timings that keep a run alive for the whole test and make checkpoints
/// (hence early stops) come quickly.
pub fn fast_sim_env(checkpoint_every: u32) -> Vec<(String, String)> {
    [
        ("ARKOR_SIM_STEP_MS", "20".to_string()),
        ("ARKOR_SIM_START_MS", "50".to_string()),
        ("ARKOR_SIM_CANCEL_MS", "10".to_string()),
        ("ARKOR_SIM_CHECKPOINT_EVERY", checkpoint_every.to_string()),
        ("ARKOR_SIM_MAX_STEPS", "1000000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub struct TestEngine {
    pub handle: EngineHandle,
    join: Option<tokio::task::JoinHandle<()>>,
    /// Subscribed before the engine could publish anything.
    pub events: broadcast::Receiver<EngineEvent>,
    pub project: Project,
    pub dir: tempfile::TempDir,
}

pub struct Options {
    pub run_on_ready: bool,
    pub stop_timeout: Duration,
    pub run_env: Vec<(String, String)>,
    pub on_config_change: ConfigChangePolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            run_on_ready: true,
            stop_timeout: Duration::from_secs(20),
            run_env: fast_sim_env(5),
            on_config_change: ConfigChangePolicy::Restart,
        }
    }
}

impl TestEngine {
    pub fn start(options: Options) -> TestEngine {
        let dir = tempfile::tempdir().expect("temp project dir");
        arkor_tui::assets::write_demo_project(dir.path()).expect("demo project written");
        let project = Project::at(dir.path()).expect("project");
        let node = project::find_node().expect("node >= 20 on PATH");
        let (handle, join) = engine::start(EngineConfig {
            project: project.clone(),
            on_config_change: options.on_config_change,
            node: node.path,
            stop_timeout: options.stop_timeout,
            run_on_ready: options.run_on_ready,
            run_env: options.run_env,
            cloud: None,
        });
        // The engine publishes nothing before its first build finishes, which takes far
        // longer than this subscription.
        let events = handle.subscribe();
        TestEngine {
            handle,
            join: Some(join),
            events,
            project,
            dir,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Replace `from` by `to` in a project file (the file must contain `from`), saving it
    /// atomically (temp file + rename). An in-place write truncates first, and the build loop
    /// starts building on the first change without a debounce window, so a writer preempted
    /// between truncate and write lets a build see an empty file (a transient `error`); the
    /// burst test covers in-place saves, the others want one deterministic build per edit.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.path(rel);
        let text = std::fs::read_to_string(&path).expect("read source");
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        let tmp = path.with_extension("ts.arkor-test-tmp");
        std::fs::write(&tmp, text.replacen(from, to, 1)).expect("write temp source");
        std::fs::rename(&tmp, &path).expect("rename over the source");
    }

    /// Save a config edit of the trainer and wait for its rebuild, which must early-stop
    /// `pid` for a restart.
    pub async fn edit_config_restarting(&mut self, from: &str, to: &str, pid: u32) {
        self.edit(TRAINER, from, to);
        let rebuild = self.next_dev().await;
        let (_, dispatch) = built_parts(&rebuild).expect("a build");
        assert_eq!(dispatch.expect("dispatched").restart_targets[0].pid, pid);
    }

    /// Wait for an engine event matching `pick`; everything before it is consumed.
    pub async fn next_event<T>(&mut self, mut pick: impl FnMut(&EngineEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Ok(ev)) => {
                    if let Some(found) = pick(&ev) {
                        return found;
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => panic!("engine events closed"),
                Err(_) => panic!("timed out waiting for an engine event"),
            }
        }
    }

    /// The next dev event (ready / rebuild / error).
    pub async fn next_dev(&mut self) -> Arc<DevEvent> {
        self.next_event(|ev| match ev {
            EngineEvent::Dev(dev) => Some(dev.clone()),
            _ => None,
        })
        .await
    }

    /// Wait until the run with `pid` satisfies `cond` (checked on the snapshot).
    pub async fn wait_run(&self, pid: u32, what: &str, cond: impl Fn(&RunInfo) -> bool) -> RunInfo {
        wait_until(what, || self.run(pid).filter(|r| cond(r))).await
    }

    pub fn run(&self, pid: u32) -> Option<RunInfo> {
        self.handle.snapshot().run(pid).map(|r| (**r).clone())
    }

    /// Wait until the engine lists a run satisfying `cond`; the first such one.
    pub async fn wait_for_run(&self, what: &str, cond: impl Fn(&RunInfo) -> bool) -> RunInfo {
        wait_until(what, || {
            self.handle
                .snapshot()
                .runs
                .iter()
                .find(|r| cond(r))
                .map(|r| (**r).clone())
        })
        .await
    }

    /// The first engine-owned run, once it has its job id (so it can take a hot-swap).
    pub async fn first_running_run(&self) -> RunInfo {
        self.wait_for_run("a running run", |r| r.state == RunState::Running)
            .await
    }

    /// Stored log lines of a run that contain `needle`.
    pub fn log_count(&self, pid: u32, needle: &str) -> usize {
        self.handle.logs().with(pid, |log| {
            log.map(|l| {
                l.lines()
                    .iter()
                    .filter(|line| line.text.contains(needle))
                    .count()
            })
            .unwrap_or(0)
        })
    }

    pub fn log_text(&self, pid: u32) -> String {
        self.handle.logs().with(pid, |log| {
            log.map(|l| {
                l.lines()
                    .iter()
                    .map(|line| line.text.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
        })
    }

    /// Graceful-then-forced shutdown; asserts the engine ends and every run is gone.
    pub async fn shutdown(mut self) {
        self.handle.send(Command::Shutdown { force: true });
        let join = self.join.take().expect("not shut down yet");
        tokio::time::timeout(WAIT, join)
            .await
            .expect("engine stops in time")
            .expect("engine task did not panic");
        for run in self.handle.snapshot().runs {
            assert!(
                matches!(run.state, RunState::Exited { .. }),
                "run {} still {:?} after shutdown",
                run.pid,
                run.state
            );
            assert!(!pid_alive(run.pid), "run {} outlived the engine", run.pid);
        }
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        if self.join.is_none() {
            return;
        }
        // A failed test: kill what we started (each run leads its own process group).
        for run in self.handle.snapshot().runs {
            if pid_alive(run.pid) {
                // SAFETY: plain syscall on a process group this test's engine created.
                unsafe {
                    libc::kill(-(run.pid as i32), libc::SIGKILL);
                }
            }
        }
    }
}

/// Whether `run` is the engine's restart of `pid`.
pub fn replaces(run: &RunInfo, pid: u32) -> bool {
    run.restarted_from.as_ref().is_some_and(|r| r.from == pid)
}

pub fn is_exit(run: &RunInfo, status: ExitStatus) -> bool {
    run.state == RunState::Exited { status }
}

/// The content hash and dispatch of a `rebuild`/`ready` event, `None` for errors.
pub fn built_parts(
    dev: &DevEvent,
) -> Option<(
    &arkor_tui::core::events::BuiltArtifact,
    Option<&arkor_tui::core::events::DispatchOutcome>,
)> {
    match dev {
        DevEvent::Built {
            artifact, dispatch, ..
        } => Some((artifact, dispatch.as_ref())),
        DevEvent::Error { .. } => None,
    }
}
