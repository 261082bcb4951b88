//! The build loop: watch the module graph, build at once on a change, coalesce bursts, inspect,
//! and report each build that no newer change superseded.
//!
//! Watching: notify on the DIRECTORIES holding the last build's module graph plus the entry's
//! folder (or its nearest existing ancestor), filtered by path, so rename-style saves (vim,
//! JetBrains) and delete + create keep working. A 1 s poll backs up the missing-entry wait
//! and a failed watcher.
//!
//! Every relevant event also records what changed ([`Changes`]): the graph files whose content
//! changed, or why only a full build can follow (a file appeared or went away, a watched
//! folder vanished, lost events, polling, the rebuild command). The next build gets them all,
//! so the builder can re-read just those files on its kept module graph.
//!
//! Coalescing ([`Coalescer`]): no debounce window. The first change starts a build; changes
//! during a build mark it dirty; a dirty build is not reported and is followed by exactly one
//! more. Build + inspection are one unit, so an older inspection can never be reported after
//! a newer change.
//!
//! Early inspection ([`EarlyInspection`]): the builder starts the inspection from its own
//! thread the moment the artifact is in place, when no change has arrived since the build
//! started that it may not have read, so Node imports while the build writes its source map and
//! watch list and the result travels back here. The loop still decides, as before, whether the
//! build is reported; the early inspection is only used when it is, and a superseded one is
//! left to finish unread.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::build::{
    BuildAttempt, BuildError, BuildOutput, Builder, Changes, FullReason, Published, ReadFile,
    SOURCE_EXTENSIONS, SourceLocation, is_config_file, is_editor_scratch,
};
use crate::core::events::BuiltArtifact;
use crate::core::inspect::{InspectError, Inspection, Inspector, PendingInspection};
use crate::core::project::Project;

/// Set to `off` to build every save in full on a fresh bundler (no kept module graph).
pub const INCREMENTAL_ENV: &str = "ARKOR_TUI_INCREMENTAL";

/// Poll period while the entry is missing or the watcher could not start (as the reference).
const POLL_PERIOD: Duration = Duration::from_secs(1);
/// After this many builds in a row were superseded, a successful one is reported anyway, so a
/// file rewritten faster than it builds still produces events.
const STARVATION_LIMIT: u32 = 8;
/// A superseded build still running after this long is abandoned (its inspection killed) in
/// favour of the newer change, so a module that hangs at import does not hold up the fix.
const ABANDON_AFTER: Duration = Duration::from_secs(1);
/// A failed build is reported only after this much quiet. An editor's truncate-then-write
/// save can be read half-written when the writer is descheduled between the two calls; the
/// write's own event then arrives after the failed build ended, too late to mark it dirty.
/// A newer change inside the window drops the failure. Successes are reported at once.
const FAILURE_GRACE: Duration = Duration::from_millis(40);

/// What the build loop reports to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildLoopEvent {
    /// A build started (file change, the initial build, or [`BuildLoopHandle::rebuild`]).
    /// A `Built` or `Failed` always follows (unless the loop shuts down first).
    Started,
    /// A build and its inspection succeeded and no newer change superseded them.
    Built(BuiltArtifact),
    /// The newest build failed: compile error, missing entry, write failure, or import /
    /// inspection failure (`Failed to import built bundle: …`). The previous artifact stays.
    Failed {
        message: String,
        location: Option<SourceLocation>,
    },
}

/// The coalescing policy, free of I/O.
#[derive(Debug, Default)]
pub struct Coalescer {
    in_flight: Option<u64>,
    dirty: bool,
    last_seq: u64,
    superseded_streak: u32,
}

/// What to do when a build ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildEnd {
    /// Report this build's result.
    pub publish: bool,
    /// Start this build next (a change arrived while the finished one ran).
    pub next: Option<u64>,
}

impl Coalescer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A relevant change (or a rebuild request). Returns the sequence number of a build to
    /// start now, or `None` when a build is running (it is marked dirty instead).
    pub fn change(&mut self) -> Option<u64> {
        if self.in_flight.is_some() {
            self.dirty = true;
            None
        } else {
            Some(self.start())
        }
    }

    /// The build `seq` ended. A dirty build is superseded: it is not reported (unless the
    /// streak of superseded builds hits the starvation limit and it succeeded) and one more
    /// build starts.
    pub fn finished(&mut self, seq: u64, succeeded: bool) -> BuildEnd {
        if self.in_flight != Some(seq) {
            // Not the running build (cannot happen through the loop): ignore it.
            return BuildEnd {
                publish: false,
                next: None,
            };
        }
        self.in_flight = None;
        if !self.dirty {
            self.superseded_streak = 0;
            return BuildEnd {
                publish: true,
                next: None,
            };
        }
        self.dirty = false;
        self.superseded_streak += 1;
        let publish = succeeded && self.superseded_streak >= STARVATION_LIMIT;
        if publish {
            self.superseded_streak = 0;
        }
        BuildEnd {
            publish,
            next: Some(self.start()),
        }
    }

    pub fn is_building(&self) -> bool {
        self.in_flight.is_some()
    }

    /// A change arrived during the running build.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The running build's result will not be reported (a newer change arrived and the
    /// starvation guard does not apply), so its inspection can be skipped.
    pub fn supersedes_inspection(&self) -> bool {
        self.dirty && self.superseded_streak + 1 < STARVATION_LIMIT
    }

    /// The changes that made the running build dirty turned out to be ones it already saw.
    pub fn clean(&mut self) {
        self.dirty = false;
    }

    /// Give up on the running (dirty) build without reporting it and start the next one.
    pub fn abandon(&mut self) -> Option<u64> {
        self.in_flight.take()?;
        self.dirty = false;
        Some(self.start())
    }

    fn start(&mut self) -> u64 {
        self.last_seq += 1;
        self.in_flight = Some(self.last_seq);
        self.last_seq
    }
}

