//! The engine's record of one run: the one place every fact about a run lives.
//!
//! What dispatch reads and writes (hashes, config, job id, the early-stop latch) is the
//! [`ChildRecord`] inside it; the run's lifecycle (state, stop, exit, restart) sits next to
//! it. Front ends never see a `Run`: they get [`RunInfo`] snapshots derived from it by
//! [`Run::info`], so the runs table, a restart's label and the next dispatch cannot disagree.
//!
//! New per-run state belongs here, as a field of `Run`, and in [`RunInfo`] only as what
//! front ends need to draw. The run's training metrics (a bounded series fed by the job's
//! event stream) and its outcome live in `metrics`, which front ends read through the
//! same shared handle instead of a copy per update.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::core::cloud::CancelSnapshot;
use crate::core::cloud::job_events::JobFollower;
use crate::core::events::{
    BuiltArtifact, ConfigChange, ExitStatus, Restart, RestartCause, RunInfo, RunState, StopCause,
};
use crate::core::hash;
use crate::core::registry::ChildRecord;
use crate::core::stackmap::StackMapper;
use crate::core::training::{CloudVerdict, OutcomeKind, RunMetrics, SharedMetrics};

pub(super) struct Run {
    /// The dispatch facts: config hash and config, content hash, job id, latch.
    pub record: ChildRecord,
    pub trainer_name: Option<String>,
    pub state: RunState,
    pub started_at: SystemTime,
    pub state_since: SystemTime,
    /// The run this one replaced, and why.
    pub restarted_from: Option<Restart>,
    /// Why the pending early stop is a restart after a config change (see
    /// [`RunInfo::restart_reason`]).
    pub restart_reason: Vec<ConfigChange>,
    /// A stop is under way: SIGTERM sent, SIGKILL due at a deadline.
    pub stop: Option<Stop>,
    /// Why the run is being stopped (which also chose the stop's timeout).
    pub stop_cause: Option<StopCause>,
    /// A config change the policy holds (`--on-config-change=ask|hold`): what the current
    /// build changes. Cleared when the run takes a build or the change is reverted.
    pub pending_config: Option<Vec<ConfigChange>>,
    /// A build was not signalled to this run because its runner was not ready (no job id):
    /// the last good build is dispatched to it once it is.
    pub dispatch_deferred: bool,
    /// Why it failed, when it ended on its own with an error (see [`RunInfo::failure`]).
    pub failure: Option<String>,
    /// Where its output is also written.
    pub log_file: Option<std::path::PathBuf>,
    /// Its training events as JSON lines beside the log file (opened on the first event).
    pub metrics_file: Option<crate::core::run_files::MetricsFile>,
    /// Start a replacement once this run has stopped (engine-owned runs only).
    pub restart_pending: Option<RestartKind>,
    /// The Studio's "Stop": out of dispatch, killed once its job id is known or at
    /// `abandon_deadline`, whichever comes first.
    pub abandoned: bool,
    /// When an abandoned run without a job id is killed anyway (cleared once killed).
    pub abandon_deadline: Option<Instant>,
    /// The stop timed out and the run was SIGKILLed (its checkpoint was not waited for).
    pub escalated: bool,
    /// How the process ended; `None` while it is alive.
    pub exit_status: Option<ExitStatus>,
    /// Credentials and scope at spawn time, for the cloud cancel of a run that died without
    /// ending its job and for following the job's event stream (later credential changes
    /// must not redirect either).
    pub cancel: Option<CancelSnapshot>,
    /// The training metrics and, once settled, the outcome (shared with front ends).
    pub metrics: SharedMetrics,
    /// Follows the job's event stream from the job id on; dropped (stopped) once the job's
    /// stream ends or the run's outcome is settled.
    pub follower: Option<JobFollower>,
    /// Which follower's messages are this run's: a follower of an earlier run with the same
    /// pid (the OS reuses pids) or a replaced one has another serial.
    pub follow_serial: u64,
    /// The user (a stop key, the quit) asked this run to stop; a rebuild's restart is not that.
    pub stopped_by_user: bool,
    /// The run a restart started in its place.
    pub replaced_by: Option<u32>,
    /// The run has exited and its follower is still delivering: the outcome is settled when
    /// the stream ends or at this moment, whichever is first.
    pub outcome_due: Option<Instant>,
    /// Its follower cannot reach the cloud right now.
    pub stream_down: bool,
    /// Its log already says that unreadable frames were skipped.
    pub malformed_said: bool,
    /// Maps the stack frames of the run's output (told when the artifact it started on
    /// becomes uncertain).
    pub stack_mapper: Option<StackMapper>,
}

