//! The registered runs and the dispatch policy of SPEC §8.
//!
//! [`decide`] is a pure function from one run's record and a new build to an action.
//! [`Registry::dispatch`] applies it to every run exactly once per call, through a
//! [`Signaller`] (the real [`Supervisor`](crate::core::supervisor::Supervisor) or a counting
//! fake in tests), and reports the targets for the `rebuild` frame. The registry is owned
//! by one task (the engine), so a rebuild is dispatched once however many front ends
//! watch it, and dispatching the same build twice signals nobody the second time.

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::core::events::{DispatchOutcome, HotSwapTarget, RestartTarget, RunOrigin};

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

/// One registered run. `C` is the cloud-cancel context captured at spawn time (credentials
/// and scope); the registry only stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildRecord<C = ()> {
    pub pid: u32,
    pub origin: RunOrigin,
    /// The `file` of `/api/train` (always `None` while the watcher owns the artifact).
    pub train_file: Option<String>,
    /// configHash of the build the run was spawned with (backfilled by §8 rule 2).
    pub config_hash: Option<String>,
    /// contentHash of the bundle the run has loaded most recently: the artifact at spawn,
    /// then every build it was hot-swapped to (SPEC §10.25).
    pub content_hash: Option<String>,
    /// Set once a SIGTERM was sent; later rebuilds skip the run (SPEC §10.3).
    pub early_stop_requested: bool,
    /// Cloud job id from the runner's marker; also proves its SIGUSR2 handler is armed.
    pub job_id: Option<String>,
    pub cancel_context: Option<C>,
}

impl<C> ChildRecord<C> {
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
            early_stop_requested: false,
            job_id: None,
            cancel_context: None,
        }
    }
}

/// The action for one run on one successful rebuild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Already early-stopping: never a second SIGTERM (the runner would exit 143).
    Skip,
    /// The run already has exactly these bytes loaded; adopt the new configHash if known.
    Nothing { refresh_config_hash: Option<String> },
    /// Same config, runner ready: SIGUSR2 swaps the callbacks in place.
    HotSwap,
    /// Config changed or unprovable: SIGTERM, early stop at the next checkpoint.
    Restart,
}

/// SPEC §8 for one run, without side effects.
pub fn decide<C>(
    record: &ChildRecord<C>,
    next_config_hash: Option<&str>,
    next_content_hash: Option<&str>,
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
    let same_config = matches!(
        (record.config_hash.as_deref(), next_config_hash),
        (Some(current), Some(next)) if current == next
    );
    // SIGUSR2 kills a process that has no handler yet; the marker is printed after the
    // runner armed it, so without a job id a hot swap could kill the run (SPEC §10.5).
    if same_config && record.job_id.is_some() {
        Decision::HotSwap
    } else {
        Decision::Restart
    }
}

/// Every registered run, in registration order, keyed by pid.
#[derive(Debug)]
pub struct Registry<C = ()> {
    records: Vec<ChildRecord<C>>,
}

impl<C> Default for Registry<C> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
        }
    }
}

