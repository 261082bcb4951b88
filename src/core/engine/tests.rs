//! The engine task's lifecycle on paused tokio time, with a fake supervisor, build loop and
//! cloud: no process is started and no test waits on the wall clock. Time moves only when a
//! test sleeps, and then only the engine's own timers fire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::ports::{Builds, CloudJobs, FollowTag, FollowerUpdates, Processes};
use super::task::{EngineTask, Inputs};
use super::*;
use crate::core::cloud::CloudEnv;
use crate::core::cloud::cancel::CancelSnapshot;
use crate::core::cloud::client::CloudError;
use crate::core::cloud::job_events::{EventBody, EventTransport, FollowerOptions, JobFollower};
use crate::core::events::{
    ConfigChange, EngineEvent, ExitStatus, NoticeLevel, RestartCause, RunState, StopCause,
};
use crate::core::hash;
use crate::core::logs::MAX_EXITED_RUNS_KEPT;
use crate::core::registry::ConfigChangePolicy;
use crate::core::registry::{SignalOutcome, Signaller};
use crate::core::run_output::OutputTap;
use crate::core::stackmap::{ArtifactMap, StackMapper};
use crate::core::supervisor::{ChildEvent, SpawnError, SpawnSpec};
use crate::core::training::{MarkerKind, OutcomeKind};
use crate::core::watch::BuildLoopEvent;

/// What the fakes did, in order: `SIGTERM 1000`, `SIGKILL 1000`, `spawn 1001`, `builds
/// shut down`, `cancel 1000 job-1`.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn push(&self, entry: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|e| *e == entry).count()
    }
}

/// Hands out pids from 1000 on (or `reuse_pid` once: the OS reusing a pid) and writes down
/// every signal.
struct FakeProcesses {
    journal: Journal,
    next_pid: Mutex<u32>,
    reuse_pid: Arc<Mutex<Option<u32>>>,
    /// The stack mapper each spawn was given, in spawn order.
    mappers: Arc<Mutex<Vec<StackMapper>>>,
}

impl Signaller for FakeProcesses {
    fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome {
        self.journal.push(format!("{} {pid}", signal.as_str()));
        SignalOutcome::Delivered
    }
}

impl Processes for FakeProcesses {
    fn spawn(&self, spec: SpawnSpec, _tap: Option<OutputTap>) -> Result<u32, SpawnError> {
        if let Some(mapper) = spec.stack_mapper {
            self.mappers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(mapper);
        }
        let reused = self
            .reuse_pid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let pid = reused.unwrap_or_else(|| {
            let mut next = self.next_pid.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next - 1
        });
        self.journal.push(format!("spawn {pid}"));
        Ok(pid)
    }

    fn terminate(&self, pid: u32) -> SignalOutcome {
        self.signal(pid, Signal::SIGTERM)
    }

    fn force_stop(&self, pid: u32) -> SignalOutcome {
        self.signal(pid, Signal::SIGKILL)
    }
}

struct FakeBuilds {
    journal: Journal,
}

impl Builds for FakeBuilds {
    fn rebuild(&self) {
        self.journal.push("rebuild".into());
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        self.journal.push("builds shut down".into());
        std::future::ready(())
    }
}

struct FakeCloud {
    journal: Journal,
    streams: JobStreams,
}

impl CloudJobs for FakeCloud {
    fn cancel(&self, pid: u32, job_id: String, _snapshot: CancelSnapshot) {
        self.journal.push(format!("cancel {pid} {job_id}"));
    }

    /// The real follower, reading a stream the test writes (see [`JobStreams`]).
    fn follow(
        &self,
        job_id: String,
        _snapshot: CancelSnapshot,
        tag: FollowTag,
        updates: FollowerUpdates,
    ) -> JobFollower {
        self.journal.push(format!("follow {} {job_id}", tag.pid));
        let transport = self.streams.open(&job_id);
        JobFollower::spawn_with(transport, tag, updates, FollowerOptions::default())
    }
}

/// How the fake cloud answers a job's event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloudMode {
    /// One stream, open until the test ends it; its bytes are what the test sends.
    Serve,
    /// Every attempt fails at once as unreachable.
    Unreachable,
    /// Every attempt hangs (a slow cloud that never answers).
    Hang,
}

/// The job event streams of the fake cloud, by job id: the test writes SSE text into a job's
/// stream and sees whether the follower still reads it.
#[derive(Clone)]
struct JobStreams(Arc<Mutex<StreamsState>>);

struct StreamsState {
    mode: CloudMode,
    writers: HashMap<String, mpsc::UnboundedSender<Result<Bytes, CloudError>>>,
    opens: HashMap<String, usize>,
}

impl Default for JobStreams {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(StreamsState {
            mode: CloudMode::Serve,
            writers: HashMap::new(),
            opens: HashMap::new(),
        })))
    }
}

impl JobStreams {
    fn lock(&self) -> std::sync::MutexGuard<'_, StreamsState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, job_id: &str) -> FakeTransport {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().writers.insert(job_id.to_owned(), tx);
        FakeTransport {
            streams: self.clone(),
            job_id: job_id.to_owned(),
            body: Some(rx),
        }
    }

    fn set_mode(&self, mode: CloudMode) {
        self.lock().mode = mode;
    }

    /// Write SSE text into the job's open stream.
    fn send(&self, job_id: &str, text: &str) {
        let state = self.lock();
        let writer = state.writers.get(job_id).expect("the job is followed");
        writer
            .send(Ok(Bytes::from(text.to_owned())))
            .expect("the follower reads the stream");
    }

    /// Whether the follower has let go of the job's stream.
    fn closed(&self, job_id: &str) -> bool {
        self.lock()
            .writers
            .get(job_id)
            .is_none_or(|w| w.is_closed())
    }

    fn opens(&self, job_id: &str) -> usize {
        self.lock().opens.get(job_id).copied().unwrap_or(0)
    }
}

struct FakeTransport {
    streams: JobStreams,
    job_id: String,
    body: Option<mpsc::UnboundedReceiver<Result<Bytes, CloudError>>>,
}

