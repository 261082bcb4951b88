//! Typed events of the dev loop and the broadcast bus that carries them.
//!
//! `DevEvent` is the wire object of docs/protocol.md §3, §5 (`ready` / `rebuild` / `error`, plus the
//! dispatch fields of §8 once runs exist). Its JSON is hand-ordered to match the reference
//! byte for byte: `type, outFile, hash, contentHash, configHash, trainerName[, hotSwap,
//! hotSwapTargets, restart, restartTargets]` or `type, message`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::ser::SerializeMap;
use tokio::sync::broadcast;

use crate::core::cloud::job_events::JobEvent;
use crate::core::training::{RunOutcome, SharedMetrics};

/// One successful build as the engine saw it (artifact + inspection).
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltArtifact {
    /// Absolute path of `.arkor/build/index.mjs`.
    pub out_file: String,
    /// `"<mtimeMs>-<ctimeMs>-<size>"`, an identity token only.
    pub hash: String,
    /// First 16 hex chars of sha256 of the artifact bytes.
    pub content_hash: Option<String>,
    /// docs/protocol.md §4 hash of the trainer's JobConfig; `None` when there is no inspectable trainer.
    pub config_hash: Option<String>,
    pub trainer_name: Option<String>,
    /// The JobConfig as JSON (for "why did it restart" diffs). Not part of the wire frame.
    pub config: Option<serde_json::Value>,
    /// Wall time from the first file event (or command) to the artifact being published.
    pub build_duration: Duration,
    /// Wall time spent in the Node inspector.
    pub inspect_duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HotSwapTarget {
    pub pid: u32,
    #[serde(rename = "trainFile", skip_serializing_if = "Option::is_none")]
    pub train_file: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RestartTarget {
    pub pid: u32,
    #[serde(rename = "trainFile", skip_serializing_if = "Option::is_none")]
    pub train_file: Option<String>,
    #[serde(rename = "forcedKill", skip_serializing_if = "Option::is_none")]
    pub forced_kill: Option<bool>,
}

/// What one rebuild did to the registered runs. Computed once per rebuild (docs/protocol.md §10).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DispatchOutcome {
    pub hot_swap_targets: Vec<HotSwapTarget>,
    pub restart_targets: Vec<RestartTarget>,
    /// Runs not signalled because they are not ready yet (no job id): dispatched once they
    /// are. Not on the wire.
    pub deferred: Vec<u32>,
    /// Runs whose config-change restart the policy holds. Not on the wire.
    pub held: Vec<u32>,
}

/// The SSE frame payload. Cheap to clone (wrapped in `Arc` on the bus).
// Always travels behind an `Arc`, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum DevEvent {
    /// A successful build: `ready` when `first`, `rebuild` otherwise. `dispatch` is `Some`
    /// exactly when runs were registered at the time of the rebuild.
    Built {
        first: bool,
        artifact: BuiltArtifact,
        dispatch: Option<DispatchOutcome>,
    },
    Error {
        message: String,
    },
}

impl DevEvent {
    pub fn type_name(&self) -> &'static str {
        match self {
            DevEvent::Built { first: true, .. } => "ready",
            DevEvent::Built { first: false, .. } => "rebuild",
            DevEvent::Error { .. } => "error",
        }
    }

    /// Compact JSON, as `JSON.stringify` of the reference's object.
    pub fn to_json(&self) -> String {
        // Serialising plain strings/bools/vecs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// One SSE frame: `event: <type>\ndata: <json>\n\n`.
    pub fn to_sse_frame(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.type_name(), self.to_json())
    }
}

impl Serialize for DevEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("type", self.type_name())?;
        match self {
            DevEvent::Error { message } => map.serialize_entry("message", message)?,
            DevEvent::Built {
                artifact, dispatch, ..
            } => {
                map.serialize_entry("outFile", &artifact.out_file)?;
                map.serialize_entry("hash", &artifact.hash)?;
                map.serialize_entry("contentHash", &artifact.content_hash)?;
                map.serialize_entry("configHash", &artifact.config_hash)?;
                map.serialize_entry("trainerName", &artifact.trainer_name)?;
                if let Some(d) = dispatch {
                    map.serialize_entry("hotSwap", &!d.hot_swap_targets.is_empty())?;
                    map.serialize_entry("hotSwapTargets", &d.hot_swap_targets)?;
                    map.serialize_entry("restart", &!d.restart_targets.is_empty())?;
                    map.serialize_entry("restartTargets", &d.restart_targets)?;
                }
            }
        }
        map.end()
    }
}

