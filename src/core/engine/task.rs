//! The engine task: one loop that owns every piece of mutable dev-loop state.
//!
//! Inputs: front-end [`Command`]s, build-loop events, child events, and its own timers.
//! Outputs: [`EngineEvent`]s, dev events (SSE), snapshots, and (only here) signals to
//! children, through [`Processes`]. Timers are data: each run's record holds its deadlines
//! (the SIGKILL of a stop that takes too long, the kill of an abandoned Studio run) and the
//! loop sleeps until the earliest one, so nothing else sleeps on the engine's behalf.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ports::{Builds, CloudJobs, Processes};
use super::run::{RestartKind, Run, Stop, restart_cause};
use super::{BuildStatus, Command, EngineSnapshot, RunHandle, Shared, StartRunError};
use crate::core::cloud::CloudEnv;
use crate::core::cloud::cancel::CancelSnapshot;
use crate::core::events::{
    BuiltArtifact, ConfigChange, DevEvent, EngineEvent, ExitStatus, NoticeLevel, Restart,
    RestartCause, RunOrigin, RunState,
};
use crate::core::hash;
use crate::core::logs::{LogStream, MAX_EXITED_RUNS_KEPT};
use crate::core::project::SdkError;
use crate::core::registry::{self, ChildRecord, ExitFacts, NextStep, SignalOutcome};
use crate::core::run_output;
use crate::core::stackmap::StackMapper;
use crate::core::supervisor::{ChildEvent, SpawnSpec};
use crate::core::watch::BuildLoopEvent;

/// How long an abandoned HTTP run may wait for its job id before it is killed (SPEC §6).
pub const ABANDON_JOB_ID_WAIT: Duration = Duration::from_secs(2);