/// An early stop in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stop {
    /// When the SIGTERM went out.
    pub since: Instant,
    /// When the run is SIGKILLed unless it has exited (the engine's timer).
    pub kill_at: Instant,
    /// The same moment on the wall clock, for countdowns.
    pub kill_deadline: SystemTime,
    /// How long the stop may take (the user's stop timeout, or the longer restart backstop).
    pub timeout: Duration,
}

impl Stop {
    pub fn new(now: Instant, timeout: Duration) -> Self {
        Self {
            since: now,
            kill_at: now + timeout,
            kill_deadline: SystemTime::now() + timeout,
            timeout,
        }
    }

    /// The same stop (same SIGTERM), killed `timeout` from `now` instead.
    pub fn shortened(self, now: Instant, timeout: Duration) -> Self {
        let kill_at = now + timeout;
        Self {
            since: self.since,
            kill_at,
            kill_deadline: SystemTime::now() + timeout,
            timeout: kill_at.saturating_duration_since(self.since),
        }
    }
}

/// What asked for a restart, which decides how the replacement's cause reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RestartKind {
    /// The restart key.
    Manual,
    /// A rebuild's dispatch. `same_config`: the config was provably unchanged, so the run was
    /// restarted only because it could not take a hot swap yet.
    Rebuild { same_config: bool },
}

impl Run {
    pub fn new(record: ChildRecord, trainer_name: Option<String>, now: SystemTime) -> Self {
        Self {
            record,
            trainer_name,
            state: RunState::Starting,
            started_at: now,
            state_since: now,
            restarted_from: None,
            restart_reason: Vec::new(),
            stop: None,
            stop_cause: None,
            pending_config: None,
            dispatch_deferred: false,
            failure: None,
            log_file: None,
            metrics_file: None,
            restart_pending: None,
            abandoned: false,
            abandon_deadline: None,
            escalated: false,
            exit_status: None,
            cancel: None,
            metrics: SharedMetrics::default(),
            follower: None,
            follow_serial: 0,
            stopped_by_user: false,
            replaced_by: None,
            outcome_due: None,
            stream_down: false,
            malformed_said: false,
            stack_mapper: None,
        }
    }

    /// A record with its metrics sized for `max_steps` (the job config's, when it says).
    pub fn with_max_steps(mut self, max_steps: Option<u64>) -> Self {
        self.metrics = SharedMetrics::new(RunMetrics::new(max_steps));
        self
    }

    pub fn pid(&self) -> u32 {
        self.record.pid
    }

    pub fn alive(&self) -> bool {
        self.exit_status.is_none()
    }

    /// In dispatch: alive and not abandoned by the Studio.
    pub fn dispatchable(&self) -> bool {
        self.alive() && !self.abandoned
    }

    /// The earliest moment one of this run's timers is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.alive() {
            return self.outcome_due;
        }
        let kill = self.stop.filter(|_| !self.escalated).map(|s| s.kill_at);
        match (kill, self.abandon_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn set_state(&mut self, state: RunState) {
        if self.state != state {
            self.state = state;
            self.state_since = SystemTime::now();
        }
    }

    /// What front ends see.
    pub fn info(&self) -> RunInfo {
        RunInfo {
            pid: self.record.pid,
            origin: self.record.origin,
            trainer_name: self.trainer_name.clone(),
            job_id: self.record.job_id.clone(),
            config_hash: self.record.config_hash.clone(),
            content_hash: self.record.content_hash.clone(),
            state: self.state.clone(),
            started_at: self.started_at,
            state_since: self.state_since,
            kill_deadline: self.stop.filter(|_| self.alive()).map(|s| s.kill_deadline),
            restart_reason: self.restart_reason.clone(),
            restarted_from: self.restarted_from.clone(),
            metrics: self.metrics.clone(),
            outcome: self.metrics.outcome(),
            stop_cause: self.stop_cause,
            pending_config: self.pending_config.clone(),
            failure: self.failure.clone(),
            log_file: self.log_file.clone(),
        }
    }

    /// How this run ended, from what is known now (call once it has exited).
    pub fn outcome_kind(&self) -> Option<OutcomeKind> {
        let status = self.exit_status?;
        let (verdict, checkpoint) = self
            .metrics
            .read(|m| (m.verdict().cloned(), m.checkpoints().latest()));
        Some(decide_outcome(&OutcomeFacts {
            status,
            replaced_by: self.replaced_by,
            verdict,
            stopped_by_user: self.stopped_by_user,
            last_checkpoint: checkpoint,
        }))
    }
}