/// Who started a run, which decides who restarts it after a config change (docs/protocol.md §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOrigin {
    /// TUI key, `--run`, the demo: the engine restarts it.
    Engine,
    /// `POST /api/train`: its HTTP client restarts it.
    Http,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The `/api/train` trailer value: the code, or `null` when killed by a signal.
    pub fn trailer_code(&self) -> Option<i32> {
        match self {
            ExitStatus::Code(c) => Some(*c),
            ExitStatus::Signal(_) => None,
        }
    }

    /// `exited with code 143` / `killed by SIGKILL`, for logs and notices.
    pub fn describe(&self) -> String {
        match self {
            ExitStatus::Code(code) => format!("exited with code {code}"),
            ExitStatus::Signal(signo) => format!("killed by {}", signal_name(*signo)),
        }
    }
}

/// `SIGKILL` for 9; `signal 250` for a number without a name.
pub fn signal_name(signo: i32) -> String {
    nix::sys::signal::Signal::try_from(signo)
        .map(|signal| signal.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signo}"))
}

/// The train state of one child, as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum RunState {
    /// Spawned; the job-id marker has not been seen yet.
    Starting,
    Running,
    /// SIGUSR2 delivered for the build with this content hash.
    HotSwapped,
    /// SIGTERM delivered; waiting for the next checkpoint (deadline in `RunInfo`).
    EarlyStopping,
    /// Exited cleanly after an early stop; the engine is starting its replacement.
    Restarting,
    Exited {
        status: ExitStatus,
    },
}

/// One key of the JobConfig whose value differs between two builds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigChange {
    /// Dotted path, e.g. `learningRate` or `datasetSource.name`.
    pub key: String,
    /// Compact JSON of the old / new value; `None` when absent on that side.
    pub old: Option<String>,
    pub new: Option<String>,
}

impl std::fmt::Display for ConfigChange {
    /// `learningRate 0.0002 → 0.0001`, `(unset)` for a missing side.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} → {}",
            self.key,
            self.old.as_deref().unwrap_or("(unset)"),
            self.new.as_deref().unwrap_or("(unset)")
        )
    }
}

/// A snapshot of one run, published on every state change.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    pub pid: u32,
    pub origin: RunOrigin,
    pub trainer_name: Option<String>,
    pub job_id: Option<String>,
    pub config_hash: Option<String>,
    pub content_hash: Option<String>,
    pub state: RunState,
    #[serde(with = "unix_ms")]
    pub started_at: SystemTime,
    #[serde(with = "unix_ms")]
    pub state_since: SystemTime,
    /// While early-stopping: when the engine escalates to SIGKILL.
    #[serde(with = "unix_ms_opt")]
    pub kill_deadline: Option<SystemTime>,
    /// Why this run is early-stopping for a restart: the config keys a rebuild changed. When
    /// the replacement starts, what actually differs between the two runs' configs.
    pub restart_reason: Vec<ConfigChange>,
    /// The run this one replaced and why, when it is an engine restart. On the wire:
    /// `restartedFrom` (a pid or null) and `restartCause`.
    #[serde(flatten, serialize_with = "restart_fields")]
    pub restarted_from: Option<Restart>,
    /// The run's training progress from the cloud's job event stream: one handle shared by
    /// every snapshot of the run, updated in place by the engine (`EngineEvent::Training`
    /// says when). Not on the wire: `--json` prints the events themselves.
    #[serde(skip)]
    pub metrics: SharedMetrics,
    /// How the run ended, once the engine has settled it (after the exit, and after the
    /// cloud's last frames for the job arrived or a short grace passed).
    pub outcome: Option<RunOutcome>,
    /// Why the run is being stopped, once something asked (the stop's kill deadline follows
    /// from it: a config-change restart waits as long as the runner allows, a stop the user
    /// asked for waits the stop timeout).
    pub stop_cause: Option<StopCause>,
    /// A config change this run has not taken because the config-change policy holds it (or
    /// asks first): the keys the current build changes. `None` when the run is not behind.
    pub pending_config: Option<Vec<ConfigChange>>,
    /// Why a run that ended on its own failed: the error its output ended with, after how it
    /// ended (`exited with code 1: TypeError: …`). `None` for clean exits and runs arkor
    /// stopped.
    pub failure: Option<String>,
    /// The file the run's output is also written to (`.arkor/runs/<start>-<pid>.log`).
    pub log_file: Option<std::path::PathBuf>,
}

