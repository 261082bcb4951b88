//! The Node inspector: a persistent helper process that imports each new artifact and reports
//! its trainer (name + `JSON.stringify(config)`); Rust computes the hashes.
//!
//! One dedicated thread owns the helper (started isolated, like every child: see
//! [`crate::core::process`]) and serves requests one at a time. A helper
//! that times out is killed and replaced; one that died is replaced on the next request; one
//! that served `recycle_after` imports is replaced so Node's never-evicted ESM cache (one
//! record per distinct artifact) cannot grow without bound.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::core::hash;
use crate::core::process;
use crate::core::project::{self, NodeError, Project};

/// The helper script, embedded so the binary works from anywhere.
const INSPECT_SCRIPT: &str = include_str!("../../assets/inspect.mjs");
/// Carries the script to the helper, so `ps` shows a short command line instead of it.
const SCRIPT_ENV: &str = "ARKOR_INSPECT_SCRIPT";
/// Tells the helper where the warm-up module is.
const WARMUP_ENV: &str = "ARKOR_INSPECT_WARMUP";
/// Loads the script from [`SCRIPT_ENV`] (removed before any user module can see it).
const BOOTSTRAP: &str = "const s = process.env.ARKOR_INSPECT_SCRIPT; delete process.env.ARKOR_INSPECT_SCRIPT; \
     process.title = 'arkor-inspect'; \
     await import('data:text/javascript;base64,' + Buffer.from(s, 'utf8').toString('base64'));";

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RECYCLE_AFTER: u32 = 200;
/// How long Node may take to start the helper (separate from the per-import timeout).
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// What the helper sends (after the marker) once it listens for requests.
const READY_MESSAGE: &str = r#"{"ready":true}"#;
/// How often a waiting request checks whether its caller gave up.
const ABANDON_CHECK_PERIOD: Duration = Duration::from_millis(50);
/// Lines of the helper's stderr kept for error messages.
const STDERR_TAIL_LINES: usize = 20;
/// The module the helper imports to warm up when a build starts (see `warmUp` in
/// assets/inspect.mjs), under the project's `.arkor/`.
pub const WARMUP_FILE: &str = "tui-inspect-warmup.mjs";
const WARMUP_SOURCE: &str = "// arkor tui: its inspector imports this while a build runs, so Node is warm when the\n\
     // build is ready to be imported. Safe to delete; it is written again on start.\n\
     export default 0;\n";

#[derive(Clone, Debug)]
pub struct InspectorOptions {
    /// The `node` executable.
    pub node: PathBuf,
    /// Working directory of the helper (the project root, like the runner's).
    pub cwd: PathBuf,
    /// How long one import may take before the helper is killed.
    pub timeout: Duration,
    /// Replace the helper after this many imports.
    pub recycle_after: u32,
    /// Where to write the warm-up module (`None`: warm up on an in-memory module).
    pub warmup_module: Option<PathBuf>,
}

impl InspectorOptions {
    pub fn new(node: PathBuf, cwd: PathBuf) -> Self {
        Self {
            warmup_module: Some(cwd.join(".arkor").join(WARMUP_FILE)),
            node,
            cwd,
            timeout: DEFAULT_TIMEOUT,
            recycle_after: DEFAULT_RECYCLE_AFTER,
        }
    }
}

/// What the artifact exports, as the runner would see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspection {
    /// The trainer's name (`trainer.name`, or `(unnamed trainer)`); `None` when the module
    /// exports no trainer.
    pub trainer_name: Option<String>,
    /// Whether the trainer carries the SDK's inspect brand.
    pub branded: bool,
    /// `JSON.stringify(config)` from the brand; `None` without a brand or when the config
    /// cannot be serialised (circular, throwing `toJSON`).
    pub config_wire: Option<String>,
    /// docs/protocol.md §4 hash of the config; `None` exactly when `config_wire` is.
    pub config_hash: Option<String>,
    /// The config as JSON, for diffs.
    pub config: Option<serde_json::Value>,
    /// Why a branded trainer has no config hash.
    pub config_error: Option<String>,
    /// Round trip through the helper.
    pub duration: Duration,
}

/// Every variant reads `Failed to import built bundle: …`, the reference's wording for an
/// artifact that cannot be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The import threw (syntax error at load, top-level throw, missing package, …).
    #[error("Failed to import built bundle: {0}")]
    Import(String),
    #[error(
        "Failed to import built bundle: no answer within {} s (a top-level await that never settles?); the inspector was restarted",
        .0.as_secs_f64()
    )]
    Timeout(Duration),
    #[error("Failed to import built bundle: the Node inspector exited ({status}){}", tail_suffix(.stderr_tail))]
    HelperExited { status: String, stderr_tail: String },
    #[error("Failed to import built bundle: could not start the Node inspector ({0})")]
    Spawn(String),
    #[error("Failed to import built bundle: unexpected answer from the Node inspector ({0})")]
    Protocol(String),
    #[error("Failed to import built bundle: the inspector has shut down")]
    Closed,
    /// The caller stopped waiting (a newer build superseded this one); the helper was
    /// restarted.
    #[error("Failed to import built bundle: superseded by a newer build")]
    Cancelled,
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{tail}")
    }
}

