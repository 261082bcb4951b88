//! The orchestrator: the only owner of mutable dev-loop state.
//!
//! Front ends hold an [`EngineHandle`]: they send [`Command`]s and read [`EngineEvent`]s
//! (or the replaying [`DevEvent`] bus for SSE). Nothing but the engine task signals a child.
//!
//! Inside: `task` is the loop; `run` is the one record per run (everything known about a run
//! lives there, and the [`RunInfo`] front ends see is derived from it); `ports` are the traits
//! the loop drives ([`Processes`], [`Builds`], [`CloudJobs`]), so `tests` can run it on paused
//! time with fakes.
//!
//! Training progress: once a run's job id is known, the engine follows the job's event stream
//! (one follower per live run, all feeding one engine input), folds each batch into the run's
//! metrics, and publishes `EngineEvent::Training`. Nothing in that path can hold up the build
//! loop, dispatch or a signal: followers run in their own tasks and only ever hand the engine
//! finished batches.

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::core::events::{BuiltArtifact, DevEvent, EngineEvent, ReplayBus, RunInfo, RunOrigin};
use crate::core::logs::LogStore;
use crate::core::project::Project;
use crate::core::stackmap::SourceMaps;

/// What a front end can ask of the engine.
#[derive(Debug)]
pub enum Command {
    /// Build now (the `r` key), even if no file changed.
    Rebuild,
    /// Start one run of the current artifact. `reply` gets the pid and, for HTTP runs,
    /// the raw output stream.
    StartRun {
        origin: RunOrigin,
        reply: Option<oneshot::Sender<Result<RunHandle, StartRunError>>>,
    },
    /// Early-stop (SIGTERM, escalated to SIGKILL after the stop timeout) or force-stop
    /// (SIGKILL) one run. A run that dies without ending its cloud job itself has the job
    /// cancelled by the engine once it is gone.
    StopRun { pid: u32, force: bool },
    /// Early-stop one run and start a replacement once it has exited (a finished run: start
    /// it again). A run holding a config change restarts with the new config.
    RestartRun { pid: u32 },
    /// What a rebuild that changes a live run's config does from now on.
    SetConfigChangePolicy(crate::core::registry::ConfigChangePolicy),
    /// An HTTP client dropped its `/api/train` body: docs/protocol.md §11 "Stop" (wait ≤ 2 s for the job
    /// id, SIGKILL, cloud cancel).
    AbandonHttpRun { pid: u32 },
    /// Clear a run's stored log lines.
    ClearLogs { pid: u32 },
    /// Stop everything (graceful first; `force` on the second request) and end the engine.
    Shutdown { force: bool },
}

pub use crate::core::run_output::{OutputReceiver, RunOutput};

#[derive(Debug)]
pub struct RunHandle {
    pub pid: u32,
    /// Present for runs that asked for their raw output (HTTP runs): a byte-budgeted queue
    /// that drops what a slow reader misses instead of holding up the run.
    pub output: Option<OutputReceiver>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StartRunError {
    #[error("the engine is shutting down; no new runs are started")]
    ShuttingDown,
    /// The project root has no `node_modules/arkor` (the message says how to install it).
    #[error("{0}")]
    NoSdk(String),
    /// `node_modules/arkor` is there but cannot be used (the message says why).
    #[error("{0}")]
    UnusableSdk(String),
    #[error("failed to start the runner: {0}")]
    Spawn(String),
    #[error(
        "nothing to run yet: the first build has not succeeded (fix the build error, or wait for it)"
    )]
    NoBuild,
}

/// Build status as front ends show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum BuildStatus {
    /// No build finished yet.
    #[default]
    Pending,
    Building,
    Ok,
    Error(String),
}

/// A consistent view of the engine's state for a front end that (re)attaches. The default is
/// the engine before its first build: nothing built, no runs.
#[derive(Clone, Debug, Default)]
pub struct EngineSnapshot {
    pub status: BuildStatus,
    /// The last successful build (kept across errors: new runs spawn with it, docs/protocol.md D29).
    pub last_good: Option<BuiltArtifact>,
    /// The last dev event (what SSE would replay).
    pub last_event: Option<Arc<DevEvent>>,
    /// Every run the engine knows, live ones and recently exited ones, oldest first.
    pub runs: Vec<Arc<RunInfo>>,
    pub shutting_down: bool,
    /// The config-change policy in force.
    pub on_config_change: crate::core::registry::ConfigChangePolicy,
}

impl EngineSnapshot {
    /// The run with this pid, if the engine still lists it.
    pub fn run(&self, pid: u32) -> Option<&Arc<RunInfo>> {
        self.runs.iter().find(|r| r.pid == pid)
    }
}