impl RunInfo {
    /// A run just started: `Starting`, nothing known yet beyond who started it and when.
    pub fn new(pid: u32, origin: RunOrigin, started_at: SystemTime) -> Self {
        Self {
            pid,
            origin,
            trainer_name: None,
            job_id: None,
            config_hash: None,
            content_hash: None,
            state: RunState::Starting,
            started_at,
            state_since: started_at,
            kill_deadline: None,
            restart_reason: Vec::new(),
            restarted_from: None,
            metrics: SharedMetrics::default(),
            outcome: None,
            stop_cause: None,
            pending_config: None,
            failure: None,
            log_file: None,
        }
    }

    /// One line for the end of a session: what happened to the run, with its last step and
    /// loss when the cloud reported any, e.g.
    /// `run 700 (alpaca-lora, job j-1): completed at step 200, loss 0.4213`.
    pub fn summary_line(&self) -> String {
        let name = self.trainer_name.as_deref().unwrap_or("unnamed trainer");
        let job = self
            .job_id
            .as_deref()
            .map(|j| format!(", job {j}"))
            .unwrap_or_default();
        let what = match (&self.outcome, &self.state) {
            (Some(outcome), _) => outcome.describe(),
            (None, RunState::Exited { status }) => {
                let mut text = match status {
                    ExitStatus::Code(0) => "ended (exit 0)".to_string(),
                    ExitStatus::Code(c) => format!("failed (exit {c})"),
                    ExitStatus::Signal(_) => status.describe(),
                };
                let last = self.metrics.read(|m| m.final_metrics());
                if let Some(step) = last.step {
                    text.push_str(&format!(" at step {step}"));
                }
                if let Some(loss) = last.loss {
                    text.push_str(&format!(", loss {loss:.4}"));
                }
                text
            }
            (None, RunState::EarlyStopping) => {
                "still early-stopping (the engine finishes it)".into()
            }
            (None, _) => "still running when the dashboard closed".into(),
        };
        format!("run {} ({name}{job}): {what}", self.pid)
    }
}

/// `5 min 30 s`, `20 s`, `2 min`: a stop timeout as people say it.
pub fn describe_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// Why arkor is stopping a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StopCause {
    /// A rebuild changed the job config: early stop, then a restart. Waits as long as the
    /// runner itself waits for its checkpoint.
    ConfigChange,
    /// A user asked for a stop (the stop key, a stop command).
    User,
    /// A user asked for a restart (the restart key).
    Restart,
    /// arkor is shutting down.
    Shutdown,
    /// The Studio's Stop (its `/api/train` body was closed).
    Studio,
}

impl StopCause {
    /// Words for "early-stopping (…)": `config changed`, `you asked`, `quitting`, …
    pub fn describe(self) -> &'static str {
        match self {
            StopCause::ConfigChange => "config changed",
            StopCause::User => "you asked",
            StopCause::Restart => "restart requested",
            StopCause::Shutdown => "quitting",
            StopCause::Studio => "stopped from the Studio",
        }
    }
}

/// Which run a run replaced, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restart {
    pub from: u32,
    pub cause: RestartCause,
}

/// Why the engine started a run in place of another one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RestartCause {
    /// The user asked for it (the restart key).
    Manual,
    /// A rebuild changed the job config: the keys that differ between the predecessor's
    /// config and this run's. Empty when the config changed and changed back before this
    /// run started.
    ConfigChanged { changes: Vec<ConfigChange> },
    /// A rebuild changed the config, but one side has none to compare (no inspectable
    /// trainer).
    ConfigUnknown,
    /// The callbacks changed before the run could take a hot swap (no job id yet), so it
    /// was restarted on the same config.
    NotReadyForHotSwap,
}