/// A handle to the inspector thread. Clones share the helper; the helper is killed when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Inspector {
    requests: std_mpsc::Sender<Message>,
}

enum Message {
    Inspect(Request),
    /// A build started: an import request follows in a few milliseconds.
    Wake,
}

struct Request {
    artifact: PathBuf,
    content_hash: String,
    reply: oneshot::Sender<Result<Inspection, InspectError>>,
}

impl Inspector {
    /// Find Node (≥ 20 on PATH) and start an inspector for the project.
    pub fn for_project(project: &Project) -> Result<Inspector, NodeError> {
        let node = project::find_node()?;
        Ok(Inspector::start(InspectorOptions::new(
            node.path,
            project.root.clone(),
        )))
    }

    /// Start the inspector thread; the helper process is started at once so the first build
    /// does not pay Node's start-up. Failures surface on the first [`Inspector::inspect`].
    pub fn start(options: InspectorOptions) -> Inspector {
        let (requests, receiver) = std_mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("arkor-inspector".into())
            .spawn(move || serve(options, receiver));
        if let Err(e) = spawned {
            // Without the thread every request fails with `Closed`; say why once.
            tracing::error!("cannot start the inspector thread: {e}");
        }
        Inspector { requests }
    }

    /// Import the artifact (cache-busted by `content_hash`) and inspect its trainer.
    pub async fn inspect(
        &self,
        artifact: &Path,
        content_hash: &str,
    ) -> Result<Inspection, InspectError> {
        self.begin(artifact, content_hash).wait().await
    }

    /// [`Inspector::inspect`] without waiting: the request is queued at once (requests are
    /// served in order) and the answer awaited later. Dropping the [`PendingInspection`]
    /// withdraws a request still queued; an import already under way is given up at the
    /// helper's next check (every 50 ms), which kills the helper, as when an `inspect` future
    /// is dropped.
    pub fn begin(&self, artifact: &Path, content_hash: &str) -> PendingInspection {
        let (reply, answer) = oneshot::channel();
        // A send to a stopped inspector drops `reply`: the wait then says `Closed`.
        let _ = self.requests.send(Message::Inspect(Request {
            artifact: artifact.to_path_buf(),
            content_hash: content_hash.to_owned(),
            reply,
        }));
        PendingInspection { answer }
    }

    /// Say that an import request is coming (call it when a build starts). The helper is
    /// sent an empty line and imports a tiny module while Rolldown bundles, so Node is warm,
    /// not cold after an idle spell, when the artifact arrives (see `warmUp` in
    /// assets/inspect.mjs).
    pub fn wake(&self) {
        let _ = self.requests.send(Message::Wake);
    }
}

/// An inspection requested with [`Inspector::begin`].
#[derive(Debug)]
pub struct PendingInspection {
    answer: oneshot::Receiver<Result<Inspection, InspectError>>,
}

impl PendingInspection {
    /// The inspection's result.
    pub async fn wait(self) -> Result<Inspection, InspectError> {
        self.answer.await.unwrap_or(Err(InspectError::Closed))
    }
}

fn serve(mut options: InspectorOptions, requests: std_mpsc::Receiver<Message>) {
    options.warmup_module = options.warmup_module.take().filter(|path| {
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, WARMUP_SOURCE));
        if let Err(e) = &written {
            tracing::debug!("no warm-up module at {}: {e}", path.display());
        }
        written.is_ok()
    });
    let mut helper = Helper::spawn(&options).ok();
    while let Ok(message) = requests.recv() {
        let request = match message {
            Message::Inspect(request) => request,
            Message::Wake => {
                if let Some(helper) = helper.as_mut() {
                    helper.wake();
                }
                continue;
            }
        };
        if request.reply.is_closed() {
            continue; // the caller stopped waiting (superseded build)
        }
        let result = inspect_with(&mut helper, &options, &request);
        let _ = request.reply.send(result);
        // Replace a killed or worn-out helper now, while nobody waits, so the next build
        // does not pay Node's start-up.
        if helper
            .as_ref()
            .is_none_or(|h| h.served >= options.recycle_after)
        {
            drop(helper.take()); // kill the old one before its successor starts
            helper = Helper::spawn(&options).ok();
        }
    }
    // Every handle is gone; `Helper`'s drop kills the process.
}