impl EventTransport for FakeTransport {
    async fn open(&mut self, _last_event_id: Option<&str>) -> Result<EventBody, CloudError> {
        let mode = {
            let mut state = self.streams.lock();
            *state.opens.entry(self.job_id.clone()).or_default() += 1;
            state.mode
        };
        match (mode, self.body.take()) {
            (CloudMode::Unreachable, _) => Err(CloudError::Unreachable {
                base: "http://127.0.0.1:9".into(),
                reason: "connection refused".into(),
            }),
            (CloudMode::Serve, Some(body)) => Ok(futures::stream::unfold(body, |mut body| async {
                body.recv().await.map(|chunk| (chunk, body))
            })
            .boxed()),
            _ => std::future::pending().await,
        }
    }
}

/// One SSE frame of the job event stream, as the cloud sends it.
fn frame(id: u64, data: serde_json::Value) -> String {
    let event = data["type"].as_str().unwrap_or("message").to_owned();
    format!("id: {id}\nevent: {event}\ndata: {data}\n\n")
}

/// A `training.log` frame's data; the cloud's clock says one step per second.
fn training_log(step: u64, loss: f64) -> serde_json::Value {
    json!({"type": "training.log", "step": step, "loss": loss, "evalLoss": null,
        "learningRate": 0.0002, "epoch": null,
        "timestamp": format!("2026-01-01T00:{:02}:{:02}Z", step / 60, step % 60)})
}

const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The bytes of the artifact on disk: runs spawn with their content hash.
const ARTIFACT: &str = "export default 1;\n";

struct Harness {
    handle: EngineHandle,
    events: broadcast::Receiver<EngineEvent>,
    builds: mpsc::Sender<BuildLoopEvent>,
    children: mpsc::UnboundedSender<ChildEvent>,
    journal: Journal,
    reuse_pid: Arc<Mutex<Option<u32>>>,
    streams: JobStreams,
    mappers: Arc<Mutex<Vec<StackMapper>>>,
    join: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A project with an installed SDK (the engine reads its `bin`) and an artifact on disk.
fn project_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let sdk = dir.path().join("node_modules/arkor");
    std::fs::create_dir_all(&sdk).expect("sdk dir");
    std::fs::write(
        sdk.join("package.json"),
        r#"{"name":"arkor","version":"0.0.0-test","bin":{"arkor":"bin.mjs"}}"#,
    )
    .expect("sdk manifest");
    let out = dir.path().join(".arkor/build");
    std::fs::create_dir_all(&out).expect("out dir");
    std::fs::write(out.join("index.mjs"), ARTIFACT).expect("artifact");
    dir
}

impl Harness {
    fn start(run_on_ready: bool, cloud: bool) -> Harness {
        let dir = project_dir();
        let project = Project::at(dir.path()).expect("project");
        let (handle, detached) = EngineHandle::detached(project.clone());
        let events = handle.subscribe();
        let journal = Journal::default();
        let reuse_pid = Arc::new(Mutex::new(None));
        let streams = JobStreams::default();
        let mappers = Arc::new(Mutex::new(Vec::new()));
        let processes = FakeProcesses {
            journal: journal.clone(),
            next_pid: Mutex::new(1000),
            reuse_pid: reuse_pid.clone(),
            mappers: mappers.clone(),
        };
        let (builds, build_rx) = mpsc::channel(64);
        let (children, child_rx) = mpsc::unbounded_channel();
        let config = EngineConfig {
            project,
            on_config_change: Default::default(),
            node: "node".into(),
            stop_timeout: STOP_TIMEOUT,
            run_on_ready,
            run_env: Vec::new(),
            cloud: cloud.then(|| CloudEnv {
                home: dir.path().join("home"),
                cloud_api_url_override: None,
            }),
        };
        let task = EngineTask::new(
            config,
            detached.shared.clone(),
            processes,
            FakeBuilds {
                journal: journal.clone(),
            },
            FakeCloud {
                journal: journal.clone(),
                streams: streams.clone(),
            },
        );
        let join = tokio::spawn(task.run(Inputs {
            commands: detached.commands,
            builds: build_rx,
            children: child_rx,
        }));
        Harness {
            handle,
            events,
            builds,
            children,
            journal,
            reuse_pid,
            streams,
            mappers,
            join,
            _dir: dir,
        }
    }

    /// Let the engine task handle everything queued (the runtime is single-threaded).
    async fn settle(&self) {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    }

    /// Let `by` pass on the paused clock (the engine's timers due meanwhile fire), then settle.
    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
        self.settle().await;
    }

    /// How often `signal` ("SIGTERM", "SIGKILL", "SIGUSR2") went to `pid`.
    fn sent(&self, signal: &str, pid: u32) -> usize {
        self.journal.count(&format!("{signal} {pid}"))
    }

    async fn build(&self, config: serde_json::Value) {
        self.build_with(artifact_for(config)).await;
    }

    async fn build_with(&self, artifact: BuiltArtifact) {
        self.builds
            .send(BuildLoopEvent::Built(artifact))
            .await
            .expect("engine reads builds");
        self.settle().await;
    }

    async fn command(&self, command: Command) {
        assert!(self.handle.send(command), "engine alive");
        self.settle().await;
    }

    async fn child(&self, event: ChildEvent) {
        self.children.send(event).expect("engine reads children");
        self.settle().await;
    }

    async fn job_id(&self, pid: u32) {
        self.child(ChildEvent::JobId {
            pid,
            id: format!("job-{pid}"),
        })
        .await;
    }

    async fn exit(&self, pid: u32, status: ExitStatus) {
        self.child(ChildEvent::Exited { pid, status }).await;
    }

    async fn start_run(&self, origin: RunOrigin) -> u32 {
        let handle = self.handle.clone();
        let started = tokio::spawn(async move { handle.start_run(origin).await });
        self.settle().await;
        started.await.expect("start task").expect("run started").pid
    }

    fn run(&self, pid: u32) -> RunInfo {
        self.handle
            .snapshot()
            .run(pid)
            .map(|r| (**r).clone())
            .unwrap_or_else(|| panic!("no run {pid} in the snapshot"))
    }

    fn pids(&self) -> Vec<u32> {
        self.handle.snapshot().runs.iter().map(|r| r.pid).collect()
    }

    fn notices(&mut self) -> Vec<(NoticeLevel, String)> {
        let mut found = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            if let EngineEvent::Notice { level, message } = event {
                found.push((level, message));
            }
        }
        found
    }

    /// Whether a stored line of `pid` contains `needle`.
    fn logged(&self, pid: u32, needle: &str) -> bool {
        self.handle.logs().with(pid, |log| {
            log.is_some_and(|l| l.lines().iter().any(|line| line.text.contains(needle)))
        })
    }

    /// The next spawn returns `pid`, as when the OS hands out a pid again.
    fn reuse_pid_next(&self, pid: u32) {
        *self.reuse_pid.lock().unwrap_or_else(|e| e.into_inner()) = Some(pid);
    }
}