impl std::fmt::Display for RestartCause {
    /// `manual restart`, `learningRate 0.0002 → 0.0001, loraR 16 → 32`, …
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartCause::Manual => f.write_str("manual restart"),
            RestartCause::ConfigChanged { changes } if changes.is_empty() => {
                f.write_str("config changed and changed back")
            }
            RestartCause::ConfigChanged { changes } => {
                for (i, change) in changes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{change}")?;
                }
                Ok(())
            }
            RestartCause::ConfigUnknown => f.write_str("config changed"),
            RestartCause::NotReadyForHotSwap => {
                f.write_str("callbacks changed before it could hot-swap")
            }
        }
    }
}

fn restart_fields<S: serde::Serializer>(
    restart: &Option<Restart>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(2))?;
    map.serialize_entry("restartedFrom", &restart.as_ref().map(|r| r.from))?;
    map.serialize_entry("restartCause", &restart.as_ref().map(|r| &r.cause))?;
    map.end()
}

/// Everything the engine publishes. Front ends read these; none of them sends signals.
#[derive(Clone, Debug)]
pub enum EngineEvent {
    /// A build started (file event or command).
    BuildStarted,
    /// The wire event (ready / rebuild / error), already dispatched.
    Dev(Arc<DevEvent>),
    /// A run changed state (or was created).
    Run(Arc<RunInfo>),
    /// New log lines were stored for this pid (read them from the log store).
    Logs { pid: u32 },
    /// New training events of a run's cloud job, already folded into its metrics (read the
    /// series from `RunInfo::metrics`). One per batch of the stream (at most ~10 per second
    /// per run); `events` may be empty when only a count (unreadable frames) changed.
    Training {
        pid: u32,
        job_id: Arc<str>,
        events: Arc<[JobEvent]>,
    },
    /// A human-readable notice (escalation, deprecation, a recovered helper, …).
    Notice { level: NoticeLevel, message: String },
    /// Shutdown began; no further dev events or runs follow.
    ShuttingDown,
    /// The engine has finished: every run ended, the watcher and the inspector are closed.
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeLevel {
    Info,
    Warn,
    Error,
}

/// A broadcast channel that remembers the last value and hands it to each new subscriber
/// first (docs/protocol.md §3 replay). Lagging subscribers see `RecvError::Lagged` and decide for
/// themselves (the SSE route drops the connection; the TUI resyncs from snapshots).
pub struct ReplayBus<T: Clone> {
    tx: broadcast::Sender<T>,
    last: Mutex<Option<T>>,
}

impl<T: Clone> ReplayBus<T> {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Self {
            tx,
            last: Mutex::new(None),
        }
    }

    /// Publish to every subscriber and remember it for replay.
    pub fn publish(&self, value: T) {
        // Hold the lock across send so a concurrent subscribe never sees the value twice
        // (replayed and received) or not at all.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(value.clone());
        let _ = self.tx.send(value);
    }

    /// The last published value (if any) and a receiver for everything after it.
    pub fn subscribe(&self) -> (Option<T>, broadcast::Receiver<T>) {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        (last.clone(), self.tx.subscribe())
    }

    pub fn last(&self) -> Option<T> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

mod unix_ms {
    use std::time::{SystemTime, UNIX_EPOCH};
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        s.serialize_u64(ms as u64)
    }
}

mod unix_ms_opt {
    use std::time::SystemTime;
    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::unix_ms::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_json_names_what_it_replaced_and_why() {
        let fresh = RunInfo::new(7, RunOrigin::Engine, SystemTime::UNIX_EPOCH);
        let json = serde_json::to_value(&fresh).expect("json");
        assert_eq!(json["restartedFrom"], serde_json::Value::Null);
        assert_eq!(json["restartCause"], serde_json::Value::Null);
        assert_eq!(json["state"], serde_json::json!({"state": "starting"}));

        let restarted = RunInfo {
            restarted_from: Some(Restart {
                from: 6,
                cause: RestartCause::ConfigChanged {
                    changes: vec![ConfigChange {
                        key: "learningRate".into(),
                        old: Some("0.0002".into()),
                        new: Some("0.0001".into()),
                    }],
                },
            }),
            ..fresh
        };
        let json = serde_json::to_value(&restarted).expect("json");
        assert_eq!(json["restartedFrom"], 6);
        assert_eq!(
            json["restartCause"],
            serde_json::json!({"kind": "configChanged", "changes": [
                {"key": "learningRate", "old": "0.0002", "new": "0.0001"}
            ]})
        );
    }
}
