//! The run policy: what a rebuild does to each run and what a run's exit leads to.
//!
//! [`decide`] is a pure function from one run's record and a new build to an action;
//! [`dispatch`] applies it to every live run exactly once per call, through a [`Signaller`]
//! (the real [`Supervisor`](crate::core::supervisor::Supervisor) or a counting fake in
//! tests), and reports the targets for the `rebuild` frame. [`after_exit`] is the pure
//! decision once a run has exited: restart it, finish it, or say it was not restarted, and
//! whether its cloud job needs cancelling. The records live in the engine's run table and
//! only the engine task calls these, so a rebuild is dispatched once however many front ends
//! watch it, and dispatching the same build twice signals nobody the second time.

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::core::events::{
    BuiltArtifact, DispatchOutcome, ExitStatus, HotSwapTarget, RestartTarget, RunOrigin,
};

/// What `kill(2)` said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalOutcome {
    Delivered,
    /// No such process (ESRCH) or a run that already exited.
    Gone,
    /// Any other failure (EPERM, EINVAL, …): the signal could not be delivered.
    Unsupported(Errno),
}

/// Sends signals to runs by pid. The supervisor implements it; tests count with it.
pub trait Signaller {
    fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome;
}

impl<T: Signaller + ?Sized> Signaller for &T {
    fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome {
        (**self).signal(pid, signal)
    }
}

/// What dispatch knows of one run: the one copy of these facts. The engine keeps it inside
/// its record of the run, so the runs table, a restart's label and the next dispatch all
/// read the same values.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildRecord {
    pub pid: u32,
    pub origin: RunOrigin,
    /// The `file` of `/api/train` (always `None` while the watcher owns the artifact).
    pub train_file: Option<String>,
    /// configHash of the build the run was spawned with (backfilled by docs/protocol.md §10 rule 2).
    pub config_hash: Option<String>,
    /// contentHash of the bundle the run has loaded most recently: the artifact at spawn,
    /// then every build it was hot-swapped to (docs/protocol.md D25).
    pub content_hash: Option<String>,
    /// The JobConfig `config_hash` stands for, for "what changed" diffs. Adopted together
    /// with the hash, so the two never disagree.
    pub config: Option<serde_json::Value>,
    /// Set once a SIGTERM was sent; later rebuilds skip the run (docs/protocol.md D3).
    pub early_stop_requested: bool,
    /// Cloud job id from the runner's marker; also proves its SIGUSR2 handler is armed.
    pub job_id: Option<String>,
}

impl ChildRecord {
    pub fn new(
        pid: u32,
        origin: RunOrigin,
        config_hash: Option<String>,
        content_hash: Option<String>,
    ) -> Self {
        Self {
            pid,
            origin,
            train_file: None,
            config_hash,
            content_hash,
            config: None,
            early_stop_requested: false,
            job_id: None,
        }
    }

    /// Whether the config of `next` is provably the one this run has (both hashes known and
    /// equal). A restart of such a run is not a config change: its runner could not take a
    /// hot swap yet.
    pub fn same_config_as(&self, next_config_hash: Option<&str>) -> bool {
        matches!(
            (self.config_hash.as_deref(), next_config_hash),
            (Some(current), Some(next)) if current == next
        )
    }
}

/// The action for one run on one successful rebuild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Already early-stopping: never a second SIGTERM (the runner would exit 143).
    Skip,
    /// The run already has exactly these bytes loaded; adopt the new configHash if known.
    Nothing { refresh_config_hash: Option<String> },
    /// The runner has not printed its job id, so its signal handlers may not exist yet: any
    /// signal would kill it (and could orphan a cloud job being created). Decide again once
    /// its job id arrives.
    Defer,
    /// Same config, runner ready: SIGUSR2 swaps the callbacks in place.
    HotSwap,
    /// Config changed or unprovable, and the config-change policy holds restarts: no signal;
    /// the run stays on its config until the user restarts it (or the change is reverted).
    Hold,
    /// Config changed or unprovable: SIGTERM, early stop at the next checkpoint.
    Restart,
}

/// What dispatch may do besides the per-run facts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchPolicy {
    /// Hold config-change restarts instead of signalling (the `ask` and `hold` policies).
    pub hold_restarts: bool,
}