/// A build of the on-disk artifact bytes with this config (hash derived from it), so a run
/// spawned after it has exactly these bytes loaded.
fn artifact_for(config: serde_json::Value) -> BuiltArtifact {
    artifact_with_content(config, &hash::content_hash(ARTIFACT.as_bytes()))
}

/// A build whose bytes differ from what runs loaded (an edit).
fn edited(config: serde_json::Value, content: &str) -> BuiltArtifact {
    artifact_with_content(config, content)
}

fn artifact_with_content(config: serde_json::Value, content: &str) -> BuiltArtifact {
    BuiltArtifact {
        out_file: "/p/.arkor/build/index.mjs".into(),
        hash: "1-1-1".into(),
        content_hash: Some(content.into()),
        config_hash: Some(hash::content_hash(config.to_string().as_bytes())),
        trainer_name: Some("demo".into()),
        config: Some(config),
        build_duration: Duration::from_millis(5),
        inspect_duration: Duration::from_millis(1),
    }
}

fn lr(value: f64) -> serde_json::Value {
    json!({ "model": "m", "learningRate": value })
}

fn lr_change() -> Vec<ConfigChange> {
    vec![ConfigChange {
        key: "learningRate".into(),
        old: Some("0.0002".into()),
        new: Some("0.0001".into()),
    }]
}

/// A running engine-owned run (job id known) on `config`.
async fn running_run(h: &Harness, config: serde_json::Value) -> u32 {
    h.build(config).await;
    let pid = *h.pids().last().expect("run_on_ready started a run");
    h.job_id(pid).await;
    assert_eq!(h.run(pid).state, RunState::Running);
    pid
}

#[tokio::test(start_paused = true)]
async fn a_config_change_restarts_the_run_after_its_clean_exit_and_names_the_change() {
    let h = Harness::start(true, false);
    let first = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    let stopping = h.run(first);
    assert_eq!(stopping.state, RunState::EarlyStopping);
    assert_eq!(stopping.restart_reason, lr_change());
    assert!(stopping.kill_deadline.is_some());
    assert_eq!(h.sent("SIGTERM", first), 1);

    h.exit(first, ExitStatus::Code(0)).await;
    let second = first + 1;
    assert_eq!(h.run(first).state, RunState::Restarting);
    assert_eq!(h.run(first).kill_deadline, None);
    let replacement = h.run(second);
    let restart = replacement.restarted_from.expect("a restart");
    assert_eq!(restart.from, first);
    assert_eq!(
        restart.cause,
        RestartCause::ConfigChanged {
            changes: lr_change()
        }
    );
    assert_eq!(
        replacement.config_hash,
        artifact_for(lr(0.0001)).config_hash
    );
    assert!(h.logged(second, "replaces pid 1000) with the new config"));

    // The predecessor's Restarting is over once the replacement runs.
    h.job_id(second).await;
    assert_eq!(
        h.run(first).state,
        RunState::Exited {
            status: ExitStatus::Code(0)
        }
    );
    assert_eq!(h.run(second).state, RunState::Running);
}

#[tokio::test(start_paused = true)]
async fn a_change_reverted_during_the_early_stop_is_not_labelled_with_the_change() {
    let h = Harness::start(true, false);
    let first = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The revert: dispatch skips the latched run; the replacement gets the original config.
    h.build_with(edited(lr(0.0002), "c")).await;
    assert_eq!(h.sent("SIGTERM", first), 1);
    h.exit(first, ExitStatus::Code(0)).await;
    let replacement = h.run(first + 1);
    let cause = replacement.restarted_from.expect("a restart").cause;
    assert_eq!(cause.to_string(), "config changed and changed back");
    assert!(!cause.to_string().contains("learningRate"));
    assert_eq!(
        replacement.config_hash,
        artifact_for(lr(0.0002)).config_hash
    );
    // What the predecessor shows while restarting is what the replacement changes: nothing.
    assert!(h.run(first).restart_reason.is_empty());
    assert!(!h.logged(first + 1, "with the new config"));
}

#[tokio::test(start_paused = true)]
async fn a_manual_restart_of_a_restarted_run_is_a_manual_restart() {
    let h = Harness::start(true, false);
    let first = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    h.exit(first, ExitStatus::Code(0)).await;
    let second = first + 1;
    h.job_id(second).await;

    h.command(Command::RestartRun { pid: second }).await;
    let stopping = h.run(second);
    assert_eq!(stopping.state, RunState::EarlyStopping);
    assert!(stopping.restart_reason.is_empty(), "{stopping:?}");
    h.exit(second, ExitStatus::Code(0)).await;
    let third = h.run(second + 1);
    let restart = third.restarted_from.expect("a restart");
    assert_eq!(
        (restart.from, restart.cause),
        (second, RestartCause::Manual)
    );
    assert_eq!(RestartCause::Manual.to_string(), "manual restart");
}

