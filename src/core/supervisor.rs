//! Spawns, signals and reaps training runner processes, and captures their output.
//!
//! Every child is started isolated ([`crate::core::process`]: its own process group, so
//! termination signals go to the group and a grandchild dies with it; it dies with arkor)
//! and is always reaped. Its stdout and stderr are drained by dedicated threads with large
//! reads, so a child is never blocked by a slow reader; lines go to the [`LogStore`], raw
//! bytes to an optional per-run tap (for `/api/train`), and the job-id marker is looked for
//! on stdout only.
//!
//! Events come back on [`ChildEvents`]: `JobId`, coalesced `LogsAppended`, and `Exited` last
//! (after both pipes reached EOF and the process group is gone).
//!
//! The supervisor is mechanism only: it starts, signals and reaps. When to stop a run, and
//! when a stop that takes too long becomes a SIGKILL, is the engine's policy (its timers).
//! How the engine uses it:
//! ```text
//! let supervisor = Supervisor::new(shared.logs.clone(), child_tx); // or with_events()
//! let child = supervisor.spawn(SpawnSpec::new(node, root).arg(bin).arg("start"), tap)?;
//! // per rebuild: registry::dispatch(live records, &artifact, &supervisor)
//! //              (SIGUSR2 for a hot swap, SIGTERM, sent at most once, for a restart)
//! // stop key:    supervisor.terminate(pid); the engine SIGKILLs with force_stop(pid)
//! //              if the run is still alive at its deadline
//! // ChildEvent::JobId, ChildEvent::Exited → the engine's record of the run
//! ```

mod capture;
mod marker;

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc as std_mpsc};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use capture::{LineSplitter, MAX_LINE_BYTES};
pub use marker::{MARKER_SCAN_WINDOW, MarkerScanner};

use crate::core::events::ExitStatus;
use crate::core::logs::{LogStore, LogStream};
use crate::core::process::{self, SpawnFailure};
use crate::core::registry::{SignalOutcome, Signaller};
use crate::core::run_output::OutputTap;
use crate::core::stackmap::StackMapper;

/// Environment variable carrying the per-spawn marker nonce (the runner deletes it).
pub const MARKER_NONCE_ENV: &str = "ARKOR_JOB_ID_MARKER_NONCE";

/// Bytes per `read(2)` on a child's pipe.
const READ_CHUNK: usize = 64 * 1024;
/// Stack of the per-child reader / monitor threads (buffers live on the heap).
const THREAD_STACK: usize = 256 * 1024;
/// After the child exited: how long leftover group members get after SIGTERM.
const LEFTOVER_TERM_GRACE: Duration = Duration::from_secs(1);
/// After SIGKILL to leftovers: how long to wait for the group to disappear.
const LEFTOVER_KILL_WAIT: Duration = Duration::from_secs(2);
/// After the group is gone: how long to wait for pipe EOF (a process that left the group
/// may still hold the pipe; its output is then dropped).
const PIPE_DRAIN_WAIT: Duration = Duration::from_secs(2);

/// What to run. The caller decides program, arguments, directory and extra environment;
/// the supervisor adds the marker nonce.
#[derive(Clone, Debug)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Added to (or overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Rewrites stack frames that point at the build artifact to source positions as the
    /// output becomes log lines (`None`: lines are stored as printed).
    pub stack_mapper: Option<StackMapper>,
}

impl SpawnSpec {
    pub fn new(program: impl Into<PathBuf>, cwd: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Vec::new(),
            stack_mapper: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stack_mapper(mut self, mapper: StackMapper) -> Self {
        self.stack_mapper = Some(mapper);
        self
    }
}

/// A started child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnedChild {
    pub pid: u32,
    /// The 32-hex nonce given in `ARKOR_JOB_ID_MARKER_NONCE`.
    pub nonce: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("failed to start {program}: {source}")]
    Io {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("the supervisor is shutting down; no new runs are started")]
    ShuttingDown,
    #[error("the process spawner thread is unavailable")]
    SpawnerUnavailable,
}

