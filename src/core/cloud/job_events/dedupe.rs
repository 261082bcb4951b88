//! Drops what a reconnect delivers twice. The cloud resumes after `Last-Event-ID`, but a
//! cloud (or proxy) that replays from the start, or overlaps by a few frames, must not
//! count a step twice: frames are dropped by event id (a bounded memory of recent ids) and
//! events by step (per kind of value, since one step legitimately carries a training-loss
//! frame and a separate eval-loss frame).

use std::collections::{HashSet, VecDeque};

use super::event::{JobEvent, JobEventKind};

/// How many recent event ids are remembered; older replays are caught by step.
pub const REMEMBERED_IDS: usize = 1024;

#[derive(Debug, Default)]
pub struct ReplayFilter {
    ids: HashSet<String>,
    id_order: VecDeque<String>,
    last_loss_step: Option<u64>,
    last_eval_step: Option<u64>,
    /// Log frames with neither loss nor eval loss (learning rate, epoch only).
    last_bare_log_step: Option<u64>,
    last_checkpoint_step: Option<u64>,
    started: bool,
    terminal: bool,
}

fn is_new(step: u64, last: &mut Option<u64>) -> bool {
    if last.is_some_and(|l| step <= l) {
        return false;
    }
    *last = Some(step);
    true
}

impl ReplayFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a frame with this id was already delivered; remembers it otherwise.
    pub fn repeated_id(&mut self, id: &str) -> bool {
        if id.is_empty() || self.ids.contains(id) {
            return !id.is_empty();
        }
        if self.id_order.len() == REMEMBERED_IDS
            && let Some(oldest) = self.id_order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(id.to_owned());
        self.id_order.push_back(id.to_owned());
        false
    }

    /// Whether this event brings something not delivered before.
    pub fn admit(&mut self, event: &JobEvent) -> bool {
        match &event.kind {
            JobEventKind::Started => !std::mem::replace(&mut self.started, true),
            JobEventKind::Log(log) => {
                let has_loss = log.loss.is_some();
                let has_eval = log.eval_loss.is_some();
                // Evaluate both: each updates its own high-water mark.
                let new_loss = has_loss && is_new(log.step, &mut self.last_loss_step);
                let new_eval = has_eval && is_new(log.step, &mut self.last_eval_step);
                let new_bare =
                    !has_loss && !has_eval && is_new(log.step, &mut self.last_bare_log_step);
                new_loss || new_eval || new_bare
            }
            JobEventKind::CheckpointSaved { step } => is_new(*step, &mut self.last_checkpoint_step),
            JobEventKind::Completed | JobEventKind::Failed { .. } => {
                !std::mem::replace(&mut self.terminal, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn log(step: u64, loss: Option<f64>, eval_loss: Option<f64>) -> JobEvent {
        JobEvent::loss_log(step, loss, eval_loss)
    }

    fn event(kind: JobEventKind) -> JobEvent {
        JobEvent {
            kind,
            at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_step_is_admitted_once_per_kind_of_value() {
        let mut filter = ReplayFilter::new();
        assert!(filter.admit(&log(1, Some(2.0), None)));
        assert!(filter.admit(&log(2, Some(1.9), None)));
        assert!(!filter.admit(&log(2, Some(1.9), None)), "same step again");
        assert!(!filter.admit(&log(1, Some(2.0), None)), "an older step");
        // The eval frame of step 2 is a separate frame at the same step.
        assert!(filter.admit(&log(2, None, Some(2.1))));
        assert!(!filter.admit(&log(2, None, Some(2.1))));
        // Bare frames (no loss at all) have their own mark.
        assert!(filter.admit(&log(2, None, None)));
        assert!(!filter.admit(&log(2, None, None)));
        assert!(filter.admit(&log(3, Some(1.8), Some(2.0))));
        assert!(!filter.admit(&log(3, Some(1.8), None)));
    }

    #[test]
    fn checkpoints_start_and_end_are_admitted_once() {
        let mut filter = ReplayFilter::new();
        assert!(filter.admit(&event(JobEventKind::Started)));
        assert!(!filter.admit(&event(JobEventKind::Started)));
        assert!(filter.admit(&event(JobEventKind::CheckpointSaved { step: 10 })));
        assert!(!filter.admit(&event(JobEventKind::CheckpointSaved { step: 10 })));
        assert!(filter.admit(&event(JobEventKind::CheckpointSaved { step: 20 })));
        assert!(filter.admit(&event(JobEventKind::Completed)));
        assert!(!filter.admit(&event(JobEventKind::Failed {
            error: "late".into(),
            step: None
        })));
    }

    #[test]
    fn ids_are_remembered_within_a_bound() {
        let mut filter = ReplayFilter::new();
        assert!(!filter.repeated_id("j-1"));
        assert!(filter.repeated_id("j-1"));
        assert!(!filter.repeated_id(""), "an empty id is no id");
        assert!(!filter.repeated_id(""));
        for i in 2..(REMEMBERED_IDS as u32 + 2) {
            assert!(!filter.repeated_id(&format!("j-{i}")));
        }
        assert_eq!(filter.ids.len(), REMEMBERED_IDS);
        assert!(!filter.repeated_id("j-1"), "the oldest id was forgotten");
        assert!(filter.repeated_id(&format!("j-{}", REMEMBERED_IDS + 1)));
    }
}
