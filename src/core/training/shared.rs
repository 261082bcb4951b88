//! A run's metrics as the engine shares them with front ends: one [`RunMetrics`] behind a
//! lock, written only by the engine task and read in place by whoever draws or prints it.
//!
//! Why a shared handle and not a copy per update: a series holds up to 2,048 plotted points
//! per curve, and a busy run changes it ten times a second. Copying it into every published
//! run snapshot would cost a deep copy per update per subscriber; instead every snapshot of
//! a run carries the same handle (an `Arc` clone), the engine announces *that* the metrics
//! changed (`EngineEvent::Training`), and a front end reads them when it next draws, at most
//! once per frame, holding the lock only while it copies out what it draws. The writer holds
//! it only to fold in one batch, so neither side ever waits noticeably for the other.

use std::sync::{Arc, RwLock};

use super::metrics::{Progress, RunMetrics};
use super::outcome::RunOutcome;

#[derive(Clone, Default)]
pub struct SharedMetrics(Arc<RwLock<RunMetrics>>);

impl SharedMetrics {
    pub fn new(metrics: RunMetrics) -> Self {
        Self(Arc::new(RwLock::new(metrics)))
    }

    /// Read the metrics in place. Keep `f` short: the engine waits for it to write.
    pub fn read<R>(&self, f: impl FnOnce(&RunMetrics) -> R) -> R {
        f(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Change the metrics (the engine, and tests that build a run's history).
    pub fn write<R>(&self, f: impl FnOnce(&mut RunMetrics) -> R) -> R {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// The numbers of the runs table, copied out.
    pub fn progress(&self) -> Progress {
        self.read(RunMetrics::progress)
    }

    pub fn outcome(&self) -> Option<RunOutcome> {
        self.read(|m| m.outcome().cloned())
    }
}

/// Two handles are equal when they share the same metrics (run snapshots compare by
/// identity here; the contents change without a new snapshot).
impl PartialEq for SharedMetrics {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for SharedMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let progress = self.progress();
        f.debug_struct("SharedMetrics")
            .field("step", &progress.step)
            .field("loss", &progress.loss)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_series_and_compare_by_identity() {
        let a = SharedMetrics::new(RunMetrics::new(Some(10)));
        let b = a.clone();
        assert_eq!(a, b);
        assert_ne!(a, SharedMetrics::default());
        a.write(|m| {
            let event = crate::core::cloud::job_events::JobEvent {
                kind: crate::core::cloud::job_events::JobEventKind::Log(
                    crate::core::cloud::job_events::TrainingLog {
                        loss: Some(0.5),
                        ..crate::core::cloud::job_events::TrainingLog::at_step(3)
                    },
                ),
                at: std::time::SystemTime::UNIX_EPOCH,
            };
            m.apply_event(&event);
        });
        assert_eq!(b.progress().step, Some(3));
        assert_eq!(b.progress().loss, Some(0.5));
    }
}
