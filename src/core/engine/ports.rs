//! What the engine task drives, behind small traits: the process supervisor, the build loop
//! and the cloud job cancel. The product plugs in the real ones ([`Supervisor`],
//! [`BuildLoopHandle`], [`CloudCancel`]); the engine's own tests plug in fakes and run the
//! task on paused time, with no process and no wall-clock wait.

use std::future::Future;

use tokio::sync::broadcast;

use crate::core::cloud::cancel::{CancelOutcome, CancelSnapshot, cancel_job};
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

/// Cancels the cloud job of a run whose runner died without doing it. Best effort, off the
/// engine loop: the result is only reported.
pub trait CloudJobs: Send + 'static {
    fn cancel(&self, pid: u32, job_id: String, snapshot: CancelSnapshot);
}

/// The real cancel: an HTTP call with the credentials captured at spawn, its outcome written
/// to the run's log.
pub struct CloudCancel {
    pub logs: LogStore,
    pub events: broadcast::Sender<EngineEvent>,
}

impl CloudJobs for CloudCancel {
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
