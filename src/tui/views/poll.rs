//! A cloud list that a view keeps fresh: fetched when first shown, again every
//! [`REFRESH_INTERVAL`] while shown (as the Studio polls) and on `r`, one fetch at a time; an
//! answer to an older fetch is dropped.

use std::time::{Duration, SystemTime};

use crate::tui::cloud_tasks::CloudProblem;

/// How often a shown list is fetched again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Poll {
    /// A fetch is under way.
    pub loading: bool,
    /// When the last answer arrived.
    pub fetched_at: Option<SystemTime>,
    /// Why the last fetch brought no list (the list shown, if any, is from before).
    pub problem: Option<CloudProblem>,
    generation: u64,
    /// A fetch was asked for while one was under way (`r`, or a change just made): the answer
    /// on its way may predate it, so another follows.
    queued: bool,
}

impl Poll {
    /// The generation of a fetch to start now, if one is due at `now`: none yet, or the last
    /// answer is [`REFRESH_INTERVAL`] old, and none is under way.
    pub fn start_if_due(&mut self, now: SystemTime) -> Option<u64> {
        let due = self
            .fetched_at
            .is_none_or(|at| now.duration_since(at).unwrap_or_default() >= REFRESH_INTERVAL);
        if due && !self.loading {
            self.start()
        } else {
            None
        }
    }

    /// The generation of a fetch to start now (`r`, or after a change); while one is under
    /// way, none now but one right after it (see [`Poll::take_queued`]).
    pub fn start(&mut self) -> Option<u64> {
        if self.loading {
            self.queued = true;
            return None;
        }
        self.queued = false;
        self.loading = true;
        self.generation += 1;
        Some(self.generation)
    }

    /// How long until the next fetch is due (the loop wakes then), while none is under way.
    pub fn next_due(&self, now: SystemTime) -> Option<Duration> {
        if self.loading {
            return None;
        }
        let at = self.fetched_at?;
        Some(REFRESH_INTERVAL.saturating_sub(now.duration_since(at).unwrap_or_default()))
    }

    /// Whether an answer of `generation` is the one awaited; if so the fetch is over, and
    /// `problem` is what it brought instead of a list.
    pub fn answered(
        &mut self,
        generation: u64,
        problem: Option<CloudProblem>,
        now: SystemTime,
    ) -> bool {
        if generation != self.generation {
            return false;
        }
        self.loading = false;
        self.fetched_at = Some(now);
        self.problem = problem;
        true
    }

    /// The fetch asked for while the last one was under way, once that one has answered.
    pub fn take_queued(&mut self) -> Option<u64> {
        if self.queued && !self.loading {
            self.start()
        } else {
            None
        }
    }

    /// The project's list is gone or not this project's (the old one must not be shown).
    pub fn scope_lost(&self) -> bool {
        matches!(
            self.problem,
            Some(CloudProblem::NoProjectState | CloudProblem::StaleScope(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn fetches_are_due_every_five_seconds_one_at_a_time() {
        let mut poll = Poll::default();
        assert_eq!(poll.start_if_due(at(0)), Some(1));
        assert_eq!(poll.start_if_due(at(0)), None, "one under way");
        assert_eq!(poll.start(), None, "r waits for the running fetch");
        assert!(!poll.answered(0, None, at(1)), "an older answer");
        assert!(poll.answered(1, None, at(1)));
        assert_eq!(poll.next_due(at(3)), Some(Duration::from_secs(3)));
        assert_eq!(poll.start_if_due(at(5)), None);
        assert_eq!(poll.start_if_due(at(6)), Some(2));
        assert!(poll.answered(2, Some(CloudProblem::NoProjectState), at(7)));
        assert!(poll.scope_lost());
    }

    #[test]
    fn a_fetch_asked_for_during_another_follows_it_and_a_due_one_does_not_queue() {
        let mut poll = Poll::default();
        assert_eq!(poll.start(), Some(1));
        assert_eq!(poll.start_if_due(at(100)), None);
        assert_eq!(poll.take_queued(), None, "a periodic tick queues nothing");
        assert_eq!(poll.start(), None, "under way");
        assert_eq!(poll.take_queued(), None, "not before its answer");
        assert!(poll.answered(1, None, at(1)));
        assert_eq!(poll.take_queued(), Some(2), "then at once");
        assert!(poll.answered(2, None, at(2)));
        assert_eq!(poll.take_queued(), None, "once");
    }
}