/// What the supervisor reports about its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildEvent {
    /// The runner's `[arkor:<nonce>] Started job <id>` marker was seen on stdout.
    JobId { pid: u32, id: String },
    /// New lines are in the log store. Coalesced: at most one is queued per child until
    /// it is received, however many lines arrive meanwhile.
    LogsAppended { pid: u32 },
    /// The child was reaped, its pipes are drained and its process group is gone. Last
    /// event for this pid.
    Exited { pid: u32, status: ExitStatus },
}

enum Envelope {
    Event(ChildEvent),
    Logs { pid: u32, pending: Arc<AtomicBool> },
}

/// The receiving side of the supervisor's events.
pub struct ChildEvents {
    rx: mpsc::UnboundedReceiver<Envelope>,
}

impl ChildEvents {
    /// The next event; `None` once every supervisor handle and child is gone.
    pub async fn recv(&mut self) -> Option<ChildEvent> {
        let envelope = self.rx.recv().await?;
        Some(open(envelope))
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<ChildEvent> {
        self.rx.try_recv().ok().map(open)
    }

    /// Move every event into `tx` (e.g. the engine's own inbox) from a tokio task; ends
    /// when either side closes. Must be called inside a tokio runtime. Coalescing then
    /// holds until the forwarder takes an event, not until the final reader does.
    pub fn forward_into(mut self, tx: mpsc::UnboundedSender<ChildEvent>) -> JoinHandle<()> {
        tokio::spawn(async move {
            while let Some(event) = self.recv().await {
                if tx.send(event).is_err() {
                    break;
                }
            }
        })
    }
}

fn open(envelope: Envelope) -> ChildEvent {
    match envelope {
        Envelope::Event(event) => event,
        Envelope::Logs { pid, pending } => {
            // Cleared before the consumer reads the store: lines pushed after this point
            // queue a fresh notification, lines pushed before it are already readable.
            pending.store(false, Ordering::SeqCst);
            ChildEvent::LogsAppended { pid }
        }
    }
}

/// What [`Supervisor::shutdown_all`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Children alive when shutdown began.
    pub stopped: usize,
    /// True when every child exited within the grace period (no SIGKILL needed).
    pub graceful: bool,
    /// Children still not reaped when shutdown gave up (0 unless the OS misbehaves).
    pub remaining: usize,
}

/// Spawns and supervises runner processes. Cheap to clone; all clones share the children.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    logs: LogStore,
    events: mpsc::UnboundedSender<Envelope>,
    children: Mutex<HashMap<u32, Arc<ChildEntry>>>,
    /// Number of children not yet fully finished (reaped, drained, group gone).
    live: watch::Sender<usize>,
    /// Serialises spawning against the start of shutdown.
    lifecycle: Mutex<bool>,
    /// SIGKILLs delivered (escalations and force stops), ever.
    kills: AtomicUsize,
}

struct ChildEntry {
    pid: u32,
    state: Mutex<ChildState>,
    /// Set once `Exited` was sent: late output (from a process that escaped the group) is
    /// drained but no longer stored or forwarded.
    closed: AtomicBool,
}

#[derive(Default)]
struct ChildState {
    /// The pid was reaped and may be reused: never signal it again.
    reaped: bool,
    /// The (one) SIGTERM went out, by dispatch or a stop: a second one would make the
    /// runner exit at once without its checkpoint.
    sigterm_sent: bool,
}

