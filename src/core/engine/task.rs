//! The engine task: one loop that owns every piece of mutable dev-loop state.
//!
//! Inputs: front-end [`Command`]s, build-loop events, child events, and its own timers.
//! Outputs: [`EngineEvent`]s, dev events (SSE), snapshots, and — only here — signals to
//! children via the registry's dispatch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::{BuildStatus, Command, EngineSnapshot, RunHandle, Shared, StartRunError};
use crate::core::cloud::CloudEnv;
use crate::core::cloud::cancel::{CancelOutcome, CancelSnapshot, cancel_job};
use crate::core::events::{
    BuiltArtifact, ConfigChange, DevEvent, EngineEvent, ExitStatus, NoticeLevel, RunInfo,
    RunOrigin, RunState,
};
use crate::core::hash;
use crate::core::logs::{LogStream, MAX_EXITED_RUNS_KEPT};
use crate::core::project::{Project, SdkError};
use crate::core::registry::{ChildRecord, Registry};
use crate::core::run_output;
use crate::core::supervisor::{ChildEvent, RESTART_ESCALATION_TIMEOUT, SpawnSpec, Supervisor};
use crate::core::watch::{BuildLoopEvent, BuildLoopHandle};

/// How long an abandoned HTTP run may wait for its job id before it is killed (SPEC §6).
const ABANDON_JOB_ID_WAIT: Duration = Duration::from_secs(2);

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub project: Project,
    /// The `node` binary runs are started with.
    pub node: PathBuf,
    /// SIGTERM → SIGKILL escalation for a graceful stop.
    pub stop_timeout: Duration,
    /// Start one engine-owned run as soon as the first build is ready (`--run`, demo).
    pub run_on_ready: bool,
    /// Extra environment for runs (tests shorten the simulated SDK's timings with it).
    pub run_env: Vec<(String, String)>,
    /// Where credentials live, for the cloud cancel of runs that were killed before their
    /// runner could cancel the job itself. `None`: no cloud cancel (no home directory).
    pub cloud: Option<CloudEnv>,
}

/// Messages the engine's own timer tasks send back to it.
pub(super) enum Internal {
    AbandonDeadline { pid: u32 },
}

/// What the engine remembers per run beyond what the registry needs for dispatch.
struct RunMeta {
    info: RunInfo,
    /// JobConfig the run was spawned with (for the restart diff).
    config: Option<serde_json::Value>,
    /// Start a replacement when this run exits cleanly (engine-owned runs only).
    restart_pending: bool,
    /// SPEC §6 "Stop": kill once the job id is known (or the wait ran out).
    abandoned: bool,
    /// The stop was escalated to SIGKILL (the checkpoint was not waited for).
    escalated: bool,
    /// How long the pending early stop may take before SIGKILL (the user's stop timeout, or
    /// the longer restart escalation of a config-change dispatch).
    stop_timeout: Duration,
    /// How the process ended, kept while its replacement starts (state `Restarting`).
    exit_status: Option<ExitStatus>,
    alive: bool,
    /// Credentials and scope at spawn time, for the cloud cancel (SPEC §12.11).
    cancel: Option<CancelSnapshot>,
}

pub(super) struct EngineTask {
    config: EngineConfig,
    shared: Arc<Shared>,
    supervisor: Supervisor,
    registry: Registry,
    build_loop: BuildLoopHandle,
    status: BuildStatus,
    seen_ready: bool,
    last_good: Option<BuiltArtifact>,
    runs: BTreeMap<u32, RunMeta>,
    /// Finished pids in the order they finished, for bounded retention.
    finished_order: Vec<u32>,
    shutting_down: bool,
    run_on_ready_pending: bool,
    internal_tx: mpsc::UnboundedSender<Internal>,
    snapshot_dirty: bool,
}

pub(super) struct Inputs {
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub builds: mpsc::Receiver<BuildLoopEvent>,
    pub children: mpsc::UnboundedReceiver<ChildEvent>,
    pub internal: mpsc::UnboundedReceiver<Internal>,
}