/// The state the engine shares read-only with front ends.
pub struct Shared {
    pub project: Project,
    pub logs: LogStore,
    /// Dev events with last-event replay (SSE, headless).
    pub dev_events: ReplayBus<Arc<DevEvent>>,
    /// Everything else, live only.
    pub events: broadcast::Sender<EngineEvent>,
    pub(crate) snapshot: Mutex<EngineSnapshot>,
    /// The builds' source maps, for the runs' stack traces (the builder adds, runs read).
    pub source_maps: SourceMaps,
}

/// A cheap, clonable handle to the running engine.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
}

impl EngineHandle {
    pub(crate) fn new(commands: mpsc::UnboundedSender<Command>, shared: Arc<Shared>) -> Self {
        Self { commands, shared }
    }

    /// Queue a command. Returns false when the engine has already ended.
    pub fn send(&self, cmd: Command) -> bool {
        self.commands.send(cmd).is_ok()
    }

    /// Start a run and wait for its pid.
    pub async fn start_run(&self, origin: RunOrigin) -> Result<RunHandle, StartRunError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::StartRun {
            origin,
            reply: Some(tx),
        }) {
            return Err(StartRunError::ShuttingDown);
        }
        rx.await.unwrap_or(Err(StartRunError::ShuttingDown))
    }

    pub fn project(&self) -> &Project {
        &self.shared.project
    }

    pub fn logs(&self) -> &LogStore {
        &self.shared.logs
    }

    /// The replaying dev-event bus (SSE): last event first, then live ones.
    pub fn subscribe_dev(&self) -> (Option<Arc<DevEvent>>, broadcast::Receiver<Arc<DevEvent>>) {
        self.shared.dev_events.subscribe()
    }

    /// Every engine event, live. Pair with [`EngineHandle::snapshot`] to (re)sync.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.shared.events.subscribe()
    }

    /// Show a message to the user in every front end (not part of the engine's state).
    pub fn notice(&self, level: crate::core::events::NoticeLevel, message: impl Into<String>) {
        let _ = self.shared.events.send(EngineEvent::Notice {
            level,
            message: message.into(),
        });
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        self.shared
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The receiving side of a detached handle: whoever holds it plays the engine.
pub struct DetachedEngine {
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub shared: Arc<Shared>,
}

impl DetachedEngine {
    /// Replace the snapshot front ends read.
    pub fn set_snapshot(&self, snapshot: EngineSnapshot) {
        *self
            .shared
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = snapshot;
    }
}

impl EngineHandle {
    /// A handle with no engine task behind it: the caller receives the commands and publishes
    /// events itself. The engine uses this to build its own handle; tests of a front end use
    /// it to drive exact event sequences.
    pub fn detached(project: Project) -> (EngineHandle, DetachedEngine) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            project,
            logs: LogStore::new(),
            dev_events: ReplayBus::new(1024),
            events,
            snapshot: Mutex::new(EngineSnapshot::default()),
            source_maps: SourceMaps::new(),
        });
        (
            EngineHandle::new(tx, shared.clone()),
            DetachedEngine {
                commands: rx,
                shared,
            },
        )
    }
}

mod failure;
mod ports;
mod run;
mod task;
#[cfg(test)]
mod tests;

pub use ports::{Builds, CloudJobClient, CloudJobs, FollowTag, FollowerUpdates, Processes};
pub use task::{ABANDON_JOB_ID_WAIT, EngineConfig, FOLLOWER_LINGER, RESTART_ESCALATION_TIMEOUT};

/// Start the engine on the current tokio runtime: the build loop begins at once.
/// The returned join handle completes after shutdown, when every run has ended and the
/// watcher and inspector are closed.
pub fn start(config: EngineConfig) -> (EngineHandle, tokio::task::JoinHandle<()>) {
    let (handle, detached) = EngineHandle::detached(config.project.clone());
    let inspector =
        crate::core::inspect::Inspector::start(crate::core::inspect::InspectorOptions::new(
            config.node.clone(),
            config.project.root.clone(),
        ));
    let builder = crate::core::build::Builder::with_source_maps(
        config.project.clone(),
        detached.shared.source_maps.clone(),
    )
    .keep_graph_above(crate::core::watch::kept_graph_threshold());
    let (build_loop, builds) = crate::core::watch::BuildLoop::spawn_with(builder, inspector);
    let (child_tx, children) = mpsc::unbounded_channel();
    let supervisor =
        crate::core::supervisor::Supervisor::new(detached.shared.logs.clone(), child_tx);
    let cloud_jobs = CloudJobClient {
        logs: detached.shared.logs.clone(),
        events: detached.shared.events.clone(),
        follower_options: Default::default(),
    };
    let task = task::EngineTask::new(
        config,
        detached.shared.clone(),
        supervisor,
        build_loop,
        cloud_jobs,
    );
    let join = tokio::spawn(task.run(task::Inputs {
        commands: detached.commands,
        builds,
        children,
    }));
    (handle, join)
}