/// Backstop for a config-change restart (SIGTERM from dispatch): the runner itself gives up
/// waiting for the checkpoint after 5 minutes and cancels, so escalate only after that.
pub const RESTART_ESCALATION_TIMEOUT: Duration = Duration::from_secs(5 * 60 + 30);

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub project: crate::core::project::Project,
    /// The `node` binary runs are started with.
    pub node: PathBuf,
    /// SIGTERM → SIGKILL escalation for a stop the user asked for (stop key, quit).
    pub stop_timeout: Duration,
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
        Self {
            run_on_ready_pending: config.run_on_ready,
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
        }
    }

    pub(super) async fn run(mut self, mut inputs: Inputs) {
        let mut commands_open = true;
        let mut builds_open = true;
        loop {
            self.publish_snapshot_if_dirty();
            if self.shutting_down && !self.any_alive() {
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
                () = sleep_until(deadline), if deadline.is_some() => self.on_timers(Instant::now()),
            }
        }
        // Runs are gone; now release the watcher and the inspector (SPEC §9 order).
        self.builds.shutdown().await;
        self.publish_snapshot_if_dirty();
        let _ = self.shared.events.send(EngineEvent::Stopped);
    }

    fn any_alive(&self) -> bool {
        self.runs.iter().any(Run::alive)
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
            Command::StopRun { pid, force } => self.stop_run(pid, force, false),
            Command::RestartRun { pid } => self.stop_run(pid, false, true),
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
            SdkError::NotInstalled { root } => StartRunError::NoSdk(root.display().to_string()),
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
        // (SPEC §10.29), and with the content hash of the artifact on disk right now.
        let mut record = ChildRecord::new(
            pid,
            origin,
            self.last_good.as_ref().and_then(|a| a.config_hash.clone()),
            content_hash,
        );
        record.config = self.last_good.as_ref().and_then(|a| a.config.clone());
        let mut run = Run::new(
            record,
            self.last_good.as_ref().and_then(|a| a.trainer_name.clone()),
            SystemTime::now(),
        );
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
        run.stack_mapper = Some(stack_mapper);
        self.runs.push(run);
        self.system_log(pid, format!("arkor: run {pid} {how}"));
        self.publish_run(pid);
        Ok(RunHandle { pid, output })
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

    /// Graceful (SIGTERM, SIGKILL at the deadline) or forced (SIGKILL) stop; with
    /// `then_restart` the engine starts a replacement once the run has stopped cleanly.
    fn stop_run(&mut self, pid: u32, force: bool, then_restart: bool) {
        let shutting_down = self.shutting_down;
        let stop_timeout = self.config.stop_timeout;
        let Some(run) = self.run_mut(pid) else {
            self.notice(NoticeLevel::Warn, format!("no run with pid {pid}"));
            return;
        };
        if !run.alive() {
            return;
        }
        // A restart already asked for by a rebuild stays one (its cause is the config).
        run.restart_pending = if then_restart && !shutting_down {
            run.restart_pending.or(Some(RestartKind::Manual))
        } else {
            None
        };
        let early_stopping = run.state == RunState::EarlyStopping;
        if force || !early_stopping {
            run.record.early_stop_requested = true;
        }
        if force {
            self.processes.force_stop(pid);
            self.system_log(
                pid,
                "arkor: force stop (SIGKILL to the process group)".into(),
            );
            return;
        }
        if early_stopping {
            // Already waiting for its checkpoint; a second SIGTERM would lose it.
            self.publish_run(pid);
            return;
        }
        let delivered = self.processes.terminate(pid) == SignalOutcome::Delivered;
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        run.stop = delivered.then(|| Stop::new(Instant::now(), stop_timeout));
        run.set_state(RunState::EarlyStopping);
        let why = if then_restart {
            "restart requested"
        } else {
            "stop requested"
        };
        self.system_log(
            pid,
            format!(
                "arkor: {why}: SIGTERM sent, early-stopping at the next checkpoint (SIGKILL after {}s)",
                stop_timeout.as_secs()
            ),
        );
        self.publish_run(pid);
    }

    fn abandon_http_run(&mut self, pid: u32) {
        // The Studio's "Stop": the run leaves dispatch at once, and is killed once its job id
        // is known (the runner then has a job to cancel) or after the wait.
        let Some(run) = self.run_mut(pid) else {
            return;
        };
        run.abandoned = true;
        run.restart_pending = None;
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
            self.stop_run(pid, force, false);
        }
    }

    // ---- timers ---------------------------------------------------------------------------

    fn on_timers(&mut self, now: Instant) {
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
            // SPEC §10.32: nothing is broadcast once shutdown began.
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
            for target in &outcome.hot_swap_targets {
                let pid = target.pid;
                if let Some(run) = self.run_mut(pid) {
                    run.set_state(RunState::HotSwapped);
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
                let reason = match (&run.record.config, &artifact.config) {
                    (Some(old), Some(new)) => hash::config_changes(old, new),
                    _ => Vec::new(),
                };
                let same_config = run.record.same_config_as(artifact.config_hash.as_deref());
                run.restart_pending = (run.record.origin == RunOrigin::Engine)
                    .then_some(RestartKind::Rebuild { same_config });
                run.restart_reason = reason.clone();
                run.stop = Some(Stop::new(Instant::now(), RESTART_ESCALATION_TIMEOUT));
                run.set_state(RunState::EarlyStopping);
                self.system_log(pid, format!("arkor: {}", describe_restart(&reason)));
                self.publish_run(pid);
            }
        }
        if self.run_on_ready_pending {
            self.run_on_ready_pending = false;
            if let Err(e) = self.start_run(RunOrigin::Engine, None) {
                self.notice(NoticeLevel::Error, e.to_string());
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
                run.record.job_id = Some(id);
                let abandoned = run.abandoned;
                if run.state == RunState::Starting {
                    run.set_state(RunState::Running);
                }
                if abandoned {
                    self.kill_abandoned(pid);
                }
                self.publish_run(pid);
                self.finish_predecessor(pid);
            }
            ChildEvent::Exited { pid, status } => self.on_exit(pid, status),
        }
    }

    fn on_exit(&mut self, pid: u32, status: ExitStatus) {
        let shutting_down = self.shutting_down;
        let Some(run) = self.run_mut(pid).filter(|r| r.alive()) else {
            return;
        };
        run.exit_status = Some(status);
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
                    Ok(_) => return,
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

fn describe_restart(reason: &[ConfigChange]) -> String {
    if reason.is_empty() {
        return "job config changed (or the run was not ready for a hot-swap): SIGTERM sent, \
                early-stopping at the next checkpoint, then restarting"
            .into();
    }
    let changes: Vec<String> = reason.iter().map(ToString::to_string).collect();
    format!(
        "job config changed ({}): SIGTERM sent, early-stopping at the next checkpoint, then restarting",
        changes.join(", ")
    )
}