/// Spawns the build loop task.
///
/// ```text
/// let inspector = Inspector::for_project(&project)?;          // Node >= 20 or a clear error
/// let (build_loop, mut events) = BuildLoop::spawn(project, inspector);
/// while let Some(event) = events.recv().await {
///     match event {
///         BuildLoopEvent::Started => { /* status: building */ }
///         BuildLoopEvent::Built(artifact) => { /* first → ready, later → rebuild; dispatch */ }
///         BuildLoopEvent::Failed { message, location } => { /* error event; touch no run */ }
///     }
/// }
/// build_loop.rebuild();            // the `r` key
/// build_loop.shutdown().await;     // releases the watches; the helper dies with the Inspector
/// ```
pub struct BuildLoop;

/// Above how many files a rebuild keeps Rolldown's module graph: the default threshold, or
/// never when `ARKOR_TUI_INCREMENTAL` is `off` or `0`.
pub fn kept_graph_threshold() -> Option<usize> {
    match std::env::var(INCREMENTAL_ENV) {
        Ok(value) if value.eq_ignore_ascii_case("off") || value == "0" => None,
        _ => Some(crate::core::build::KEPT_GRAPH_MIN_MODULES),
    }
}

impl BuildLoop {
    /// Start watching and run the first build at once. Must be called within a tokio runtime.
    /// The loop ends on [`BuildLoopHandle::shutdown`], when the handle is dropped, or when the
    /// event receiver is dropped.
    pub fn spawn(
        project: Project,
        inspector: Inspector,
    ) -> (BuildLoopHandle, mpsc::Receiver<BuildLoopEvent>) {
        Self::spawn_with(
            Builder::new(project).keep_graph_above(kept_graph_threshold()),
            inspector,
        )
    }

    /// [`BuildLoop::spawn`] with a builder of the caller's (one that shares its source maps,
    /// or keeps the module graph above another threshold).
    pub fn spawn_with(
        builder: Builder,
        inspector: Inspector,
    ) -> (BuildLoopHandle, mpsc::Receiver<BuildLoopEvent>) {
        let (events, receiver) = mpsc::channel(256);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut state = LoopState::new(builder, inspector, events);
            state.run(command_rx).await;
        });
        (
            BuildLoopHandle {
                commands,
                task: Mutex::new(Some(task)),
            },
            receiver,
        )
    }
}

enum LoopCommand {
    Rebuild,
}

pub struct BuildLoopHandle {
    commands: mpsc::UnboundedSender<LoopCommand>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl BuildLoopHandle {
    /// Build now even if nothing changed (coalesced like a file change).
    pub fn rebuild(&self) {
        let _ = self.commands.send(LoopCommand::Rebuild);
    }

    /// Stop watching, abandon a running build, and wait for the loop to end. Works even when
    /// the loop is blocked handing an event to a receiver that stopped reading.
    pub async fn shutdown(&self) {
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            // Cancelling at an await point is safe: publishing an artifact is synchronous.
            task.abort();
            let _ = task.await;
        }
    }
}

/// The running unit of work: bundling first, then (unless superseded) the inspection.
enum Running {
    Build(Pin<Box<dyn Future<Output = BuildAttempt> + Send>>),
    Inspect(Pin<Box<dyn Future<Output = Inspected> + Send>>),
}

type Inspected = (BuildOutput, Result<Inspection, InspectError>);

enum Step {
    Built(BuildAttempt),
    Inspected(Inspected),
}

struct LoopState {
    project: Project,
    builder: Builder,
    inspector: Inspector,
    events: mpsc::Sender<BuildLoopEvent>,
    coalescer: Coalescer,
    watcher: Option<RecommendedWatcher>,
    fs_events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    watched_dirs: HashSet<PathBuf>,
    /// Files of the last build's module graph.
    graph: HashSet<PathBuf>,
    /// The last build failed (then new source files in watched folders count as changes).
    failing: bool,
    entry_missing: bool,
    /// Targets of relative imports the last build could not resolve (extension-less).
    missing_imports: Vec<PathBuf>,
    /// A missing-entry error was reported and nothing else since (report it once).
    missing_entry_reported: bool,
    /// When the change that the next (or running) build answers first arrived.
    pending_since: Option<Instant>,
    build_started_at: Instant,
    /// The build in progress and its sequence number.
    running: Option<(u64, Running)>,
    /// When the running build started (for abandoning a stuck, superseded one).
    running_since: tokio::time::Instant,
    /// Fallback snapshot when watching failed: (mtime, len) per graph file.
    poll_snapshot: HashMap<PathBuf, Option<(SystemTime, u64)>>,
    /// A wanted folder could not be watched (then the graph is polled too).
    unwatchable: bool,
    /// A failure waiting out [`FAILURE_GRACE`] before it is reported.
    held_failure: Option<(BuildLoopEvent, tokio::time::Instant)>,
    /// What changed since the running (or last) build started: the next build's input.
    pending: Changes,
    /// The source files the running unit's build read, with digests of what it read.
    built_from: Vec<ReadFile>,
    /// Shared with the running build's publish hook.
    early: Arc<EarlyInspection>,
}

