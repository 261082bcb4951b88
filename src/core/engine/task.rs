//! The engine task: one loop that owns every piece of mutable dev-loop state.
//!
//! Inputs: front-end [`Command`]s, build-loop events, child events, and its own timers.
//! Outputs: [`EngineEvent`]s, dev events (SSE), snapshots, and (only here) signals to
//! children, through [`Processes`]. Timers are data: each run's record holds its deadlines
//! (the SIGKILL of a stop that takes too long, the kill of an abandoned Studio run) and the
//! loop sleeps until the earliest one, so nothing else sleeps on the engine's behalf.
//!
//! Each live run with a job id has a follower of the job's event stream; their batches come
//! in on one bounded channel (a follower whose batch waits pauses reading, it never queues
//! without bound) and are folded into the run's metrics here. A run that exits keeps its
//! follower for up to [`FOLLOWER_LINGER`], so the job's last frames (completed, failed, the
//! checkpoint it stopped at) are in its outcome.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ports::{Builds, CloudJobs, FollowTag, FollowerUpdates, Processes};
use super::run::{RestartKind, Run, Stop, restart_cause};
use super::{BuildStatus, Command, EngineSnapshot, RunHandle, Shared, StartRunError};
use crate::core::cloud::CloudEnv;
use crate::core::cloud::cancel::CancelSnapshot;
use crate::core::cloud::job_events::{
    FollowEnd, FollowerMessage, FollowerUpdate, StreamError, StreamHealth,
};
use crate::core::events::{
    BuiltArtifact, ConfigChange, DevEvent, DispatchOutcome, EngineEvent, ExitStatus, NoticeLevel,
    Restart, RestartCause, RunOrigin, RunState, StopCause,
};
use crate::core::hash;
use crate::core::logs::{LogStream, MAX_EXITED_RUNS_KEPT};
use crate::core::project::SdkError;
use crate::core::registry::{
    self, ChildRecord, ConfigChangePolicy, ExitFacts, NextStep, SignalOutcome,
};
use crate::core::run_files;
use crate::core::run_output;
use crate::core::stackmap::StackMapper;
use crate::core::supervisor::{ChildEvent, SpawnSpec};
use crate::core::training::{Applied, MarkerKind, max_steps_in_config};
use crate::core::watch::BuildLoopEvent;

/// How long an abandoned HTTP run may wait for its job id before it is killed (docs/protocol.md §7).
pub const ABANDON_JOB_ID_WAIT: Duration = Duration::from_secs(2);

/// Backstop for a config-change restart (SIGTERM from dispatch): the runner itself gives up
/// waiting for the checkpoint after 5 minutes and cancels, so escalate only after that (30 s
/// of slack for the cancel). The user's stop timeout never shortens it; a stop the user asks
/// for during it does.
pub const RESTART_ESCALATION_TIMEOUT: Duration = Duration::from_secs(5 * 60 + 30);

/// How long a run's follower may go on after the run exited, for the job's last frames (the
/// runner exits right after the cloud said `completed`, or after its stop's cancel). The
/// outcome waits for them, and so does the end of a shutdown, at most this long.
pub const FOLLOWER_LINGER: Duration = Duration::from_secs(3);

/// Follower batches waiting for the engine; past this a follower pauses reading.
const FOLLOWER_QUEUE: usize = 64;
/// Follower messages folded in before the loop looks at its other inputs again.
const FOLLOWER_MESSAGES_PER_TURN: usize = 32;

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub project: crate::core::project::Project,
    /// The `node` binary runs are started with.
    pub node: PathBuf,
    /// SIGTERM → SIGKILL escalation for a stop the user asked for (stop key, restart key,
    /// quit). Config-change restarts wait [`RESTART_ESCALATION_TIMEOUT`] instead.
    pub stop_timeout: Duration,
    /// What a rebuild that changes a live run's config does (`--on-config-change`).
    pub on_config_change: ConfigChangePolicy,
    /// Start one engine-owned run as soon as the first build is ready (`--run`, demo).
    pub run_on_ready: bool,
    /// Extra environment for runs (tests shorten the simulated SDK's timings with it).
    pub run_env: Vec<(String, String)>,
    /// Where credentials live, for the cloud cancel of runs that were killed before their
    /// runner could cancel the job itself. `None`: no cloud cancel (no home directory).
    pub cloud: Option<CloudEnv>,
}

pub(super) struct EngineTask<P, B, C> {
    config: EngineConfig,
    shared: Arc<Shared>,
    processes: P,
    builds: B,
    cloud_jobs: C,
    status: BuildStatus,
    seen_ready: bool,
    last_good: Option<BuiltArtifact>,
    /// Every run, live ones and recently exited ones, in the order they started (the order
    /// of dispatch and of the snapshot).
    runs: Vec<Run>,
    /// Exited pids in the order they finished, for bounded retention.
    finished_order: VecDeque<u32>,
    shutting_down: bool,
    run_on_ready_pending: bool,
    snapshot_dirty: bool,
    /// Every follower's sender (cloned per follower) and, until the loop starts, the receiver.
    follower_tx: FollowerUpdates,
    follower_rx: Option<mpsc::Receiver<FollowerMessage<FollowTag>>>,
    follow_serials: u64,
    /// The timeline said that the cloud's event streams cannot be reached, and has not said
    /// since that they are back: one notice per outage, however many runs and retries.
    cloud_down_said: bool,
    /// The config-change policy now in force (starts as the configured one; front ends
    /// change it with a command).
    policy: ConfigChangePolicy,
}

