//! What the engine task drives, behind small traits: the process supervisor, the build loop
//! and the cloud jobs (the cancel, and following a job's event stream). The product plugs in
//! the real ones ([`Supervisor`], [`BuildLoopHandle`], [`CloudJobClient`]); the engine's own
//! tests plug in fakes and run the task on paused time, with no process and no wall-clock
//! wait.

use std::future::Future;

use tokio::sync::{broadcast, mpsc};

use crate::core::cloud::cancel::{CancelOutcome, CancelSnapshot, cancel_job};
use crate::core::cloud::job_events::{FollowerMessage, FollowerOptions, JobFollower};
use crate::core::events::{EngineEvent, NoticeLevel};
use crate::core::logs::{LogStore, LogStream};
use crate::core::registry::{SignalOutcome, Signaller};
use crate::core::run_output::OutputTap;
use crate::core::supervisor::{SpawnError, SpawnSpec, Supervisor};
use crate::core::watch::BuildLoopHandle;

/// Starts and signals runs. Its events (job id, logs, exit) reach the engine on the
/// `ChildEvent` channel it was created with. As a [`Signaller`] it serves dispatch: SIGUSR2
/// for a hot swap, SIGTERM (at most once per run) for a restart.
pub trait Processes: Signaller + Send + 'static {
    /// Start a child; `tap` receives its raw output. Returns its pid.
    fn spawn(&self, spec: SpawnSpec, tap: Option<OutputTap>) -> Result<u32, SpawnError>;
    /// SIGTERM to the run's group, at most once per run: the early stop.
    fn terminate(&self, pid: u32) -> SignalOutcome;
    /// SIGKILL to the run's group, now.
    fn force_stop(&self, pid: u32) -> SignalOutcome;
}

impl Processes for Supervisor {
    fn spawn(&self, spec: SpawnSpec, tap: Option<OutputTap>) -> Result<u32, SpawnError> {
        Supervisor::spawn(self, spec, tap).map(|child| child.pid)
    }

    fn terminate(&self, pid: u32) -> SignalOutcome {
        Supervisor::terminate(self, pid)
    }

    fn force_stop(&self, pid: u32) -> SignalOutcome {
        Supervisor::force_stop(self, pid)
    }
}

/// Builds on file changes and on request. Its events reach the engine on the
/// `BuildLoopEvent` channel it was created with.
pub trait Builds: Send + 'static {
    /// Build now, even if nothing changed.
    fn rebuild(&self);
    /// Stop watching and building (the watcher and the inspector are released).
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send;
}

impl Builds for BuildLoopHandle {
    fn rebuild(&self) {
        BuildLoopHandle::rebuild(self);
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        BuildLoopHandle::shutdown(self)
    }
}

/// What the engine knows a follower's messages by: the run's pid, and which of the run's
/// followers (a pid the OS hands out again must never take an old job's frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowTag {
    pub pid: u32,
    pub serial: u64,
}

/// Where every follower sends its updates: one engine input for all runs.
pub type FollowerUpdates = mpsc::Sender<FollowerMessage<FollowTag>>;

/// The cloud jobs of runs: following a job's event stream for the run's metrics, and
/// cancelling the job of a run whose runner died without doing it. Both run off the engine
/// loop and never make it wait: the cancel's result is only reported, the follower's
/// updates arrive on the engine's follower input.
pub trait CloudJobs: Send + 'static {
    fn cancel(&self, pid: u32, job_id: String, snapshot: CancelSnapshot);
    /// Start following `job_id` with the identity and scope captured at spawn. Dropping (or
    /// stopping) the returned handle stops it.
    fn follow(
        &self,
        job_id: String,
        snapshot: CancelSnapshot,
        tag: FollowTag,
        updates: FollowerUpdates,
    ) -> JobFollower;
}

/// The real cloud jobs: HTTP with the credentials captured at spawn. The cancel's outcome is
/// written to the run's log.
pub struct CloudJobClient {
    pub logs: LogStore,
    pub events: broadcast::Sender<EngineEvent>,
    pub follower_options: FollowerOptions,
}

impl CloudJobs for CloudJobClient {
    fn follow(
        &self,
        job_id: String,
        snapshot: CancelSnapshot,
        tag: FollowTag,
        updates: FollowerUpdates,
    ) -> JobFollower {
        JobFollower::spawn(snapshot, job_id, tag, updates, self.follower_options)
    }

    fn cancel(&self, pid: u32, job_id: String, snapshot: CancelSnapshot) {
        let logs = self.logs.clone();
        let events = self.events.clone();
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
            // The run died without ending its job: what became of the job is news (timeline
            // and banner), not only a log line.
            let _ = events.send(EngineEvent::Notice {
                level: NoticeLevel::Warn,
                message: format!("run {pid}: {}", line.trim_start_matches("arkor: ")),
            });
            logs.push(pid, LogStream::System, line);
            let _ = events.send(EngineEvent::Logs { pid });
        });
    }
}