/// What the build loop and the running build's publish hook share (see the module docs).
#[derive(Default)]
struct EarlyInspection {
    state: Mutex<EarlyState>,
}

#[derive(Default)]
struct EarlyState {
    /// The loop's sequence number of the running build: only its hook may start one.
    seq: u64,
    /// What changed since that build started.
    since_start: SinceStart,
    /// The inspection a hook started: (build seq, contentHash, the answer to come).
    started: Option<(u64, String, PendingInspection)>,
}

/// Changes since the running build started, as the hook needs them.
#[derive(Default)]
enum SinceStart {
    #[default]
    Nothing,
    /// Only these files' contents (the build may have read them after the change).
    Files(Vec<PathBuf>),
    /// Anything else: only the loop can tell whether the build is current.
    Other,
}

impl EarlyInspection {
    fn lock(&self) -> std::sync::MutexGuard<'_, EarlyState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Build `seq` starts, with nothing changed since.
    fn started(&self, seq: u64) {
        let mut state = self.lock();
        state.seq = seq;
        state.since_start = SinceStart::Nothing;
        let stale = state.started.take();
        drop(state);
        drain(stale);
    }

    /// `pending` changed while the build runs.
    fn changed(&self, pending: &Changes) {
        let since_start = if pending.full_reason().is_some() {
            SinceStart::Other
        } else {
            SinceStart::Files(pending.modified_files().map(Path::to_path_buf).collect())
        };
        self.lock().since_start = since_start;
    }

    /// The publish hook of build `seq`: inspect now, unless a change since the build started
    /// may be one it did not read (then the loop decides after the build, as without a hook).
    fn published(&self, seq: u64, inspector: &Inspector, artifact: &Published<'_>) {
        let mut state = self.lock();
        // (A build publishes once; `started` is only ever emptied by the loop, which may
        // spawn the drain this thread could not.)
        let current = state.seq == seq
            && state.started.is_none()
            && match &state.since_start {
                SinceStart::Nothing => true,
                SinceStart::Files(files) => files
                    .iter()
                    .all(|file| ReadFile::unchanged_since(artifact.files_read, file)),
                SinceStart::Other => false,
            };
        if current {
            let pending = inspector.begin(artifact.out_file, artifact.content_hash);
            state.started = Some((seq, artifact.content_hash.to_owned(), pending));
        }
    }

    /// The inspection build `seq`'s hook started for these bytes, if any.
    fn take(&self, seq: u64, content_hash: &str) -> Option<PendingInspection> {
        let mut state = self.lock();
        match state.started.take() {
            Some((of, hash, pending)) if of == seq && hash == content_hash => Some(pending),
            other => {
                drop(state);
                drain(other);
                None
            }
        }
    }

    /// Build `seq` will not be inspected after all.
    fn discard(&self, seq: u64) {
        let stale = self.lock().started.take_if(|(of, _, _)| *of == seq);
        drain(stale);
    }
}

/// Let an inspection nobody will read run to its end: dropping it at once would kill the helper
/// mid-import. One still running after [`ABANDON_AFTER`] is dropped, as an abandoned build's is.
fn drain(stale: Option<(u64, String, PendingInspection)>) {
    if let Some((_, _, pending)) = stale {
        tokio::spawn(async move {
            let _ = tokio::time::timeout(ABANDON_AFTER, pending.wait()).await;
        });
    }
}