pub(super) struct Inputs {
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub builds: mpsc::Receiver<BuildLoopEvent>,
    pub children: mpsc::UnboundedReceiver<ChildEvent>,
}

impl<P: Processes, B: Builds, C: CloudJobs> EngineTask<P, B, C> {
    pub(super) fn new(
        config: EngineConfig,
        shared: Arc<Shared>,
        processes: P,
        builds: B,
        cloud_jobs: C,
    ) -> Self {
        let (follower_tx, follower_rx) = mpsc::channel(FOLLOWER_QUEUE);
        Self {
            run_on_ready_pending: config.run_on_ready,
            policy: config.on_config_change,
            config,
            shared,
            processes,
            builds,
            cloud_jobs,
            status: BuildStatus::Pending,
            seen_ready: false,
            last_good: None,
            runs: Vec::new(),
            finished_order: VecDeque::new(),
            shutting_down: false,
            snapshot_dirty: true,
            follower_tx,
            follower_rx: Some(follower_rx),
            follow_serials: 0,
            cloud_down_said: false,
        }
    }

    pub(super) async fn run(mut self, mut inputs: Inputs) {
        let mut commands_open = true;
        let mut builds_open = true;
        let Some(mut followers) = self.follower_rx.take() else {
            return;
        };
        loop {
            self.publish_snapshot_if_dirty();
            // Done once every run has ended and has its outcome (its follower had its grace).
            if self.shutting_down && !self.any_alive() && !self.any_outcome_pending() {
                break;
            }
            let deadline = self.runs.iter().filter_map(Run::next_deadline).min();
            tokio::select! {
                cmd = inputs.commands.recv(), if commands_open => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => {
                        // Every front end is gone: nobody can watch the runs any more.
                        commands_open = false;
                        self.begin_shutdown(false);
                    }
                },
                ev = inputs.builds.recv(), if builds_open => match ev {
                    Some(ev) => self.on_build(ev),
                    None => builds_open = false,
                },
                Some(ev) = inputs.children.recv() => self.on_child(ev),
                Some(message) = followers.recv() => {
                    self.on_follower(message);
                    // Batches already waiting join this turn; a bounded number, so a busy
                    // stream never keeps a command or a build waiting.
                    for _ in 1..FOLLOWER_MESSAGES_PER_TURN {
                        match followers.try_recv() {
                            Ok(message) => self.on_follower(message),
                            Err(_) => break,
                        }
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => self.on_timers(Instant::now()),
            }
        }
        // Nothing more to follow: stop any follower still running.
        for run in &mut self.runs {
            run.follower = None;
        }
        // Runs are gone; now release the watcher and the inspector (the order of docs/protocol.md §13).
        self.builds.shutdown().await;
        self.publish_snapshot_if_dirty();
        let _ = self.shared.events.send(EngineEvent::Stopped);
    }

    fn any_alive(&self) -> bool {
        self.runs.iter().any(Run::alive)
    }

    fn any_outcome_pending(&self) -> bool {
        self.runs.iter().any(|r| r.outcome_due.is_some())
    }

    fn run_mut(&mut self, pid: u32) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.pid() == pid)
    }

    fn run_ref(&self, pid: u32) -> Option<&Run> {
        self.runs.iter().find(|r| r.pid() == pid)
    }

    // ---- commands -------------------------------------------------------------------------

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Rebuild => {
                if !self.shutting_down {
                    self.builds.rebuild();
                }
            }
            Command::StartRun { origin, reply } => {
                let result = self.start_run(origin, None);
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result);
                    }
                    None => {
                        if let Err(e) = result {
                            self.notice(NoticeLevel::Error, e.to_string());
                        }
                    }
                }
            }
            Command::StopRun { pid, force } => self.stop_run(pid, force, None),
            Command::RestartRun { pid } => self.restart_run(pid),
            Command::SetConfigChangePolicy(policy) => self.set_policy(policy),
            Command::AbandonHttpRun { pid } => self.abandon_http_run(pid),
            Command::ClearLogs { pid } => self.shared.logs.clear(pid),
            Command::Shutdown { force } => self.begin_shutdown(force),
        }
    }

    fn start_run(
        &mut self,
        origin: RunOrigin,
        restarted_from: Option<Restart>,
    ) -> Result<RunHandle, StartRunError> {
        if self.shutting_down {
            return Err(StartRunError::ShuttingDown);
        }
        // The Studio's POST /api/train spawns regardless, as the reference does; a run the
        // engine starts itself waits for something to run.
        if origin == RunOrigin::Engine && self.last_good.is_none() {
            return Err(StartRunError::NoBuild);
        }
        let sdk = self.config.project.sdk().map_err(|e| match e {
            e @ SdkError::NotInstalled { .. } => StartRunError::NoSdk(e.to_string()),
            other => StartRunError::UnusableSdk(other.to_string()),
        })?;
        let (tap, output) = match origin {
            RunOrigin::Http => {
                let (tap, output) = run_output::channel(run_output::HTTP_OUTPUT_BUDGET);
                (Some(tap), Some(output))
            }
            RunOrigin::Engine => (None, None),
        };
        // The content hash of the artifact on disk right now: the one the run imports first.
        let content_hash = hash::file_content_hash(&self.config.project.out_file);
        let start_map = content_hash
            .as_deref()
            .and_then(|content_hash| self.shared.source_maps.get(content_hash));
        let stack_mapper = StackMapper::new(
            &self.config.project.out_file,
            start_map,
            self.shared.source_maps.clone(),
        );
        let spec = SpawnSpec {
            program: self.config.node.clone(),
            args: vec![sdk.bin.clone().into_os_string(), "start".into()],
            cwd: self.config.project.root.clone(),
            env: self.config.run_env.clone(),
            stack_mapper: Some(stack_mapper.clone()),
        };
        let pid = self
            .processes
            .spawn(spec, tap)
            .map_err(|e| StartRunError::Spawn(e.to_string()))?;
        self.forget_reused_pid(pid);
        // New runs spawn with the last good build's config hash, even after an error
        // (docs/protocol.md D29), and with the content hash of the artifact on disk right now.
        let mut record = ChildRecord::new(
            pid,
            origin,
            self.last_good.as_ref().and_then(|a| a.config_hash.clone()),
            content_hash,
        );
        record.config = self.last_good.as_ref().and_then(|a| a.config.clone());
        let max_steps = record.config.as_ref().and_then(max_steps_in_config);
        let mut run = Run::new(
            record,
            self.last_good.as_ref().and_then(|a| a.trainer_name.clone()),
            SystemTime::now(),
        )
        .with_max_steps(max_steps);
        run.cancel = self
            .config
            .cloud
            .clone()
            .map(|env| CancelSnapshot::capture_in(&self.config.project.root, env));
        let how = match (&restarted_from, origin) {
            (Some(restart), _) => match restart.cause {
                RestartCause::ConfigChanged { ref changes } if !changes.is_empty() => {
                    format!(
                        "restarted (replaces pid {}) with the new config",
                        restart.from
                    )
                }
                RestartCause::ConfigUnknown => {
                    format!(
                        "restarted (replaces pid {}) with the new config",
                        restart.from
                    )
                }
                _ => format!("restarted (replaces pid {})", restart.from),
            },
            (None, RunOrigin::Http) => "started from the Studio".to_string(),
            (None, RunOrigin::Engine) => "started".to_string(),
        };
        run.restarted_from = restarted_from;
        run.log_file = self.open_log_file(pid, run.started_at);
        run.stack_mapper = Some(stack_mapper);
        self.runs.push(run);
        self.system_log(pid, format!("arkor: run {pid} {how}"));
        self.publish_run(pid);
        Ok(RunHandle { pid, output })
    }

    /// Start writing the run's output to `.arkor/runs/<start>-<pid>.log` (after pruning old
    /// files). A failure costs only the file: the run goes on, with a notice.
    fn open_log_file(&self, pid: u32, started_at: SystemTime) -> Option<PathBuf> {
        let path = run_files::path_for(&self.config.project.root, started_at, pid);
        if let Some(dir) = path.parent()
            && dir.is_dir()
            && let Err(e) = run_files::prune(dir, run_files::KEEP_FILES - 1, run_files::KEEP_BYTES)
        {
            tracing::warn!("could not prune {}: {e}", dir.display());
        }
        match run_files::RunFile::create(&path) {
            Ok(file) => {
                self.shared.logs.attach_file(pid, file);
                Some(path)
            }
            Err(e) => {
                self.notice(
                    NoticeLevel::Warn,
                    format!(
                        "run {pid}: its output is not saved to {}: {e}",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    /// A pid the OS handed out again: the exited run that had it leaves the table (front ends
    /// know runs by pid). Its log was already cleared by the supervisor.
    fn forget_reused_pid(&mut self, pid: u32) {
        let before = self.runs.len();
        self.runs.retain(|r| r.pid() != pid);
        if self.runs.len() != before {
            self.finished_order.retain(|&p| p != pid);
            self.snapshot_dirty = true;
        }
    }

    /// The restart key: a live run early-stops and is replaced once it exits; a finished run
    /// is started again. A run holding a config change restarts as a config change (its
    /// label names the change, and the stop waits as long as the runner allows).
    fn restart_run(&mut self, pid: u32) {
        let Some(run) = self.run_ref(pid) else {
            self.notice(NoticeLevel::Warn, format!("no run with pid {pid}"));
            return;
        };
        if run.alive() {
            let kind = if run.pending_config.is_some() {
                RestartKind::Rebuild { same_config: false }
            } else {
                RestartKind::Manual
            };
            self.stop_run(pid, false, Some(kind));
            return;
        }
        let restart = Restart {
            from: pid,
            cause: RestartCause::Manual,
        };
        if let Err(e) = self.start_run(RunOrigin::Engine, Some(restart)) {
            self.notice(
                NoticeLevel::Error,
                format!("run {pid} not started again: {e}"),
            );
        }
    }

    /// Graceful (SIGTERM, SIGKILL at the deadline) or forced (SIGKILL) stop; with `restart`
    /// the engine starts a replacement once the run has stopped cleanly.
    fn stop_run(&mut self, pid: u32, force: bool, restart: Option<RestartKind>) {
        let shutting_down = self.shutting_down;
        let config_restart = matches!(restart, Some(RestartKind::Rebuild { .. }));
        let (cause, timeout) = match restart {
            _ if shutting_down => (StopCause::Shutdown, self.config.stop_timeout),
            None => (StopCause::User, self.config.stop_timeout),
            Some(_) if config_restart => (StopCause::ConfigChange, RESTART_ESCALATION_TIMEOUT),
            Some(_) => (StopCause::Restart, self.config.stop_timeout),
        };
        let Some(run) = self.run_mut(pid) else {
            self.notice(NoticeLevel::Warn, format!("no run with pid {pid}"));
            return;
        };
        if !run.alive() {
            return;
        }
        run.stopped_by_user = true;
        // A restart already asked for by a rebuild stays one (its cause is the config).
        run.restart_pending = match restart {
            Some(kind) if !shutting_down => run.restart_pending.or(Some(kind)),
            _ => None,
        };
        run.pending_config = None;
        run.dispatch_deferred = false;
        let early_stopping = run.state == RunState::EarlyStopping;
        if force || !early_stopping {
            run.record.early_stop_requested = true;
        }
        if force {
            run.stop_cause = Some(cause);
            self.processes.force_stop(pid);
            self.system_log(
                pid,
                "arkor: force stop (SIGKILL to the process group)".into(),
            );
            self.publish_run(pid);
            return;
        }
        if early_stopping {
            // Already waiting for its checkpoint; a second SIGTERM would lose it. A stop the
            // user asks for now is theirs: it waits the stop timeout, not the runner's 5 min.
            // A restart key press changes nothing here: the run restarts either way.
            let users_stop = restart.is_none() || shutting_down;
            let now = Instant::now();
            let shortened = run
                .stop
                .filter(|s| users_stop && s.kill_at > now + timeout)
                .map(|s| s.shortened(now, timeout));
            if users_stop {
                run.stop_cause = Some(cause);
            }
            if let Some(stop) = shortened {
                run.stop = Some(stop);
                self.system_log(
                    pid,
                    format!(
                        "arkor: {}: already early-stopping; SIGKILL now after {}s (the stop timeout) if the checkpoint does not come",
                        cause.describe(),
                        timeout.as_secs()
                    ),
                );
            }
            self.publish_run(pid);
            return;
        }
        let delivered = self.processes.terminate(pid) == SignalOutcome::Delivered;
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        run.stop = delivered.then(|| Stop::new(Instant::now(), timeout));
        run.stop_cause = Some(cause);
        run.set_state(RunState::EarlyStopping);
        if delivered {
            run.metrics
                .write(|m| m.mark(MarkerKind::EarlyStopRequested, SystemTime::now()));
        }
        self.system_log(
            pid,
            format!(
                "arkor: {}: SIGTERM sent, early-stopping at the next checkpoint (SIGKILL after {}s)",
                cause.describe(),
                timeout.as_secs()
            ),
        );
        self.publish_run(pid);
    }

    /// A front end changed the config-change policy. Switching to `restart` dispatches the
    /// runs that hold a change, as the build would have.
    fn set_policy(&mut self, policy: ConfigChangePolicy) {
        if self.policy == policy {
            return;
        }
        self.policy = policy;
        self.snapshot_dirty = true;
        self.notice(NoticeLevel::Info, format!("on a config change: {policy}"));
        let held: Vec<u32> = self
            .runs
            .iter()
            .filter(|r| r.dispatchable() && r.pending_config.is_some())
            .map(Run::pid)
            .collect();
        self.redispatch(&held);
    }

    fn abandon_http_run(&mut self, pid: u32) {
        // The Studio's "Stop": the run leaves dispatch at once, and is killed once its job id
        // is known (the runner then has a job to cancel) or after the wait.
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        run.abandoned = true;
        run.restart_pending = None;
        run.stop_cause = Some(StopCause::Studio);
        if !run.alive() {
            return;
        }
        if run.record.job_id.is_some() {
            self.kill_abandoned(pid);
        } else {
            run.abandon_deadline = Some(Instant::now() + ABANDON_JOB_ID_WAIT);
        }
    }

    fn kill_abandoned(&mut self, pid: u32) {
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        run.abandon_deadline = None;
        if run.alive() {
            self.processes.force_stop(pid);
            self.system_log(pid, "arkor: stopped from the Studio (SIGKILL)".into());
        }
    }

    fn begin_shutdown(&mut self, force: bool) {
        if !self.shutting_down {
            self.shutting_down = true;
            self.snapshot_dirty = true;
            let _ = self.shared.events.send(EngineEvent::ShuttingDown);
        }
        let alive: Vec<u32> = self
            .runs
            .iter()
            .filter(|r| r.alive())
            .map(Run::pid)
            .collect();
        for pid in alive {
            self.stop_run(pid, force, None);
        }
    }

    // ---- timers ---------------------------------------------------------------------------

    fn on_timers(&mut self, now: Instant) {
        let outcomes_due: Vec<u32> = self
            .runs
            .iter()
            .filter(|r| r.outcome_due.is_some_and(|at| at <= now))
            .map(Run::pid)
            .collect();
        for pid in outcomes_due {
            self.conclude(pid);
        }
        let due: Vec<(u32, bool, bool)> = self
            .runs
            .iter()
            .filter(|r| r.alive())
            .map(|r| {
                let abandon = r.abandon_deadline.is_some_and(|at| at <= now);
                let escalate = !r.escalated && r.stop.is_some_and(|s| s.kill_at <= now);
                (r.pid(), abandon, escalate)
            })
            .filter(|(_, abandon, escalate)| *abandon || *escalate)
            .collect();
        for (pid, abandon, escalate) in due {
            if abandon {
                self.kill_abandoned(pid);
            }
            if escalate {
                self.escalate(pid, now);
            }
        }
    }

    /// The stop's deadline passed with the run still alive: SIGKILL its group.
    fn escalate(&mut self, pid: u32, now: Instant) {
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        run.escalated = true;
        let Some(stop) = run.stop else {
            return;
        };
        if self.processes.force_stop(pid) != SignalOutcome::Delivered {
            return; // already gone: its exit is on the way
        }
        let waited = now.saturating_duration_since(stop.since);
        self.system_log(
            pid,
            format!(
                "still running {:.1} s after SIGTERM: sent SIGKILL",
                waited.as_secs_f32()
            ),
        );
        self.notice(
            NoticeLevel::Warn,
            format!(
                "run {pid} did not stop within {}s of SIGTERM: sent SIGKILL (its last checkpoint may be lost)",
                stop.timeout.as_secs()
            ),
        );
    }

    // ---- builds ---------------------------------------------------------------------------

    fn on_build(&mut self, ev: BuildLoopEvent) {
        if self.shutting_down {
            // docs/protocol.md D32: nothing is broadcast once shutdown began.
            return;
        }
        match ev {
            BuildLoopEvent::Started => {
                self.status = BuildStatus::Building;
                self.snapshot_dirty = true;
                let _ = self.shared.events.send(EngineEvent::BuildStarted);
            }
            BuildLoopEvent::Built(artifact) => self.on_built(artifact),
            BuildLoopEvent::Failed { message, .. } => {
                self.status = BuildStatus::Error(message.clone());
                self.publish_dev(DevEvent::Error { message });
            }
        }
    }

    fn on_built(&mut self, artifact: BuiltArtifact) {
        let first = !self.seen_ready;
        self.seen_ready = true;
        if first {
            self.adopt_first_build(&artifact);
        }
        let hashes_before: Vec<(u32, Option<String>)> = self
            .runs
            .iter()
            .filter(|r| r.dispatchable())
            .map(|r| (r.pid(), r.record.config_hash.clone()))
            .collect();
        let dispatch = self.runs.iter().any(Run::dispatchable).then(|| {
            registry::dispatch(
                self.runs
                    .iter_mut()
                    .filter(|r| r.dispatchable())
                    .map(|r| &mut r.record),
                &artifact,
                &self.processes,
                self.policy.dispatch(),
            )
        });
        self.status = BuildStatus::Ok;
        // A run without a job id may not have imported the artifact yet (the runner prints
        // the job marker after its import): which build it runs is now unknown.
        for run in self
            .runs
            .iter()
            .filter(|r| r.alive() && r.record.job_id.is_none())
        {
            if let Some(mapper) = &run.stack_mapper {
                mapper.forget_start_map_unless(artifact.content_hash.as_deref());
            }
        }
        // Publish the frame first, then the per-run consequences, so every front end
        // reads "rebuild → hot-swapped / early-stopping" in cause-and-effect order.
        self.last_good = Some(artifact.clone());
        self.publish_dev(DevEvent::Built {
            first,
            artifact: artifact.clone(),
            dispatch: dispatch.clone(),
        });
        // A run that adopted this build's configHash (same bytes) changed too: front ends
        // show its config.
        for (pid, before) in hashes_before {
            if self
                .run_ref(pid)
                .is_some_and(|r| r.record.config_hash != before)
            {
                self.publish_run(pid);
            }
        }
        if let Some(outcome) = &dispatch {
            let dispatched: Vec<u32> = self
                .runs
                .iter()
                .filter(|r| r.dispatchable())
                .map(Run::pid)
                .collect();
            self.apply_dispatch(&artifact, outcome, &dispatched);
        }
        if self.run_on_ready_pending {
            self.run_on_ready_pending = false;
            if let Err(e) = self.start_run(RunOrigin::Engine, None) {
                self.notice(NoticeLevel::Error, e.to_string());
            }
        }
    }

    /// Runs started over `/api/train` before the first build ran the source of that moment,
    /// which the first build is of: they take its hashes instead of being dispatched by it
    /// (their runner may not have its signal handlers yet, and a signal would kill it).
    fn adopt_first_build(&mut self, artifact: &BuiltArtifact) {
        for run in self.runs.iter_mut().filter(|r| r.dispatchable()) {
            let record = &mut run.record;
            if record.config_hash.is_none() && record.content_hash.is_none() {
                record.config_hash = artifact.config_hash.clone();
                record.content_hash = artifact.content_hash.clone();
                record.config = artifact.config.clone();
            }
        }
    }

    /// Dispatch the last good build again to `pids` (runs that were not ready for it, or
    /// held its config change), as if it had just been built.
    fn redispatch(&mut self, pids: &[u32]) {
        let Some(artifact) = self.last_good.clone() else {
            return;
        };
        if pids.is_empty() {
            return;
        }
        let outcome = registry::dispatch(
            self.runs
                .iter_mut()
                .filter(|r| r.dispatchable() && pids.contains(&r.pid()))
                .map(|r| &mut r.record),
            &artifact,
            &self.processes,
            self.policy.dispatch(),
        );
        self.apply_dispatch(&artifact, &outcome, pids);
    }

    /// What a dispatch of `artifact` to the runs `dispatched` did to each of them.
    fn apply_dispatch(
        &mut self,
        artifact: &BuiltArtifact,
        outcome: &DispatchOutcome,
        dispatched: &[u32],
    ) {
        for target in &outcome.hot_swap_targets {
            let pid = target.pid;
            if let Some(run) = self.run_mut(pid) {
                run.set_state(RunState::HotSwapped);
                run.pending_config = None;
                run.dispatch_deferred = false;
                run.metrics
                    .write(|m| m.mark(MarkerKind::HotSwap, SystemTime::now()));
            }
            self.system_log(
                pid,
                "arkor: callbacks changed, config unchanged: SIGUSR2 sent (hot-swap)".into(),
            );
            self.publish_run(pid);
        }
        for target in &outcome.restart_targets {
            let pid = target.pid;
            let Some(run) = self.run_mut(pid) else {
                continue;
            };
            let reason = config_diff(&run.record, artifact);
            run.restart_pending = (run.record.origin == RunOrigin::Engine)
                .then_some(RestartKind::Rebuild { same_config: false });
            run.restart_reason = reason.clone();
            run.stop = Some(Stop::new(Instant::now(), RESTART_ESCALATION_TIMEOUT));
            run.stop_cause = Some(StopCause::ConfigChange);
            run.pending_config = None;
            run.dispatch_deferred = false;
            run.set_state(RunState::EarlyStopping);
            run.metrics
                .write(|m| m.mark(MarkerKind::EarlyStopRequested, SystemTime::now()));
            self.system_log(pid, format!("arkor: {}", describe_restart(&reason)));
            self.publish_run(pid);
        }
        for &pid in &outcome.deferred {
            let Some(run) = self.run_mut(pid) else {
                continue;
            };
            if !std::mem::replace(&mut run.dispatch_deferred, true) {
                self.system_log(
                    pid,
                    "arkor: new build: not signalled before the runner is ready (job id); it gets the latest build then".into(),
                );
            }
        }
        let policy = self.policy;
        for &pid in &outcome.held {
            let Some(run) = self.run_mut(pid) else {
                continue;
            };
            let reason = config_diff(&run.record, artifact);
            run.dispatch_deferred = false;
            if run.pending_config.as_ref() != Some(&reason) {
                run.pending_config = Some(reason.clone());
                let changes = describe_changes(&reason);
                self.system_log(
                    pid,
                    format!(
                        "arkor: job config changed ({changes}): not restarted (--on-config-change={policy}); R restarts it with the new config"
                    ),
                );
                self.publish_run(pid);
            }
        }
        // Runs the build left alone (same bytes again, e.g. an edit reverted before its
        // signal went out) are no longer behind.
        for &pid in dispatched {
            if outcome.held.contains(&pid) || outcome.deferred.contains(&pid) {
                continue;
            }
            let Some(run) = self.run_mut(pid) else {
                continue;
            };
            let was_behind = run.pending_config.take().is_some();
            let was_waiting = std::mem::take(&mut run.dispatch_deferred);
            if was_behind || was_waiting {
                if !run.record.early_stop_requested && run.state == RunState::Running {
                    self.system_log(
                        pid,
                        "arkor: the config is back to the run's own: nothing to restart".into(),
                    );
                }
                self.publish_run(pid);
            }
        }
    }

    // ---- children -------------------------------------------------------------------------

    fn on_child(&mut self, ev: ChildEvent) {
        match ev {
            ChildEvent::LogsAppended { pid } => {
                let _ = self.shared.events.send(EngineEvent::Logs { pid });
            }
            ChildEvent::JobId { pid, id } => {
                let Some(run) = self.run_mut(pid).filter(|r| r.alive()) else {
                    return;
                };
                run.record.job_id = Some(id.clone());
                let abandoned = run.abandoned;
                let followed = run.cancel.is_some();
                if run.state == RunState::Starting {
                    run.set_state(RunState::Running);
                }
                let deferred = run.dispatch_deferred;
                let how = if followed {
                    "; following its training progress"
                } else {
                    ""
                };
                self.system_log(pid, format!("arkor: cloud job {id} started{how}"));
                self.follow(pid, id);
                if abandoned {
                    self.kill_abandoned(pid);
                }
                self.publish_run(pid);
                self.finish_predecessor(pid);
                if deferred && !abandoned {
                    // Its handlers are armed now: it gets the build it was not signalled for.
                    self.redispatch(&[pid]);
                }
            }
            ChildEvent::Exited { pid, status } => self.on_exit(pid, status),
        }
    }

    fn on_exit(&mut self, pid: u32, status: ExitStatus) {
        let shutting_down = self.shutting_down;
        let why = (status != ExitStatus::Code(0))
            .then(|| {
                self.shared.logs.with(pid, |log| {
                    log.and_then(|l| super::failure::reason(l.lines().iter()))
                })
            })
            .flatten();
        let Some(run) = self.run_mut(pid).filter(|r| r.alive()) else {
            return;
        };
        run.exit_status = Some(status);
        // Ended on its own (nobody asked it to stop) and not cleanly: say why.
        if status != ExitStatus::Code(0) && !run.record.early_stop_requested && !run.abandoned {
            run.failure = Some(match why {
                Some(why) => format!("{}: {why}", status.describe()),
                None => status.describe(),
            });
        }
        let decision = registry::after_exit(ExitFacts {
            status,
            job_id_known: run.record.job_id.is_some(),
            can_cancel_job: run.cancel.is_some(),
            restart_pending: run.restart_pending.is_some(),
            escalated: run.escalated,
            shutting_down,
        });
        let kind = run.restart_pending.take();
        if decision.cancel_cloud_job
            && let (Some(job_id), Some(snapshot)) = (run.record.job_id.clone(), run.cancel.clone())
        {
            self.cloud_jobs.cancel(pid, job_id, snapshot);
        }
        match (decision.next, kind) {
            (NextStep::Restart, Some(kind)) => {
                let Some(run) = self.run_ref(pid) else {
                    return;
                };
                let cause = restart_cause(kind, &run.record, self.last_good.as_ref());
                if let Some(run) = self.run_mut(pid) {
                    // From now on the reason is what the replacement actually changes.
                    run.restart_reason = match &cause {
                        RestartCause::ConfigChanged { changes } => changes.clone(),
                        _ => Vec::new(),
                    };
                    run.set_state(RunState::Restarting);
                }
                self.publish_run(pid);
                let restart = Restart { from: pid, cause };
                match self.start_run(RunOrigin::Engine, Some(restart)) {
                    Ok(successor) => {
                        if let Some(run) = self.run_mut(pid) {
                            run.replaced_by = Some(successor.pid);
                        }
                        self.settle_outcome_after_exit(pid);
                        return;
                    }
                    Err(e) => self.notice(
                        NoticeLevel::Error,
                        format!("restart of run {pid} failed: {e}"),
                    ),
                }
            }
            (NextStep::NotRestarted, _) => self.notice(
                NoticeLevel::Warn,
                format!(
                    "run {pid} {} while early-stopping for a restart: not restarted",
                    status.describe()
                ),
            ),
            _ => {}
        }
        self.settle_outcome_after_exit(pid);
        self.finish(pid);
        self.finish_predecessor(pid);
    }

    /// A replacement reached `Running` (or ended): its predecessor's `Restarting` is over.
    fn finish_predecessor(&mut self, pid: u32) {
        let Some(old) = self
            .run_ref(pid)
            .and_then(|r| r.restarted_from.as_ref())
            .map(|r| r.from)
        else {
            return;
        };
        if self
            .run_ref(old)
            .is_some_and(|r| r.state == RunState::Restarting)
        {
            self.finish(old);
        }
    }

    /// Mark a dead run `Exited` and keep at most `MAX_EXITED_RUNS_KEPT` of them.
    fn finish(&mut self, pid: u32) {
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        let Some(status) = run.exit_status else {
            return;
        };
        run.set_state(RunState::Exited { status });
        self.publish_run(pid);
        self.finished_order.push_back(pid);
        while self.finished_order.len() > MAX_EXITED_RUNS_KEPT {
            let Some(old) = self.finished_order.pop_front() else {
                break;
            };
            self.runs.retain(|r| r.pid() != old);
            self.shared.logs.remove(old);
            self.snapshot_dirty = true;
        }
    }

    // ---- training progress ----------------------------------------------------------------

    /// Start following the run's job, with the identity captured at its spawn.
    fn follow(&mut self, pid: u32, job_id: String) {
        self.follow_serials += 1;
        let serial = self.follow_serials;
        let updates = self.follower_tx.clone();
        let Some(run) = self.runs.iter_mut().find(|r| r.pid() == pid) else {
            return;
        };
        let Some(snapshot) = run.cancel.clone() else {
            return; // no cloud environment: nothing to follow with
        };
        run.follow_serial = serial;
        run.follower =
            Some(
                self.cloud_jobs
                    .follow(job_id, snapshot, FollowTag { pid, serial }, updates),
            );
    }

    fn on_follower(&mut self, message: FollowerMessage<FollowTag>) {
        let FollowTag { pid, serial } = message.tag;
        let Some(run) = self
            .run_mut(pid)
            .filter(|r| r.follow_serial == serial && r.follower.is_some())
        else {
            return; // a stopped follower's last words, or another run's
        };
        let ended = matches!(message.update, FollowerUpdate::Ended(_));
        let applied = run.metrics.write(|m| m.apply(message.update));
        if ended {
            run.follower = None;
        }
        match applied {
            Applied::Events { new, malformed } => {
                let first_malformed = malformed > 0 && !run.malformed_said;
                run.malformed_said |= malformed > 0;
                let job_id: Arc<str> = run.record.job_id.as_deref().unwrap_or_default().into();
                if !new.is_empty() {
                    if run.metrics_file.is_none()
                        && let Some(log_file) = &run.log_file
                    {
                        let path = run_files::metrics_path_for(log_file);
                        run.metrics_file = run_files::MetricsFile::open(&path)
                            .inspect_err(|e| {
                                tracing::warn!("cannot write {}: {e}", path.display());
                            })
                            .ok();
                    }
                    if let Some(file) = &mut run.metrics_file {
                        file.write_events(&job_id, &new);
                    }
                }
                let settled_by_verdict = !run.alive()
                    && run.outcome_due.is_some()
                    && new.iter().any(|e| e.is_terminal());
                if first_malformed {
                    self.system_log(
                        pid,
                        format!(
                            "arkor: skipped {malformed} unreadable frame(s) of the job's event stream (counted under the loss chart)"
                        ),
                    );
                }
                if !new.is_empty() || malformed > 0 {
                    let _ = self.shared.events.send(EngineEvent::Training {
                        pid,
                        job_id,
                        events: new.into(),
                    });
                }
                if settled_by_verdict {
                    self.conclude(pid);
                }
            }
            Applied::Health(StreamHealth::Down { error }) => self.stream_down(pid, &error),
            Applied::Health(StreamHealth::Live) => self.stream_up(pid),
            Applied::Ended(end) => {
                self.stream_gone(pid);
                match end {
                    FollowEnd::JobEnded => {}
                    FollowEnd::Rejected(error) => self.system_log(
                        pid,
                        format!("arkor: training progress not followed: the cloud refused the job's event stream ({error})"),
                    ),
                    FollowEnd::Unaddressable(why) => self.system_log(
                        pid,
                        format!("arkor: training progress not followed: {why}"),
                    ),
                }
                if self.run_ref(pid).is_some_and(|r| r.outcome_due.is_some()) {
                    self.conclude(pid);
                }
            }
        }
    }

    /// A follower cannot reach the cloud. Said once in the timeline, until the streams are
    /// back, whatever the number of runs and retries.
    fn stream_down(&mut self, pid: u32, error: &StreamError) {
        if let Some(run) = self.run_mut(pid) {
            run.stream_down = true;
        }
        if !self.cloud_down_said {
            self.cloud_down_said = true;
            self.notice(
                NoticeLevel::Warn,
                format!(
                    "training progress paused: {error} (retrying in the background; the runs themselves are not affected)"
                ),
            );
        }
    }

    fn stream_up(&mut self, pid: u32) {
        let was_down = self.run_mut(pid).is_some_and(|r| {
            let was = r.stream_down;
            r.stream_down = false;
            was
        });
        if was_down && self.cloud_down_said && !self.runs.iter().any(|r| r.stream_down) {
            self.cloud_down_said = false;
            self.notice(
                NoticeLevel::Info,
                "training progress is arriving from the cloud again".into(),
            );
        }
    }

    /// A follower is gone: its outage no longer counts (a later one is said again).
    fn stream_gone(&mut self, pid: u32) {
        if let Some(run) = self.run_mut(pid) {
            run.stream_down = false;
            run.follower = None;
        }
        if !self.runs.iter().any(|r| r.stream_down) {
            self.cloud_down_said = false;
        }
    }

    /// The run has exited: settle its outcome now, or give its follower a moment for the
    /// job's last frames when the stream is open.
    fn settle_outcome_after_exit(&mut self, pid: u32) {
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        let listening = run.follower.as_ref().is_some_and(|f| !f.is_finished()) && !run.stream_down;
        if listening {
            run.outcome_due = Some(Instant::now() + FOLLOWER_LINGER);
        } else {
            self.conclude(pid);
        }
    }

    /// Settle the exited run's outcome with what is known now, and stop its follower. A run
    /// whose exit is still being handled is published by that handling (once, with its new
    /// state and the outcome together).
    fn conclude(&mut self, pid: u32) {
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        let Some(kind) = run.outcome_kind() else {
            return;
        };
        run.outcome_due = None;
        let outcome = run.metrics.write(|m| m.conclude(kind).clone());
        let settled_state = matches!(run.state, RunState::Exited { .. } | RunState::Restarting);
        self.stream_gone(pid);
        self.system_log(pid, format!("arkor: run {pid} {}", outcome.describe()));
        if settled_state {
            self.publish_run(pid);
        }
    }

    // ---- publishing -----------------------------------------------------------------------

    fn publish_run(&mut self, pid: u32) {
        if let Some(run) = self.run_ref(pid) {
            let _ = self
                .shared
                .events
                .send(EngineEvent::Run(Arc::new(run.info())));
            self.snapshot_dirty = true;
        }
    }

    fn publish_dev(&mut self, event: DevEvent) {
        let event = Arc::new(event);
        self.shared.dev_events.publish(event.clone());
        let _ = self.shared.events.send(EngineEvent::Dev(event));
        self.snapshot_dirty = true;
    }

    fn notice(&self, level: NoticeLevel, message: String) {
        tracing::info!(?level, "{message}");
        let _ = self
            .shared
            .events
            .send(EngineEvent::Notice { level, message });
    }

    fn system_log(&self, pid: u32, text: String) {
        self.shared.logs.push(pid, LogStream::System, text);
        let _ = self.shared.events.send(EngineEvent::Logs { pid });
    }

    fn publish_snapshot_if_dirty(&mut self) {
        if !self.snapshot_dirty {
            return;
        }
        self.snapshot_dirty = false;
        let snapshot = EngineSnapshot {
            status: self.status.clone(),
            last_good: self.last_good.clone(),
            last_event: self.shared.dev_events.last(),
            runs: self.runs.iter().map(|r| Arc::new(r.info())).collect(),
            shutting_down: self.shutting_down,
            on_config_change: self.policy,
        };
        *self
            .shared
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = snapshot;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The keys that differ between a run's config and a build's (empty when either is unknown).
fn config_diff(record: &ChildRecord, artifact: &BuiltArtifact) -> Vec<ConfigChange> {
    match (&record.config, &artifact.config) {
        (Some(old), Some(new)) => hash::config_changes(old, new),
        _ => Vec::new(),
    }
}

fn describe_changes(reason: &[ConfigChange]) -> String {
    if reason.is_empty() {
        return "what changed is unknown".into();
    }
    let changes: Vec<String> = reason.iter().map(ToString::to_string).collect();
    changes.join(", ")
}

fn describe_restart(reason: &[ConfigChange]) -> String {
    format!(
        "job config changed ({}): SIGTERM sent, early-stopping at the next checkpoint (waits up to {} for it, as the runner does), then restarting",
        describe_changes(reason),
        crate::core::events::describe_duration(RESTART_ESCALATION_TIMEOUT)
    )
}