#[tokio::test(start_paused = true)]
async fn a_config_adopted_for_unchanged_bytes_is_what_the_table_and_the_next_restart_use() {
    let mut h = Harness::start(true, false);
    // The first build's inspection found no config; the run spawns with none.
    let mut blind = artifact_for(lr(0.0002));
    blind.config_hash = None;
    blind.config = None;
    h.build_with(blind).await;
    let pid = *h.pids().last().expect("a run");
    h.job_id(pid).await;
    assert_eq!(h.run(pid).config_hash, None);
    // Same bytes, now with a config: dispatch adopts it for the run, signalling nobody, and
    // front ends hear of it.
    while h.events.try_recv().is_ok() {}
    h.build(lr(0.0002)).await;
    let adopted = artifact_for(lr(0.0002)).config_hash;
    assert_eq!(h.run(pid).config_hash, adopted);
    let mut published = false;
    while let Ok(event) = h.events.try_recv() {
        published |=
            matches!(&event, EngineEvent::Run(run) if run.pid == pid && run.config_hash == adopted);
    }
    assert!(published, "the adopted config was published");
    assert_eq!(h.run(pid).state, RunState::Running);
    assert_eq!(h.sent("SIGTERM", pid), 0);
    // The next config edit is diffed against the adopted config.
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.run(pid).restart_reason, lr_change());
    h.exit(pid, ExitStatus::Code(0)).await;
    assert_eq!(
        h.run(pid + 1).restarted_from.map(|r| r.cause),
        Some(RestartCause::ConfigChanged {
            changes: lr_change()
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_callback_edit_hot_swaps_and_the_run_records_the_new_bytes() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0002), "b")).await;
    let run = h.run(pid);
    assert_eq!(run.state, RunState::HotSwapped);
    assert_eq!(run.content_hash.as_deref(), Some("b"));
    assert_eq!(h.sent("SIGUSR2", pid), 1);
    // Reverting the callbacks is a change again.
    h.build(lr(0.0002)).await;
    assert_eq!(h.sent("SIGUSR2", pid), 2);
}

#[tokio::test(start_paused = true)]
async fn an_edit_before_the_job_id_is_not_signalled_until_the_runner_is_ready() {
    let h = Harness::start(true, false);
    h.build(lr(0.0002)).await;
    let pid = *h.pids().last().expect("a run");
    h.build_with(edited(lr(0.0002), "b")).await;
    // A signal now would kill a runner whose handlers do not exist yet.
    assert_eq!(h.journal.entries(), vec![format!("spawn {pid}")]);
    assert!(h.logged(pid, "not signalled before the runner is ready"));
    h.job_id(pid).await;
    assert_eq!(h.sent("SIGUSR2", pid), 1, "the callbacks it missed");
    assert_eq!(h.run(pid).state, RunState::HotSwapped);
}

#[tokio::test(start_paused = true)]
async fn a_config_edit_reverted_before_its_signal_went_out_restarts_nothing() {
    let h = Harness::start(true, false);
    h.build(lr(0.0002)).await;
    let pid = *h.pids().last().expect("a run");
    h.build_with(edited(lr(0.0001), "b")).await;
    h.build(lr(0.0002)).await;
    h.job_id(pid).await;
    h.advance(Duration::from_secs(600)).await;
    assert_eq!(h.journal.entries(), vec![format!("spawn {pid}")]);
    let run = h.run(pid);
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.pending_config, None);
}

#[tokio::test(start_paused = true)]
async fn a_studio_run_started_before_the_first_build_takes_it_without_a_signal() {
    let h = Harness::start(false, false);
    // No artifact on disk yet: the runner bundles the source itself.
    let out = h.handle.project().out_file.clone();
    std::fs::remove_file(&out).expect("artifact removed");
    let pid = h.start_run(RunOrigin::Http).await;
    h.build(lr(0.0002)).await;
    h.job_id(pid).await;
    assert_eq!(h.journal.entries(), vec![format!("spawn {pid}")]);
    let run = h.run(pid);
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.config_hash, artifact_for(lr(0.0002)).config_hash);
    // From then on it is dispatched like any other run.
    h.build_with(edited(lr(0.0002), "b")).await;
    assert_eq!(h.sent("SIGUSR2", pid), 1);
}

#[tokio::test(start_paused = true)]
async fn a_held_config_change_marks_the_run_behind_until_reverted_or_restarted() {
    let h = Harness::start(true, false);
    h.command(Command::SetConfigChangePolicy(ConfigChangePolicy::Hold))
        .await;
    assert_eq!(
        h.handle.snapshot().on_config_change,
        ConfigChangePolicy::Hold
    );
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.sent("SIGTERM", pid), 0);
    assert_eq!(h.run(pid).pending_config, Some(lr_change()));
    assert!(h.logged(pid, "not restarted (--on-config-change=hold)"));
    // Reverted: the run is on the build's config again, nothing to restart.
    h.build(lr(0.0002)).await;
    assert_eq!(h.run(pid).pending_config, None);
    assert_eq!(h.journal.entries(), vec![format!("spawn {pid}")]);

    // Changed again, and this time the user restarts it: a config-change restart.
    h.build_with(edited(lr(0.0001), "c")).await;
    h.command(Command::RestartRun { pid }).await;
    assert_eq!(h.sent("SIGTERM", pid), 1);
    let stopping = h.run(pid);
    assert_eq!(stopping.stop_cause, Some(StopCause::ConfigChange));
    assert_eq!(stopping.pending_config, None);
    // It waits for the checkpoint as long as the runner does, not the stop timeout.
    h.advance(STOP_TIMEOUT * 2).await;
    assert_eq!(h.sent("SIGKILL", pid), 0);
    h.exit(pid, ExitStatus::Code(0)).await;
    let cause = h.run(pid + 1).restarted_from.map(|r| r.cause);
    assert_eq!(
        cause,
        Some(RestartCause::ConfigChanged {
            changes: lr_change()
        })
    );
}

#[tokio::test(start_paused = true)]
async fn switching_the_policy_to_restart_restarts_the_runs_that_held_a_change() {
    let h = Harness::start(true, false);
    h.command(Command::SetConfigChangePolicy(ConfigChangePolicy::Ask))
        .await;
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.sent("SIGTERM", pid), 0);
    h.command(Command::SetConfigChangePolicy(ConfigChangePolicy::Restart))
        .await;
    assert_eq!(h.sent("SIGTERM", pid), 1);
    assert_eq!(h.run(pid).restart_reason, lr_change());
}