impl LoopState {
    fn new(builder: Builder, inspector: Inspector, events: mpsc::Sender<BuildLoopEvent>) -> Self {
        let project = builder.project().clone();
        let (fs_tx, fs_events) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = fs_tx.send(event);
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::warn!("file watcher unavailable, polling every second: {e}");
                None
            }
        };
        Self {
            builder,
            project,
            inspector,
            events,
            coalescer: Coalescer::new(),
            watcher,
            fs_events,
            watched_dirs: HashSet::new(),
            graph: HashSet::new(),
            failing: false,
            entry_missing: false,
            missing_imports: Vec::new(),
            missing_entry_reported: false,
            pending_since: None,
            build_started_at: Instant::now(),
            running: None,
            running_since: tokio::time::Instant::now(),
            poll_snapshot: HashMap::new(),
            unwatchable: false,
            held_failure: None,
            pending: Changes::full(FullReason::NoKeptGraph),
            built_from: Vec::new(),
            early: Arc::default(),
        }
    }

    async fn run(&mut self, mut commands: mpsc::UnboundedReceiver<LoopCommand>) {
        if self.watcher.is_none() {
            let _ = self
                .events
                .send(BuildLoopEvent::Failed {
                    message: "Failed to start the build watcher; polling for changes every second"
                        .to_owned(),
                    location: None,
                })
                .await;
        }
        self.update_watches();
        self.change(Instant::now()).await;
        let mut poll = tokio::time::interval(POLL_PERIOD);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let busy = self.running.is_some();
            let held_until = self.held_failure.as_ref().map(|(_, until)| *until);
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(LoopCommand::Rebuild) => {
                        self.pending.require_full(FullReason::Requested);
                        self.change(Instant::now()).await;
                    }
                    None => break, // the handle was dropped
                },
                Some(first) = self.fs_events.recv() => {
                    let now = Instant::now();
                    let mut relevant = self.is_relevant(first);
                    // Take everything already queued so one burst is one decision.
                    while let Ok(more) = self.fs_events.try_recv() {
                        relevant |= self.is_relevant(more);
                    }
                    if relevant {
                        self.change(now).await;
                    }
                }
                step = async {
                    match self.running.as_mut() {
                        Some((_, Running::Build(build))) => Step::Built(build.await),
                        Some((_, Running::Inspect(inspect))) => Step::Inspected(inspect.await),
                        None => std::future::pending().await,
                    }
                }, if busy => {
                    let Some((seq, _)) = self.running.take() else { continue };
                    let alive = match step {
                        Step::Built(attempt) => self.built(seq, attempt).await,
                        Step::Inspected(inspected) => self.inspected(seq, inspected).await,
                    };
                    if !alive {
                        break; // the engine dropped its receiver
                    }
                }
                _ = tokio::time::sleep_until(self.running_since + ABANDON_AFTER),
                    if busy && self.coalescer.is_dirty() =>
                {
                    tracing::debug!("abandoning a superseded build that is still running");
                    // Dropping the inspection wait makes the inspector kill its stuck helper.
                    self.running = None;
                    if let Some(seq) = self.coalescer.abandon() {
                        self.start(seq).await;
                    }
                }
                _ = tokio::time::sleep_until(held_until.unwrap_or_else(tokio::time::Instant::now)),
                    if held_until.is_some() =>
                {
                    if let Some((event, _)) = self.held_failure.take()
                        && self.events.send(event).await.is_err()
                    {
                        break; // the engine dropped its receiver
                    }
                }
                _ = poll.tick(), if self.polling() => {
                    if self.poll_for_changes() {
                        self.change(Instant::now()).await;
                    }
                }
            }
        }
        // Dropping the watcher releases the inotify watches; a running build is abandoned.
        self.running = None;
        self.watcher = None;
    }

    /// A relevant change: build now, or mark the running build dirty.
    async fn change(&mut self, at: Instant) {
        if self.missing_entry_reported && !self.project.entry.is_file() {
            // Nothing to build and the error is already out: stay quiet (no `Started`
            // without a result) until the entry appears.
            return;
        }
        // The held failure described older bytes; this change gets its own result.
        self.held_failure = None;
        self.pending_since.get_or_insert(at);
        match self.coalescer.change() {
            Some(seq) => self.start(seq).await,
            None => self.early.changed(&self.pending),
        }
    }

    /// Report the start and begin bundling for `seq`.
    async fn start(&mut self, seq: u64) {
        // Node wakes up while Rolldown bundles, instead of after.
        self.inspector.wake();
        self.build_started_at = self.pending_since.take().unwrap_or_else(Instant::now);
        self.running_since = tokio::time::Instant::now();
        self.early.started(seq);
        let (early, inspector) = (self.early.clone(), self.inspector.clone());
        let builder = self.builder.clone().on_publish(Arc::new(move |artifact| {
            early.published(seq, &inspector, artifact)
        }));
        let changes = std::mem::take(&mut self.pending);
        self.running = Some((
            seq,
            Running::Build(Box::pin(async move { builder.rebuild(changes).await })),
        ));
        let _ = self.events.send(BuildLoopEvent::Started).await;
    }

    /// Bundling ended: watch the new graph; inspect, or skip straight to the next build when a
    /// newer change already superseded this one. Returns false when the engine is gone.
    async fn built(&mut self, seq: u64, attempt: BuildAttempt) -> bool {
        self.built_from = attempt.files_read.clone();
        self.forget_changes_already_built();
        // The newest build's graph is what to watch, reported or not. A build that never got
        // to the graph (missing entry) keeps the previous one.
        if !attempt.watch_files.is_empty() {
            self.graph = attempt.watch_files.iter().cloned().collect();
        }
        self.entry_missing = matches!(attempt.outcome, Err(BuildError::EntryNotFound { .. }));
        self.failing = attempt.outcome.is_err();
        self.missing_imports = match &attempt.outcome {
            Err(error) => error.missing_imports().to_vec(),
            Ok(_) => Vec::new(),
        };
        // A folder watched only now may already hold the missing file (created together
        // with the folder, before the watch existed): build again rather than wait.
        if self.update_watches() && self.missing_imports.iter().any(|t| looks_present(t)) {
            self.pending.require_full(FullReason::ImportMayResolve);
            self.change(Instant::now()).await;
        }
        match attempt.outcome {
            Ok(output) if !self.coalescer.supersedes_inspection() => {
                let pending = self
                    .early
                    .take(seq, &output.content_hash)
                    .unwrap_or_else(|| {
                        self.inspector.begin(&output.out_file, &output.content_hash)
                    });
                self.running = Some((
                    seq,
                    Running::Inspect(Box::pin(async move {
                        let inspection = pending.wait().await;
                        (output, inspection)
                    })),
                ));
                true
            }
            // Superseded: not worth a Node import; the coalescer schedules the next build.
            Ok(_) => {
                self.early.discard(seq);
                self.ended(seq, None).await
            }
            Err(error) => {
                self.early.discard(seq);
                let event = BuildLoopEvent::Failed {
                    location: error.location().cloned(),
                    message: error.to_string(),
                };
                self.ended(seq, Some(event)).await
            }
        }
    }

    async fn inspected(&mut self, seq: u64, (output, inspection): Inspected) -> bool {
        self.forget_changes_already_built();
        let event = match inspection {
            Ok(inspection) => BuildLoopEvent::Built(BuiltArtifact {
                out_file: output.out_file.to_string_lossy().into_owned(),
                hash: output.fingerprint,
                content_hash: Some(output.content_hash),
                config_hash: inspection.config_hash,
                trainer_name: inspection.trainer_name,
                config: inspection.config,
                build_duration: self.build_started_at.elapsed(),
                inspect_duration: inspection.duration,
            }),
            Err(error) => {
                self.failing = true;
                BuildLoopEvent::Failed {
                    message: error.to_string(),
                    location: None,
                }
            }
        };
        self.ended(seq, Some(event)).await
    }

    /// A save often arrives as two events, truncate then write: the build starts on the first
    /// and mostly reads the file after the second landed, which then marks it superseded. When
    /// every change since the build started is a file still holding the bytes the build read,
    /// the build is current after all: no follow-up build, and its result is reported.
    fn forget_changes_already_built(&mut self) {
        if self.coalescer.is_dirty()
            && !self.pending.is_empty()
            && self.pending.full_reason().is_none()
            && self
                .pending
                .modified_files()
                .all(|path| ReadFile::unchanged_since(&self.built_from, path))
        {
            self.pending = Changes::default();
            // The next change starts its own clock.
            self.pending_since = None;
            self.coalescer.clean();
        }
    }

    /// The unit `seq` is over with `event` as its result (`None`: nothing to report). Report
    /// it unless superseded, then start the follow-up build if one is due.
    async fn ended(&mut self, seq: u64, event: Option<BuildLoopEvent>) -> bool {
        let succeeded = matches!(event, Some(BuildLoopEvent::Built(_)));
        let end = self.coalescer.finished(seq, succeeded);
        if end.publish
            && let Some(event) = event
        {
            // The missing entry is reported once per wait, not on every poll or folder event.
            let repeat_missing = self.entry_missing && self.missing_entry_reported;
            self.missing_entry_reported = self.entry_missing;
            let hold = matches!(event, BuildLoopEvent::Failed { .. })
                && !self.entry_missing
                && end.next.is_none();
            if hold {
                self.held_failure = Some((event, tokio::time::Instant::now() + FAILURE_GRACE));
            } else if !repeat_missing && self.events.send(event).await.is_err() {
                return false;
            }
        }
        if let Some(next) = end.next {
            self.start(next).await;
        }
        true
    }

    /// Whether a watcher event touches the build; records what it changed for the next build.
    fn is_relevant(&mut self, event: notify::Result<notify::Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            // Overflowed queue or similar: we may have missed something; rebuild.
            Err(e) => {
                tracing::debug!("watcher error: {e}");
                self.pending.require_full(FullReason::WatcherLost);
                return true;
            }
        };
        if event.need_rescan() {
            // The kernel queue overflowed: changes may have been lost.
            self.pending.require_full(FullReason::WatcherLost);
            return true;
        }
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        let mut relevant = false;
        for path in &event.paths {
            if self.is_ignored(path) {
                continue;
            }
            // A watched folder itself went away: its watch is gone; rewatch after the build.
            let self_gone = matches!(
                event.kind,
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From))
            );
            if self_gone && self.watched_dirs.remove(path) {
                if let Some(watcher) = self.watcher.as_mut() {
                    let _ = watcher.unwatch(path);
                }
                self.pending.require_full(FullReason::Removed(path.clone()));
                relevant = true;
                continue;
            }
            if self.graph.contains(path) || *path == self.project.entry {
                // Deleted, renamed away or rewritten: the builder checks which when it starts.
                self.pending.modified(path);
                relevant = true;
                continue;
            }
            let appeared = matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_))
            ) && !is_editor_scratch(path)
                && path.exists();
            if (self.entry_missing && self.project.entry.starts_with(path))
                || self
                    .missing_imports
                    .iter()
                    .any(|target| may_satisfy(target, path))
            {
                // A folder on the way to a missing entry, or what a missing import names.
                self.pending.require_full(FullReason::ImportMayResolve);
                relevant = true;
            } else if (self.failing || self.graph.is_empty()) && self.may_join_graph(path) {
                // While failing (or before the first graph), a new source file or folder
                // may be what the build lacks.
                self.pending.require_full(FullReason::Created(path.clone()));
                relevant = true;
            } else if appeared && (self.may_join_graph(path) || is_config_file(path)) {
                // Not a reason to build, but a new file can change where an import resolves
                // (`./util` to a new `util.ts` over `util.js`): the next build reads everything.
                self.pending.require_full(FullReason::Created(path.clone()));
            }
        }
        relevant
    }

    fn may_join_graph(&self, path: &Path) -> bool {
        let in_watched_dir = path
            .parent()
            .is_some_and(|dir| self.watched_dirs.contains(dir));
        // (Watched in a failing state, when a file the build is missing may appear.)
        let source_like = match path.extension().and_then(|e| e.to_str()) {
            Some(ext) => SOURCE_EXTENSIONS.contains(&ext),
            None => path.is_dir(),
        };
        in_watched_dir && source_like
    }

    fn is_ignored(&self, path: &Path) -> bool {
        path.starts_with(self.project.root.join(".arkor"))
            || path.starts_with(self.project.root.join("node_modules"))
    }

    /// The folders that must be watched: those of the graph, and the entry's folder or its
    /// nearest existing ancestor.
    fn wanted_dirs(&self) -> HashSet<PathBuf> {
        let mut dirs: HashSet<PathBuf> = self
            .graph
            .iter()
            .filter_map(|file| file.parent().map(Path::to_path_buf))
            .filter(|dir| !self.is_ignored(dir))
            .collect();
        let entry_dir = self.project.entry.parent();
        dirs.extend(entry_dir.and_then(nearest_existing_dir));
        for target in &self.missing_imports {
            dirs.extend(target.parent().and_then(nearest_existing_dir));
            // `./lib` may resolve to `lib/index.ts`.
            if target.is_dir() {
                dirs.insert(target.clone());
            }
        }
        dirs
    }

    /// Watch exactly the wanted folders. Returns whether a folder was added.
    fn update_watches(&mut self) -> bool {
        let wanted = self.wanted_dirs();
        let Some(watcher) = self.watcher.as_mut() else {
            self.poll_snapshot = self.snapshot();
            return false;
        };
        let mut added = false;
        self.unwatchable = false;
        for stale in self.watched_dirs.difference(&wanted) {
            let _ = watcher.unwatch(stale);
        }
        self.watched_dirs.retain(|dir| wanted.contains(dir));
        for dir in wanted {
            if self.watched_dirs.contains(&dir) {
                continue;
            }
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched_dirs.insert(dir);
                    added = true;
                }
                Err(e) => {
                    // E.g. the inotify watch limit: fall back to polling this build's files.
                    tracing::warn!("cannot watch {}: {e}; polling instead", dir.display());
                    self.unwatchable = true;
                }
            }
        }
        if self.unwatchable {
            self.poll_snapshot = self.snapshot();
        }
        added
    }

    fn polling(&self) -> bool {
        self.watcher.is_none() || self.unwatchable || self.entry_missing
    }

    /// Whether polling found a change. A poll cannot say which files changed (only that a
    /// stat differs), so the next build reads everything.
    fn poll_for_changes(&mut self) -> bool {
        let changed = if self.entry_missing {
            self.project.entry.is_file()
        } else {
            let now = self.snapshot();
            let changed = now != self.poll_snapshot;
            self.poll_snapshot = now;
            changed
        };
        if changed {
            self.pending.require_full(FullReason::Polling);
        }
        changed
    }

    fn snapshot(&self) -> HashMap<PathBuf, Option<(SystemTime, u64)>> {
        self.graph
            .iter()
            .chain(std::iter::once(&self.project.entry))
            .map(|file| {
                let stat = std::fs::metadata(file)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())));
                (file.clone(), stat)
            })
            .collect()
    }
}