impl EngineTask {
    pub(super) fn new(
        config: EngineConfig,
        shared: Arc<Shared>,
        supervisor: Supervisor,
        build_loop: BuildLoopHandle,
        internal_tx: mpsc::UnboundedSender<Internal>,
    ) -> Self {
        Self {
            run_on_ready_pending: config.run_on_ready,
            config,
            shared,
            supervisor,
            registry: Registry::new(),
            build_loop,
            status: BuildStatus::Pending,
            seen_ready: false,
            last_good: None,
            runs: BTreeMap::new(),
            finished_order: Vec::new(),
            shutting_down: false,
            internal_tx,
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
                Some(ev) = inputs.internal.recv() => self.on_internal(ev),
            }
        }
        // Runs are gone; now release the watcher and the inspector (SPEC §9 order).
        self.build_loop.shutdown().await;
        self.publish_snapshot_if_dirty();
        let _ = self.shared.events.send(EngineEvent::Stopped);
    }

    fn any_alive(&self) -> bool {
        self.runs.values().any(|m| m.alive)
    }

    // ---- commands -------------------------------------------------------------------------

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Rebuild => {
                if !self.shutting_down {
                    self.build_loop.rebuild();
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
        restarted_from: Option<u32>,
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
        let spec = SpawnSpec {
            program: self.config.node.clone(),
            args: vec![sdk.bin.clone().into_os_string(), "start".into()],
            cwd: self.config.project.root.clone(),
            env: self.config.run_env.clone(),
        };
        let child = self
            .supervisor
            .spawn(spec, tap)
            .map_err(|e| StartRunError::Spawn(e.to_string()))?;
        let pid = child.pid;
        // New runs spawn with the last good build's config hash, even after an error
        // (SPEC §10.29), and with the content hash of the artifact on disk right now.
        let config_hash = self.last_good.as_ref().and_then(|a| a.config_hash.clone());
        let content_hash = hash::file_content_hash(&self.config.project.out_file);
        self.registry.register(ChildRecord::new(
            pid,
            origin,
            config_hash.clone(),
            content_hash.clone(),
        ));
        let now = SystemTime::now();
        let info = RunInfo {
            pid,
            origin,
            trainer_name: self.last_good.as_ref().and_then(|a| a.trainer_name.clone()),
            job_id: None,
            config_hash,
            content_hash,
            state: RunState::Starting,
            started_at: now,
            state_since: now,
            kill_deadline: None,
            restart_reason: Vec::new(),
            restarted_from,
        };
        let how = match (origin, restarted_from) {
            (_, Some(old)) => {
                let predecessor_hash = self
                    .runs
                    .get(&old)
                    .and_then(|m| m.info.config_hash.as_ref());
                if predecessor_hash == info.config_hash.as_ref() {
                    format!("restarted (replaces pid {old})")
                } else {
                    format!("restarted (replaces pid {old}) with the new config")
                }
            }
            (RunOrigin::Http, None) => "started from the Studio".to_string(),
            (RunOrigin::Engine, None) => "started".to_string(),
        };
        self.system_log(pid, format!("arkor: run {pid} {how}"));
        self.runs.insert(
            pid,
            RunMeta {
                info,
                config: self.last_good.as_ref().and_then(|a| a.config.clone()),
                restart_pending: false,
                abandoned: false,
                escalated: false,
                stop_timeout: self.config.stop_timeout,
                exit_status: None,
                alive: true,
                cancel: self
                    .config
                    .cloud
                    .clone()
                    .map(|env| CancelSnapshot::capture_in(&self.config.project.root, env)),
            },
        );
        self.publish_run(pid);
        Ok(RunHandle { pid, output })
    }

    /// Graceful (SIGTERM, escalated after the timeout) or forced (SIGKILL) stop; with
    /// `then_restart` the engine starts a replacement once the run has exited cleanly.
    fn stop_run(&mut self, pid: u32, force: bool, then_restart: bool) {
        let Some(meta) = self.runs.get_mut(&pid) else {
            self.notice(NoticeLevel::Warn, format!("no run with pid {pid}"));
            return;
        };
        if !meta.alive {
            return;
        }
        meta.restart_pending = then_restart && !self.shutting_down;
        if force {
            self.registry.latch(pid);
            self.supervisor.force_stop(pid);
            self.system_log(
                pid,
                "arkor: force stop (SIGKILL to the process group)".into(),
            );
            return;
        }
        if matches!(meta.info.state, RunState::EarlyStopping) {
            // Already waiting for its checkpoint; a second SIGTERM would lose it.
            self.publish_run(pid);
            return;
        }
        self.registry.latch(pid);
        let deadline = self.supervisor.early_stop(pid, self.config.stop_timeout);
        let why = if then_restart {
            "restart requested"
        } else {
            "stop requested"
        };
        self.set_state(pid, RunState::EarlyStopping);
        if let Some(meta) = self.runs.get_mut(&pid) {
            meta.info.kill_deadline = deadline;
            meta.stop_timeout = self.config.stop_timeout;
        }
        self.system_log(
            pid,
            format!(
                "arkor: {why}: SIGTERM sent, early-stopping at the next checkpoint (SIGKILL after {}s)",
                self.config.stop_timeout.as_secs()
            ),
        );
        self.publish_run(pid);
    }

    fn abandon_http_run(&mut self, pid: u32) {
        // The Studio's "Stop": the run leaves dispatch at once (SPEC §6).
        self.registry.remove(pid);
        let Some(meta) = self.runs.get_mut(&pid) else {
            return;
        };
        meta.abandoned = true;
        meta.restart_pending = false;
        if !meta.alive {
            return;
        }
        if meta.info.job_id.is_some() {
            self.kill_abandoned(pid);
        } else {
            let tx = self.internal_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(ABANDON_JOB_ID_WAIT).await;
                let _ = tx.send(Internal::AbandonDeadline { pid });
            });
        }
    }

    fn kill_abandoned(&mut self, pid: u32) {
        if self.runs.get(&pid).is_some_and(|m| m.alive) {
            self.supervisor.force_stop(pid);
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
            .filter(|(_, m)| m.alive)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in alive {
            if let Some(meta) = self.runs.get_mut(&pid) {
                meta.restart_pending = false;
            }
            self.stop_run(pid, force, false);
        }
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
        let dispatch = if self.registry.is_empty() {
            None
        } else {
            Some(
                self.registry.dispatch(
                    artifact.config_hash.as_deref(),
                    artifact.content_hash.as_deref(),
                    &self
                        .supervisor
                        .dispatch_signaller(RESTART_ESCALATION_TIMEOUT),
                ),
            )
        };
        self.status = BuildStatus::Ok;
        // Publish the frame first, then the per-run consequences, so every front end
        // reads "rebuild → hot-swapped / early-stopping" in cause-and-effect order.
        self.last_good = Some(artifact.clone());
        self.publish_dev(DevEvent::Built {
            first,
            artifact: artifact.clone(),
            dispatch: dispatch.clone(),
        });
        if let Some(outcome) = &dispatch {
            for target in &outcome.hot_swap_targets {
                let pid = target.pid;
                if let Some(meta) = self.runs.get_mut(&pid) {
                    meta.info.content_hash = artifact.content_hash.clone();
                }
                self.set_state(pid, RunState::HotSwapped);
                self.system_log(
                    pid,
                    "arkor: callbacks changed, config unchanged: SIGUSR2 sent (hot-swap)".into(),
                );
                self.publish_run(pid);
            }
            for target in &outcome.restart_targets {
                let pid = target.pid;
                let reason = self.restart_reason(pid, &artifact);
                let deadline = self.supervisor.kill_deadline(pid);
                if let Some(meta) = self.runs.get_mut(&pid) {
                    meta.restart_pending = meta.info.origin == RunOrigin::Engine;
                    meta.info.restart_reason = reason.clone();
                    meta.info.kill_deadline = deadline;
                    meta.stop_timeout = RESTART_ESCALATION_TIMEOUT;
                }
                self.set_state(pid, RunState::EarlyStopping);
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

    fn restart_reason(&self, pid: u32, artifact: &BuiltArtifact) -> Vec<ConfigChange> {
        let Some(meta) = self.runs.get(&pid) else {
            return Vec::new();
        };
        match (&meta.config, &artifact.config) {
            (Some(old), Some(new)) => hash::config_changes(old, new),
            _ => Vec::new(),
        }
    }

    // ---- children -------------------------------------------------------------------------

    fn on_child(&mut self, ev: ChildEvent) {
        match ev {
            ChildEvent::LogsAppended { pid } => {
                let _ = self.shared.events.send(EngineEvent::Logs { pid });
            }
            ChildEvent::JobId { pid, id } => {
                self.registry.record_job_id(pid, &id);
                let abandoned = match self.runs.get_mut(&pid) {
                    Some(meta) => {
                        meta.info.job_id = Some(id);
                        meta.abandoned
                    }
                    None => false,
                };
                if abandoned {
                    self.kill_abandoned(pid);
                }
                if self
                    .runs
                    .get(&pid)
                    .is_some_and(|m| m.info.state == RunState::Starting)
                {
                    self.set_state(pid, RunState::Running);
                }
                self.publish_run(pid);
                self.finish_predecessor(pid);
            }
            ChildEvent::Escalated { pid } => {
                let mut waited = self.config.stop_timeout;
                if let Some(meta) = self.runs.get_mut(&pid) {
                    meta.escalated = true;
                    waited = meta.stop_timeout;
                }
                let msg = format!(
                    "run {pid} did not stop within {}s of SIGTERM: sent SIGKILL (its last checkpoint may be lost)",
                    waited.as_secs()
                );
                // The supervisor already logged the SIGKILL in the run's own log.
                self.notice(NoticeLevel::Warn, msg);
            }
            ChildEvent::Exited { pid, status } => self.on_exit(pid, status),
        }
    }

    fn on_exit(&mut self, pid: u32, status: ExitStatus) {
        self.registry.remove(pid);
        let Some(meta) = self.runs.get_mut(&pid) else {
            return;
        };
        meta.alive = false;
        meta.exit_status = Some(status);
        // A runner that exits 0 finished its job or early-stopped it (and cancelled it)
        // itself; any other ending may leave the cloud job running, so cancel it.
        let cancel = match (&meta.info.job_id, &meta.cancel) {
            (Some(job), Some(snapshot)) if status != ExitStatus::Code(0) => {
                Some((job.clone(), snapshot.clone()))
            }
            _ => None,
        };
        if let Some((job_id, snapshot)) = cancel {
            self.cancel_cloud_job(pid, job_id, snapshot);
        }
        let Some(meta) = self.runs.get_mut(&pid) else {
            return;
        };
        // A runner SIGTERMed before it installed its handlers (a save in the first moments
        // of a run, before its job exists) dies of the signal itself; nothing ran in the
        // cloud yet, so the restart it was asked for still applies.
        let killed_before_its_job =
            status == ExitStatus::Signal(libc::SIGTERM) && meta.info.job_id.is_none();
        let clean = status == ExitStatus::Code(0) || meta.escalated || killed_before_its_job;
        let restart = meta.restart_pending && clean && !self.shutting_down;
        let was_restart_pending = meta.restart_pending;
        meta.restart_pending = false;
        if restart {
            self.set_state(pid, RunState::Restarting);
            self.publish_run(pid);
            match self.start_run(RunOrigin::Engine, Some(pid)) {
                Ok(_) => return,
                Err(e) => self.notice(
                    NoticeLevel::Error,
                    format!("restart of run {pid} failed: {e}"),
                ),
            }
        } else if was_restart_pending {
            self.notice(
                NoticeLevel::Warn,
                format!(
                    "run {pid} {} while early-stopping for a restart: not restarted",
                    status.describe()
                ),
            );
        }
        self.finish(pid);
        self.finish_predecessor(pid);
    }

    /// A replacement reached `Running` (or ended): its predecessor's `Restarting` is over.
    fn finish_predecessor(&mut self, pid: u32) {
        let Some(old) = self.runs.get(&pid).and_then(|m| m.info.restarted_from) else {
            return;
        };
        if self
            .runs
            .get(&old)
            .is_some_and(|m| m.info.state == RunState::Restarting)
        {
            self.finish(old);
        }
    }

    /// Mark a dead run `Exited` and keep at most `MAX_EXITED_RUNS_KEPT` of them.
    fn finish(&mut self, pid: u32) {
        let Some(status) = self.runs.get(&pid).and_then(|m| m.exit_status) else {
            return;
        };
        self.set_state(pid, RunState::Exited { status });
        if let Some(meta) = self.runs.get_mut(&pid) {
            meta.info.kill_deadline = None;
        }
        self.publish_run(pid);
        self.finished_order.push(pid);
        while self.finished_order.len() > MAX_EXITED_RUNS_KEPT {
            let old = self.finished_order.remove(0);
            self.runs.remove(&old);
            self.shared.logs.remove(old);
            self.snapshot_dirty = true;
        }
    }

    /// Best effort, off the engine loop: the result is only reported.
    fn cancel_cloud_job(&self, pid: u32, job_id: String, snapshot: CancelSnapshot) {
        let logs = self.shared.logs.clone();
        let events = self.shared.events.clone();
        tokio::spawn(async move {
            let line = match cancel_job(snapshot, &job_id).await {
                Ok(CancelOutcome::Cancelled { base, .. }) => {
                    format!("arkor: cancelled cloud job {job_id} at {base}")
                }
                Ok(CancelOutcome::NoScope) => format!(
                    "arkor: cloud job {job_id} not cancelled: no .arkor/state.json to address it to"
                ),
                Ok(CancelOutcome::NoCredentials) => {
                    format!("arkor: cloud job {job_id} not cancelled: no credentials on file")
                }
                Err(e) => format!("arkor: {e}"),
            };
            logs.push(pid, LogStream::System, line);
            let _ = events.send(EngineEvent::Logs { pid });
        });
    }

    fn on_internal(&mut self, ev: Internal) {
        match ev {
            Internal::AbandonDeadline { pid } => self.kill_abandoned(pid),
        }
    }

    // ---- publishing -----------------------------------------------------------------------

    fn set_state(&mut self, pid: u32, state: RunState) {
        if let Some(meta) = self.runs.get_mut(&pid)
            && meta.info.state != state
        {
            meta.info.state = state;
            meta.info.state_since = SystemTime::now();
        }
    }

    fn publish_run(&mut self, pid: u32) {
        if let Some(meta) = self.runs.get(&pid) {
            let _ = self
                .shared
                .events
                .send(EngineEvent::Run(Arc::new(meta.info.clone())));
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
            runs: self
                .runs
                .values()
                .map(|m| Arc::new(m.info.clone()))
                .collect(),
            shutting_down: self.shutting_down,
        };
        *self
            .shared
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = snapshot;
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