impl<C> Registry<C> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a freshly spawned run. A reused pid replaces the old record entirely, so
    /// it never inherits a latch or job id (SPEC §10.28).
    pub fn register(&mut self, record: ChildRecord<C>) {
        self.records.retain(|r| r.pid != record.pid);
        self.records.push(record);
    }

    /// Forget a run (on exit, or when the Studio abandons it). Returns its record.
    pub fn remove(&mut self, pid: u32) -> Option<ChildRecord<C>> {
        let index = self.records.iter().position(|r| r.pid == pid)?;
        Some(self.records.remove(index))
    }

    /// Record the job id from the marker. Returns false for an unknown pid.
    pub fn record_job_id(&mut self, pid: u32, job_id: impl Into<String>) -> bool {
        match self.get_mut(pid) {
            Some(record) => {
                record.job_id = Some(job_id.into());
                true
            }
            None => false,
        }
    }

    /// Latch a run as early-stopping (a user stop), so rebuilds skip it.
    pub fn latch(&mut self, pid: u32) -> bool {
        match self.get_mut(pid) {
            Some(record) => {
                record.early_stop_requested = true;
                true
            }
            None => false,
        }
    }

    pub fn get(&self, pid: u32) -> Option<&ChildRecord<C>> {
        self.records.iter().find(|r| r.pid == pid)
    }

    pub fn get_mut(&mut self, pid: u32) -> Option<&mut ChildRecord<C>> {
        self.records.iter_mut().find(|r| r.pid == pid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ChildRecord<C>> {
        self.records.iter()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Apply SPEC §8 to every run for one successful build. Call it once per build; a
    /// repeated call with the same build finds every run latched or already on these
    /// bytes and signals nobody.
    pub fn dispatch(
        &mut self,
        next_config_hash: Option<&str>,
        next_content_hash: Option<&str>,
        signaller: &impl Signaller,
    ) -> DispatchOutcome {
        let mut outcome = DispatchOutcome::default();
        for record in &mut self.records {
            match decide(record, next_config_hash, next_content_hash) {
                Decision::Skip => {}
                Decision::Nothing {
                    refresh_config_hash,
                } => {
                    if refresh_config_hash.is_some() {
                        record.config_hash = refresh_config_hash;
                    }
                }
                Decision::HotSwap => match signaller.signal(record.pid, Signal::SIGUSR2) {
                    SignalOutcome::Delivered => {
                        // The runner re-imports the current artifact: that is now what it
                        // has loaded (a later revert must count as a change).
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
}

fn restart<C>(
    record: &mut ChildRecord<C>,
    signaller: &impl Signaller,
    outcome: &mut DispatchOutcome,
) {
    // Gone or undeliverable: the run is neither target; its exit unregisters it.
    if signaller.signal(record.pid, Signal::SIGTERM) == SignalOutcome::Delivered {
        record.early_stop_requested = true;
        outcome.restart_targets.push(RestartTarget {
            pid: record.pid,
            train_file: record.train_file.clone(),
            forced_kill: None,
        });
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

    // ---- decide(): one case per SPEC §8 rule / §10 item ----

    #[test]
    fn decide_skips_a_latched_run_whatever_the_build() {
        let mut r = ready(1, Some("c"), Some("a"));
        r.early_stop_requested = true;
        assert_eq!(decide(&r, Some("c"), Some("a")), Decision::Skip);
        assert_eq!(decide(&r, Some("other"), Some("b")), Decision::Skip);
        assert_eq!(decide(&r, None, None), Decision::Skip);
    }

    #[test]
    fn decide_same_bytes_is_nothing_and_refreshes_config() {
        // §10.4: unchanged artifact bytes signal nobody, even with a stale configHash.
        let r = ready(1, Some("stale"), Some("a"));
        assert_eq!(
            decide(&r, Some("fresh"), Some("a")),
            Decision::Nothing {
                refresh_config_hash: Some("fresh".into())
            }
        );
        // A null inspection never erases a known configHash.
        assert_eq!(
            decide(&r, None, Some("a")),
            Decision::Nothing {
                refresh_config_hash: None
            }
        );
    }

    #[test]
    fn decide_content_gate_needs_both_sides_non_null() {
        // §10.26: spawned before any artifact existed → restart on the first rebuild.
        assert_eq!(
            decide(&record(1, None, None), Some("c"), Some("a")),
            Decision::Restart
        );
        assert_eq!(
            decide(&ready(1, Some("c"), Some("a")), Some("x"), None),
            Decision::Restart
        );
        // Both null is not equality either.
        assert_eq!(
            decide(&record(1, None, None), None, None),
            Decision::Restart
        );
    }

    #[test]
    fn decide_same_config_with_job_id_is_hot_swap() {
        assert_eq!(
            decide(&ready(1, Some("c"), Some("a")), Some("c"), Some("b")),
            Decision::HotSwap
        );
        // §10.26 second half: no spawn content hash, but hash match + marker → hot swap.
        assert_eq!(
            decide(&ready(1, Some("c"), None), Some("c"), Some("b")),
            Decision::HotSwap
        );
    }

    #[test]
    fn decide_same_config_without_job_id_is_restart() {
        // §10.5: the runner's SIGUSR2 handler is not provably armed yet.
        assert_eq!(
            decide(&record(1, Some("c"), Some("a")), Some("c"), Some("b")),
            Decision::Restart
        );
    }

    #[test]
    fn decide_null_config_on_either_side_is_restart() {
        // §10.6
        assert_eq!(
            decide(&ready(1, None, Some("a")), Some("c"), Some("b")),
            Decision::Restart
        );
        assert_eq!(
            decide(&ready(1, Some("c"), Some("a")), None, Some("b")),
            Decision::Restart
        );
        assert_eq!(
            decide(&ready(1, None, Some("a")), None, Some("b")),
            Decision::Restart
        );
    }

    #[test]
    fn decide_different_config_is_restart() {
        assert_eq!(
            decide(&ready(1, Some("c1"), Some("a")), Some("c2"), Some("b")),
            Decision::Restart
        );
    }

    // ---- dispatch(): application, latch, fallbacks ----

    #[test]
    fn dispatch_hot_swaps_matches_and_restarts_the_rest_in_order() {
        let mut reg = Registry::new();
        reg.register(ready(101, Some("match"), Some("a")));
        let mut b = ready(102, Some("different"), Some("a"));
        b.train_file = Some("/tmp/b.ts".into());
        reg.register(b);
        reg.register(ready(103, Some("match"), Some("a")));
        let sig = FakeSignaller::default();
        let out = reg.dispatch(Some("match"), Some("b"), &sig);
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
        assert!(reg.get(102).is_some_and(|r| r.early_stop_requested));
        assert!(reg.get(101).is_some_and(|r| !r.early_stop_requested));
    }

    #[test]
    fn dispatch_null_next_config_restarts_everyone() {
        let mut reg = Registry::new();
        reg.register(ready(201, Some("h"), Some("a")));
        reg.register(record(202, None, None));
        let sig = FakeSignaller::default();
        let out = reg.dispatch(None, Some("b"), &sig);
        assert!(out.hot_swap_targets.is_empty());
        assert_eq!(out.restart_targets, vec![rst(201), rst(202)]);
    }

    #[test]
    fn dispatch_latch_means_one_sigterm_across_rebuilds() {
        // §10.3
        let mut reg = Registry::new();
        reg.register(record(901, Some("h-old"), Some("a")));
        let sig = FakeSignaller::default();
        assert_eq!(
            reg.dispatch(Some("h-new"), Some("b"), &sig).restart_targets,
            vec![rst(901)]
        );
        let second = reg.dispatch(Some("h-newer"), Some("c"), &sig);
        assert_eq!(second, DispatchOutcome::default());
        assert_eq!(sig.sent(), vec![(901, Signal::SIGTERM)]);
    }

    #[test]
    fn dispatch_same_build_twice_is_a_no_op_the_second_time() {
        let mut reg = Registry::new();
        reg.register(ready(1, Some("c"), Some("a")));
        reg.register(ready(2, Some("old"), Some("a")));
        let sig = FakeSignaller::default();
        let first = reg.dispatch(Some("c"), Some("b"), &sig);
        assert_eq!(first.hot_swap_targets, vec![hot(1)]);
        assert_eq!(first.restart_targets, vec![rst(2)]);
        sig.clear();
        for _ in 0..10 {
            assert_eq!(
                reg.dispatch(Some("c"), Some("b"), &sig),
                DispatchOutcome::default()
            );
        }
        assert!(sig.sent().is_empty());
    }

    #[test]
    fn dispatch_unchanged_bytes_signal_nobody_and_backfill() {
        // §10.4 + the pre-ready backfill: afterwards the same config hot-swaps.
        let mut reg = Registry::new();
        reg.register(ready(401, None, Some("art-v1")));
        let sig = FakeSignaller::default();
        assert_eq!(
            reg.dispatch(Some("first"), Some("art-v1"), &sig),
            DispatchOutcome::default()
        );
        assert!(sig.sent().is_empty());
        assert_eq!(
            reg.get(401).and_then(|r| r.config_hash.clone()),
            Some("first".into())
        );
        let second = reg.dispatch(Some("first"), Some("art-v2"), &sig);
        assert_eq!(second.hot_swap_targets, vec![hot(401)]);
        let third = reg.dispatch(Some("second"), Some("art-v3"), &sig);
        assert_eq!(third.restart_targets, vec![rst(401)]);
        assert_eq!(
            sig.sent(),
            vec![(401, Signal::SIGUSR2), (401, Signal::SIGTERM)]
        );
    }

    #[test]
    fn dispatch_hot_swap_records_the_new_bytes_so_a_revert_swaps_again() {
        // §10.25
        let mut reg = Registry::new();
        reg.register(ready(461, Some("cfg"), Some("art-A")));
        let sig = FakeSignaller::default();
        assert_eq!(
            reg.dispatch(Some("cfg"), Some("art-B"), &sig)
                .hot_swap_targets,
            vec![hot(461)]
        );
        assert_eq!(
            reg.get(461).and_then(|r| r.content_hash.clone()),
            Some("art-B".into())
        );
        assert_eq!(
            reg.dispatch(Some("cfg"), Some("art-A"), &sig)
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
        // §10.7 / §10.27, on both branches, and no SIGTERM fallback after a gone SIGUSR2.
        let mut reg = Registry::new();
        reg.register(ready(801, Some("match"), Some("a")));
        reg.register(ready(802, Some("stale"), Some("a")));
        let sig = FakeSignaller::default()
            .answer(801, Signal::SIGUSR2, SignalOutcome::Gone)
            .answer(802, Signal::SIGTERM, SignalOutcome::Gone);
        let out = reg.dispatch(Some("match"), Some("b"), &sig);
        assert_eq!(out, DispatchOutcome::default());
        assert_eq!(
            sig.sent(),
            vec![(801, Signal::SIGUSR2), (802, Signal::SIGTERM)]
        );
        assert!(reg.get(802).is_some_and(|r| !r.early_stop_requested));
        assert_eq!(
            reg.get(801).and_then(|r| r.content_hash.clone()),
            Some("a".into())
        );
    }

    #[test]
    fn dispatch_unsupported_sigusr2_falls_back_to_sigterm() {
        let mut reg = Registry::new();
        reg.register(ready(901, Some("match"), Some("a")));
        let sig = FakeSignaller::default().answer(
            901,
            Signal::SIGUSR2,
            SignalOutcome::Unsupported(Errno::ENOSYS),
        );
        let out = reg.dispatch(Some("match"), Some("b"), &sig);
        assert!(out.hot_swap_targets.is_empty());
        assert_eq!(out.restart_targets, vec![rst(901)]);
        assert_eq!(
            sig.sent(),
            vec![(901, Signal::SIGUSR2), (901, Signal::SIGTERM)]
        );
        assert!(reg.get(901).is_some_and(|r| r.early_stop_requested));
    }

    #[test]
    fn dispatch_undeliverable_sigterm_drops_the_run_from_targets() {
        let mut reg = Registry::new();
        reg.register(ready(5, Some("old"), Some("a")));
        let sig = FakeSignaller::default().answer(
            5,
            Signal::SIGTERM,
            SignalOutcome::Unsupported(Errno::EPERM),
        );
        assert_eq!(
            reg.dispatch(Some("new"), Some("b"), &sig),
            DispatchOutcome::default()
        );
        assert!(reg.get(5).is_some_and(|r| !r.early_stop_requested));
    }

    #[test]
    fn unregister_and_pid_reuse_start_from_a_clean_slate() {
        // §10.28
        let mut reg = Registry::new();
        reg.register(record(801, Some("h1"), Some("a")));
        reg.record_job_id(801, "job-old");
        let sig = FakeSignaller::default();
        reg.dispatch(Some("h2"), Some("b"), &sig);
        assert!(reg.remove(801).is_some());
        assert!(reg.is_empty());
        assert_eq!(
            reg.dispatch(Some("h3"), Some("c"), &sig),
            DispatchOutcome::default()
        );
        reg.register(record(801, Some("h3"), Some("c")));
        let r = reg.get(801).cloned();
        assert_eq!(
            r.as_ref()
                .map(|r| (r.early_stop_requested, r.job_id.clone())),
            Some((false, None))
        );
        assert_eq!(
            reg.dispatch(Some("h4"), Some("d"), &sig).restart_targets,
            vec![rst(801)]
        );
    }

    #[test]
    fn register_replaces_a_stale_record_with_the_same_pid() {
        let mut reg = Registry::new();
        let mut old = ready(7, Some("h"), Some("a"));
        old.early_stop_requested = true;
        reg.register(old);
        reg.register(record(7, Some("h"), Some("a")));
        assert_eq!(reg.len(), 1);
        assert!(
            reg.get(7)
                .is_some_and(|r| !r.early_stop_requested && r.job_id.is_none())
        );
    }

    #[test]
    fn job_id_arms_hot_swap_and_unknown_pids_are_ignored() {
        let mut reg = Registry::new();
        reg.register(record(471, Some("match"), Some("a")));
        assert!(!reg.record_job_id(999, "nope"));
        assert!(reg.record_job_id(471, "job-471"));
        let sig = FakeSignaller::default();
        assert_eq!(
            reg.dispatch(Some("match"), Some("b"), &sig)
                .hot_swap_targets,
            vec![hot(471)]
        );
    }

    #[test]
    fn user_early_stop_latch_is_respected_by_dispatch() {
        let mut reg = Registry::new();
        reg.register(ready(3, Some("old"), Some("a")));
        assert!(reg.latch(3));
        let sig = FakeSignaller::default();
        assert_eq!(
            reg.dispatch(Some("new"), Some("b"), &sig),
            DispatchOutcome::default()
        );
        assert!(sig.sent().is_empty());
    }

    #[test]
    fn cancel_context_is_carried_untouched() {
        let mut reg: Registry<&'static str> = Registry::new();
        let mut r = ChildRecord::new(9, RunOrigin::Http, Some("c".into()), Some("a".into()));
        r.cancel_context = Some("scope");
        reg.register(r);
        assert_eq!(reg.remove(9).and_then(|r| r.cancel_context), Some("scope"));
    }
}