/// Everything an outcome depends on.
#[derive(Clone, Debug)]
pub(super) struct OutcomeFacts {
    pub status: ExitStatus,
    pub replaced_by: Option<u32>,
    pub verdict: Option<CloudVerdict>,
    pub stopped_by_user: bool,
    pub last_checkpoint: Option<u64>,
}

/// A restart's predecessor was replaced, whatever its job said; then the cloud's verdict,
/// unless the user's stop explains the end (a stopped job's cancel may read as a failure);
/// then how the process ended.
pub(super) fn decide_outcome(facts: &OutcomeFacts) -> OutcomeKind {
    let clean = facts.status == ExitStatus::Code(0);
    if facts.replaced_by.is_some() {
        return OutcomeKind::Replaced {
            successor_pid: facts.replaced_by,
        };
    }
    match &facts.verdict {
        Some(CloudVerdict::Completed) => return OutcomeKind::Completed,
        Some(CloudVerdict::Failed { error, step }) if !(facts.stopped_by_user && clean) => {
            return OutcomeKind::Failed {
                error: error.clone(),
                step: *step,
            };
        }
        _ => {}
    }
    match facts.status {
        ExitStatus::Signal(_) => OutcomeKind::Killed {
            status: facts.status,
        },
        ExitStatus::Code(0) if facts.stopped_by_user => OutcomeKind::StoppedAtCheckpoint {
            checkpoint_step: facts.last_checkpoint,
        },
        status => OutcomeKind::Exited { status },
    }
}