#[tokio::test(start_paused = true)]
async fn a_stop_asked_for_during_a_config_restart_waits_only_the_stop_timeout() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.run(pid).stop_cause, Some(StopCause::ConfigChange));
    h.command(Command::StopRun { pid, force: false }).await;
    assert_eq!(h.sent("SIGTERM", pid), 1, "no second SIGTERM");
    assert_eq!(h.run(pid).stop_cause, Some(StopCause::User));
    h.advance(STOP_TIMEOUT + Duration::from_secs(1)).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
    // The user stopped it: no replacement.
    h.exit(pid, ExitStatus::Signal(9)).await;
    assert_eq!(h.pids(), vec![pid]);
}

#[tokio::test(start_paused = true)]
async fn quitting_during_a_config_restart_waits_only_the_stop_timeout() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    h.command(Command::Shutdown { force: false }).await;
    assert_eq!(h.run(pid).stop_cause, Some(StopCause::Shutdown));
    h.advance(STOP_TIMEOUT + Duration::from_secs(1)).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
}

#[tokio::test(start_paused = true)]
async fn restarting_a_finished_run_starts_it_again() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.command(Command::StopRun { pid, force: true }).await;
    h.exit(pid, ExitStatus::Signal(9)).await;
    h.command(Command::RestartRun { pid }).await;
    let again = h.run(pid + 1);
    assert_eq!(again.state, RunState::Starting);
    assert_eq!(
        again.restarted_from.map(|r| (r.from, r.cause)),
        Some((pid, RestartCause::Manual))
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_studio_run_is_killed_when_the_job_id_wait_runs_out() {
    let h = Harness::start(false, false);
    h.build(lr(0.0002)).await;
    let pid = h.start_run(RunOrigin::Http).await;
    h.command(Command::AbandonHttpRun { pid }).await;
    h.advance(ABANDON_JOB_ID_WAIT - Duration::from_millis(100))
        .await;
    assert_eq!(h.sent("SIGKILL", pid), 0);
    h.advance(Duration::from_millis(200)).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
    assert!(h.logged(pid, "stopped from the Studio (SIGKILL)"));
    // Out of dispatch: a config edit signals nobody.
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.sent("SIGTERM", pid), 0);
    // Never restarted by the engine.
    h.exit(pid, ExitStatus::Signal(9)).await;
    assert_eq!(h.pids(), vec![pid]);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_studio_run_dies_as_soon_as_its_job_id_arrives_and_only_once() {
    let h = Harness::start(false, false);
    h.build(lr(0.0002)).await;
    let pid = h.start_run(RunOrigin::Http).await;
    h.command(Command::AbandonHttpRun { pid }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.job_id(pid).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
    h.advance(ABANDON_JOB_ID_WAIT * 2).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stop_that_outlasts_its_timeout_escalates_to_sigkill_at_the_deadline() {
    let mut h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.command(Command::RestartRun { pid }).await;
    assert_eq!(h.sent("SIGTERM", pid), 1);
    let deadline = h.run(pid).kill_deadline.expect("a countdown");
    let ahead = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(ahead <= STOP_TIMEOUT && ahead > STOP_TIMEOUT - Duration::from_secs(5));
    // A second stop request sends no second SIGTERM (the runner would lose its checkpoint).
    h.command(Command::StopRun { pid, force: false }).await;
    h.command(Command::RestartRun { pid }).await;
    assert_eq!(h.sent("SIGTERM", pid), 1);

    h.advance(STOP_TIMEOUT - Duration::from_secs(1)).await;
    assert_eq!(h.sent("SIGKILL", pid), 0);
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
    assert!(h.logged(pid, "still running 30.0 s after SIGTERM: sent SIGKILL"));
    let notices = h.notices();
    assert!(
        notices
            .iter()
            .any(|(level, m)| *level == NoticeLevel::Warn && m.contains("within 30s")),
        "{notices:?}"
    );
    // An escalated stop counts as stopped: the restart still happens.
    h.exit(pid, ExitStatus::Signal(9)).await;
    assert_eq!(h.run(pid + 1).restarted_from.map(|r| r.from), Some(pid));
    // Nothing fires again for the dead run.
    h.advance(STOP_TIMEOUT * 2).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
}

#[tokio::test(start_paused = true)]
async fn a_restart_target_gets_the_long_backstop_not_the_user_stop_timeout() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    h.advance(RESTART_ESCALATION_TIMEOUT - Duration::from_secs(1))
        .await;
    assert_eq!(h.sent("SIGKILL", pid), 0);
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(h.sent("SIGKILL", pid), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_exit_with_a_job_cancels_the_cloud_job_and_is_not_restarted() {
    let mut h = Harness::start(true, true);
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    h.exit(pid, ExitStatus::Code(1)).await;
    assert_eq!(h.journal.count(&format!("cancel {pid} job-{pid}")), 1);
    assert_eq!(h.pids(), vec![pid], "no replacement");
    assert!(
        h.notices()
            .iter()
            .any(|(_, m)| m.contains("exited with code 1 while early-stopping for a restart"))
    );

    // A clean exit leaves the cancel to the runner; no job, nothing to cancel.
    h.command(Command::StartRun {
        origin: RunOrigin::Engine,
        reply: None,
    })
    .await;
    let clean = pid + 1;
    h.job_id(clean).await;
    h.exit(clean, ExitStatus::Code(0)).await;
    h.command(Command::StartRun {
        origin: RunOrigin::Engine,
        reply: None,
    })
    .await;
    let jobless = pid + 2;
    h.exit(jobless, ExitStatus::Code(1)).await;
    let cancels: Vec<String> = h
        .journal
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("cancel"))
        .collect();
    assert_eq!(cancels, vec![format!("cancel {pid} job-{pid}")]);
}

#[tokio::test(start_paused = true)]
async fn without_a_cloud_env_nothing_is_cancelled() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.exit(pid, ExitStatus::Signal(9)).await;
    assert!(!h.journal.entries().iter().any(|e| e.starts_with("cancel")));
}

#[tokio::test(start_paused = true)]
async fn exited_runs_are_kept_up_to_the_limit_with_their_logs() {
    let h = Harness::start(false, false);
    h.build(lr(0.0002)).await;
    let total = MAX_EXITED_RUNS_KEPT + 3;
    let mut pids = Vec::new();
    for _ in 0..total {
        let pid = h.start_run(RunOrigin::Engine).await;
        h.exit(pid, ExitStatus::Code(0)).await;
        pids.push(pid);
    }
    assert_eq!(
        h.pids(),
        pids[3..].to_vec(),
        "the oldest finished runs go first"
    );
    assert!(!h.logged(pids[0], "started"), "their logs go with them");
    assert!(h.logged(pids[total - 1], "started"));
}

#[tokio::test(start_paused = true)]
async fn a_reused_pid_starts_a_fresh_record() {
    let h = Harness::start(false, false);
    h.build(lr(0.0002)).await;
    let pid = h.start_run(RunOrigin::Engine).await;
    h.job_id(pid).await;
    h.command(Command::StopRun { pid, force: true }).await;
    h.exit(pid, ExitStatus::Signal(9)).await;
    h.reuse_pid_next(pid);
    assert_eq!(h.start_run(RunOrigin::Engine).await, pid);
    let fresh = h.run(pid);
    assert_eq!((fresh.state, fresh.job_id), (RunState::Starting, None));
    assert_eq!(h.pids(), vec![pid], "one record per pid");
    // Not latched: a config edit reaches it once it is ready.
    h.job_id(pid).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.sent("SIGTERM", pid), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_runs_first_and_the_build_loop_after_them() {
    let mut h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.command(Command::Shutdown { force: false }).await;
    assert_eq!(h.run(pid).state, RunState::EarlyStopping);
    assert!(h.handle.snapshot().shutting_down);
    // No new run, no rebuild, no dev event while the run stops.
    assert_eq!(
        h.handle.start_run(RunOrigin::Engine).await.err(),
        Some(StartRunError::ShuttingDown)
    );
    h.build_with(edited(lr(0.0001), "b")).await;
    assert_eq!(h.journal.count("builds shut down"), 0);
    h.exit(pid, ExitStatus::Code(0)).await;
    (&mut h.join).await.expect("engine task ends");
    let journal = h.journal.entries();
    let sigterm = journal.iter().position(|e| *e == format!("SIGTERM {pid}"));
    let builds_down = journal.iter().position(|e| e == "builds shut down");
    assert!(
        sigterm.is_some() && builds_down.is_some() && sigterm < builds_down,
        "{journal:?}"
    );
    assert_eq!(h.sent("SIGTERM", pid), 1);
    assert_eq!(
        h.journal.count("spawn 1001"),
        0,
        "not restarted while shutting down"
    );
    let mut stopped = false;
    while let Ok(event) = h.events.try_recv() {
        assert!(
            !matches!(event, EngineEvent::Dev(_)) || !stopped,
            "a dev event after Stopped"
        );
        stopped |= matches!(event, EngineEvent::Stopped);
    }
    assert!(stopped);
}

#[tokio::test(start_paused = true)]
async fn a_second_shutdown_request_force_stops() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.command(Command::Shutdown { force: false }).await;
    h.command(Command::Shutdown { force: true }).await;
    assert_eq!(h.sent("SIGTERM", pid), 1);
    assert_eq!(h.sent("SIGKILL", pid), 1);
    h.exit(pid, ExitStatus::Signal(9)).await;
    tokio::time::timeout(Duration::from_secs(60), h.join)
        .await
        .expect("engine ends once its runs are gone")
        .expect("engine task did not panic");
}

// ---- training progress: the job event stream of each live run -------------------------------

/// Long enough for a follower's batch to reach the engine (its batch window is 100 ms).
const BATCH: Duration = Duration::from_millis(250);

#[tokio::test(start_paused = true)]
async fn a_runs_job_stream_feeds_its_metrics_and_outcome_and_closes_when_the_job_ends() {
    let mut h = Harness::start(true, true);
    let pid = running_run(&h, json!({"learningRate": 0.0002, "maxSteps": 10})).await;
    let job = format!("job-{pid}");
    assert_eq!(h.journal.count(&format!("follow {pid} {job}")), 1);
    let mut text = frame(1, json!({"type": "training.started"}));
    for step in 1..=4 {
        text.push_str(&frame(step + 1, training_log(step, 2.0 / step as f64)));
    }
    text.push_str(&frame(6, json!({"type": "checkpoint.saved", "step": 4})));
    // A replay of step 2 (as after a reconnect) counts nothing twice.
    text.push_str(&frame(3, training_log(2, 1.0)));
    text.push_str("data: {not json\n\n");
    h.streams.send(&job, &text);
    h.advance(BATCH).await;

    let progress = h.run(pid).metrics.progress();
    assert_eq!(progress.step, Some(4));
    assert_eq!(progress.max_steps, Some(10));
    assert_eq!(progress.loss, Some(0.5));
    assert_eq!(progress.last_checkpoint, Some(4));
    assert_eq!(progress.steps_per_second, Some(1.0));
    assert_eq!(progress.eta, Some(Duration::from_secs(6)));
    assert_eq!(h.run(pid).metrics.read(|m| m.loss().len()), 4);
    assert_eq!(h.run(pid).metrics.read(|m| m.malformed_frames()), 1);
    let mut training_events = 0;
    while let Ok(event) = h.events.try_recv() {
        if let EngineEvent::Training { pid: p, job_id, .. } = event {
            assert_eq!((p, &*job_id), (pid, job.as_str()));
            training_events += 1;
        }
    }
    assert!(training_events >= 1, "front ends are told");
    assert!(h.logged(pid, "skipped 1 unreadable frame"));
    // The series is also on disk beside the run's log file, each step once.
    let log_file = h.run(pid).log_file.expect("a log file");
    let series = std::fs::read_to_string(crate::core::run_files::metrics_path_for(&log_file))
        .expect("the metrics file");
    let count = |kind: &str| {
        series
            .lines()
            .filter(|l| l.contains(&format!("\"type\":\"{kind}\"")))
            .count()
    };
    assert_eq!((count("metric"), count("checkpoint")), (4, 1), "{series}");

    let mut last = frame(7, training_log(10, 0.25));
    last.push_str(&frame(8, json!({"type": "training.completed"})));
    last.push_str("event: end\ndata: {}\n\n");
    h.streams.send(&job, &last);
    h.advance(BATCH).await;
    assert!(
        h.streams.closed(&job),
        "the follower let go when the job ended"
    );
    assert_eq!(h.run(pid).outcome, None, "the run is still alive");

    h.exit(pid, ExitStatus::Code(0)).await;
    let outcome = h
        .run(pid)
        .outcome
        .expect("settled at once: the stream is over");
    assert_eq!(outcome.kind, OutcomeKind::Completed);
    assert_eq!(
        (outcome.last.step, outcome.last.loss),
        (Some(10), Some(0.25))
    );
    assert!(h.logged(pid, "completed at step 10, loss 0.2500"));
}

#[tokio::test(start_paused = true)]
async fn a_studio_run_is_followed_too_and_its_cloud_failure_is_its_outcome() {
    let h = Harness::start(false, true);
    h.build(lr(0.0002)).await;
    let pid = h.start_run(RunOrigin::Http).await;
    h.job_id(pid).await;
    let job = format!("job-{pid}");
    assert_eq!(h.journal.count(&format!("follow {pid} {job}")), 1);
    let mut text = frame(1, training_log(7, 0.5));
    text.push_str(&frame(
        2,
        json!({"type": "training.failed", "error": "CUDA out of memory", "step": 7}),
    ));
    h.streams.send(&job, &text);
    h.advance(BATCH).await;
    assert!(h.streams.closed(&job), "a terminal event ends the stream");
    h.exit(pid, ExitStatus::Code(1)).await;
    let outcome = h.run(pid).outcome.expect("an outcome");
    assert_eq!(
        outcome.kind,
        OutcomeKind::Failed {
            error: "CUDA out of memory".into(),
            step: Some(7)
        }
    );
    assert_eq!(
        outcome.describe(),
        "failed at step 7, loss 0.5000 (CUDA out of memory)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_at_its_checkpoint_and_a_restart_replaces_with_the_jobs_last_frames_awaited() {
    let h = Harness::start(true, true);
    let pid = running_run(&h, lr(0.0002)).await;
    let job = format!("job-{pid}");
    h.streams.send(&job, &frame(1, training_log(30, 0.8)));
    h.advance(BATCH).await;
    h.command(Command::StopRun { pid, force: false }).await;
    let markers = h.run(pid).metrics.read(|m| m.markers().to_vec());
    assert_eq!(markers.len(), 1);
    assert_eq!(
        (markers[0].kind, markers[0].step),
        (MarkerKind::EarlyStopRequested, Some(30))
    );
    // The runner exits right after its checkpoint; the frame is still on its way.
    h.exit(pid, ExitStatus::Code(0)).await;
    assert_eq!(
        h.run(pid).outcome,
        None,
        "waiting for the job's last frames"
    );
    h.streams.send(
        &job,
        &frame(2, json!({"type": "checkpoint.saved", "step": 40})),
    );
    h.advance(BATCH).await;
    assert_eq!(h.run(pid).outcome, None, "the stream is still open");
    h.advance(FOLLOWER_LINGER).await;
    let outcome = h.run(pid).outcome.expect("settled after the grace");
    assert_eq!(
        outcome.kind,
        OutcomeKind::StoppedAtCheckpoint {
            checkpoint_step: Some(40)
        }
    );
    assert!(h.streams.closed(&job), "and the follower is gone");

    // A restart's predecessor is replaced, whatever its job said.
    h.command(Command::StartRun {
        origin: RunOrigin::Engine,
        reply: None,
    })
    .await;
    let second = pid + 1;
    h.job_id(second).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    h.exit(second, ExitStatus::Code(0)).await;
    h.advance(FOLLOWER_LINGER + BATCH).await;
    let outcome = h.run(second).outcome.expect("an outcome");
    assert_eq!(
        outcome.kind,
        OutcomeKind::Replaced {
            successor_pid: Some(second + 1)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_cloud_never_delays_a_hot_swap() {
    let h = Harness::start(true, true);
    h.streams.set_mode(CloudMode::Hang);
    let pid = running_run(&h, lr(0.0002)).await;
    assert_eq!(h.journal.count(&format!("follow {pid} job-{pid}")), 1);
    // Same config, new callbacks: the swap is signalled within the same turn of the engine.
    h.build_with(edited(lr(0.0002), "b")).await;
    assert_eq!(h.sent("SIGUSR2", pid), 1);
    assert_eq!(h.run(pid).state, RunState::HotSwapped);
    let markers = h.run(pid).metrics.read(|m| m.markers().to_vec());
    assert_eq!(markers.first().map(|m| m.kind), Some(MarkerKind::HotSwap));
    // Its exit is not held up either: the outcome waits a bounded grace for the stream.
    h.exit(pid, ExitStatus::Signal(9)).await;
    h.advance(FOLLOWER_LINGER).await;
    assert!(matches!(
        h.run(pid).outcome.map(|o| o.kind),
        Some(OutcomeKind::Killed { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_cloud_is_said_once_however_many_runs_and_retries() {
    let mut h = Harness::start(false, true);
    h.streams.set_mode(CloudMode::Unreachable);
    h.build(lr(0.0002)).await;
    let mut pids = Vec::new();
    for _ in 0..3 {
        let pid = h.start_run(RunOrigin::Engine).await;
        h.job_id(pid).await;
        pids.push(pid);
    }
    for _ in 0..20 {
        h.advance(Duration::from_secs(30)).await;
    }
    assert!(
        h.streams.opens(&format!("job-{}", pids[0])) >= 5,
        "the follower kept retrying"
    );
    let warnings: Vec<String> = h
        .notices()
        .into_iter()
        .filter(|(level, _)| *level == NoticeLevel::Warn)
        .map(|(_, message)| message)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("training progress paused"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("unreachable"), "{warnings:?}");
    // The runs themselves go on.
    assert!(
        pids.iter()
            .all(|&pid| h.run(pid).state == RunState::Running)
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_stopped_runs_last_frames_at_most_the_grace() {
    let mut h = Harness::start(true, true);
    let pid = running_run(&h, lr(0.0002)).await;
    let job = format!("job-{pid}");
    h.streams.send(&job, &frame(1, training_log(12, 0.9)));
    h.advance(BATCH).await;
    h.command(Command::Shutdown { force: false }).await;
    h.exit(pid, ExitStatus::Code(0)).await;
    // The stream stays open and silent: the engine ends once the grace is over, with the
    // outcome settled and the follower gone.
    tokio::time::timeout(FOLLOWER_LINGER + Duration::from_secs(1), &mut h.join)
        .await
        .expect("the engine ends within the grace")
        .expect("engine task did not panic");
    assert!(h.streams.closed(&job));
    let outcome = h
        .run(pid)
        .outcome
        .expect("settled before the engine stopped");
    assert_eq!(
        outcome.kind,
        OutcomeKind::StoppedAtCheckpoint {
            checkpoint_step: None
        }
    );
    assert_eq!(outcome.last.step, Some(12));
    let mut stopped_after_outcome = false;
    let mut outcome_seen = false;
    while let Ok(event) = h.events.try_recv() {
        match event {
            EngineEvent::Run(run) if run.pid == pid && run.outcome.is_some() => outcome_seen = true,
            EngineEvent::Stopped => stopped_after_outcome = outcome_seen,
            _ => {}
        }
    }
    assert!(
        stopped_after_outcome,
        "the outcome is published before Stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_that_fails_on_its_own_says_why_and_a_stopped_one_does_not() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    let logs = h.handle.logs();
    logs.push(
        pid,
        crate::core::logs::LogStream::Stderr,
        "Error: dataset not found".into(),
    );
    logs.push(
        pid,
        crate::core::logs::LogStream::Stderr,
        "    at main (file:///p/.arkor/build/index.mjs:3:9)".into(),
    );
    h.exit(pid, ExitStatus::Code(1)).await;
    assert_eq!(
        h.run(pid).failure.as_deref(),
        Some("exited with code 1: Error: dataset not found")
    );

    let pid = h.start_run(RunOrigin::Engine).await;
    h.job_id(pid).await;
    h.command(Command::StopRun { pid, force: true }).await;
    h.exit(pid, ExitStatus::Signal(9)).await;
    assert_eq!(
        h.run(pid).failure,
        None,
        "arkor killed it: no failure to explain"
    );
}

#[tokio::test(start_paused = true)]
async fn each_run_writes_its_output_to_a_log_file_named_in_its_record() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.handle
        .logs()
        .push(pid, crate::core::logs::LogStream::Stdout, "step 1".into());
    let path = h.run(pid).log_file.expect("a log file");
    let runs_dir = h
        .handle
        .project()
        .root
        .join(crate::core::run_files::RUNS_DIR_REL);
    assert_eq!(path.parent(), Some(runs_dir.as_path()));
    assert!(path.to_string_lossy().ends_with(&format!("-{pid}.log")));
    let text = std::fs::read_to_string(&path).expect("log file");
    assert!(
        text.contains(&format!(" arkor arkor: run {pid} started\n")),
        "{text}"
    );
    assert!(text.ends_with(" out step 1\n"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn the_restart_key_during_a_config_restart_keeps_the_runner_s_wait() {
    let h = Harness::start(true, false);
    let pid = running_run(&h, lr(0.0002)).await;
    h.build_with(edited(lr(0.0001), "b")).await;
    h.command(Command::RestartRun { pid }).await;
    assert_eq!(h.run(pid).stop_cause, Some(StopCause::ConfigChange));
    h.advance(STOP_TIMEOUT * 2).await;
    assert_eq!(
        h.sent("SIGKILL", pid),
        0,
        "it restarts either way: no need to hurry"
    );
    h.exit(pid, ExitStatus::Code(0)).await;
    assert_eq!(
        h.run(pid + 1).restarted_from.map(|r| r.cause),
        Some(RestartCause::ConfigChanged {
            changes: lr_change()
        })
    );
}

/// A source map of the on-disk artifact: its line 1 comes from callbacks.ts line 12.
const ARTIFACT_MAP: &str =
    r#"{"version":3,"sources":["../../src/arkor/callbacks.ts"],"names":[],"mappings":"AAWI"}"#;

/// A run maps its frames with the map of the artifact on disk at its spawn, until a build of
/// other bytes lands before its job id (the runner may have imported either): then it guesses
/// nothing. A run past its job id has imported its artifact and keeps the map.
#[tokio::test(start_paused = true)]
async fn a_build_before_the_job_id_makes_the_start_map_uncertain() {
    for job_id_first in [true, false] {
        let h = Harness::start(true, false);
        let project = h.handle.shared.project.clone();
        let map = ArtifactMap::from_json(
            hash::content_hash(ARTIFACT.as_bytes()),
            ARTIFACT_MAP,
            &project,
        )
        .expect("valid map");
        h.handle.shared.source_maps.insert(Arc::new(map));
        let frame = format!("    at f ({}:1:1)", project.out_file.display());
        let mapped = "    at f (src/arkor/callbacks.ts:12:5)";

        h.build(lr(0.0002)).await;
        let pid = *h.pids().last().expect("run_on_ready started a run");
        let mapper = h
            .mappers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
            .expect("the run was spawned with a stack mapper");
        assert_eq!(mapper.map_line(&frame), mapped);
        if job_id_first {
            h.job_id(pid).await;
        }
        h.build_with(edited(lr(0.0002), "b")).await;
        let expected = if job_id_first { mapped } else { frame.as_str() };
        assert_eq!(
            mapper.map_line(&frame),
            expected,
            "job id first: {job_id_first}"
        );
    }
}
