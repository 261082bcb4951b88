//! The build loop: watch the module graph, build at once on a change, coalesce bursts, inspect,
//! and report each build that no newer change superseded.
//!
//! Watching: notify on the DIRECTORIES holding the last build's module graph plus the entry's
//! folder (or its nearest existing ancestor), filtered by path, so rename-style saves (vim,
//! JetBrains) and delete + create keep working. A 1 s poll backs up the missing-entry wait
//! and a failed watcher.
//!
//! Coalescing ([`Coalescer`]): no debounce window. The first change starts a build; changes
//! during a build mark it dirty; a dirty build is not reported and is followed by exactly one
//! more. Build + inspection are one unit, so an older inspection can never be reported after
//! a newer change.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::core::build::{BuildAttempt, BuildError, Builder, SourceLocation};
use crate::core::events::BuiltArtifact;
use crate::core::inspect::{InspectError, Inspection, Inspector};
use crate::core::project::Project;

/// Poll period while the entry is missing or the watcher could not start (as the reference).
const POLL_PERIOD: Duration = Duration::from_secs(1);
/// After this many builds in a row were superseded, a successful one is reported anyway, so a
/// file rewritten faster than it builds still produces events.
const STARVATION_LIMIT: u32 = 8;
/// File extensions that may join the module graph (watched in a failing state, when a file
/// the build is missing may appear).
const SOURCE_EXTENSIONS: &[&str] = &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs", "json"];

/// What the build loop reports to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum BuildLoopEvent {
    /// A build started (file change, the initial build, or [`BuildLoopHandle::rebuild`]).
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

    fn start(&mut self) -> u64 {
        self.last_seq += 1;
        self.in_flight = Some(self.last_seq);
        self.last_seq
    }
}

/// Spawns the build loop task.
pub struct BuildLoop;