/// Why a replacement started with `next` after `predecessor` stopped for `kind`: the diff
/// between the two configs, whatever the builds in between did.
pub(super) fn restart_cause(
    kind: RestartKind,
    predecessor: &ChildRecord,
    next: Option<&BuiltArtifact>,
) -> RestartCause {
    let changes = match (&predecessor.config, next.and_then(|a| a.config.as_ref())) {
        (Some(old), Some(new)) => Some(hash::config_changes(old, new)),
        _ => None,
    };
    match (kind, changes) {
        (RestartKind::Manual, _) => RestartCause::Manual,
        (RestartKind::Rebuild { .. }, Some(changes)) if !changes.is_empty() => {
            RestartCause::ConfigChanged { changes }
        }
        (RestartKind::Rebuild { same_config: true }, _) => RestartCause::NotReadyForHotSwap,
        (RestartKind::Rebuild { same_config: false }, Some(changes)) => {
            RestartCause::ConfigChanged { changes }
        }
        (RestartKind::Rebuild { same_config: false }, None) => RestartCause::ConfigUnknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::RunOrigin;
    use serde_json::json;

    fn predecessor(config: Option<serde_json::Value>) -> ChildRecord {
        let mut record = ChildRecord::new(1, RunOrigin::Engine, Some("h".into()), None);
        record.config = config;
        record
    }

    fn build(config: Option<serde_json::Value>) -> BuiltArtifact {
        BuiltArtifact {
            out_file: "/p/.arkor/build/index.mjs".into(),
            hash: "1-1-1".into(),
            content_hash: Some("c".into()),
            config_hash: Some("h2".into()),
            trainer_name: None,
            config,
            build_duration: Duration::ZERO,
            inspect_duration: Duration::ZERO,
        }
    }

    fn facts(status: ExitStatus) -> OutcomeFacts {
        OutcomeFacts {
            status,
            replaced_by: None,
            verdict: None,
            stopped_by_user: false,
            last_checkpoint: Some(40),
        }
    }

    #[test]
    fn each_ending_has_its_own_outcome() {
        let failed = CloudVerdict::Failed {
            error: "OOM".into(),
            step: Some(7),
        };
        let cases = [
            (
                OutcomeFacts {
                    verdict: Some(CloudVerdict::Completed),
                    ..facts(ExitStatus::Code(0))
                },
                OutcomeKind::Completed,
            ),
            (
                OutcomeFacts {
                    stopped_by_user: true,
                    ..facts(ExitStatus::Code(0))
                },
                OutcomeKind::StoppedAtCheckpoint {
                    checkpoint_step: Some(40),
                },
            ),
            (
                OutcomeFacts {
                    replaced_by: Some(9),
                    verdict: Some(failed.clone()),
                    ..facts(ExitStatus::Code(0))
                },
                OutcomeKind::Replaced {
                    successor_pid: Some(9),
                },
            ),
            (
                OutcomeFacts {
                    verdict: Some(failed.clone()),
                    ..facts(ExitStatus::Code(1))
                },
                OutcomeKind::Failed {
                    error: "OOM".into(),
                    step: Some(7),
                },
            ),
            (
                // The user's stop explains a clean exit whatever the stream said last.
                OutcomeFacts {
                    verdict: Some(failed),
                    stopped_by_user: true,
                    ..facts(ExitStatus::Code(0))
                },
                OutcomeKind::StoppedAtCheckpoint {
                    checkpoint_step: Some(40),
                },
            ),
            (
                OutcomeFacts {
                    stopped_by_user: true,
                    ..facts(ExitStatus::Signal(9))
                },
                OutcomeKind::Killed {
                    status: ExitStatus::Signal(9),
                },
            ),
            (
                facts(ExitStatus::Code(1)),
                OutcomeKind::Exited {
                    status: ExitStatus::Code(1),
                },
            ),
        ];
        for (facts, expected) in cases {
            assert_eq!(decide_outcome(&facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn a_config_restart_names_what_differs_between_the_two_runs() {
        let cause = restart_cause(
            RestartKind::Rebuild { same_config: false },
            &predecessor(Some(json!({"learningRate": 0.0002}))),
            Some(&build(Some(json!({"learningRate": 0.0001})))),
        );
        assert_eq!(cause.to_string(), "learningRate 0.0002 → 0.0001");
    }

    #[test]
    fn a_change_reverted_before_the_restart_says_so() {
        let config = json!({"learningRate": 0.0002});
        let cause = restart_cause(
            RestartKind::Rebuild { same_config: false },
            &predecessor(Some(config.clone())),
            Some(&build(Some(config))),
        );
        assert_eq!(cause.to_string(), "config changed and changed back");
    }

    #[test]
    fn a_manual_restart_is_manual_whatever_the_configs() {
        let cause = restart_cause(
            RestartKind::Manual,
            &predecessor(Some(json!({"a": 1}))),
            Some(&build(Some(json!({"a": 2})))),
        );
        assert_eq!(cause, RestartCause::Manual);
        assert_eq!(cause.to_string(), "manual restart");
    }

    #[test]
    fn unknown_configs_and_unready_runs_say_what_is_known() {
        let cause = restart_cause(
            RestartKind::Rebuild { same_config: false },
            &predecessor(None),
            Some(&build(Some(json!({"a": 1})))),
        );
        assert_eq!(cause, RestartCause::ConfigUnknown);
        let same = json!({"a": 1});
        let cause = restart_cause(
            RestartKind::Rebuild { same_config: true },
            &predecessor(Some(same.clone())),
            Some(&build(Some(same))),
        );
        assert_eq!(
            cause.to_string(),
            "callbacks changed before it could hot-swap"
        );
        // A config edit after the callback edit is still named.
        let cause = restart_cause(
            RestartKind::Rebuild { same_config: true },
            &predecessor(Some(json!({"a": 1}))),
            Some(&build(Some(json!({"a": 2})))),
        );
        assert_eq!(cause.to_string(), "a 1 → 2");
    }
}