fn inspect_with(
    slot: &mut Option<Helper>,
    options: &InspectorOptions,
    request: &Request,
) -> Result<Inspection, InspectError> {
    let started = Instant::now();
    let reusable = slot
        .as_mut()
        .is_some_and(|h| h.served < options.recycle_after && h.is_alive());
    if !reusable {
        *slot = None; // drop (kill) the old one before starting the next
        *slot = Some(Helper::spawn(options)?);
    }
    let Some(helper) = slot.as_mut() else {
        return Err(InspectError::Closed);
    };
    let outcome = helper.request(
        &request.artifact,
        &request.content_hash,
        options.timeout,
        || request.reply.is_closed(),
    );
    if matches!(
        outcome,
        Err(InspectError::Timeout(_)
            | InspectError::Cancelled
            | InspectError::HelperExited { .. }
            | InspectError::Protocol(_))
    ) {
        *slot = None;
    }
    let reply = outcome?;
    let mut inspection = reply.into_inspection()?;
    inspection.duration = started.elapsed();
    Ok(inspection)
}

/// One running `node` helper.
struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: ReplyReader,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_done: std_mpsc::Receiver<()>,
    served: u32,
    /// The helper announced it is ready for imports.
    booted: bool,
    next_id: u64,
}

impl Helper {
    fn spawn(options: &InspectorOptions) -> Result<Helper, InspectError> {
        let marker = format!("@@arkor-inspect-{:032x}@@", rand::random::<u128>());
        let mut command = Command::new(&options.node);
        command
            .arg("--input-type=module")
            .arg("--eval")
            .arg(BOOTSTRAP)
            .current_dir(&options.cwd)
            .env(SCRIPT_ENV, INSPECT_SCRIPT)
            .env("ARKOR_INSPECT_MARKER", &marker)
            .env_remove(WARMUP_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(warmup) = &options.warmup_module {
            command.env(WARMUP_ENV, warmup);
        }
        // Own process group (a terminal's Ctrl-C does not reach it, and a timeout kills
        // whatever the user module started too) and dies with arkor.
        let mut child = process::spawn_isolated(command)
            .map_err(|e| InspectError::Spawn(format!("{}: {e}", options.node.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            process::kill_group_and_reap(&mut child);
            return Err(InspectError::Spawn("stdio pipes missing".into()));
        };

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (done_tx, stderr_done) = std_mpsc::channel();
        let tail = stderr_tail.clone();
        let err_reader = std::thread::Builder::new()
            .name("arkor-inspector-err".into())
            .spawn(move || {
                read_stderr(stderr, &tail);
                let _ = done_tx.send(());
            });
        if let Err(e) = err_reader {
            process::kill_group_and_reap(&mut child);
            return Err(InspectError::Spawn(format!("reader thread: {e}")));
        }
        Ok(Helper {
            child,
            stdin: Some(stdin),
            replies: ReplyReader {
                stdout,
                marker,
                pending: Vec::new(),
                closed: false,
            },
            stderr_tail,
            stderr_done,
            served: 0,
            booted: false,
            next_id: 1,
        })
    }

    /// An empty line, which the helper skips: it only wakes it. A failed write is noticed by
    /// the next request.
    fn wake(&mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(b"\n").and_then(|()| stdin.flush());
        }
    }

    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send one request and wait for its reply. `abandoned` is checked while waiting: when
    /// the caller gave up (a newer build superseded this one), the helper, stuck in this
    /// import, is killed.
    fn request(
        &mut self,
        artifact: &Path,
        key: &str,
        timeout: Duration,
        abandoned: impl Fn() -> bool,
    ) -> Result<Reply, InspectError> {
        let id = self.next_id;
        self.next_id += 1;
        self.served += 1;
        let mut line = serde_json::json!({ "id": id, "file": artifact, "key": key }).to_string();
        // One write: Node wakes once for the whole line, not once per piece.
        line.push('\n');
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
        };
        if sent.is_err() {
            return Err(self.exited());
        }
        // The import's own clock starts once Node is up, so a slow boot on a busy machine is
        // not mistaken for a hanging module.
        let mut deadline = self.booted.then(|| Instant::now() + timeout);
        let boot_deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let left = deadline
                .unwrap_or(boot_deadline)
                .saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left.min(ABANDON_CHECK_PERIOD)) {
                Ok(text) if text == READY_MESSAGE => {
                    self.booted = true;
                    deadline = Some(Instant::now() + timeout);
                }
                Ok(text) => {
                    let reply: Reply = serde_json::from_str(&text)
                        .map_err(|e| InspectError::Protocol(format!("{e}: {text}")))?;
                    // Replies to requests that timed out cannot arrive (that helper was
                    // killed), but a mismatched id must never be taken for this one.
                    if reply.id == Some(id) {
                        return Ok(reply);
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout)
                    if deadline.is_none() && Instant::now() >= boot_deadline =>
                {
                    process::kill_group_and_reap(&mut self.child);
                    return Err(InspectError::Spawn(format!(
                        "Node did not start within {} s",
                        BOOT_TIMEOUT.as_secs()
                    )));
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) if abandoned() => {
                    process::kill_group_and_reap(&mut self.child);
                    return Err(InspectError::Cancelled);
                }
                Err(std_mpsc::RecvTimeoutError::Timeout)
                    if deadline.is_some_and(|d| Instant::now() >= d) =>
                {
                    process::kill_group_and_reap(&mut self.child);
                    return Err(InspectError::Timeout(timeout));
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Err(self.exited()),
            }
        }
    }

    /// The helper's stdout closed: describe how it ended.
    fn exited(&mut self) -> InspectError {
        // stdout can close just before the exit is reapable; give it a moment, then force.
        let deadline = Instant::now() + Duration::from_millis(500);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    process::kill_group_and_reap(&mut self.child);
                    break "closed its output".to_owned();
                }
            }
        };
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(200));
        let stderr_tail = self
            .stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        InspectError::HelperExited {
            status,
            stderr_tail,
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.stdin.take();
        process::kill_group_and_reap(&mut self.child);
    }
}