impl BuildLoop {
    /// Start watching and run the first build at once. Must be called within a tokio runtime.
    /// The loop ends on [`BuildLoopHandle::shutdown`], when the handle is dropped, or when the
    /// event receiver is dropped.
    pub fn spawn(
        project: Project,
        inspector: Inspector,
    ) -> (BuildLoopHandle, mpsc::Receiver<BuildLoopEvent>) {
        let (events, receiver) = mpsc::channel(256);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut state = LoopState::new(project, inspector, events);
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
    Shutdown(oneshot::Sender<()>),
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

    /// Stop watching, abandon a running build's report, and wait for the loop to end.
    pub async fn shutdown(&self) {
        let (ack, acked) = oneshot::channel();
        if self.commands.send(LoopCommand::Shutdown(ack)).is_ok() {
            let _ = acked.await;
        }
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

type BuildResult = (u64, BuildAttempt, Option<Result<Inspection, InspectError>>);
type InFlight = Pin<Box<dyn Future<Output = BuildResult> + Send>>;

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
    /// A missing-entry error was reported and nothing else since (report it once).
    missing_entry_reported: bool,
    /// When the change that the next (or running) build answers first arrived.
    pending_since: Option<Instant>,
    build_started_at: Instant,
    /// Fallback snapshot when the watcher could not start: (mtime, len) per graph file.
    poll_snapshot: HashMap<PathBuf, Option<(SystemTime, u64)>>,
}

impl LoopState {
    fn new(project: Project, inspector: Inspector, events: mpsc::Sender<BuildLoopEvent>) -> Self {
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
            builder: Builder::new(project.clone()),
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
            missing_entry_reported: false,
            pending_since: None,
            build_started_at: Instant::now(),
            poll_snapshot: HashMap::new(),
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
        let mut in_flight: Option<InFlight> = None;
        if let Some(seq) = self.change(Instant::now()) {
            in_flight = self.start(seq).await;
        }
        let mut poll = tokio::time::interval(POLL_PERIOD);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(LoopCommand::Rebuild) => {
                        if let Some(seq) = self.change(Instant::now()) {
                            in_flight = self.start(seq).await;
                        }
                    }
                    Some(LoopCommand::Shutdown(ack)) => {
                        let _ = ack.send(());
                        break;
                    }
                    None => break,
                },
                Some(first) = self.fs_events.recv() => {
                    let now = Instant::now();
                    let mut relevant = self.is_relevant(first);
                    // Take everything already queued so one burst is one decision.
                    while let Ok(more) = self.fs_events.try_recv() {
                        relevant |= self.is_relevant(more);
                    }
                    if relevant && let Some(seq) = self.change(now) {
                        in_flight = self.start(seq).await;
                    }
                }
                done = async {
                    match in_flight.as_mut() {
                        Some(build) => build.await,
                        None => std::future::pending().await,
                    }
                }, if in_flight.is_some() => {
                    in_flight = None;
                    match self.finish(done).await {
                        Some(Some(seq)) => in_flight = self.start(seq).await,
                        Some(None) => {}
                        None => break, // the engine dropped its receiver
                    }
                }
                _ = poll.tick(), if self.polling() => {
                    if self.poll_detects_change() && let Some(seq) = self.change(Instant::now()) {
                        in_flight = self.start(seq).await;
                    }
                }
            }
        }
        // Dropping the watcher releases the inotify watches; an in-flight build is abandoned.
        self.watcher = None;
    }

    fn change(&mut self, at: Instant) -> Option<u64> {
        self.pending_since.get_or_insert(at);
        self.coalescer.change()
    }

    /// Report the start and return the build + inspection future for `seq`.
    async fn start(&mut self, seq: u64) -> Option<InFlight> {
        self.build_started_at = self.pending_since.take().unwrap_or_else(Instant::now);
        let _ = self.events.send(BuildLoopEvent::Started).await;
        let builder = self.builder.clone();
        let inspector = self.inspector.clone();
        Some(Box::pin(async move {
            let attempt = builder.build().await;
            let inspection = match &attempt.outcome {
                Ok(out) => Some(inspector.inspect(&out.out_file, &out.content_hash).await),
                Err(_) => None,
            };
            (seq, attempt, inspection)
        }))
    }

    /// Handle a finished build. Returns `None` when the engine is gone, else the next build
    /// to start (if any).
    async fn finish(&mut self, (seq, attempt, inspection): BuildResult) -> Option<Option<u64>> {
        // The graph of the newest build is what to watch, reported or not.
        if !attempt.watch_files.is_empty() {
            self.graph = attempt.watch_files.iter().cloned().collect();
        }
        let entry_missing = matches!(attempt.outcome, Err(BuildError::EntryNotFound { .. }));
        let succeeded = attempt.outcome.is_ok() && matches!(inspection, Some(Ok(_)));
        self.failing = !succeeded;
        self.entry_missing = entry_missing;
        self.update_watches();
        let end = self.coalescer.finished(seq, succeeded);
        if end.publish {
            let event = self.report(attempt, inspection);
            let repeat_missing = entry_missing && self.missing_entry_reported;
            self.missing_entry_reported = entry_missing;
            if !repeat_missing && self.events.send(event).await.is_err() {
                return None;
            }
        }
        Some(end.next)
    }

    fn report(
        &self,
        attempt: BuildAttempt,
        inspection: Option<Result<Inspection, InspectError>>,
    ) -> BuildLoopEvent {
        let output = match attempt.outcome {
            Ok(output) => output,
            Err(error) => {
                return BuildLoopEvent::Failed {
                    location: error.location().cloned(),
                    message: error.to_string(),
                };
            }
        };
        match inspection {
            Some(Ok(inspection)) => BuildLoopEvent::Built(BuiltArtifact {
                out_file: output.out_file.to_string_lossy().into_owned(),
                hash: output.fingerprint,
                content_hash: Some(output.content_hash),
                config_hash: inspection.config_hash,
                trainer_name: inspection.trainer_name,
                config: inspection.config,
                build_duration: self.build_started_at.elapsed(),
                inspect_duration: inspection.duration,
            }),
            Some(Err(error)) => BuildLoopEvent::Failed {
                message: error.to_string(),
                location: None,
            },
            None => BuildLoopEvent::Failed {
                message: InspectError::Closed.to_string(),
                location: None,
            },
        }
    }

    /// Whether a watcher event touches the build.
    fn is_relevant(&mut self, event: notify::Result<notify::Event>) -> bool {
        let event = match event {
            Ok(event) => event,
            // Overflowed queue or similar: we may have missed something; rebuild.
            Err(e) => {
                tracing::debug!("watcher error: {e}");
                return true;
            }
        };
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
                relevant = true;
                continue;
            }
            relevant |= self.graph.contains(path)
                || *path == self.project.entry
                // A folder on the way to a missing entry appeared.
                || (self.entry_missing && self.project.entry.starts_with(path))
                // While failing, a new source file or folder may be what the build lacks.
                || (self.failing && self.may_join_graph(path));
        }
        relevant
    }

    fn may_join_graph(&self, path: &Path) -> bool {
        let in_watched_dir = path
            .parent()
            .is_some_and(|dir| self.watched_dirs.contains(dir));
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
        let mut entry_dir = self.project.entry.parent();
        while let Some(dir) = entry_dir {
            if dir.is_dir() {
                dirs.insert(dir.to_path_buf());
                break;
            }
            entry_dir = dir.parent();
        }
        dirs
    }

    fn update_watches(&mut self) {
        let wanted = self.wanted_dirs();
        let Some(watcher) = self.watcher.as_mut() else {
            self.poll_snapshot = self.snapshot();
            return;
        };
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
                }
                Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
            }
        }
    }

    fn polling(&self) -> bool {
        self.watcher.is_none() || self.entry_missing
    }

    fn poll_detects_change(&mut self) -> bool {
        if self.entry_missing {
            return self.project.entry.is_file();
        }
        let now = self.snapshot();
        let changed = now != self.poll_snapshot;
        self.poll_snapshot = now;
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
}