fn nearest_existing_dir(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|dir| dir.is_dir())
        .map(Path::to_path_buf)
}

/// Whether a change at `path` could make the extension-less import `target` resolve: a
/// folder on the way to it, the file itself with any extension, or a file inside it.
fn may_satisfy(target: &Path, path: &Path) -> bool {
    target.starts_with(path)
        || path.starts_with(target)
        || (path.parent() == target.parent()
            && path.file_stem().is_some()
            && path.file_stem() == target.file_name())
}

/// Whether something that may satisfy `target` exists now.
fn looks_present(target: &Path) -> bool {
    if target.is_dir() {
        return true;
    }
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return false;
    };
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| Path::new(&entry.file_name()).file_stem() == Some(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_change_builds_at_once() {
        let mut c = Coalescer::new();
        assert_eq!(c.change(), Some(1));
        assert!(c.is_building());
        assert_eq!(
            c.finished(1, true),
            BuildEnd {
                publish: true,
                next: None
            }
        );
        assert!(!c.is_building());
        assert_eq!(c.change(), Some(2));
    }

    #[test]
    fn changes_during_a_build_coalesce_into_one_follow_up_and_suppress_the_stale_result() {
        let mut c = Coalescer::new();
        assert_eq!(c.change(), Some(1));
        for _ in 0..100 {
            assert_eq!(c.change(), None);
        }
        assert_eq!(
            c.finished(1, true),
            BuildEnd {
                publish: false,
                next: Some(2)
            }
        );
        assert_eq!(
            c.finished(2, true),
            BuildEnd {
                publish: true,
                next: None
            }
        );
    }

    #[test]
    fn a_superseded_failure_is_never_reported() {
        let mut c = Coalescer::new();
        c.change();
        c.change();
        assert_eq!(
            c.finished(1, false),
            BuildEnd {
                publish: false,
                next: Some(2)
            }
        );
        assert!(
            c.finished(2, false).publish,
            "the newest failure is reported"
        );
    }

    #[test]
    fn constant_changes_still_report_a_success_now_and_then() {
        let mut c = Coalescer::new();
        let mut seq = c.change().unwrap();
        let mut published = 0;
        for round in 0..(STARVATION_LIMIT * 3) {
            assert_eq!(c.change(), None, "round {round}");
            let end = c.finished(seq, true);
            published += usize::from(end.publish);
            seq = end.next.expect("a follow-up build");
        }
        assert_eq!(published, 3);
        // Failures under the same stream stay silent.
        let mut c = Coalescer::new();
        let mut seq = c.change().unwrap();
        for _ in 0..(STARVATION_LIMIT * 3) {
            c.change();
            let end = c.finished(seq, false);
            assert!(!end.publish);
            seq = end.next.unwrap();
        }
    }

    #[test]
    fn abandoning_a_dirty_build_starts_the_next_and_ignores_the_old_result() {
        let mut c = Coalescer::new();
        assert_eq!(c.abandon(), None, "nothing to abandon when idle");
        assert_eq!(c.change(), Some(1));
        assert_eq!(c.change(), None);
        assert!(c.is_dirty());
        assert_eq!(c.abandon(), Some(2));
        assert!(!c.is_dirty());
        assert_eq!(
            c.finished(1, true),
            BuildEnd {
                publish: false,
                next: None
            },
            "a late result of the abandoned build is ignored"
        );
        assert_eq!(
            c.finished(2, true),
            BuildEnd {
                publish: true,
                next: None
            }
        );
    }

    #[test]
    fn inspection_is_skipped_only_for_results_that_will_not_be_reported() {
        let mut c = Coalescer::new();
        let mut seq = c.change().unwrap();
        assert!(!c.supersedes_inspection(), "clean build: inspect it");
        c.change();
        assert!(
            c.supersedes_inspection(),
            "dirty build: skip its inspection"
        );
        // Under a constant stream the starvation guard wants one inspected result.
        for _ in 0..(STARVATION_LIMIT - 1) {
            seq = c.finished(seq, false).next.unwrap();
            c.change();
        }
        assert!(!c.supersedes_inspection());
        assert!(c.finished(seq, true).publish);
    }

    /// A loop state on a project with `src/arkor/index.ts` and `a.ts` as its graph, nothing
    /// pending (as after a build). Its inspector has no Node: nothing here inspects.
    fn loop_state(root: &Path) -> LoopState {
        let src = root.join("src/arkor");
        std::fs::create_dir_all(&src).expect("mkdir");
        for file in ["index.ts", "a.ts"] {
            std::fs::write(src.join(file), "export {};\n").expect("write");
        }
        let project = Project::at(root).expect("project");
        let inspector = Inspector::start(crate::core::inspect::InspectorOptions::new(
            root.join("no-node"),
            root.to_path_buf(),
        ));
        let (events, _) = mpsc::channel(1);
        let mut state = LoopState::new(Builder::new(project), inspector, events);
        state.graph = [src.join("index.ts"), src.join("a.ts")].into();
        state.watched_dirs = [src].into();
        state.pending = Changes::default();
        state
    }

    fn event(kind: EventKind, path: &Path) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(path.to_path_buf()))
    }

    /// What the watcher reports decides between a partial build of the changed files and a
    /// full one: lost events, polling and new or removed files cannot be built partially.
    #[tokio::test]
    async fn watcher_events_choose_partial_or_full_builds() {
        use notify::event::{CreateKind, DataChange, Flag, RemoveKind};
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let src = root.join("src/arkor");
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Content));

        // A save of a graph file: that file, partially.
        let mut state = loop_state(&root);
        assert!(state.is_relevant(event(modify, &src.join("a.ts"))));
        assert_eq!(state.pending.full_reason(), None);
        assert_eq!(
            state.pending.modified_files().collect::<Vec<_>>(),
            [src.join("a.ts")]
        );

        // A file nobody imports yet: no build, but the next one reads everything.
        std::fs::write(src.join("b.ts"), "export {};\n").expect("write");
        assert!(!state.is_relevant(event(
            EventKind::Create(CreateKind::File),
            &src.join("b.ts")
        )));
        assert_eq!(
            state.pending.full_reason(),
            Some(&FullReason::Created(src.join("b.ts")))
        );

        // A watched folder removed (or renamed away).
        let mut state = loop_state(&root);
        assert!(state.is_relevant(event(EventKind::Remove(RemoveKind::Folder), &src)));
        assert_eq!(
            state.pending.full_reason(),
            Some(&FullReason::Removed(src.clone()))
        );

        // The kernel queue overflowed.
        let mut state = loop_state(&root);
        let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert!(state.is_relevant(Ok(overflow)));
        assert_eq!(state.pending.full_reason(), Some(&FullReason::WatcherLost));

        // The watcher reported an error.
        let mut state = loop_state(&root);
        assert!(state.is_relevant(Err(notify::Error::generic("inotify read failed"))));
        assert_eq!(state.pending.full_reason(), Some(&FullReason::WatcherLost));

        // Without a watcher the graph is polled: a changed stat builds everything.
        let mut state = loop_state(&root);
        state.watcher = None;
        assert!(state.polling());
        state.poll_snapshot = state.snapshot();
        assert!(!state.poll_for_changes());
        std::fs::write(src.join("a.ts"), "export const a = 1;\n").expect("write");
        assert!(state.poll_for_changes());
        assert_eq!(state.pending.full_reason(), Some(&FullReason::Polling));
        assert!(!state.poll_for_changes(), "reported once");

        // Build output and dependencies are not the project's sources.
        let mut state = loop_state(&root);
        assert!(!state.is_relevant(event(modify, &root.join(".arkor/build/index.mjs"))));
        assert_eq!(state.pending, Changes::default());
    }

    #[test]
    fn paths_that_may_satisfy_a_missing_import() {
        let target = Path::new("/p/src/lib/util");
        assert!(may_satisfy(target, Path::new("/p/src")));
        assert!(may_satisfy(target, Path::new("/p/src/lib")));
        assert!(may_satisfy(target, Path::new("/p/src/lib/util.ts")));
        assert!(may_satisfy(target, Path::new("/p/src/lib/util/index.ts")));
        assert!(!may_satisfy(target, Path::new("/p/src/lib/other.ts")));
        assert!(!may_satisfy(target, Path::new("/p/src/arkor/util.ts")));
    }

    #[test]
    fn a_build_cleaned_of_changes_it_already_saw_is_reported_without_a_follow_up() {
        let mut c = Coalescer::new();
        assert_eq!(c.change(), Some(1));
        assert_eq!(c.change(), None);
        assert!(c.supersedes_inspection());
        c.clean();
        assert!(!c.supersedes_inspection());
        assert_eq!(
            c.finished(1, true),
            BuildEnd {
                publish: true,
                next: None
            }
        );
    }

    #[test]
    fn a_finish_for_another_build_is_ignored() {
        let mut c = Coalescer::new();
        c.change();
        assert_eq!(
            c.finished(7, true),
            BuildEnd {
                publish: false,
                next: None
            }
        );
        assert!(c.is_building());
    }

    /// The publish hook starts the inspection only for the running build, and only when
    /// nothing changed since it started that it may not have read; the loop takes it only
    /// for the same build and bytes.
    #[tokio::test]
    async fn the_publish_hook_inspects_early_only_a_build_that_is_current() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.ts");
        std::fs::write(&file, "export const a = 1;\n").expect("write");
        let read = [ReadFile::new(&file, b"export const a = 1;\n")];
        let inspector = Inspector::start(crate::core::inspect::InspectorOptions::new(
            dir.path().join("no-node"),
            dir.path().to_path_buf(),
        ));
        let artifact = dir.path().join("index.mjs");
        let published = |hash: &'static str| Published {
            out_file: &artifact,
            content_hash: hash,
            files_read: &read,
        };
        let early = EarlyInspection::default();
        let started = |early: &EarlyInspection| early.lock().started.is_some();

        // Nothing changed since build 1 started.
        early.started(1);
        early.published(1, &inspector, &published("h1"));
        assert!(started(&early));
        assert!(
            early.take(1, "other bytes").is_none(),
            "another build's bytes"
        );
        early.published(1, &inspector, &published("h1"));
        assert!(early.take(1, "h1").is_some());

        // A save of the bytes the build read (the write after an editor's truncate).
        let mut pending = Changes::default();
        pending.modified(&file);
        early.started(2);
        early.changed(&pending);
        early.published(2, &inspector, &published("h2"));
        assert!(started(&early));
        early.discard(2);
        assert!(!started(&early));

        // A save the build did not read, or a change that needs a full build: no.
        std::fs::write(&file, "export const a = 2;\n").expect("write");
        early.started(3);
        early.changed(&pending);
        early.published(3, &inspector, &published("h3"));
        assert!(!started(&early));
        early.started(4);
        early.changed(&Changes::full(FullReason::Requested));
        early.published(4, &inspector, &published("h4"));
        assert!(!started(&early));

        // An older build's hook (abandoned, still publishing) never starts one.
        early.started(6);
        early.published(5, &inspector, &published("h5"));
        assert!(!started(&early));
    }
}