/// What a rebuild that changes a live run's job config does to it (`--on-config-change`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConfigChangePolicy {
    /// Early-stop at the next checkpoint and restart with the new config (the reference's
    /// behaviour).
    #[default]
    Restart,
    /// Hold the restart and let a front end ask the user whether to restart now.
    Ask,
    /// Keep the run going on its config; the user restarts it when they choose.
    Hold,
}

impl ConfigChangePolicy {
    pub const ALL: [ConfigChangePolicy; 3] = [Self::Restart, Self::Ask, Self::Hold];

    pub fn name(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Ask => "ask",
            Self::Hold => "hold",
        }
    }

    /// The next policy in `restart → ask → hold → restart` (the dashboard's key).
    pub fn next(self) -> Self {
        match self {
            Self::Restart => Self::Ask,
            Self::Ask => Self::Hold,
            Self::Hold => Self::Restart,
        }
    }

    pub fn dispatch(self) -> DispatchPolicy {
        DispatchPolicy {
            hold_restarts: self != Self::Restart,
        }
    }
}

impl std::str::FromStr for ConfigChangePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("`{s}` is not one of restart, ask, hold"))
    }
}

impl std::fmt::Display for ConfigChangePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The dispatch decision for one run, without side effects.
pub fn decide(
    record: &ChildRecord,
    next_config_hash: Option<&str>,
    next_content_hash: Option<&str>,
    policy: DispatchPolicy,
) -> Decision {
    if record.early_stop_requested {
        return Decision::Skip;
    }
    if let (Some(loaded), Some(next)) = (record.content_hash.as_deref(), next_content_hash)
        && loaded == next
    {
        return Decision::Nothing {
            refresh_config_hash: next_config_hash.map(str::to_owned),
        };
    }
    // SIGUSR2 and SIGTERM both kill a runner that has no handler yet; the marker is printed
    // after the runner armed them, so a run without a job id is not signalled at all.
    if record.job_id.is_none() {
        Decision::Defer
    } else if record.same_config_as(next_config_hash) {
        Decision::HotSwap
    } else if policy.hold_restarts {
        Decision::Hold
    } else {
        Decision::Restart
    }
}

/// Apply [`decide`] to every given run (the engine passes the live ones it has not
/// abandoned, in the order they started) for one successful build, and report the targets for
/// the `rebuild` frame. Call it once per build; a repeated call with the same build finds every
/// run latched or already on these bytes and signals nobody.
pub fn dispatch<'a>(
    records: impl IntoIterator<Item = &'a mut ChildRecord>,
    next: &BuiltArtifact,
    signaller: &impl Signaller,
    policy: DispatchPolicy,
) -> DispatchOutcome {
    let next_config_hash = next.config_hash.as_deref();
    let next_content_hash = next.content_hash.as_deref();
    let mut outcome = DispatchOutcome::default();
    for record in records {
        match decide(record, next_config_hash, next_content_hash, policy) {
            Decision::Skip => {}
            Decision::Defer => outcome.deferred.push(record.pid),
            Decision::Hold => outcome.held.push(record.pid),
            Decision::Nothing {
                refresh_config_hash,
            } => {
                if refresh_config_hash.is_some() {
                    record.config_hash = refresh_config_hash;
                    record.config = next.config.clone();
                }
            }
            Decision::HotSwap => match signaller.signal(record.pid, Signal::SIGUSR2) {
                SignalOutcome::Delivered => {
                    // The runner re-imports the current artifact: that is now what it has
                    // loaded (a later revert must count as a change).
                    record.content_hash = next_content_hash.map(str::to_owned);
                    outcome.hot_swap_targets.push(HotSwapTarget {
                        pid: record.pid,
                        train_file: record.train_file.clone(),
                    });
                }
                SignalOutcome::Gone => {}
                SignalOutcome::Unsupported(_) => {
                    restart(record, signaller, &mut outcome);
                }
            },
            Decision::Restart => restart(record, signaller, &mut outcome),
        }
    }
    outcome
}

fn restart(record: &mut ChildRecord, signaller: &impl Signaller, outcome: &mut DispatchOutcome) {
    // Gone or undeliverable: the run is neither target; its exit takes it out of dispatch.
    if signaller.signal(record.pid, Signal::SIGTERM) == SignalOutcome::Delivered {
        record.early_stop_requested = true;
        outcome.restart_targets.push(RestartTarget {
            pid: record.pid,
            train_file: record.train_file.clone(),
            forced_kill: None,
        });
    }
}