impl ChildEntry {
    fn lock(&self) -> MutexGuard<'_, ChildState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Supervisor {
    /// A supervisor that stores lines in `logs` and sends its events into `events`.
    /// A forwarding thread clears each coalesced `LogsAppended` as it hands it over.
    pub fn new(logs: LogStore, events: mpsc::UnboundedSender<ChildEvent>) -> Supervisor {
        let (supervisor, mut inbox) = Supervisor::with_events(logs);
        let forwarder = thread::Builder::new()
            .name("arkor-child-events".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                while let Some(envelope) = inbox.rx.blocking_recv() {
                    if events.send(open(envelope)).is_err() {
                        break;
                    }
                }
            });
        if let Err(err) = forwarder {
            // Without it the engine would never hear of its children: say so loudly.
            tracing::error!(%err, "could not start the child-event forwarder");
        }
        supervisor
    }

    /// A supervisor whose events are read from the returned [`ChildEvents`]; a coalesced
    /// `LogsAppended` is cleared exactly when it is received there.
    pub fn with_events(logs: LogStore) -> (Supervisor, ChildEvents) {
        let (events, rx) = mpsc::unbounded_channel();
        let (live, _) = watch::channel(0);
        let inner = Inner {
            logs,
            events,
            children: Mutex::new(HashMap::new()),
            live,
            lifecycle: Mutex::new(false),
            kills: AtomicUsize::new(0),
        };
        (
            Supervisor {
                inner: Arc::new(inner),
            },
            ChildEvents { rx },
        )
    }

    /// Start a child: own process group, parent-death SIGKILL, stdin null, stdout/stderr
    /// captured. `tap` receives the raw bytes (never waiting for its reader) and then the
    /// exit status.
    pub fn spawn(
        &self,
        spec: SpawnSpec,
        tap: Option<OutputTap>,
    ) -> Result<SpawnedChild, SpawnError> {
        let lifecycle = self
            .inner
            .lifecycle
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *lifecycle {
            return Err(SpawnError::ShuttingDown);
        }
        let nonce = new_nonce();
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(MARKER_NONCE_ENV, &nonce)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = process::spawn_isolated(command).map_err(|e| match e {
            SpawnFailure::SpawnerUnavailable => SpawnError::SpawnerUnavailable,
            SpawnFailure::Io(source) => SpawnError::Io {
                program: spec.program.display().to_string(),
                source,
            },
        })?;
        let pid = child.id();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            // Piped stdio is always present; stay safe anyway.
            process::kill_group_and_reap(&mut child);
            return Err(SpawnError::Io {
                program: spec.program.display().to_string(),
                source: io::Error::other("child pipes missing"),
            });
        };
        process::grow_pipe(&stdout);
        process::grow_pipe(&stderr);

        let entry = Arc::new(ChildEntry {
            pid,
            state: Mutex::new(ChildState::default()),
            closed: AtomicBool::new(false),
        });
        // A reused pid starts with an empty log, never a previous run's lines.
        self.inner.logs.remove(pid);
        self.lock_children().insert(pid, entry.clone());
        self.inner.live.send_modify(|n| *n += 1);
        drop(lifecycle);

        let mapper = spec.stack_mapper.clone();
        if let Err(source) = self.start_threads(entry, &nonce, stdout, stderr, tap, mapper) {
            // Nobody would drain or reap it: take it down now.
            process::kill_group_and_reap(&mut child);
            self.lock_children().remove(&pid);
            self.inner.live.send_modify(|n| *n = n.saturating_sub(1));
            return Err(SpawnError::Io {
                program: spec.program.display().to_string(),
                source,
            });
        }
        // std neither kills nor waits on drop: from here on the monitor thread reaps it.
        drop(child);
        Ok(SpawnedChild { pid, nonce })
    }

    fn start_threads(
        &self,
        entry: Arc<ChildEntry>,
        nonce: &str,
        stdout: std::process::ChildStdout,
        stderr: std::process::ChildStderr,
        tap: Option<OutputTap>,
        stack_mapper: Option<StackMapper>,
    ) -> io::Result<()> {
        let pid = entry.pid;
        let tap = Arc::new(Mutex::new(tap));
        let pending = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = std_mpsc::channel();
        let pipes: [(LogStream, Option<MarkerScanner>, Box<dyn Read + Send>); 2] = [
            // The job marker is only ever looked for on stdout.
            (
                LogStream::Stdout,
                Some(MarkerScanner::new(nonce)),
                Box::new(stdout),
            ),
            (LogStream::Stderr, None, Box::new(stderr)),
        ];
        for (stream, marker, pipe) in pipes {
            let reader = Reader {
                inner: self.inner.clone(),
                entry: entry.clone(),
                stream,
                marker,
                tap: tap.clone(),
                pending: pending.clone(),
                stack_mapper: stack_mapper.clone(),
            };
            let done = done_tx.clone();
            thread::Builder::new()
                .name(format!("arkor-read-{pid}"))
                .stack_size(THREAD_STACK)
                .spawn(move || {
                    reader.run(pipe);
                    let _ = done.send(());
                })?;
        }
        drop(done_tx);
        let inner = self.inner.clone();
        thread::Builder::new()
            .name(format!("arkor-reap-{pid}"))
            .stack_size(THREAD_STACK)
            .spawn(move || monitor(inner, entry, done_rx, tap, pending))?;
        Ok(())
    }

    /// Send `signal` to a child. Termination signals go to its process group; SIGUSR2
    /// (the hot-swap request, fatal to a process without a handler) only to the runner.
    /// A child that already exited is `Gone`.
    pub fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome {
        let Some(entry) = self.entry(pid) else {
            return SignalOutcome::Gone;
        };
        let mut state = entry.lock();
        if state.reaped {
            return SignalOutcome::Gone;
        }
        let outcome = deliver(pid, signal);
        if outcome == SignalOutcome::Delivered {
            match signal {
                Signal::SIGTERM => state.sigterm_sent = true,
                Signal::SIGKILL => {
                    self.inner.kills.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
        outcome
    }

    /// The early stop: SIGTERM to the group, unless one was already sent (a second SIGTERM
    /// makes the runner exit without its checkpoint; then this is `Delivered` again and
    /// sends nothing). The caller decides when a stop that takes too long is force-stopped.
    pub fn terminate(&self, pid: u32) -> SignalOutcome {
        let Some(entry) = self.entry(pid) else {
            return SignalOutcome::Gone;
        };
        let mut state = entry.lock();
        if state.reaped {
            return SignalOutcome::Gone;
        }
        if state.sigterm_sent {
            return SignalOutcome::Delivered;
        }
        let outcome = deliver(pid, Signal::SIGTERM);
        if outcome == SignalOutcome::Delivered {
            state.sigterm_sent = true;
        }
        outcome
    }

    /// SIGKILL to the child's group, now.
    pub fn force_stop(&self, pid: u32) -> SignalOutcome {
        self.signal(pid, Signal::SIGKILL)
    }

    /// SIGKILL every live child's group (the second quit request). Returns how many were
    /// signalled; a pending [`Supervisor::shutdown_all`] then resolves once they are reaped.
    pub fn force_stop_all(&self) -> usize {
        self.live_pids()
            .into_iter()
            .filter(|&pid| self.force_stop(pid) == SignalOutcome::Delivered)
            .count()
    }

    /// Pids of children not yet finished (not yet `Exited`).
    pub fn live_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.lock_children().keys().copied().collect();
        pids.sort_unstable();
        pids
    }

    pub fn live_count(&self) -> usize {
        *self.inner.live.borrow()
    }

    /// Refuse new spawns, early-stop every child, wait up to `grace`, SIGKILL the rest,
    /// and resolve once every child is reaped and its process group is gone.
    pub fn shutdown_all(&self, grace: Duration) -> impl Future<Output = ShutdownReport> + use<> {
        let supervisor = self.clone();
        async move {
            *supervisor
                .inner
                .lifecycle
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = true;
            let pids = supervisor.live_pids();
            let kills_before = supervisor.inner.kills.load(Ordering::SeqCst);
            for &pid in &pids {
                supervisor.terminate(pid);
            }
            let mut live = supervisor.inner.live.subscribe();
            let all_exited = tokio::time::timeout(grace, live.wait_for(|n| *n == 0))
                .await
                .is_ok();
            // A child may have been SIGKILLed (by a second quit request)
            // just before the wait ended.
            let graceful =
                all_exited && supervisor.inner.kills.load(Ordering::SeqCst) == kills_before;
            if !all_exited {
                supervisor.force_stop_all();
                let settle = LEFTOVER_TERM_GRACE + LEFTOVER_KILL_WAIT + PIPE_DRAIN_WAIT;
                let _ = tokio::time::timeout(settle * 2, live.wait_for(|n| *n == 0)).await;
            }
            ShutdownReport {
                stopped: pids.len(),
                graceful,
                remaining: supervisor.live_count(),
            }
        }
    }

    fn entry(&self, pid: u32) -> Option<Arc<ChildEntry>> {
        self.lock_children().get(&pid).cloned()
    }

    fn lock_children(&self) -> MutexGuard<'_, HashMap<u32, Arc<ChildEntry>>> {
        self.inner
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Dispatch's SIGTERM is an early stop: sent at most once per run.
impl Signaller for Supervisor {
    fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome {
        if signal == Signal::SIGTERM {
            self.terminate(pid)
        } else {
            Supervisor::signal(self, pid, signal)
        }
    }
}

/// `kill` / `killpg` for a child that is known not to be reaped yet (the caller holds its
/// state lock, so the pid cannot have been reused).
fn deliver(pid: u32, signal: Signal) -> SignalOutcome {
    let result = if signal == Signal::SIGUSR2 {
        process::signal_process(pid, signal)
    } else {
        process::signal_group(pid, signal)
    };
    match result {
        Ok(()) => SignalOutcome::Delivered,
        Err(Errno::ESRCH) => SignalOutcome::Gone,
        Err(errno) => SignalOutcome::Unsupported(errno),
    }
}

/// Drains one pipe of one child.
struct Reader {
    inner: Arc<Inner>,
    entry: Arc<ChildEntry>,
    stream: LogStream,
    marker: Option<MarkerScanner>,
    tap: Arc<Mutex<Option<OutputTap>>>,
    pending: Arc<AtomicBool>,
    stack_mapper: Option<StackMapper>,
}

impl Reader {
    fn run(mut self, mut pipe: Box<dyn Read + Send>) {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(pid = self.entry.pid, error = %e, "reading child output failed");
                    break;
                }
            };
            if self.entry.closed.load(Ordering::SeqCst) {
                // Keep draining so the writer never blocks, but the run is over.
                continue;
            }
            let chunk = &buf[..n];
            if let Some(tap) = self.tap.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                tap.push(chunk);
            }
            let job_id = self.marker.as_mut().and_then(|marker| marker.feed(chunk));
            splitter.feed(chunk, &mut lines);
            if let (Some(id), Some(marker)) = (&job_id, &self.marker) {
                hide_marker_line(&mut lines, &marker.marker_for(id));
            }
            self.store(&mut lines);
            // After storing, so the marker line is in the log when the event arrives.
            if let Some(job_id) = job_id {
                self.marker = None;
                let _ = self.inner.events.send(Envelope::Event(ChildEvent::JobId {
                    pid: self.entry.pid,
                    id: job_id,
                }));
            }
        }
        splitter.finish(&mut lines);
        self.store(&mut lines);
    }

    fn store(&self, lines: &mut Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let stream = self.stream;
        if let Some(mapper) = &self.stack_mapper {
            for line in lines.iter_mut() {
                if let Cow::Owned(mapped) = mapper.map_line(line) {
                    *line = mapped;
                }
            }
        }
        self.inner
            .logs
            .push_many(self.entry.pid, lines.drain(..).map(|text| (stream, text)));
        notify_logs(&self.inner, self.entry.pid, &self.pending);
    }
}

