//! The engine's record of one run: the one place every fact about a run lives.
//!
//! What dispatch reads and writes (hashes, config, job id, the early-stop latch) is the
//! [`ChildRecord`] inside it; the run's lifecycle (state, stop, exit, restart) sits next to
//! it. Front ends never see a `Run`: they get [`RunInfo`] snapshots derived from it by
//! [`Run::info`], so the runs table, a restart's label and the next dispatch cannot disagree.
//!
//! New per-run state belongs here, as a field of `Run`, and in [`RunInfo`] only as what
//! front ends need to draw (e.g. a bounded metric series behind an `Arc`, an outcome).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::core::cloud::CancelSnapshot;
use crate::core::events::{
    BuiltArtifact, ConfigChange, ExitStatus, Restart, RestartCause, RunInfo, RunState,
};
use crate::core::hash;
use crate::core::registry::ChildRecord;
use crate::core::stackmap::StackMapper;

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
    /// ending its job (later credential changes must not redirect it).
    pub cancel: Option<CancelSnapshot>,
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
            restart_pending: None,
            abandoned: false,
            abandon_deadline: None,
            escalated: false,
            exit_status: None,
            cancel: None,
            stack_mapper: None,
        }
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
            return None;
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
        }
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