/// What a run's exit leads to; see [`after_exit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitFacts {
    pub status: ExitStatus,
    /// The runner printed its job id (its cloud job exists).
    pub job_id_known: bool,
    /// Arkor can cancel that job itself (credentials and scope were captured at spawn).
    pub can_cancel_job: bool,
    /// The engine was asked to start a replacement once this run has stopped.
    pub restart_pending: bool,
    /// The stop timed out and the run was SIGKILLed (its checkpoint was not waited for).
    pub escalated: bool,
    pub shutting_down: bool,
}

/// What to do after a run exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfterExit {
    /// The runner did not end its cloud job itself: cancel it (best effort).
    pub cancel_cloud_job: bool,
    pub next: NextStep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Start the replacement; the run stays `Restarting` until the replacement runs.
    Restart,
    /// The run is over.
    Finish,
    /// A restart was asked for, but the run did not stop cleanly: it is over, and the user
    /// is told it was not restarted.
    NotRestarted,
}

/// The after-exit policy, without side effects.
pub fn after_exit(facts: ExitFacts) -> AfterExit {
    // A runner that exits 0 finished its job or early-stopped it (and cancelled it) itself;
    // any other ending may leave the cloud job running.
    let cancel_cloud_job =
        facts.job_id_known && facts.can_cancel_job && facts.status != ExitStatus::Code(0);
    // A runner SIGTERMed before it installed its handlers (a save in the first moments of a
    // run, before its job exists) dies of the signal itself; nothing ran in the cloud yet,
    // so the restart it was asked for still applies.
    let killed_before_its_job =
        facts.status == ExitStatus::Signal(libc::SIGTERM) && !facts.job_id_known;
    let clean = facts.status == ExitStatus::Code(0) || facts.escalated || killed_before_its_job;
    let next = match (facts.restart_pending, clean && !facts.shutting_down) {
        (true, true) => NextStep::Restart,
        (true, false) => NextStep::NotRestarted,
        (false, _) => NextStep::Finish,
    };
    AfterExit {
        cancel_cloud_job,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Records every signal and answers per (pid, signal) as configured.
    #[derive(Default)]
    struct FakeSignaller {
        sent: RefCell<Vec<(u32, Signal)>>,
        answers: HashMap<(u32, Signal), SignalOutcome>,
    }

    impl FakeSignaller {
        fn answer(mut self, pid: u32, signal: Signal, outcome: SignalOutcome) -> Self {
            self.answers.insert((pid, signal), outcome);
            self
        }
        fn sent(&self) -> Vec<(u32, Signal)> {
            self.sent.borrow().clone()
        }
        fn clear(&self) {
            self.sent.borrow_mut().clear();
        }
    }

    impl Signaller for FakeSignaller {
        fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome {
            self.sent.borrow_mut().push((pid, signal));
            self.answers
                .get(&(pid, signal))
                .copied()
                .unwrap_or(SignalOutcome::Delivered)
        }
    }

    const RESTART: DispatchPolicy = DispatchPolicy {
        hold_restarts: false,
    };

    fn record(pid: u32, config: Option<&str>, content: Option<&str>) -> ChildRecord {
        ChildRecord::new(
            pid,
            RunOrigin::Engine,
            config.map(Into::into),
            content.map(Into::into),
        )
    }

    fn ready(pid: u32, config: Option<&str>, content: Option<&str>) -> ChildRecord {
        let mut r = record(pid, config, content);
        r.job_id = Some(format!("job-{pid}"));
        r
    }

    fn hot(pid: u32) -> HotSwapTarget {
        HotSwapTarget {
            pid,
            train_file: None,
        }
    }

    fn rst(pid: u32) -> RestartTarget {
        RestartTarget {
            pid,
            train_file: None,
            forced_kill: None,
        }
    }

    // ---- decide(): one case per docs/protocol.md §10 rule / D item ----

    #[test]
    fn decide_skips_a_latched_run_whatever_the_build() {
        let mut r = ready(1, Some("c"), Some("a"));
        r.early_stop_requested = true;
        assert_eq!(decide(&r, Some("c"), Some("a"), RESTART), Decision::Skip);
        assert_eq!(
            decide(&r, Some("other"), Some("b"), RESTART),
            Decision::Skip
        );
        assert_eq!(decide(&r, None, None, RESTART), Decision::Skip);
    }

    #[test]
    fn decide_same_bytes_is_nothing_and_refreshes_config() {
        // D4: unchanged artifact bytes signal nobody, even with a stale configHash.
        let r = ready(1, Some("stale"), Some("a"));
        assert_eq!(
            decide(&r, Some("fresh"), Some("a"), RESTART),
            Decision::Nothing {
                refresh_config_hash: Some("fresh".into())
            }
        );
        // A null inspection never erases a known configHash.
        assert_eq!(
            decide(&r, None, Some("a"), RESTART),
            Decision::Nothing {
                refresh_config_hash: None
            }
        );
    }

    #[test]
    fn decide_content_gate_needs_both_sides_non_null() {
        // Spawned before any artifact existed: restarted once it is ready.
        assert_eq!(
            decide(&ready(1, None, None), Some("c"), Some("a"), RESTART),
            Decision::Restart
        );
        assert_eq!(
            decide(&ready(1, Some("c"), Some("a")), Some("x"), None, RESTART),
            Decision::Restart
        );
        // Both null is not equality either.
        assert_eq!(
            decide(&ready(1, None, None), None, None, RESTART),
            Decision::Restart
        );
    }

    #[test]
    fn decide_same_config_with_job_id_is_hot_swap() {
        assert_eq!(
            decide(
                &ready(1, Some("c"), Some("a")),
                Some("c"),
                Some("b"),
                RESTART
            ),
            Decision::HotSwap
        );
        // D26 second half: no spawn content hash, but hash match + marker → hot swap.
        assert_eq!(
            decide(&ready(1, Some("c"), None), Some("c"), Some("b"), RESTART),
            Decision::HotSwap
        );
    }

    #[test]
    fn a_run_without_a_job_id_is_never_signalled_but_deferred() {
        // Its handlers are not provably armed: SIGUSR2 and SIGTERM would both kill it.
        for config in [Some("c"), Some("other"), None] {
            assert_eq!(
                decide(&record(1, Some("c"), Some("a")), config, Some("b"), RESTART),
                Decision::Defer,
                "{config:?}"
            );
        }
        assert_eq!(
            decide(&record(1, None, None), Some("c"), Some("a"), RESTART),
            Decision::Defer
        );
        // Unless it has these bytes already: nothing to do, and the config is adopted.
        assert_eq!(
            decide(&record(1, None, Some("a")), Some("c"), Some("a"), RESTART),
            Decision::Nothing {
                refresh_config_hash: Some("c".into())
            }
        );
    }

    #[test]
    fn a_holding_policy_holds_restarts_but_not_hot_swaps() {
        let hold = DispatchPolicy {
            hold_restarts: true,
        };
        assert_eq!(
            decide(
                &ready(1, Some("c1"), Some("a")),
                Some("c2"),
                Some("b"),
                hold
            ),
            Decision::Hold
        );
        assert_eq!(
            decide(&ready(1, None, Some("a")), Some("c2"), Some("b"), hold),
            Decision::Hold
        );
        assert_eq!(
            decide(
                &ready(1, Some("c1"), Some("a")),
                Some("c1"),
                Some("b"),
                hold
            ),
            Decision::HotSwap
        );
        let mut latched = ready(1, Some("c1"), Some("a"));
        latched.early_stop_requested = true;
        assert_eq!(
            decide(&latched, Some("c2"), Some("b"), hold),
            Decision::Skip
        );
    }

    #[test]
    fn decide_null_config_on_either_side_is_restart() {
        // D6
        assert_eq!(
            decide(&ready(1, None, Some("a")), Some("c"), Some("b"), RESTART),
            Decision::Restart
        );
        assert_eq!(
            decide(&ready(1, Some("c"), Some("a")), None, Some("b"), RESTART),
            Decision::Restart
        );
        assert_eq!(
            decide(&ready(1, None, Some("a")), None, Some("b"), RESTART),
            Decision::Restart
        );
    }

    #[test]
    fn decide_different_config_is_restart() {
        assert_eq!(
            decide(
                &ready(1, Some("c1"), Some("a")),
                Some("c2"),
                Some("b"),
                RESTART
            ),
            Decision::Restart
        );
    }

    // ---- dispatch(): application, latch, fallbacks ----

    /// Live runs in start order, as the engine hands them to dispatch.
    #[derive(Default)]
    struct Runs(Vec<ChildRecord>);

    impl Runs {
        fn add(&mut self, record: ChildRecord) {
            self.0.push(record);
        }

        fn dispatch(
            &mut self,
            config: Option<&str>,
            content: Option<&str>,
            sig: &FakeSignaller,
        ) -> DispatchOutcome {
            dispatch(self.0.iter_mut(), &build(config, content), sig, RESTART)
        }

        fn get(&self, pid: u32) -> Option<&ChildRecord> {
            self.0.iter().find(|r| r.pid == pid)
        }
    }

    fn build(config: Option<&str>, content: Option<&str>) -> BuiltArtifact {
        BuiltArtifact {
            out_file: "/p/.arkor/build/index.mjs".into(),
            hash: "1-1-1".into(),
            content_hash: content.map(Into::into),
            config_hash: config.map(Into::into),
            trainer_name: None,
            config: config.map(|c| serde_json::json!({ "hash": c })),
            build_duration: std::time::Duration::ZERO,
            inspect_duration: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn dispatch_hot_swaps_matches_and_restarts_the_rest_in_order() {
        let mut runs = Runs::default();
        runs.add(ready(101, Some("match"), Some("a")));
        let mut b = ready(102, Some("different"), Some("a"));
        b.train_file = Some("/tmp/b.ts".into());
        runs.add(b);
        runs.add(ready(103, Some("match"), Some("a")));
        let sig = FakeSignaller::default();
        let out = runs.dispatch(Some("match"), Some("b"), &sig);
        assert_eq!(out.hot_swap_targets, vec![hot(101), hot(103)]);
        assert_eq!(
            out.restart_targets,
            vec![RestartTarget {
                pid: 102,
                train_file: Some("/tmp/b.ts".into()),
                forced_kill: None
            }]
        );
        assert_eq!(
            sig.sent(),
            vec![
                (101, Signal::SIGUSR2),
                (102, Signal::SIGTERM),
                (103, Signal::SIGUSR2)
            ]
        );
        assert!(runs.get(102).is_some_and(|r| r.early_stop_requested));
        assert!(runs.get(101).is_some_and(|r| !r.early_stop_requested));
    }

    #[test]
    fn dispatch_null_next_config_restarts_every_ready_run_and_defers_the_rest() {
        let mut runs = Runs::default();
        runs.add(ready(201, Some("h"), Some("a")));
        runs.add(record(202, None, None));
        let sig = FakeSignaller::default();
        let out = runs.dispatch(None, Some("b"), &sig);
        assert!(out.hot_swap_targets.is_empty());
        assert_eq!(out.restart_targets, vec![rst(201)]);
        assert_eq!(out.deferred, vec![202]);
        assert_eq!(sig.sent(), vec![(201, Signal::SIGTERM)]);
    }

    #[test]
    fn dispatch_latch_means_one_sigterm_across_rebuilds() {
        // D3
        let mut runs = Runs::default();
        runs.add(ready(901, Some("h-old"), Some("a")));
        let sig = FakeSignaller::default();
        assert_eq!(
            runs.dispatch(Some("h-new"), Some("b"), &sig)
                .restart_targets,
            vec![rst(901)]
        );
        let second = runs.dispatch(Some("h-newer"), Some("c"), &sig);
        assert_eq!(second, DispatchOutcome::default());
        assert_eq!(sig.sent(), vec![(901, Signal::SIGTERM)]);
    }

    #[test]
    fn dispatch_same_build_twice_is_a_no_op_the_second_time() {
        let mut runs = Runs::default();
        runs.add(ready(1, Some("c"), Some("a")));
        runs.add(ready(2, Some("old"), Some("a")));
        let sig = FakeSignaller::default();
        let first = runs.dispatch(Some("c"), Some("b"), &sig);
        assert_eq!(first.hot_swap_targets, vec![hot(1)]);
        assert_eq!(first.restart_targets, vec![rst(2)]);
        sig.clear();
        for _ in 0..10 {
            assert_eq!(
                runs.dispatch(Some("c"), Some("b"), &sig),
                DispatchOutcome::default()
            );
        }
        assert!(sig.sent().is_empty());
    }

    #[test]
    fn dispatch_unchanged_bytes_signal_nobody_and_backfill_hash_and_config_together() {
        // D4 + the pre-ready backfill: afterwards the same config hot-swaps.
        let mut runs = Runs::default();
        runs.add(ready(401, None, Some("art-v1")));
        let sig = FakeSignaller::default();
        assert_eq!(
            runs.dispatch(Some("first"), Some("art-v1"), &sig),
            DispatchOutcome::default()
        );
        assert!(sig.sent().is_empty());
        let adopted = runs.get(401).cloned();
        assert_eq!(
            adopted.as_ref().and_then(|r| r.config_hash.clone()),
            Some("first".into())
        );
        assert_eq!(
            adopted.and_then(|r| r.config),
            Some(serde_json::json!({ "hash": "first" })),
            "the config a later restart is diffed against is the adopted one"
        );
        let second = runs.dispatch(Some("first"), Some("art-v2"), &sig);
        assert_eq!(second.hot_swap_targets, vec![hot(401)]);
        let third = runs.dispatch(Some("second"), Some("art-v3"), &sig);
        assert_eq!(third.restart_targets, vec![rst(401)]);
        assert_eq!(
            sig.sent(),
            vec![(401, Signal::SIGUSR2), (401, Signal::SIGTERM)]
        );
    }

    #[test]
    fn dispatch_hot_swap_records_the_new_bytes_so_a_revert_swaps_again() {
        // D25
        let mut runs = Runs::default();
        runs.add(ready(461, Some("cfg"), Some("art-A")));
        let sig = FakeSignaller::default();
        assert_eq!(
            runs.dispatch(Some("cfg"), Some("art-B"), &sig)
                .hot_swap_targets,
            vec![hot(461)]
        );
        assert_eq!(
            runs.get(461).and_then(|r| r.content_hash.clone()),
            Some("art-B".into())
        );
        assert_eq!(
            runs.dispatch(Some("cfg"), Some("art-A"), &sig)
                .hot_swap_targets,
            vec![hot(461)]
        );
        assert_eq!(
            sig.sent(),
            vec![(461, Signal::SIGUSR2), (461, Signal::SIGUSR2)]
        );
    }

    #[test]
    fn dispatch_gone_child_is_neither_target() {
        // D7 / D27, on both branches, and no SIGTERM fallback after a gone SIGUSR2.
        let mut runs = Runs::default();
        runs.add(ready(801, Some("match"), Some("a")));
        runs.add(ready(802, Some("stale"), Some("a")));
        let sig = FakeSignaller::default()
            .answer(801, Signal::SIGUSR2, SignalOutcome::Gone)
            .answer(802, Signal::SIGTERM, SignalOutcome::Gone);
        let out = runs.dispatch(Some("match"), Some("b"), &sig);
        assert_eq!(out, DispatchOutcome::default());
        assert_eq!(
            sig.sent(),
            vec![(801, Signal::SIGUSR2), (802, Signal::SIGTERM)]
        );
        assert!(runs.get(802).is_some_and(|r| !r.early_stop_requested));
        assert_eq!(
            runs.get(801).and_then(|r| r.content_hash.clone()),
            Some("a".into())
        );
    }

    #[test]
    fn dispatch_unsupported_sigusr2_falls_back_to_sigterm() {
        let mut runs = Runs::default();
        runs.add(ready(901, Some("match"), Some("a")));
        let sig = FakeSignaller::default().answer(
            901,
            Signal::SIGUSR2,
            SignalOutcome::Unsupported(Errno::ENOSYS),
        );
        let out = runs.dispatch(Some("match"), Some("b"), &sig);
        assert!(out.hot_swap_targets.is_empty());
        assert_eq!(out.restart_targets, vec![rst(901)]);
        assert_eq!(
            sig.sent(),
            vec![(901, Signal::SIGUSR2), (901, Signal::SIGTERM)]
        );
        assert!(runs.get(901).is_some_and(|r| r.early_stop_requested));
    }

    #[test]
    fn dispatch_undeliverable_sigterm_drops_the_run_from_targets() {
        let mut runs = Runs::default();
        runs.add(ready(5, Some("old"), Some("a")));
        let sig = FakeSignaller::default().answer(
            5,
            Signal::SIGTERM,
            SignalOutcome::Unsupported(Errno::EPERM),
        );
        assert_eq!(
            runs.dispatch(Some("new"), Some("b"), &sig),
            DispatchOutcome::default()
        );
        assert!(runs.get(5).is_some_and(|r| !r.early_stop_requested));
    }

    #[test]
    fn a_job_id_arms_hot_swap() {
        let mut runs = Runs::default();
        runs.add(record(471, Some("match"), Some("a")));
        let sig = FakeSignaller::default();
        let out = runs.dispatch(Some("match"), Some("b"), &sig);
        assert_eq!(out.deferred, vec![471]);
        assert!(sig.sent().is_empty());
        runs.0[0].job_id = Some("job-471".into());
        assert_eq!(
            runs.dispatch(Some("match"), Some("b"), &sig)
                .hot_swap_targets,
            vec![hot(471)]
        );
    }

    #[test]
    fn a_user_early_stop_latch_is_respected_by_dispatch() {
        let mut runs = Runs::default();
        runs.add(ready(3, Some("old"), Some("a")));
        runs.0[0].early_stop_requested = true;
        let sig = FakeSignaller::default();
        assert_eq!(
            runs.dispatch(Some("new"), Some("b"), &sig),
            DispatchOutcome::default()
        );
        assert!(sig.sent().is_empty());
    }

    // ---- after_exit(): restart, finish, not restarted, cloud cancel ----

    fn exit(status: ExitStatus) -> ExitFacts {
        ExitFacts {
            status,
            job_id_known: true,
            can_cancel_job: true,
            restart_pending: false,
            escalated: false,
            shutting_down: false,
        }
    }

    #[test]
    fn a_clean_exit_finishes_and_cancels_nothing() {
        assert_eq!(
            after_exit(exit(ExitStatus::Code(0))),
            AfterExit {
                cancel_cloud_job: false,
                next: NextStep::Finish
            }
        );
    }

    #[test]
    fn a_pending_restart_after_a_clean_stop_restarts() {
        let facts = ExitFacts {
            restart_pending: true,
            ..exit(ExitStatus::Code(0))
        };
        assert_eq!(after_exit(facts).next, NextStep::Restart);
        // Not once shutdown began.
        let facts = ExitFacts {
            shutting_down: true,
            ..facts
        };
        assert_eq!(after_exit(facts).next, NextStep::NotRestarted);
    }

    #[test]
    fn an_escalated_stop_still_restarts_and_cancels_the_job() {
        let facts = ExitFacts {
            restart_pending: true,
            escalated: true,
            ..exit(ExitStatus::Signal(libc::SIGKILL))
        };
        assert_eq!(
            after_exit(facts),
            AfterExit {
                cancel_cloud_job: true,
                next: NextStep::Restart
            }
        );
    }

    #[test]
    fn a_sigterm_before_the_job_existed_restarts_and_has_nothing_to_cancel() {
        let facts = ExitFacts {
            restart_pending: true,
            job_id_known: false,
            ..exit(ExitStatus::Signal(libc::SIGTERM))
        };
        assert_eq!(
            after_exit(facts),
            AfterExit {
                cancel_cloud_job: false,
                next: NextStep::Restart
            }
        );
        // With a job, dying of SIGTERM is a failure (the runner had its handler).
        let facts = ExitFacts {
            job_id_known: true,
            ..facts
        };
        assert_eq!(
            after_exit(facts),
            AfterExit {
                cancel_cloud_job: true,
                next: NextStep::NotRestarted
            }
        );
    }

    #[test]
    fn a_failure_is_not_restarted_and_its_job_is_cancelled_when_arkor_can() {
        for status in [
            ExitStatus::Code(1),
            ExitStatus::Code(143),
            ExitStatus::Signal(9),
        ] {
            let facts = ExitFacts {
                restart_pending: true,
                ..exit(status)
            };
            assert_eq!(
                after_exit(facts),
                AfterExit {
                    cancel_cloud_job: true,
                    next: NextStep::NotRestarted
                },
                "{status:?}"
            );
            let unscoped = ExitFacts {
                can_cancel_job: false,
                restart_pending: false,
                ..facts
            };
            assert_eq!(
                after_exit(unscoped),
                AfterExit {
                    cancel_cloud_job: false,
                    next: NextStep::Finish
                }
            );
        }
    }
}