/// The marker line is the runner talking to arkor, not to the user: it is not stored (the
/// engine logs the job id in words instead). Text before the marker on the same line stays.
/// A marker inside a line too long to store whole was cut off already.
fn hide_marker_line(lines: &mut Vec<String>, marker: &str) {
    let Some(index) = lines.iter().rposition(|line| line.contains(marker)) else {
        return;
    };
    let before = lines[index]
        .split(marker)
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned();
    if before.is_empty() {
        lines.remove(index);
    } else {
        lines[index] = before;
    }
}

fn notify_logs(inner: &Inner, pid: u32, pending: &Arc<AtomicBool>) {
    if !pending.swap(true, Ordering::SeqCst) {
        let _ = inner.events.send(Envelope::Logs {
            pid,
            pending: pending.clone(),
        });
    }
}

/// Waits for the child, reaps it, cleans up its group, waits for its pipes, reports.
fn monitor(
    inner: Arc<Inner>,
    entry: Arc<ChildEntry>,
    readers_done: std_mpsc::Receiver<()>,
    tap: Arc<Mutex<Option<OutputTap>>>,
    pending: Arc<AtomicBool>,
) {
    let pid = entry.pid;
    let target = Pid::from_raw(pid as libc::pid_t);
    // Wait without reaping, then reap under the state lock: a signal sent concurrently
    // either reaches the (zombie) child or sees `reaped`, never a reused pid.
    while let Err(Errno::EINTR) =
        waitid(Id::Pid(target), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {}
    let status = {
        let mut state = entry.lock();
        let status = reap(target);
        state.reaped = true;
        status
    };

    process::ensure_group_gone(pid, LEFTOVER_TERM_GRACE, LEFTOVER_KILL_WAIT);

    let drain_until = Instant::now() + PIPE_DRAIN_WAIT;
    for _ in 0..2 {
        let left = drain_until.saturating_duration_since(Instant::now());
        if readers_done.recv_timeout(left).is_err() {
            tracing::warn!(pid, "child output still open after exit; dropping the rest");
            break;
        }
    }
    entry.closed.store(true, Ordering::SeqCst);

    if let Some(tap) = tap.lock().unwrap_or_else(|e| e.into_inner()).take() {
        tap.finish(status);
    }
    inner.logs.push(pid, LogStream::System, status.describe());
    notify_logs(&inner, pid, &pending);
    {
        let mut children = inner.children.lock().unwrap_or_else(|e| e.into_inner());
        if children.get(&pid).is_some_and(|e| Arc::ptr_eq(e, &entry)) {
            children.remove(&pid);
        }
    }
    let _ = inner
        .events
        .send(Envelope::Event(ChildEvent::Exited { pid, status }));
    inner.live.send_modify(|n| *n = n.saturating_sub(1));
}

fn reap(target: Pid) -> ExitStatus {
    loop {
        match waitpid(target, None) {
            Ok(WaitStatus::Exited(_, code)) => return ExitStatus::Code(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return ExitStatus::Signal(signal as i32),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => {
                // Someone else reaped it (SIGCHLD ignored process-wide): status unknown.
                tracing::warn!(pid = target.as_raw(), %errno, "child was reaped elsewhere");
                return ExitStatus::Code(-1);
            }
        }
    }
}

fn new_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_32_lowercase_hex_and_fresh() {
        let a = new_nonce();
        let b = new_nonce();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }

    #[test]
    fn exit_descriptions_name_codes_and_signals() {
        assert_eq!(ExitStatus::Code(0).describe(), "exited with code 0");
        assert_eq!(ExitStatus::Code(143).describe(), "exited with code 143");
        assert_eq!(ExitStatus::Signal(9).describe(), "killed by SIGKILL");
        assert_eq!(ExitStatus::Signal(15).describe(), "killed by SIGTERM");
        assert_eq!(ExitStatus::Signal(250).describe(), "killed by signal 250");
    }

    #[test]
    fn unknown_pids_are_gone_without_any_syscall_target() {
        let (sup, _events) = Supervisor::with_events(LogStore::new());
        // Never our child: never signalled, whatever the pid (0 would mean our own group).
        for pid in [0, 1, std::process::id()] {
            assert_eq!(sup.signal(pid, Signal::SIGTERM), SignalOutcome::Gone);
            assert_eq!(sup.terminate(pid), SignalOutcome::Gone);
            assert_eq!(sup.force_stop(pid), SignalOutcome::Gone);
        }
        assert_eq!(sup.force_stop_all(), 0);
        assert!(sup.live_pids().is_empty());
    }
}