/// The helper's stdout, read by the inspector thread itself: a reader thread would add one
/// thread hand-off to every reply. Yields the marked lines; the rest is the user module's own
/// output, logged at debug level. Between requests nobody reads, so a module that prints a
/// lot in the background blocks on a full pipe until the next request drains it.
struct ReplyReader {
    stdout: ChildStdout,
    marker: String,
    /// Bytes read but not yet split into lines.
    pending: Vec<u8>,
    closed: bool,
}

impl ReplyReader {
    /// The next reply, waiting at most `timeout` (the semantics of `mpsc::recv_timeout`:
    /// `Disconnected` once stdout closed and every complete line was taken).
    fn recv_timeout(&mut self, timeout: Duration) -> Result<String, std_mpsc::RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if let Some(reply) = self.marked(&line) {
                    return Ok(reply);
                }
            }
            if self.closed {
                return Err(std_mpsc::RecvTimeoutError::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Whole milliseconds, rounded up so a short wait does not spin.
            let millis = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.stdout.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(millis)) {
                Ok(0) => return Err(std_mpsc::RecvTimeoutError::Timeout),
                Ok(_) => self.fill(),
                Err(Errno::EINTR) => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Read what is available (poll said readable, so this does not block).
    fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.stdout.read(&mut chunk) {
            Ok(0) => self.closed = true,
            Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.closed = true,
        }
    }

    /// The reply in a line, or `None` for the module's own output.
    fn marked(&self, line: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(line);
        match text.find(&self.marker) {
            Some(at) => Some(text[at + self.marker.len()..].trim_end().to_owned()),
            None => {
                if !text.trim().is_empty() {
                    tracing::debug!(target: "arkor::inspect", "user module stdout: {}", text.trim_end());
                }
                None
            }
        }
    }
}

fn read_stderr(stderr: impl std::io::Read, tail: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        tracing::debug!(target: "arkor::inspect", "inspector stderr: {text}");
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    id: Option<u64>,
    ok: bool,
    error: Option<String>,
    trainer: Option<ReplyTrainer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyTrainer {
    name: String,
    branded: bool,
    inspect_name: Option<String>,
    config: Option<String>,
    config_error: Option<String>,
}

impl Reply {
    fn into_inspection(self) -> Result<Inspection, InspectError> {
        if !self.ok {
            return Err(InspectError::Import(
                self.error.unwrap_or_else(|| "unknown error".into()),
            ));
        }
        let Some(trainer) = self.trainer else {
            return Ok(Inspection::default());
        };
        let mut inspection = Inspection {
            trainer_name: Some(trainer.inspect_name.unwrap_or(trainer.name)),
            branded: trainer.branded,
            config_error: trainer.config_error,
            ..Inspection::default()
        };
        if let Some(wire) = trainer.config {
            match (
                hash::config_hash_from_wire(&wire),
                hash::config_value_from_wire(&wire),
            ) {
                (Ok(config_hash), Ok(config)) => {
                    inspection.config_hash = Some(config_hash);
                    inspection.config = Some(config);
                    inspection.config_wire = Some(wire);
                }
                (Err(e), _) | (_, Err(e)) => inspection.config_error = Some(e.to_string()),
            }
        }
        Ok(inspection)
    }
}
